"""Graham's low-precision approximations of batch-normalized activations (Table 1), and log gradients.

Source: B. Graham, "Low-Precision Batch-Normalized Activations", 2017, Table 1:

    L2(x) = sign(x) * pow(2, 1/2 + clamp[-1,0] floor(log2 1.034x))
    L3(x) = sign(x) * pow(2,       clamp[-1,2] floor(log2 1.316x))
    L4(x) = sign(x) * pow(2,       clamp[-3,4] floor(log2 1.36x))
    L5(x) = sign(x) * pow(sqrt2,   clamp[-6,9] floor(log_sqrt2 1.177x))
    U4(x) = (1/2 + clamp[-8,7]     floor(2x)) / 2
    U5(x) = (1/2 + clamp[-16,15]   floor(3x)) / 3
    U8(x) = (1/2 + clamp[-128,127] floor(8x)) / 8
    O4(x) = sign(x) * (pow(a, 1/2 + clamp[0,7] floor(log_a(1 + x))) - 1),  a = 1.29

Reading notes (stated where the table leaves room):
  * The log formulas take the logarithm of the *magnitude* (Section 1.5.1: "take absolute value
    to make it positive"); O4 likewise uses log_a(1 + |x|).
  * sign(0) is taken as +1, so 0 maps to the smallest positive level (L4(0) = 1/8). The b-bit
    code is one sign bit plus an exponent and has no code for zero; log2(0) = -inf is clamped
    to the lower end of the range exactly as written.
  * floor(log2 y) is computed exactly from the float exponent (``torch.frexp``), as the paper
    notes one would in hardware ("just a matter of inspecting the exponent"); log base sqrt(2)
    is floor(2 log2 y), also from the exponent plus one comparison of the mantissa with
    1/sqrt(2). O4 uses float64 logs.
  * Outputs are looked up from a level table computed in float64 and cast to the input dtype,
    so every output is bit-for-bit one of the 2^b levels (what the stash codec relies on).

The values are a * Q(N(x)) + b inputs; see :mod:`hwsim.schemes.graham` for the batch-norm.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hwsim.formats import Format
from hwsim.quant.pack import pack, unpack
from hwsim.quant.stash import (
    AFFINE_TAG,
    AffineTag,
    LevelsCodec,
    Packed,
    SharedBatchNorm,
    affine_apply,
    set_tag,
)

SQRT2 = math.sqrt(2.0)
O4_ALPHA = 1.29


def _floor_log2(y: torch.Tensor) -> torch.Tensor:
    """floor(log2 y) for y >= 0, exact (from the float exponent); y = 0 gives a very negative int."""
    m, e = torch.frexp(y)           # y = m * 2^e, m in [0.5, 1)
    out = e.to(torch.int64) - 1
    return torch.where(y > 0, out, torch.full_like(out, -(1 << 20)))


def _floor_log_sqrt2(y: torch.Tensor) -> torch.Tensor:
    """floor(log_sqrt2 y) = floor(2 log2 y) for y >= 0, exact up to the comparison m >= 1/sqrt2."""
    m, e = torch.frexp(y)
    out = 2 * e.to(torch.int64) - 2 + (m >= 1.0 / SQRT2).to(torch.int64)
    return torch.where(y > 0, out, torch.full_like(out, -(1 << 20)))


def _sign_pos(x: torch.Tensor) -> torch.Tensor:
    """sign(x) with sign(0) = +1 (see module notes)."""
    return torch.where(x < 0, -torch.ones_like(x), torch.ones_like(x))


def _lookup(levels: list[float], idx: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    table = torch.tensor(levels, dtype=torch.float64).to(dtype=like.dtype, device=like.device)
    return table[idx]


def _log_q(x: torch.Tensor, c: float, lo: int, hi: int, base_sqrt2: bool = False, half: bool = False):
    mag = torch.abs(x) * c
    k = _floor_log_sqrt2(mag) if base_sqrt2 else _floor_log2(mag)
    k = torch.clamp(k, lo, hi)
    base = SQRT2 if base_sqrt2 else 2.0
    levels = [base ** ((0.5 if half else 0.0) + j) for j in range(lo, hi + 1)]
    return _sign_pos(x) * _lookup(levels, k - lo, x)


def L2(x: torch.Tensor) -> torch.Tensor:
    """L2(x) = sign(x) * pow(2, 1/2 + clamp[-1,0] floor(log2 1.034|x|)); levels +-2^-1/2, +-2^1/2 (2 bits)."""
    return _log_q(x, 1.034, -1, 0, half=True)


def L3(x: torch.Tensor) -> torch.Tensor:
    """L3(x) = sign(x) * pow(2, clamp[-1,2] floor(log2 1.316|x|)); levels +-1/2, +-1, +-2, +-4 (3 bits)."""
    return _log_q(x, 1.316, -1, 2)


def L4(x: torch.Tensor) -> torch.Tensor:
    """L4(x) = sign(x) * pow(2, clamp[-3,4] floor(log2 1.36|x|)); levels +-1/8 .. +-16 (4 bits)."""
    return _log_q(x, 1.36, -3, 4)


def L5(x: torch.Tensor) -> torch.Tensor:
    """L5(x) = sign(x) * pow(sqrt2, clamp[-6,9] floor(log_sqrt2 1.177|x|)); levels +-2^(k/2), k=-6..9 (5 bits)."""
    return _log_q(x, 1.177, -6, 9, base_sqrt2=True)


def _uniform_q(x: torch.Tensor, s: int, lo: int, hi: int) -> torch.Tensor:
    k = torch.clamp(torch.floor(x * s).to(torch.int64), lo, hi)
    return _lookup([(0.5 + j) / s for j in range(lo, hi + 1)], k - lo, x)


def U4(x: torch.Tensor) -> torch.Tensor:
    """U4(x) = (1/2 + clamp[-8,7] floor(2x)) / 2; 16 levels (k + 1/2)/2, k = -8..7 (4 bits)."""
    return _uniform_q(x, 2, -8, 7)


def U5(x: torch.Tensor) -> torch.Tensor:
    """U5(x) = (1/2 + clamp[-16,15] floor(3x)) / 3; 32 levels (k + 1/2)/3, k = -16..15 (5 bits)."""
    return _uniform_q(x, 3, -16, 15)


def U8(x: torch.Tensor) -> torch.Tensor:
    """U8(x) = (1/2 + clamp[-128,127] floor(8x)) / 8; 256 levels (k + 1/2)/8, k = -128..127 (8 bits)."""
    return _uniform_q(x, 8, -128, 127)


def O4(x: torch.Tensor) -> torch.Tensor:
    """O4(x) = sign(x) * (pow(a, 1/2 + clamp[0,7] floor(log_a(1 + |x|))) - 1), a = 1.29 (4 bits, range ~ +-5.75)."""
    k = torch.floor(torch.log1p(torch.abs(x).double()) / math.log(O4_ALPHA)).to(torch.int64)
    k = torch.clamp(k, 0, 7)
    return _sign_pos(x) * _lookup([O4_ALPHA ** (0.5 + j) - 1.0 for j in range(8)], k, x)


@dataclass(frozen=True)
class GrahamQuantizer:
    """One row of Table 1: its function, bit width, number-format kind and its 2^b output levels."""

    name: str
    bits: int
    kind: str                                   # "log", "int" or "codebook" (hwsim.formats kinds)
    fn: Callable[[torch.Tensor], torch.Tensor]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    @property
    def fmt(self) -> Format:
        return Format(self.kind, self.bits)

    def levels(self, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
        """The 2^b output values, ascending, exactly as the function produces them in ``dtype``."""
        probe = _LEVEL_PROBES[self.name].to(dtype=dtype)
        lv = torch.unique(self.fn(probe))
        assert lv.numel() == 2 ** self.bits, (self.name, lv.numel())
        return lv.to(device)


def _probes(quant: str) -> torch.Tensor:
    """Inputs that hit every level of a quantizer (used once to build its level table)."""
    if quant.startswith("U"):
        s = {"U4": 2, "U5": 3, "U8": 8}[quant]
        ks = torch.arange(-300, 300, dtype=torch.float64)
        return (ks + 0.5) / s
    if quant == "O4":
        mags = torch.tensor([O4_ALPHA ** (j + 0.5) - 1.0 for j in range(8)], dtype=torch.float64)
    else:
        c, base = {"L2": (1.034, 2.0), "L3": (1.316, 2.0), "L4": (1.36, 2.0), "L5": (1.177, SQRT2)}[quant]
        mags = torch.tensor([base ** (j + 0.5) / c for j in range(-12, 14)], dtype=torch.float64)
    return torch.cat([mags, -mags])


QUANTIZERS: dict[str, GrahamQuantizer] = {
    "L2": GrahamQuantizer("L2", 2, "log", L2),
    "L3": GrahamQuantizer("L3", 3, "log", L3),
    "L4": GrahamQuantizer("L4", 4, "log", L4),
    "L5": GrahamQuantizer("L5", 5, "log", L5),
    "U4": GrahamQuantizer("U4", 4, "int", U4),
    "U5": GrahamQuantizer("U5", 5, "int", U5),
    "U8": GrahamQuantizer("U8", 8, "int", U8),
    "O4": GrahamQuantizer("O4", 4, "codebook", O4),
}
_LEVEL_PROBES = {name: _probes(name) for name in QUANTIZERS}


class GrahamCodec(LevelsCodec):
    """The b-bit code of one Table 1 quantizer (L2..L5, U4, U5, U8, O4); exact for its outputs."""

    def __init__(self, quantizer: str):
        q = QUANTIZERS[quantizer]
        super().__init__(q.levels(torch.float64), q.fmt)
        self.quantizer = quantizer

    def decode(self, p: Packed) -> torch.Tensor:
        # Levels are exact per dtype only when computed in that dtype (float32 vs float64).
        shape, dtype = p.meta.shape, p.meta.dtype
        codes = unpack(p.tensors[0], self.bits, shape.numel()).view(shape)
        return QUANTIZERS[self.quantizer].levels(dtype, codes.device)[codes]

    def __repr__(self) -> str:
        return f"GrahamCodec({self.quantizer!r})"


def log_grad8(g: torch.Tensor) -> torch.Tensor:
    """Graham Section 2.5: 8-bit log gradients in {+-2^(k/2) : k = -127, ..., -1, 0}.

    k = clamp(round(2 log2|g|), -127, 0) (nearest level on the log scale); sign kept; exact
    zeros stay 0 (a flushed value; every other input lands on one of the 256 levels).
    """
    mag = torch.abs(g)
    k = torch.clamp(torch.round(2.0 * torch.log2(mag.double())), -127, 0)
    q = torch.sign(g) * torch.pow(2.0, k / 2.0).to(g.dtype)
    return torch.where(mag > 0, q, torch.zeros_like(g))


# ---------------------------------------------------------------------------------------------
# Graham's batch-norm: a * Q(N(x)) + b, storing only Q(N(x)) packed at b bits
# ---------------------------------------------------------------------------------------------


class _GrahamBNFn(torch.autograd.Function):
    """z = a * q + b with q = Q(N(x)) computed by the module; saves the packed code of q,
    1/sqrt(var + eps) per channel, the level table and a. Backward is Graham's eq. (2) with q
    in place of N(x) (straight-through Q):

        grad_N = a * grad_z
        grad_x = (grad_N - mean(grad_N) - q * mean(q * grad_N)) / sqrt(Var(x) + eps)
        grad_a = sum(grad_z * q),  grad_b = sum(grad_z)      (means/sums over all but dim 1)
    """

    @staticmethod
    def forward(ctx, x, weight, bias, q, packed, invstd, levels, bits):
        ctx.save_for_backward(packed, invstd, levels, weight)
        ctx.bits, ctx.shape = bits, x.shape
        return affine_apply(q, weight, bias)

    @staticmethod
    def backward(ctx, gz):
        packed, invstd, levels, weight = ctx.saved_tensors
        shape = ctx.shape
        q = levels.to(gz.dtype)[unpack(packed, ctx.bits, shape.numel()).view(shape)]
        dims = [0] + list(range(2, len(shape)))
        view = [1] * len(shape)
        view[1] = -1
        g_n = gz * weight.view(view)
        gx = (g_n - g_n.mean(dims, keepdim=True) - q * (q * g_n).mean(dims, keepdim=True)) * invstd.view(view)
        ga = (gz * q).sum(dims) if ctx.needs_input_grad[1] else None
        gb = gz.sum(dims) if ctx.needs_input_grad[2] else None
        return gx, ga, gb, None, None, None, None, None


class GrahamBatchNorm(SharedBatchNorm):
    """Batch-norm split as A_{a,b}(Q(N(x))) (Graham Section 1.3) with Q a Table 1 quantizer.

    Forward: N(x) = (x - mean) / sqrt(Var(x) + eps) over all dims but the channel (dim 1; batch
    statistics in training, running statistics in eval), then z = a * Q(N(x)) + b. For backward
    only the b-bit packed code of Q(N(x)), 1/sqrt(Var + eps) per channel and a are kept.

    The output carries the tag :data:`hwsim.quant.stash.AFFINE_TAG`, from which
    :class:`hwsim.quant.stash.StashReLU` recomputes the Affine-ReLU in backward and a
    following layer's :class:`hwsim.quant.stash.CodebookCodec` stores the same packed code.
    Running statistics are updated as ``torch.nn.BatchNorm`` does (unbiased variance).
    Works for (N, C), (N, C, L), (N, C, H, W) inputs.
    """

    hwsim_fused = True   # priced as one kernel (hwsim.count.mode.is_fused)

    def __init__(self, num_features: int, quantizer: str = "L4", eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device=device, dtype=dtype)
        if quantizer not in QUANTIZERS:
            raise ValueError(f"unknown Graham quantizer {quantizer!r}")
        self.quantizer = quantizer
        self._levels: dict[tuple, torch.Tensor] = {}

    @classmethod
    def from_bn(cls, bn: torch.nn.modules.batchnorm._BatchNorm, quantizer: str) -> GrahamBatchNorm:
        """A Graham BN sharing ``bn``'s parameters and running statistics."""
        g = cls(bn.num_features, quantizer, bn.eps, bn.momentum, bn.affine, bn.track_running_stats,
                device="meta", dtype=bn.weight.dtype if bn.weight is not None else None)
        g.share_state(bn)
        return g

    def levels(self, like: torch.Tensor) -> torch.Tensor:
        key = (like.dtype, like.device)
        if key not in self._levels:
            self._levels[key] = QUANTIZERS[self.quantizer].levels(like.dtype).to(like.device)
        return self._levels[key]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, quantizer={self.quantizer}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        quant = QUANTIZERS[self.quantizer]
        dims = [0] + list(range(2, x.dim()))
        view = [1] * x.dim()
        view[1] = -1
        c = x.shape[1]
        weight = self.weight if self.weight is not None else x.new_ones(c)
        bias = self.bias if self.bias is not None else x.new_zeros(c)
        use_batch = self.training or not self.track_running_stats
        if not use_batch:
            n = (x - self.running_mean.view(view)) * torch.rsqrt(self.running_var.view(view) + self.eps)
            return affine_apply(quant(n), weight, bias)
        with torch.no_grad():
            xd = x.detach()
            mean = xd.mean(dims)
            var = xd.var(dims, unbiased=False)
            invstd = torch.rsqrt(var + self.eps)
            q = quant((xd - mean.view(view)) * invstd.view(view))
            if self.training and self.track_running_stats:
                self.num_batches_tracked.add_(1)
                m = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                cnt = x.numel() // c
                self.running_mean.mul_(1 - m).add_(mean, alpha=m)
                self.running_var.mul_(1 - m).add_(var * (cnt / max(cnt - 1, 1)), alpha=m)
        if not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)):
            return affine_apply(q, weight, bias)
        lv = self.levels(x)
        packed = pack(torch.bucketize(q, (lv[1:] + lv[:-1]) / 2), quant.bits)
        z = _GrahamBNFn.apply(x, weight, bias, q, packed, invstd, lv, quant.bits)
        set_tag(z, AFFINE_TAG, AffineTag(packed, lv, quant.bits, weight, bias, z._version))
        return z


class _LogGradFn(torch.autograd.Function):
    """Identity in forward; in backward the incoming gradient is rounded by :func:`log_grad8`."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return log_grad8(g)


def quantize_grad_log8(x: torch.Tensor) -> torch.Tensor:
    """``x`` unchanged; the gradient flowing back through it becomes 8-bit log (Graham 2.5).

    Applied to a weight layer's output, the layer's backward (grad_input and grad_weight) sees
    the quantized gradient: "quantized immediately before being applied to each convolution".
    """
    if not (torch.is_grad_enabled() and x.requires_grad):
        return x
    return _LogGradFn.apply(x)


BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
_PASS_MODULES = (nn.ReLU, nn.MaxPool1d, nn.MaxPool2d, nn.Identity)
_PASS_FUNCTIONS = (F.relu, torch.relu, F.max_pool1d, F.max_pool2d, torch.max_pool1d, torch.max_pool2d)


class _LeafTracer(torch.fx.Tracer):
    """Keeps weight layers, norms and activations as leaves (quantized subclasses included)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.modules.batchnorm._BatchNorm) + _PASS_MODULES):
            return True
        return super().is_leaf_module(m, qualname)


def layers_fed_by_bn(model: nn.Module) -> dict[str, str | None] | None:
    """weight-layer name -> the BN whose (ReLU'd, max-pooled) output it reads, or None.

    Traced with torch.fx; returns None when the model cannot be traced.
    """
    try:
        graph = _LeafTracer().trace(model)
    except Exception:  # noqa: BLE001 - any tracing failure means "unknown"
        return None
    out: dict[str, str | None] = {}
    for node in graph.nodes:
        if node.op != "call_module":
            continue
        mod = model.get_submodule(node.target)
        if not isinstance(mod, (nn.Conv2d, nn.Linear)):
            continue
        src, found = node.args[0] if node.args else None, None
        while isinstance(src, torch.fx.Node):
            if src.op == "call_module":
                sm = model.get_submodule(src.target)
                if isinstance(sm, nn.modules.batchnorm._BatchNorm):
                    found = src.target
                    break
                if isinstance(sm, _PASS_MODULES):
                    src = src.args[0]
                    continue
            elif src.op == "call_function" and src.target in _PASS_FUNCTIONS:
                src = src.args[0]
                continue
            elif src.op == "call_method" and src.target in ("relu", "relu_"):
                src = src.args[0]
                continue
            break
        out[node.target] = found
    return out
