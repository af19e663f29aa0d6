"""BitNet b1.58 quantizers (Ma et al. 2024, "The Era of 1-bit LLMs"), straight-through in backward.

  weights      gamma = mean|W| (absmean);  W~ = RoundClip(W / (gamma + eps), -1, 1) in {-1, 0, +1};
               the layer multiplies by W~ and rescales by gamma once per output
  activations  per token (last dimension) gamma_x = max|x| (absmax);  Q_b = 2^(b-1) = 128 at 8 bits;
               x~ = Clip(round(x * Q_b / gamma_x), -Q_b + 1, Q_b - 1) (the paper's -Q_b + eps, Q_b - eps
               on an integer grid)
Both return the dequantized values (W~ gamma, x~ gamma_x / Q_b): the float model computes what the
ternary x int8 hardware computes, up to the final rescale.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hwsim.formats import TERNARY, Format

EPS = 1e-5


def absmean_ternary(w: Tensor) -> tuple[Tensor, Tensor]:
    """-> (codes in {-1, 0, +1}, gamma = mean|W|)."""
    gamma = w.abs().mean()
    return torch.clamp(torch.round(w / (gamma + EPS)), -1, 1), gamma


def absmax_per_token(x: Tensor, bits: int = 8) -> tuple[Tensor, Tensor]:
    """-> (integer codes in [-(Q_b - 1), Q_b - 1], gamma_x = max|x| per token, keepdim)."""
    qb = 2 ** (bits - 1)
    gamma = x.abs().amax(dim=-1, keepdim=True).clamp_min(EPS)
    return torch.clamp(torch.round(x * (qb / gamma)), -qb + 1, qb - 1), gamma


class AbsmeanTernaryWeight(nn.Module):
    fmt = TERNARY

    def forward(self, w: Tensor) -> Tensor:
        codes, gamma = absmean_ternary(w)
        return w + (codes * gamma - w).detach()        # straight-through estimator


class AbsmaxActivation(nn.Module):
    def __init__(self, bits: int = 8):
        super().__init__()
        self.bits = bits
        self.fmt = Format("int", bits)

    def forward(self, x: Tensor) -> Tensor:
        codes, gamma = absmax_per_token(x, self.bits)
        return x + (codes * gamma / 2 ** (self.bits - 1) - x).detach()

    def extra_repr(self) -> str:
        return f"bits={self.bits}, per token"
