"""Real data sets as tensors: scikit-learn's digits and CIFAR-10 from its official binary files.

Nothing is downloaded. Digits ship inside scikit-learn (the ``relulab[real]`` extra); CIFAR-10
is read from a local copy of the *binary version* (``cifar-10-batches-bin``: raw bytes, no
pickle). Each record of a CIFAR-10 batch file is 1 label byte then 3072 pixel bytes (1024 red,
1024 green, 1024 blue, row-major 32x32); the official files hold 10000 records each.

Images are ``(N, C, H, W)`` float32; inputs are standardized per channel with the training
split's mean and std (applied to both splits). FC teachers see them flattened to ``(N, C*H*W)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from relulab.config import ConfigError

CIFAR_DIR = "cifar-10-batches-bin"
CIFAR_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR_TEST = "test_batch.bin"
CIFAR_SIDE = 32
CIFAR_RECORD = 1 + 3 * CIFAR_SIDE * CIFAR_SIDE  # label byte + 3072 pixel bytes
NUM_CLASSES = 10


@dataclass(frozen=True)
class Split:
    """Inputs ``(N, ...)`` and integer labels ``(N,)`` of the train and test parts."""

    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])


def load_digits_images() -> tuple[Tensor, Tensor]:
    """scikit-learn's 1797 handwritten digits: images ``(1797, 1, 8, 8)`` (values 0..16) and
    labels ``(1797,)``. ConfigError naming the extra when scikit-learn is missing."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ConfigError("the digits data set needs scikit-learn: "
                          "pip install 'relulab[real]'") from None
    bunch = load_digits()
    images = torch.from_numpy(np.asarray(bunch.images, dtype=np.float32)).unsqueeze(1)
    return images, torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))


def cifar_dir(root: str | Path) -> Path:
    """The folder holding the binary batches: ``root/cifar-10-batches-bin`` or ``root`` itself.
    ConfigError naming the expected files when they are not there."""
    root = Path(root)
    for folder in (root / CIFAR_DIR, root):
        if all((folder / name).is_file() for name in (*CIFAR_TRAIN, CIFAR_TEST)):
            return folder
    raise ConfigError(
        f"CIFAR-10 binary batches not found under '{root}': expected {CIFAR_DIR}/"
        f"data_batch_1.bin ... data_batch_5.bin and {CIFAR_DIR}/{CIFAR_TEST} "
        "(the 'CIFAR-10 binary version' archive, extracted)")


def read_cifar_batch(path: str | Path) -> tuple[Tensor, Tensor]:
    """One binary batch file: images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % CIFAR_RECORD:
        raise ConfigError(f"'{path}' is not a CIFAR-10 binary batch "
                          f"({raw.size} bytes is not a multiple of {CIFAR_RECORD})")
    records = raw.reshape(-1, CIFAR_RECORD)
    labels = torch.from_numpy(records[:, 0].astype(np.int64))
    if int(labels.max()) >= NUM_CLASSES:
        raise ConfigError(f"'{path}' has a label >= {NUM_CLASSES}: not a CIFAR-10 batch")
    images = torch.from_numpy(records[:, 1:].copy()).reshape(-1, 3, CIFAR_SIDE, CIFAR_SIDE)
    return images, labels


def load_cifar10(root: str | Path) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """CIFAR-10's official split: train images ``(N, 3, 32, 32)`` float32 (0..255) and labels
    from data_batch_1..5, test images and labels from test_batch."""
    folder = cifar_dir(root)
    parts = [read_cifar_batch(folder / name) for name in CIFAR_TRAIN]
    test_x, test_y = read_cifar_batch(folder / CIFAR_TEST)
    train_x = torch.cat([p[0] for p in parts]).float()
    train_y = torch.cat([p[1] for p in parts])
    return train_x, train_y, test_x.float(), test_y


def standardize(train_x: Tensor, test_x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel standardization of images ``(N, C, H, W)`` with the training split's
    statistics (mean 0, std 1 per channel on the training split)."""
    mean = train_x.mean(dim=(0, 2, 3), keepdim=True)
    std = train_x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
    return (train_x - mean) / std, (test_x - mean) / std


def resize(images: Tensor, side: int) -> Tensor:
    """Bilinear resize of ``(N, C, H, W)`` to ``(N, C, side, side)`` (identity if equal)."""
    if images.shape[-1] == side and images.shape[-2] == side:
        return images
    return torch.nn.functional.interpolate(images, size=(side, side), mode="bilinear",
                                           align_corners=False)


def split_indices(n: int, test_fraction: float, *, generator: torch.Generator
                  ) -> tuple[Tensor, Tensor]:
    """A random partition of ``range(n)``: (train indices, test indices)."""
    perm = torch.randperm(n, generator=generator)
    n_test = max(1, round(n * test_fraction))
    return perm[n_test:], perm[:n_test]


def load_split(dataset: str, *, kind: str, image_size: int, test_fraction: float = 0.25,
               data_root: str | Path | None = None) -> Split:
    """Standardized inputs of ``dataset`` (``digits`` or ``cifar10``) for a ``kind`` (fc | conv)
    network: images resized to ``image_size``, flattened for fc. Digits are split at random with
    a fixed generator (the same split for every seed and run); CIFAR-10 uses its official split.
    """
    if dataset == "digits":
        images, labels = load_digits_images()
        g = torch.Generator().manual_seed(0)  # the data split is part of the data set
        tr, te = split_indices(len(labels), test_fraction, generator=g)
        train_x, train_y, test_x, test_y = images[tr], labels[tr], images[te], labels[te]
    elif dataset == "cifar10":
        if data_root is None:
            raise ConfigError("the CIFAR-10 presets need --data-root DIR "
                              f"(the folder holding {CIFAR_DIR}/)")
        train_x, train_y, test_x, test_y = load_cifar10(data_root)
    else:
        raise ConfigError(f"unknown data set '{dataset}' (known: digits, cifar10)")
    train_x, test_x = resize(train_x, image_size), resize(test_x, image_size)
    train_x, test_x = standardize(train_x, test_x)
    if kind == "fc":
        train_x, test_x = train_x.flatten(1), test_x.flatten(1)
    return Split(train_x.contiguous(), train_y, test_x.contiguous(), test_y)
