"""BitNet b1.58 quantizers (Ma et al. 2024, "The Era of 1-bit LLMs"), straight-through in backward.

  weights      gamma = mean|W| (absmean);  W~ = RoundClip(W / (gamma + eps), -1, 1) in {-1, 0, +1};
               the layer multiplies by W~ and rescales by gamma once per output
  activations  per token (last dimension) gamma_x = max|x| (absmax);  Q_b = 2^(b-1) = 128 at 8 bits;
               x~ = Clip(round(x * Q_b / gamma_x), -Q_b + 1, Q_b - 1) (the paper's -Q_b + eps, Q_b - eps
               on an integer grid)
Both return the dequantized values (W~ gamma, x~ gamma_x / Q_b) exactly: the float model computes what
the ternary x int8 hardware computes, up to the final rescale. Neither saves anything for backward
(straight-through); a layer keeps its input as the int8 codes and per-token scale (:class:`TokenCodec`)
and recomputes its ternary weight from the Parameter in backward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hwsim.formats import TERNARY, Format
from hwsim.quant.pack import pack, unpack
from hwsim.quant.stash import Codec, Packed, get_tag, set_tag

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


class _TernarySTE(torch.autograd.Function):
    """``codes * gamma`` exactly (the value the ternary hardware multiplies by), straight-through
    gradient; saves nothing (the quantization is not differentiated)."""

    @staticmethod
    def forward(ctx, w: Tensor) -> Tensor:
        codes, gamma = absmean_ternary(w)
        return codes * gamma

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        return g


class _AbsmaxSTE(torch.autograd.Function):
    """``codes * gamma_x / Q_b`` exactly, straight-through gradient, nothing saved; the output is
    tagged with its per-token scale so :class:`TokenCodec` can keep the b-bit codes."""

    @staticmethod
    def forward(ctx, x: Tensor, bits: int) -> Tensor:
        codes, gamma = absmax_per_token(x, bits)
        return codes * gamma / 2 ** (bits - 1), gamma

    @staticmethod
    def backward(ctx, g: Tensor, g_gamma: Tensor) -> tuple[Tensor, None]:
        return g, None


class AbsmeanTernaryWeight(nn.Module):
    fmt = TERNARY

    def forward(self, w: Tensor) -> Tensor:
        return _TernarySTE.apply(w)


TOKEN_TAG = "_hwsim_token_scale"


@dataclass
class TokenTag:
    """The per-token scale ``gamma_x`` of an absmax-quantized tensor (its values: codes gamma_x / Q_b)."""

    gamma: Tensor
    bits: int
    version: int


class AbsmaxActivation(nn.Module):
    def __init__(self, bits: int = 8):
        super().__init__()
        self.bits = bits
        self.fmt = Format("int", bits)

    def forward(self, x: Tensor) -> Tensor:
        q, gamma = _AbsmaxSTE.apply(x, self.bits)
        set_tag(q, TOKEN_TAG, TokenTag(gamma.detach(), self.bits, q._version))
        return q

    def extra_repr(self) -> str:
        return f"bits={self.bits}, per token"


class TokenCodec(Codec):
    """The stash of a layer fed by :class:`AbsmaxActivation`: the b-bit integer codes (offset to
    ``0 .. 2 Q_b - 2``, bit-packed) and the fp32 scale per token, decoded with the forward's own
    float ops (``codes * gamma_x / Q_b``), so backward sees the forward's values bit for bit. An
    input without the quantizer's tag (or modified since) is kept as it is."""

    exact = True

    def __init__(self, bits: int = 8):
        if not 2 <= int(bits) <= 8:
            raise ValueError(f"TokenCodec bits must be 2..8, got {bits}")
        self.bits = int(bits)
        self.fmt = Format("int", self.bits)

    def encode(self, x: Tensor) -> Packed:
        tag = get_tag(x, TOKEN_TAG)
        if tag is None or tag.bits != self.bits or tag.gamma.shape[:-1] != x.shape[:-1]:
            return Packed((x,), self._meta(x, raw=True))
        qb = 2 ** (self.bits - 1)
        codes = torch.round(x.detach() * qb / tag.gamma) + (qb - 1)
        return Packed((pack(codes.to(torch.int32), self.bits), tag.gamma), self._meta(x))

    def decode(self, p: Packed) -> Tensor:
        if p.meta.raw:
            return p.tensors[0]
        shape, dtype = p.meta.shape, p.meta.dtype
        qb = 2 ** (self.bits - 1)
        codes = unpack(p.tensors[0], self.bits, shape.numel()).view(shape).to(dtype) - (qb - 1)
        return codes * p.tensors[1] / qb

    def __repr__(self) -> str:
        return f"TokenCodec({self.bits})"
