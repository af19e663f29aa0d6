"""MNIST and Fashion-MNIST from their IDX files, parsed with numpy.

IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): a big-endian header of
magic number 0x00000803 (unsigned bytes, 3 dimensions) then N, rows, cols for images,
0x00000801 then N for labels, followed by the raw bytes. Files may be gzipped
(``.gz`` appended). Both data sets: 60,000 train + 10,000 test images of 28x28, 10 classes.
"""

from __future__ import annotations

from pathlib import Path

from hwsim.data import Dataset, find_folder, read_file_bytes, register_dataset, to_dataset
from hwsim.errors import UserError

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def read_idx(folder: Path, fname: str, magic: int, num_classes: int | None = None):
    """Parse one IDX file -> numpy uint8 array (N, rows, cols) for images or (N,) for labels."""
    import numpy as np

    raw, path = read_file_bytes(folder, fname)
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    got = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if got != magic:
        raise UserError(str(path), f"IDX magic number is {'missing' if got is None else f'0x{got:08x}'}, expected 0x{magic:08x} "
                        f"({'images, 3 dimensions' if ndim == 3 else 'labels, 1 dimension'})")
    if len(raw) < header:
        raise UserError(str(path), f"file is {len(raw)} bytes, shorter than the {header}-byte IDX header")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise UserError(str(path), f"file is {len(raw)} bytes, expected {expected} "
                        f"(header {header} + {' x '.join(map(str, dims))} bytes)")
    arr = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    if num_classes is not None and arr.size and int(arr.max()) >= num_classes:
        raise UserError(str(path), f"label {int(arr.max())} out of range, expected 0..{num_classes - 1}")
    return arr


def load_idx_dataset(name: str, root, limit: int | None) -> Dataset:
    import numpy as np

    folder = find_folder(name, root, FILES)
    tr_x = read_idx(folder, FILES[0], IMAGES_MAGIC)
    tr_y = read_idx(folder, FILES[1], LABELS_MAGIC, 10)
    te_x = read_idx(folder, FILES[2], IMAGES_MAGIC)
    te_y = read_idx(folder, FILES[3], LABELS_MAGIC, 10)
    for (x, y, fx, fy) in ((tr_x, tr_y, FILES[0], FILES[1]), (te_x, te_y, FILES[2], FILES[3])):
        if len(x) != len(y):
            raise UserError(str(folder / fy), f"{len(y)} labels but {fx} holds {len(x)} images")
    if tr_x.shape[1:] != te_x.shape[1:]:
        raise UserError(str(folder / FILES[2]), f"images are {te_x.shape[1:]}, train images are {tr_x.shape[1:]}")
    f = np.float32(1.0 / 255.0)
    return to_dataset(name, tr_x[:, None] * f, tr_y, te_x[:, None] * f, te_y, 10, limit)


@register_dataset("mnist", "MNIST handwritten digits, 60k+10k 28x28 (IDX files in a local folder)", 10, (1, 28, 28),
                  folders=("MNIST/raw", "mnist"))
def load_mnist(root=None, *, seed: int = 0, test_fraction: float = 0.25, limit: int | None = None) -> Dataset:
    return load_idx_dataset("mnist", root, limit)


@register_dataset("fashion_mnist", "Fashion-MNIST, 60k+10k 28x28 (IDX files in a local folder)", 10, (1, 28, 28),
                  folders=("FashionMNIST/raw", "fashion-mnist", "fashion"))
def load_fashion_mnist(root=None, *, seed: int = 0, test_fraction: float = 0.25, limit: int | None = None) -> Dataset:
    return load_idx_dataset("fashion_mnist", root, limit)
