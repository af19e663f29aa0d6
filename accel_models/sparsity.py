"""Sparsity support of an accelerator, as data: what it does with zero operands.

Accelerator YAML::

    sparsity: {weights: none, activations: gating, load_balance: lanes}

per operand (``weights`` = the filter operand, ``activations`` = the ifmap operand):
  none      every MAC is issued and costs energy (the default)
  gating    clock/data gating of zero operands: a MAC with a zero operand costs no compute energy,
            cycles are unchanged (Eyeriss' data gating)
  skipping  zero operands are skipped: energy as gating, and cycles follow the effectual work

Cycles with skipping, per GEMM, compute cycles x f:
  structured N:M weights (``weight_nm`` on the layer, N kept of every M)      f = N / M
  unstructured, ``load_balance: lanes`` (default): the array's PE lanes work in lockstep and a
      fold lasts as long as its busiest lane. A lane reduces ``rows`` products per fold, each
      effectual with probability d (zeros at random positions), so its work is Binomial(rows, d);
      the busiest of ``cols`` lanes is taken at the Gaussian extreme
          f = min(1, d + sqrt(d (1 - d) / rows) x sqrt(2 ln cols))
  ``load_balance: ideal``: f = d (perfect balancing, an upper bound on the gain)
where d is the density of the skipped operands: the weight density, the activation density or,
when both are skipped, their product. Filter DRAM traffic follows the layer's stored weight bytes
(``filter_storage_ratio``, stored / dense) whatever the support.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from accel_models.errors import ConfigError

MODES = ("none", "gating", "skipping")
LOAD_BALANCE = ("lanes", "ideal")


@dataclass(frozen=True)
class SparsitySupport:
    weights: str = "none"
    activations: str = "none"
    load_balance: str = "lanes"

    def __post_init__(self) -> None:
        for f in ("weights", "activations"):
            if getattr(self, f) not in MODES:
                raise ConfigError(f"sparsity.{f}", f"expected one of {', '.join(MODES)}, got {getattr(self, f)!r}")
        if self.load_balance not in LOAD_BALANCE:
            raise ConfigError("sparsity.load_balance",
                              f"expected one of {', '.join(LOAD_BALANCE)}, got {self.load_balance!r}")

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def skip_factor(support: SparsitySupport, rows: int, cols: int, weight_density: float = 1.0,
                input_density: float = 1.0, weight_nm: tuple[int, int] | None = None) -> float:
    """Fraction of the dense compute cycles a GEMM takes under ``support`` (see the module docstring)."""
    f_struct, d = 1.0, 1.0
    if support.weights == "skipping":
        if weight_nm is not None:
            f_struct = weight_nm[0] / weight_nm[1]
        else:
            d *= weight_density
    if support.activations == "skipping":
        d *= input_density
    if d >= 1.0:
        return f_struct
    d = max(d, 0.0)
    if support.load_balance == "ideal":
        return f_struct * d
    spread = math.sqrt(d * (1 - d) / max(rows, 1)) * math.sqrt(2 * math.log(max(cols, 1)))
    return f_struct * min(1.0, d + spread)
