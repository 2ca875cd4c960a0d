"""Real-data teachers: trained on the labels, pruned, fine-tuned, cached as safetensors.

For seed s the teacher is drawn and shuffled with the generators of ``(root_seed, s, "teacher")``
and ``(root_seed, s, "teacher-train")``. With a cache folder, ``seed-<s>-trained.safetensors``
(before pruning) and ``seed-<s>.safetensors`` (the teacher the student learns) are written
there, with the config's :meth:`RealConfig.teacher_key` and the accuracies as metadata; a later
run with the same key loads them instead of training again (no pickle anywhere).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from relulab.experiments.bn_bias import bn_layers, overall
from relulab.real.classifier import Classifier, accuracy, build, fit
from relulab.real.config import RealConfig
from relulab.real.datasets import NUM_CLASSES, Split
from relulab.real.prune import prune
from relulab.results.store import atomic_write
from relulab.rng import generator

KEY = "relulab.teacher_key"
INFO = "relulab.teacher_info"


@dataclass(frozen=True)
class TeacherInfo:
    """What the manifest records about one seed's teacher."""

    seed: int
    accuracy_trained: float  # test accuracy after training, before pruning
    accuracy_pruned: float  # right after pruning
    accuracy: float  # after fine-tuning: the teacher the student learns
    widths_trained: tuple[int, ...]
    widths: tuple[int, ...]
    bn_negative_fraction: float | None  # share of negative BN biases of the trained teacher
    cached: bool = False  # loaded from the cache instead of trained


def train_teacher(cfg: RealConfig, split: Split, seed: int
                  ) -> tuple[Classifier, Classifier, TeacherInfo]:
    """(trained, pruned and fine-tuned) classifiers of ``seed`` and their record."""
    root = cfg.run.root_seed
    net = build(cfg.kind, split.input_shape, cfg.widths, NUM_CLASSES, cfg.batchnorm,
                generator=generator(root, seed, "teacher"))
    shuffle = generator(root, seed, "teacher-train")
    kw = {"lr": cfg.teacher_lr, "batch_size": cfg.teacher_batch, "generator": shuffle}
    fit(net, split.train_x, split.train_y, epochs=cfg.teacher_epochs, **kw)
    acc_trained = accuracy(net, split.test_x, split.test_y)
    small = prune(net, cfg.pruned_widths, cfg.prune, split.train_x)
    acc_pruned = accuracy(small, split.test_x, split.test_y)
    fit(small, split.train_x, split.train_y, epochs=cfg.finetune_epochs, **kw)
    info = TeacherInfo(seed, acc_trained, acc_pruned, accuracy(small, split.test_x, split.test_y),
                       cfg.widths, cfg.pruned_widths, bn_fraction(net))
    return net, small, info


def bn_fraction(net: Classifier) -> float | None:
    """Share of negative BN biases of ``net`` (None without BN)."""
    if not net.batchnorm:
        return None
    return overall(bn_layers(dict(net.state_dict()))).fraction


def _save(path: Path, net: Classifier, key: str, info: TeacherInfo) -> None:
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    meta = {KEY: key, INFO: json.dumps(asdict(info))}
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata=meta))


def _load(path: Path, cfg: RealConfig, widths: tuple[int, ...], split: Split) -> Classifier:
    net = Classifier(cfg.kind, split.input_shape, widths, NUM_CLASSES,
                     cfg.batchnorm).to_empty(device="cpu")
    net.load_state_dict(load_file(str(path)))
    return net.eval()


def _cached_info(path: Path, key: str) -> TeacherInfo | None:
    """The record stored with a cached teacher whose key is ``key`` (None otherwise)."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception:  # noqa: BLE001 - an unreadable cache entry is retrained
        return None
    if meta.get(KEY) != key or INFO not in meta:
        return None
    raw = json.loads(meta[INFO])
    raw["widths_trained"], raw["widths"] = tuple(raw["widths_trained"]), tuple(raw["widths"])
    return TeacherInfo(**{**raw, "cached": True})


def teacher_paths(cache: Path, seed: int) -> tuple[Path, Path]:
    """(trained, pruned) teacher files of ``seed`` in the cache folder."""
    return cache / f"seed-{seed}-trained.safetensors", cache / f"seed-{seed}.safetensors"


def get_teacher(cfg: RealConfig, split: Split, seed: int, cache: Path | None = None
                ) -> tuple[Classifier, TeacherInfo]:
    """The pruned teacher of ``seed``: from the cache when its key matches, else trained (and
    written to the cache)."""
    key = cfg.teacher_key()
    if cache is not None:
        trained_path, path = teacher_paths(cache, seed)
        info = _cached_info(path, key)
        if info is not None and trained_path.is_file():
            return _load(path, cfg, cfg.pruned_widths, split), info
    trained, small, info = train_teacher(cfg, split, seed)
    if cache is not None:
        _save(trained_path, trained, key, info)
        _save(path, small, key, info)
    return small, info
