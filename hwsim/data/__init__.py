"""Datasets as plain tensors: digits (bundled), MNIST / Fashion-MNIST (IDX files), CIFAR-10/100 (binary).

``load_dataset(name, root=None, *, seed=0, test_fraction=0.25, limit=None) -> Dataset``.

Every loader returns float32 images shaped (N, C, H, W), scaled to [0, 1] and then
standardised per channel with the *training* set's mean and standard deviation, and
int64 labels. Files are parsed with numpy (never pickle). A missing folder or file, or
a file of the wrong size or magic number, is a :class:`hwsim.errors.UserError` naming
the file and what was expected.

Where the files are looked for (``root``): the folder given, then ``root/<name>`` and
the folder names the original archives unpack to (``cifar-10-batches-bin``,
``cifar-100-binary``, ``MNIST/raw``, ``FashionMNIST/raw``). Without ``root`` the
environment variable ``HWSIM_DATA`` is used, else ``./data``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwsim.errors import UserError
from hwsim.registry import Registry

if TYPE_CHECKING:  # torch is imported inside the loaders
    import torch


@dataclass
class Dataset:
    """A classification data set held in memory as tensors."""

    train_x: torch.Tensor   # float32 (N, C, H, W)
    train_y: torch.Tensor   # int64 (N,)
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    in_shape: tuple[int, int, int]
    name: str

    @property
    def n_train(self) -> int:
        return int(self.train_x.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.test_x.shape[0])


@dataclass
class DatasetSpec:
    name: str
    loader: Callable[..., Dataset]
    description: str
    num_classes: int
    in_shape: tuple[int, int, int]
    needs_files: bool                 # False for digits (bundled with scikit-learn)
    folders: tuple[str, ...] = ()     # sub-folder names the original archives unpack to


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(name: str, description: str, num_classes: int, in_shape: tuple[int, int, int],
                     needs_files: bool = True, folders: tuple[str, ...] = ()):
    def deco(fn: Callable[..., Dataset]) -> Callable[..., Dataset]:
        DATASETS.add(name, DatasetSpec(name, fn, description, num_classes, tuple(in_shape), needs_files,
                                       tuple(folders)))
        return fn

    return deco


def default_root() -> Path:
    return Path(os.environ.get("HWSIM_DATA", "data"))


def find_folder(name: str, root: str | os.PathLike | None, required: tuple[str, ...],
                where: str = "dataset") -> Path:
    """The first of root, root/<name>, root/<archive folder> that holds every required file (or its .gz)."""
    spec = DATASETS.get(name, where=where)
    base = Path(root) if root is not None else default_root()
    if not base.is_dir():
        raise UserError(str(base), f"data folder does not exist; dataset {name!r} needs "
                        f"{', '.join(required)} there (pass root / --data-root, or set HWSIM_DATA)")
    candidates = [base, base / name, *(base / f for f in spec.folders)]

    def has_all(d: Path) -> bool:
        return all((d / f).is_file() or (d / (f + ".gz")).is_file() for f in required)

    for d in candidates:
        if d.is_dir() and has_all(d):
            return d
    # Name the first missing file in the most plausible folder.
    best = next((d for d in candidates if d.is_dir() and any((d / f).exists() or (d / (f + ".gz")).exists()
                                                             for f in required)), base)
    missing = [f for f in required if not ((best / f).is_file() or (best / (f + ".gz")).is_file())]
    raise UserError(str(best / missing[0]), f"missing file; dataset {name!r} expects "
                    f"{', '.join(required)} in {str(base)!r} or one of its sub-folders "
                    f"{', '.join(repr(str(c.relative_to(base))) for c in candidates[1:])}")


def read_file_bytes(folder: Path, fname: str) -> tuple[bytes, Path]:
    """The bytes of ``folder/fname``, or of ``folder/fname.gz`` decompressed."""
    import gzip

    p = folder / fname
    if p.is_file():
        return p.read_bytes(), p
    gz = folder / (fname + ".gz")
    try:
        return gzip.decompress(gz.read_bytes()), gz
    except (OSError, EOFError) as e:
        raise UserError(str(gz), f"not a readable gzip file ({e})") from None


def standardise(train_x: Any, test_x: Any) -> tuple[Any, Any]:
    """Per-channel (x - mean) / std with the training set's statistics (numpy float32, NCHW)."""
    import numpy as np

    mean = train_x.mean(axis=(0, 2, 3), keepdims=True, dtype=np.float64).astype(np.float32)
    std = train_x.std(axis=(0, 2, 3), keepdims=True, dtype=np.float64).astype(np.float32)
    std = np.where(std > 0, std, np.float32(1.0))
    return (train_x - mean) / std, (test_x - mean) / std


def to_dataset(name: str, train_x: Any, train_y: Any, test_x: Any, test_y: Any, num_classes: int,
               limit: int | None) -> Dataset:
    """numpy uint8/float arrays in [0,1] (NCHW) -> standardised tensors; ``limit`` keeps the first N of each split."""
    import numpy as np
    import torch

    if limit is not None:
        if limit < 1:
            raise UserError("dataset.limit", f"limit must be a positive integer, got {limit}")
        train_x, train_y, test_x, test_y = train_x[:limit], train_y[:limit], test_x[:limit], test_y[:limit]
    train_x, test_x = standardise(np.asarray(train_x, np.float32), np.asarray(test_x, np.float32))
    return Dataset(
        train_x=torch.from_numpy(np.ascontiguousarray(train_x)),
        train_y=torch.from_numpy(np.asarray(train_y, dtype=np.int64)),
        test_x=torch.from_numpy(np.ascontiguousarray(test_x)),
        test_y=torch.from_numpy(np.asarray(test_y, dtype=np.int64)),
        num_classes=num_classes,
        in_shape=tuple(int(s) for s in train_x.shape[1:]),
        name=name,
    )


_loaded = False


def load_all() -> None:
    global _loaded
    if not _loaded:
        from hwsim.registry import import_submodules

        import_submodules("hwsim.data")
        _loaded = True


def load_dataset(name: str, root: str | os.PathLike | None = None, *, seed: int = 0,
                 test_fraction: float = 0.25, limit: int | None = None, where: str = "dataset") -> Dataset:
    """Load a registered data set. ``seed``/``test_fraction`` only matter where there is no fixed split (digits)."""
    load_all()
    spec = DATASETS.get(name, where=where)
    if not 0.0 < float(test_fraction) < 1.0:
        raise UserError(f"{where}.test_fraction", f"must lie strictly between 0 and 1, got {test_fraction}")
    return spec.loader(root=root, seed=seed, test_fraction=float(test_fraction), limit=limit)


__all__ = ["DATASETS", "Dataset", "DatasetSpec", "load_dataset", "register_dataset"]
