"""CIFAR-10 and CIFAR-100, binary version (https://www.cs.toronto.edu/~kriz/cifar.html), parsed with numpy.

CIFAR-10: ``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin``; each record
is 1 label byte then 3,072 pixel bytes (1,024 red, 1,024 green, 1,024 blue, row-major 32x32).
CIFAR-100: ``train.bin`` and ``test.bin`` (any file may be gzipped, ``.gz`` appended); each record is a coarse-label byte, a
fine-label byte, then 3,072 pixel bytes. We train on the 100 fine labels.
"""

from __future__ import annotations

from pathlib import Path

from hwsim.data import Dataset, find_folder, read_file_bytes, register_dataset, to_dataset
from hwsim.errors import UserError

PIXELS = 3 * 32 * 32
C10_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
C10_TEST = "test_batch.bin"
C100_FILES = ("train.bin", "test.bin")


def read_records(folder: Path, fname: str, label_bytes: int, label_index: int, num_classes: int):
    """One binary CIFAR file -> (uint8 images (N, 3, 32, 32), uint8 labels (N,))."""
    import numpy as np

    raw, path = read_file_bytes(folder, fname)
    rec = label_bytes + PIXELS
    if len(raw) == 0 or len(raw) % rec:
        raise UserError(str(path), f"file is {len(raw)} bytes, expected a positive multiple of {rec} "
                        f"({label_bytes} label byte{'s' if label_bytes > 1 else ''} + {PIXELS} pixel bytes per image)")
    arr = np.frombuffer(raw, dtype=np.uint8).reshape(-1, rec)
    labels = arr[:, label_index]
    if int(labels.max()) >= num_classes:
        raise UserError(str(path), f"label {int(labels.max())} out of range, expected 0..{num_classes - 1}")
    return arr[:, label_bytes:].reshape(-1, 3, 32, 32), labels


def _concat(parts):
    import numpy as np

    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


@register_dataset("cifar10", "CIFAR-10, 50k+10k 3x32x32 colour images, 10 classes (binary version, local folder)",
                  10, (3, 32, 32), folders=("cifar-10-batches-bin",))
def load_cifar10(root=None, *, seed: int = 0, test_fraction: float = 0.25, limit: int | None = None) -> Dataset:
    import numpy as np

    folder = find_folder("cifar10", root, (*C10_TRAIN, C10_TEST))
    tr_x, tr_y = _concat([read_records(folder, f, 1, 0, 10) for f in C10_TRAIN])
    te_x, te_y = read_records(folder, C10_TEST, 1, 0, 10)
    f = np.float32(1.0 / 255.0)
    return to_dataset("cifar10", tr_x * f, tr_y, te_x * f, te_y, 10, limit)


@register_dataset("cifar100", "CIFAR-100, 50k+10k 3x32x32 colour images, 100 fine classes (binary version, local folder)",
                  100, (3, 32, 32), folders=("cifar-100-binary",))
def load_cifar100(root=None, *, seed: int = 0, test_fraction: float = 0.25, limit: int | None = None) -> Dataset:
    import numpy as np

    folder = find_folder("cifar100", root, C100_FILES)
    tr_x, tr_y = read_records(folder, C100_FILES[0], 2, 1, 100)
    te_x, te_y = read_records(folder, C100_FILES[1], 2, 1, 100)
    f = np.float32(1.0 / 255.0)
    return to_dataset("cifar100", tr_x * f, tr_y, te_x * f, te_y, 100, limit)
