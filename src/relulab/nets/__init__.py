"""Networks with a leading seed axis: the stacked :class:`~relulab.nets.networks.Net` and its
forward (:mod:`~relulab.nets.networks`), teachers (:mod:`~relulab.nets.teachers`), students
(:mod:`~relulab.nets.students`), the rules a student keeps while training
(:mod:`~relulab.nets.rules`), streamed passes over a fixed sample set
(:mod:`~relulab.nets.passes`), plain ``torch.nn`` modules in and out
(:mod:`~relulab.nets.modules`) and nets from saved weights (:mod:`~relulab.nets.weights`).

``Net.from_modules(modules)`` and ``net.to_modules()`` are :func:`from_modules` and
:func:`to_modules` attached to :class:`Net` here: ``networks`` stays free of ``modules`` (which
imports it), and importing any ``relulab.nets`` module runs this file first, so every Net has
them.
"""

from relulab.nets.modules import from_modules, to_modules
from relulab.nets.networks import Net, predict
from relulab.nets.weights import net_from_weights

Net.from_modules = staticmethod(from_modules)  # type: ignore[attr-defined]
Net.to_modules = to_modules  # type: ignore[attr-defined]

__all__ = ["Net", "from_modules", "net_from_weights", "predict", "to_modules"]
