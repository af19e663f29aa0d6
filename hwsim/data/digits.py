"""scikit-learn's bundled handwritten digits: 1,797 images of 8x8 pixels with values 0..16, 10 classes.

Needs no files, so it is the data set of the tests and of quick sweeps. Pixels are
scaled to [0, 1] (divided by 16), the split is stratified and fixed by ``seed``, then
standardised with the training split's statistics.
"""

from __future__ import annotations

from hwsim.data import Dataset, register_dataset, to_dataset


@register_dataset("digits", "scikit-learn digits, 1,797 8x8 grey images (bundled, no download)", 10, (1, 8, 8),
                  needs_files=False)
def load_digits(root=None, *, seed: int = 0, test_fraction: float = 0.25, limit: int | None = None) -> Dataset:
    import numpy as np
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    d = sk_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = d.target.astype(np.int64)
    tr_x, te_x, tr_y, te_y = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return to_dataset("digits", tr_x, tr_y, te_x, te_y, 10, limit)
