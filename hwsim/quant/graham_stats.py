"""Graham's Table 2: how much of a batch-normalized signal survives L2, L3 and L4 (Graham 2017).

For X drawn from N(0, 1) or Student's t with 3 degrees of freedom (10,000 points, as Figure 1),
``Correlation(X, L_b(N(X)))`` and ``sd(L_b(N(X)))`` with N(x) = (x - mean) / sd over the sample.

Five of the six rows reproduce within the spread of 10k-point samples (``table2_spread``); the
Student-t L3 row (0.857 / 1.11) does not: over independent samples the Table 1 formula gives
about 0.90 / 0.92, the spread of sd never reaches 1.11, and nothing in the formula can: L3's
levels are +-1/2 .. +-4, and a heavier tail than the Gaussian's (for which L3 keeps sd 1.000) puts
more of the normalized mass near zero, where L3 rounds up to 1/2 but loses mass above 4.
docs/seeds.md gives the command and the figures.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch

PUBLISHED = {  # (quantizer, distribution): (correlation, sd), Graham Table 2
    ("L2", "normal"): (0.918, 1.000), ("L3", "normal"): (0.965, 1.000), ("L4", "normal"): (0.981, 1.000),
    ("L2", "t3"): (0.769, 0.888), ("L3", "t3"): (0.857, 1.11), ("L4", "t3"): (0.970, 0.978),
}


@dataclass(frozen=True)
class Table2Row:
    quantizer: str
    distribution: str
    correlation: float
    sd: float


def table2_row(quantizer: str, distribution: str, n: int = 10_000, seed: int = 0) -> Table2Row:
    """One sample of ``n`` points: the correlation of X with L_b(N(X)) and the sd of L_b(N(X))."""
    from hwsim.quant.graham import QUANTIZERS

    gen = torch.Generator().manual_seed(seed)
    if distribution == "normal":
        x = torch.randn(n, generator=gen, dtype=torch.float64)
    elif distribution == "t3":      # Student's t, 3 dof: Z / sqrt(V / 3), V ~ chi2(3) as a sum of 3 squares
        z = torch.randn(n, generator=gen, dtype=torch.float64)
        v = (torch.randn(n, 3, generator=gen, dtype=torch.float64) ** 2).sum(1)
        x = z / torch.sqrt(v / 3.0)
    else:
        raise ValueError(f"distribution is 'normal' or 't3', got {distribution!r}")
    nx = (x - x.mean()) / x.std()
    y = QUANTIZERS[quantizer](nx)
    corr = float(torch.corrcoef(torch.stack([x, y]))[0, 1])
    return Table2Row(quantizer, distribution, corr, float(y.std()))


@dataclass(frozen=True)
class Spread:
    mean: float
    low: float
    high: float


def table2_spread(quantizer: str, distribution: str, samples: int = 20, n: int = 10_000) -> tuple[Spread, Spread]:
    """(correlation, sd) over ``samples`` independent samples of ``n`` points: mean, min and max."""
    rows = [table2_row(quantizer, distribution, n, seed) for seed in range(samples)]
    out = []
    for vals in ([r.correlation for r in rows], [r.sd for r in rows]):
        out.append(Spread(statistics.fmean(vals), min(vals), max(vals)))
    return out[0], out[1]
