"""Real-data teachers (Luck Matters §CIFAR-10): data sets, teacher classifiers, pruning, presets
and the teacher -> student experiment. (``relulab.data.real`` in the issue; a package of its
own so :mod:`relulab.data` stays the synthetic sources.)"""

from relulab.real.classifier import Classifier, accuracy, build, fit, folded, to_net
from relulab.real.config import REAL_PRESETS, RealConfig, get_real_preset, with_real_overrides
from relulab.real.datasets import Split, load_cifar10, load_split, read_cifar_batch
from relulab.real.experiment import RealResult, run_real
from relulab.real.prune import PRUNE_METHODS, keep_indices, node_scores, prune
from relulab.real.source import RealSource
from relulab.real.teachers import TeacherInfo, get_teacher, train_teacher

__all__ = ["PRUNE_METHODS", "REAL_PRESETS", "Classifier", "RealConfig", "RealResult",
           "RealSource", "Split", "TeacherInfo", "accuracy", "build", "fit", "folded",
           "get_real_preset", "get_teacher", "keep_indices", "load_cifar10", "load_split",
           "node_scores", "prune", "read_cifar_batch", "run_real", "to_net", "train_teacher",
           "with_real_overrides"]
