"""McDonnell's binary weights: ``sign(W)`` times a fixed per-layer scale (He et al. init std), not learned."""

from __future__ import annotations

import math

import torch
from torch import nn

from hwsim.formats import BINARY


def fixed_scale(weight: torch.Tensor) -> float:
    """He et al. init std ``sqrt(2 / fan_in)`` of a conv/linear weight: the fixed per-layer scale."""
    fan_in = math.prod(weight.shape[1:])
    return math.sqrt(2.0 / max(fan_in, 1))


class FixedScaleSign(nn.Module):
    """``w_b = scale * sign(W)`` (sign(0) = +1), identity straight-through gradient to the float W."""

    fmt = BINARY

    def __init__(self, scale: float):
        super().__init__()
        self.scale = float(scale)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        from hwsim.quant import functions as qf

        return qf.binarize_identity(w) * self.scale

    def extra_repr(self) -> str:
        return f"scale={self.scale:.4g}"
