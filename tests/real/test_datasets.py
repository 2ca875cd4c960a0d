import numpy as np
import pytest
import torch
from real_helpers import cifar_records

from relulab.config import ConfigError
from relulab.real.datasets import (
    CIFAR_DIR,
    CIFAR_TEST,
    CIFAR_TRAIN,
    load_cifar10,
    load_digits_images,
    load_split,
    read_cifar_batch,
    resize,
    split_indices,
    standardize,
)


def test_cifar_batch_reads_label_then_rgb_planes(tmp_path):
    labels = np.array([3, 9])
    images = np.zeros((2, 3, 32, 32), dtype=np.uint8)
    images[0, 0, 0, 1] = 200  # red plane, row 0, column 1
    images[1, 2, 31, 0] = 7  # blue plane, last row, first column
    path = tmp_path / "b.bin"
    path.write_bytes(cifar_records(labels, images))
    x, y = read_cifar_batch(path)
    assert x.shape == (2, 3, 32, 32) and x.dtype == torch.uint8
    assert y.tolist() == [3, 9]
    assert int(x[0, 0, 0, 1]) == 200 and int(x[1, 2, 31, 0]) == 7
    assert int(x.sum()) == 207
    # byte offsets of the official layout: record 1 starts at 3073, its blue plane at +1+2048
    raw = path.read_bytes()
    assert raw[3073] == 9 and raw[3073 + 1 + 2048 + 31 * 32] == 7


def test_cifar10_official_split_in_file_order(cifar_root):
    root, written = cifar_root
    train_x, train_y, test_x, test_y = load_cifar10(root)
    assert train_x.shape == (5 * 12, 3, 32, 32) and test_x.shape == (12, 3, 32, 32)
    expect_y = np.concatenate([written[n][0] for n in CIFAR_TRAIN])
    assert train_y.tolist() == expect_y.tolist()
    assert torch.equal(train_x[12:24], torch.from_numpy(written[CIFAR_TRAIN[1]][1]).float())
    assert test_y.tolist() == written[CIFAR_TEST][0].tolist()
    # the folder itself works as the root too
    assert load_cifar10(root / CIFAR_DIR)[3].tolist() == test_y.tolist()


def test_cifar_missing_root_names_the_files(tmp_path):
    with pytest.raises(ConfigError, match=r"cifar-10-batches-bin/data_batch_1.bin .*test_batch"):
        load_cifar10(tmp_path / "nowhere")


def test_cifar_bad_file_size(cifar_root):
    root, _ = cifar_root
    (root / CIFAR_DIR / CIFAR_TEST).write_bytes(b"\x00" * 100)
    with pytest.raises(ConfigError, match="not a multiple of 3073"):
        load_cifar10(root)


def test_cifar_split_fc_and_conv_standardized_per_channel(cifar_root):
    root, _ = cifar_root
    conv = load_split("cifar10", kind="conv", image_size=32, data_root=root)
    assert conv.input_shape == (3, 32, 32)
    mean = conv.train_x.mean(dim=(0, 2, 3))
    std = conv.train_x.std(dim=(0, 2, 3))
    assert torch.allclose(mean, torch.zeros(3), atol=1e-5)
    assert torch.allclose(std, torch.ones(3), atol=1e-5)
    fc = load_split("cifar10", kind="fc", image_size=32, data_root=root)
    assert fc.input_shape == (3072,) and torch.equal(fc.train_x, conv.train_x.flatten(1))
    with pytest.raises(ConfigError, match="--data-root"):
        load_split("cifar10", kind="fc", image_size=32)


def test_digits_images_and_split():
    images, labels = load_digits_images()
    assert images.shape == (1797, 1, 8, 8) and labels.shape == (1797,)
    assert float(images.max()) == 16.0 and set(labels.tolist()) == set(range(10))
    split = load_split("digits", kind="fc", image_size=8)
    assert split.input_shape == (64,)
    assert len(split.train_x) + len(split.test_x) == 1797
    assert len(split.test_x) == round(1797 * 0.25)
    again = load_split("digits", kind="conv", image_size=16)  # the split is fixed
    assert again.input_shape == (1, 16, 16) and torch.equal(again.train_y, split.train_y)


def test_split_indices_partition(generator):
    tr, te = split_indices(10, 0.3, generator=generator)
    assert sorted(tr.tolist() + te.tolist()) == list(range(10)) and len(te) == 3


def test_standardize_uses_train_statistics():
    train = torch.tensor([0.0, 2.0, 4.0]).reshape(3, 1, 1, 1)
    test = torch.tensor([2.0, 6.0]).reshape(2, 1, 1, 1)
    _, t = standardize(train, test)
    assert torch.allclose(t.flatten(), torch.tensor([0.0, 2.0]))  # (x - 2) / 2


def test_resize_constant_image_stays_constant():
    x = torch.full((2, 1, 8, 8), 3.0)
    assert torch.allclose(resize(x, 16), torch.full((2, 1, 16, 16), 3.0))
    assert resize(x, 8) is x


def test_digits_without_scikit_learn_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import fails
    with pytest.raises(ConfigError, match=r"pip install 'relulab\[real\]'"):
        load_digits_images()
