"""Training many members as one tensor program.

:mod:`~relulab.training.engine` is the loop; :mod:`~relulab.training.setup` draws a group's nets
and data; :mod:`~relulab.training.optim` holds the objective and the optimizers;
:mod:`~relulab.training.path` chooses between the fused step (:mod:`~relulab.training.fused`) and
autograd; :mod:`~relulab.training.checkpoint` saves and restores a run; statistics are callbacks
(:mod:`~relulab.training.callbacks`, :mod:`~relulab.training.recorder`,
:mod:`~relulab.training.original_columns`)."""
