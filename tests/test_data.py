"""Data loaders: digits split and scaling; IDX and CIFAR-binary files written here and read back exactly."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from hwsim.data import DATASETS, load_dataset
from hwsim.errors import UserError


def write_idx(path, arr: np.ndarray, gz: bool = False) -> None:
    magic = (0x08 << 8) | arr.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    raw = header + arr.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.write_bytes(raw)


def make_idx_folder(folder, n_train=7, n_test=3, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, (n_train,), dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, (n_test,), dtype=np.uint8),
    }
    for name, arr in arrays.items():
        write_idx(folder / name, arr, gz=gz)
    return arrays


def unstandardise_check(x: torch.Tensor, raw_train: np.ndarray, raw: np.ndarray, scale: float) -> None:
    """x must equal (raw*scale - mean)/std per channel, with mean/std of the raw training images."""
    tr = raw_train.astype(np.float32) * scale
    mean = tr.mean(axis=(0, 2, 3), keepdims=True, dtype=np.float64)
    std = tr.std(axis=(0, 2, 3), keepdims=True, dtype=np.float64)
    expect = (raw.astype(np.float32) * scale - mean) / std
    np.testing.assert_allclose(x.numpy(), expect, rtol=1e-5, atol=1e-5)


def test_registry_names():
    from hwsim.data import load_all

    load_all()
    assert {"digits", "mnist", "fashion_mnist", "cifar10", "cifar100"} <= set(DATASETS.names())


def test_digits_split_stratified_standardised_and_seeded():
    d = load_dataset("digits")
    assert d.in_shape == (1, 8, 8) and d.num_classes == 10 and d.name == "digits"
    assert d.n_train + d.n_test == 1797
    assert d.n_test == pytest.approx(0.25 * 1797, abs=1)
    assert d.train_x.dtype == torch.float32 and d.train_y.dtype == torch.int64
    assert abs(float(d.train_x.mean())) < 1e-4 and float(d.train_x.std()) == pytest.approx(1.0, abs=1e-3)
    # stratified: every class is within one example of its expected share of the test set
    counts = torch.bincount(d.test_y, minlength=10).float()
    full = torch.bincount(torch.cat([d.train_y, d.test_y]), minlength=10).float()
    assert torch.all((counts - full * d.n_test / 1797).abs() <= 1.0)
    same = load_dataset("digits", seed=0)
    assert torch.equal(same.test_x, d.test_x)
    other = load_dataset("digits", seed=1)
    assert not torch.equal(other.test_y, d.test_y)
    small = load_dataset("digits", limit=50, test_fraction=0.5)
    assert small.n_train == 50 and small.n_test == 50


def test_digits_pixels_are_the_sklearn_pixels():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    raw = load_digits()
    tr_i, te_i = train_test_split(np.arange(1797), test_size=0.25, random_state=3, stratify=raw.target)
    d = load_dataset("digits", seed=3)
    imgs = raw.images[:, None].astype(np.float32)
    unstandardise_check(d.train_x, imgs[tr_i], imgs[tr_i], 1 / 16)
    unstandardise_check(d.test_x, imgs[tr_i], imgs[te_i], 1 / 16)
    assert d.test_y.tolist() == raw.target[te_i].tolist()


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip(tmp_path, name, gz):
    arrays = make_idx_folder(tmp_path / name, gz=gz)
    d = load_dataset(name, tmp_path)  # found in the sub-folder named after the data set
    assert d.in_shape == (1, 28, 28) and d.n_train == 7 and d.n_test == 3
    assert torch.equal(d.train_y, torch.from_numpy(arrays["train-labels-idx1-ubyte"].astype(np.int64)))
    assert torch.equal(d.test_y, torch.from_numpy(arrays["t10k-labels-idx1-ubyte"].astype(np.int64)))
    tr = arrays["train-images-idx3-ubyte"][:, None]
    unstandardise_check(d.train_x, tr, tr, 1 / 255)
    unstandardise_check(d.test_x, tr, arrays["t10k-images-idx3-ubyte"][:, None], 1 / 255)


def test_idx_errors_name_the_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nowhere")
    make_idx_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(UserError) as e:
        load_dataset("mnist", tmp_path)
    assert "t10k-labels-idx1-ubyte" in e.value.where and "missing" in e.value.what
    # wrong magic: a label file where images are expected
    make_idx_folder(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes((tmp_path / "train-labels-idx1-ubyte").read_bytes())
    with pytest.raises(UserError) as e:
        load_dataset("mnist", tmp_path)
    assert e.value.where.endswith("train-images-idx3-ubyte") and "0x00000803" in e.value.what
    # truncated
    make_idx_folder(tmp_path)
    raw = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(raw[:-5])
    with pytest.raises(UserError, match="expected 5504 "):
        load_dataset("mnist", tmp_path)
    # label count disagrees with image count
    make_idx_folder(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(6, np.uint8))
    with pytest.raises(UserError, match="6 labels but"):
        load_dataset("mnist", tmp_path)


def write_cifar(path, labels: list[np.ndarray], images: np.ndarray, gz=False) -> None:
    rec = np.concatenate([*(lab[:, None] for lab in labels), images.reshape(len(images), -1)], axis=1)
    raw = rec.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.write_bytes(raw)


def test_cifar10_roundtrip(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    imgs, labs = [], []
    for i in range(1, 6):
        x = rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8)
        y = rng.integers(0, 10, 2, dtype=np.uint8)
        write_cifar(folder / f"data_batch_{i}.bin", [y], x, gz=(i == 3))
        imgs.append(x)
        labs.append(y)
    tx = rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    ty = rng.integers(0, 10, 3, dtype=np.uint8)
    write_cifar(folder / "test_batch.bin", [ty], tx)
    d = load_dataset("cifar10", tmp_path)
    tr = np.concatenate(imgs)
    assert d.in_shape == (3, 32, 32) and d.num_classes == 10 and d.n_train == 10 and d.n_test == 3
    assert d.train_y.tolist() == np.concatenate(labs).tolist() and d.test_y.tolist() == ty.tolist()
    unstandardise_check(d.train_x, tr, tr, 1 / 255)
    unstandardise_check(d.test_x, tr, tx, 1 / 255)
    # wrong size
    (folder / "test_batch.bin").write_bytes(b"\x00" * 3074)
    with pytest.raises(UserError) as e:
        load_dataset("cifar10", tmp_path)
    assert e.value.where.endswith("test_batch.bin") and "multiple of 3073" in e.value.what
    # label out of range
    write_cifar(folder / "test_batch.bin", [np.array([10], np.uint8)], tx[:1])
    with pytest.raises(UserError, match="label 10 out of range"):
        load_dataset("cifar10", tmp_path)


def test_cifar100_fine_labels(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    coarse = np.array([1, 2, 3, 4], np.uint8)
    fine = np.array([99, 0, 50, 7], np.uint8)
    write_cifar(tmp_path / "train.bin", [coarse, fine], x)
    write_cifar(tmp_path / "test.bin", [coarse[:2], fine[:2]], x[:2])
    d = load_dataset("cifar100", tmp_path)
    assert d.num_classes == 100 and d.train_y.tolist() == [99, 0, 50, 7] and d.test_y.tolist() == [99, 0]
    unstandardise_check(d.train_x, x, x, 1 / 255)
    (tmp_path / "test.bin").unlink()
    with pytest.raises(UserError, match="missing file"):
        load_dataset("cifar100", tmp_path)


def test_bad_arguments():
    with pytest.raises(UserError, match="unknown dataset"):
        load_dataset("imagenet22k")
    with pytest.raises(UserError, match="test_fraction"):
        load_dataset("digits", test_fraction=1.5)
    with pytest.raises(UserError, match="limit"):
        load_dataset("digits", limit=0)


def test_default_root_from_environment(tmp_path, monkeypatch):
    make_idx_folder(tmp_path / "MNIST" / "raw")
    monkeypatch.setenv("HWSIM_DATA", str(tmp_path))
    assert load_dataset("mnist").n_train == 7
