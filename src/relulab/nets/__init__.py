"""Networks with a leading seed axis: the stacked :class:`~relulab.nets.networks.Net` and its
forward (:mod:`~relulab.nets.networks`), teachers (:mod:`~relulab.nets.teachers`), students
(:mod:`~relulab.nets.students`), the rules a student keeps while training
(:mod:`~relulab.nets.rules`) and streamed passes over a fixed sample set
(:mod:`~relulab.nets.passes`)."""
