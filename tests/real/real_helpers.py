"""CIFAR-10 files in the official binary layout, written by the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from relulab.real.datasets import CIFAR_DIR, CIFAR_TEST, CIFAR_TRAIN


def cifar_records(labels: np.ndarray, images: np.ndarray) -> bytes:
    """Records of the official layout: 1 label byte, then 1024 R, 1024 G, 1024 B bytes."""
    rows = np.concatenate([labels.astype(np.uint8)[:, None],
                           images.astype(np.uint8).reshape(len(labels), -1)], axis=1)
    return rows.tobytes()


def write_cifar(root: Path, per_file: int = 12, seed: int = 0) -> dict[str, tuple]:
    """Six batch files under ``root/cifar-10-batches-bin``; returns what each holds."""
    rng = np.random.default_rng(seed)
    folder = root / CIFAR_DIR
    folder.mkdir(parents=True)
    written = {}
    for name in (*CIFAR_TRAIN, CIFAR_TEST):
        labels = rng.integers(0, 10, per_file)
        images = rng.integers(0, 256, (per_file, 3, 32, 32))
        (folder / name).write_bytes(cifar_records(labels, images))
        written[name] = (labels, images)
    return written
