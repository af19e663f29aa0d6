"""Drop-in modules that keep for backward only what backward needs, at the width asked for.

PyTorch's batch-norm, max-pool and adaptive average pool save float tensors for backward:
batch-norm its input, max-pool its input and int64 indices, adaptive pooling its input (for
the shape only). These modules compute the same forward with the same aten ops and save:

``StashBatchNorm``          its input through a codec (:class:`hwsim.quant.stash.FloatCodec`:
                            exact, the float reference; :class:`hwsim.quant.stash.GroupCodec`:
                            b-bit, changes the gradient, so it is a named option of a scheme),
                            plus the per-channel mean and 1/std
``StashMaxPool2d``          the argmax's position inside its window, packed at
                            ceil(log2(kh kw)) bits (exact: 4 bits for a 3x3 window)
``StashAdaptiveAvgPool2d``  nothing (backward needs only the input's shape; exact)

:func:`compress_saved` swaps them (and the 1-bit-mask ReLU of :mod:`hwsim.quant.stash`) into a
model. Every module here sets ``hwsim_fused``: the counter prices its element-wise work as one
fused kernel that reads its input and writes its output (forward) or reads the output gradient
and writes the input gradient (backward), as it prices PyTorch's own kernels.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hwsim.formats import NormPrecision
from hwsim.quant.pack import pack, unpack
from hwsim.quant.stash import Codec, FloatCodec, Packed, SharedBatchNorm, StashReLU

aten = torch.ops.aten


def _wants_grad(*ts: torch.Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in ts)


def _shape_only(like: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """A tensor of ``shape`` holding no memory (an expanded scalar), for kernels that read only shapes."""
    return like.new_zeros(()).expand(shape)


# ---------------------------------------------------------------------------------------------
# Batch-norm
# ---------------------------------------------------------------------------------------------


class _BatchNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps, codec):
        y, mean, invstd = aten.native_batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps)
        enc = codec.encode(x)
        ctx.save_for_backward(weight, running_mean, running_var, mean, invstd, *enc.tensors)
        ctx.meta, ctx.codec, ctx.training, ctx.eps = enc.meta, codec, training, eps
        return y

    @staticmethod
    def backward(ctx, g):
        weight, rmean, rvar, mean, invstd, *saved = ctx.saved_tensors
        x_hat = ctx.codec.decode(Packed(tuple(saved), ctx.meta))
        mask = [ctx.needs_input_grad[0], weight is not None and ctx.needs_input_grad[1],
                weight is not None and ctx.needs_input_grad[2]]
        gx, gw, gb = aten.native_batch_norm_backward(g.contiguous(), x_hat, weight, rmean, rvar, mean, invstd,
                                                     ctx.training, ctx.eps, mask)
        return gx, gw, gb, None, None, None, None, None, None


class StashBatchNorm(SharedBatchNorm):
    """``nn.BatchNorm{1,2,3}d`` whose saved input goes through ``codec`` (see the module docstring).

    Forward values, running statistics and (with the float codec) gradients equal PyTorch's.
    With :class:`hwsim.quant.stash.RecomputeCodec` its input is recomputed in backward by the
    producing convolution: ``hwsim_recompute_precision`` is that layer's declaration, so the
    counter prices the recomputed GEMM at the layer's forward MAC type, in backward.
    """

    hwsim_fused = True
    hwsim_recompute_precision = None

    def __init__(self, num_features: int, codec: Codec | None = None, **kw: Any):
        super().__init__(num_features, **kw)
        self.codec = codec or FloatCodec()
        self.hwsim_norm_precision = NormPrecision(stash=self.codec.fmt)

    @classmethod
    def from_bn(cls, bn: nn.modules.batchnorm._BatchNorm, codec: Codec | None = None) -> StashBatchNorm:
        """Shares ``bn``'s parameters and running statistics."""
        s = cls(bn.num_features, codec, eps=bn.eps, momentum=bn.momentum, affine=bn.affine,
                track_running_stats=bn.track_running_stats, device="meta")
        s.share_state(bn)
        return s

    def set_codec(self, codec: Codec) -> None:
        self.codec = codec
        self.hwsim_norm_precision = NormPrecision(stash=codec.fmt)

    def hwsim_changed(self) -> bool:
        return not isinstance(self.codec, FloatCodec)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, codec={self.codec!r}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _wants_grad(x, self.weight):
            return super().forward(x)
        self._check_input_dim(x)
        # nn.BatchNorm's own bookkeeping of the averaging factor
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        use_batch = self.training or self.running_mean is None
        rm = self.running_mean if not self.training or self.track_running_stats else None
        rv = self.running_var if not self.training or self.track_running_stats else None
        from hwsim.quant.stash import PRODUCER_TAG, RecomputeCodec, get_tag

        if isinstance(self.codec, RecomputeCodec):
            tag = get_tag(x, PRODUCER_TAG)
            self.hwsim_recompute_precision = tag.precision if tag is not None else None
        return _BatchNormFn.apply(x, self.weight, self.bias, rm, rv, use_batch, factor, self.eps, self.codec)


# ---------------------------------------------------------------------------------------------
# Pools
# ---------------------------------------------------------------------------------------------


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


class _MaxPoolFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k, s, p, d, ceil):
        out, idx = F.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
        w_in = x.shape[-1]
        oh = torch.arange(out.shape[-2], device=x.device).view(-1, 1) * s[0] - p[0]
        ow = torch.arange(out.shape[-1], device=x.device).view(1, -1) * s[1] - p[1]
        local = torch.div(idx // w_in - oh, d[0], rounding_mode="floor") * k[1] + \
            torch.div(idx % w_in - ow, d[1], rounding_mode="floor")
        bits = max(1, math.ceil(math.log2(k[0] * k[1])))
        ctx.save_for_backward(pack(local, bits))
        ctx.conf = (k, s, p, d, ceil, bits, x.shape, out.shape)
        return out

    @staticmethod
    def backward(ctx, g):
        (packed,) = ctx.saved_tensors
        k, s, p, d, ceil, bits, x_shape, out_shape = ctx.conf
        local = unpack(packed, bits, out_shape.numel()).view(out_shape).to(torch.int64)
        oh = torch.arange(out_shape[-2], device=g.device).view(-1, 1) * s[0] - p[0]
        ow = torch.arange(out_shape[-1], device=g.device).view(1, -1) * s[1] - p[1]
        idx = (oh + (local // k[1]) * d[0]) * x_shape[-1] + ow + (local % k[1]) * d[1]
        gx = aten.max_pool2d_with_indices_backward(g, _shape_only(g, x_shape), list(k), list(s), list(p), list(d),
                                                   ceil, idx)
        return gx, None, None, None, None, None


class StashMaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` saving the argmax's window position at ceil(log2(kh kw)) bits (exact)."""

    hwsim_fused = True

    @classmethod
    def from_pool(cls, m: nn.MaxPool2d) -> StashMaxPool2d:
        return cls(m.kernel_size, m.stride, m.padding, m.dilation, m.return_indices, m.ceil_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.return_indices or x.dim() != 4 or not _wants_grad(x):
            return super().forward(x)
        s = self.stride if self.stride is not None else self.kernel_size
        return _MaxPoolFn.apply(x, _pair(self.kernel_size), _pair(s), _pair(self.padding), _pair(self.dilation),
                                self.ceil_mode)


class _AdaptiveAvgPoolFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, size):
        ctx.shape = x.shape
        return F.adaptive_avg_pool2d(x, size)

    @staticmethod
    def backward(ctx, g):
        if g.shape[-2:] == (1, 1):
            # PyTorch runs a 1x1 output as a mean over H, W: the same backward, bit for bit
            return g.expand(ctx.shape) / (ctx.shape[-1] * ctx.shape[-2]), None
        return aten._adaptive_avg_pool2d_backward(g, _shape_only(g, ctx.shape)), None


class StashAdaptiveAvgPool2d(nn.AdaptiveAvgPool2d):
    """``nn.AdaptiveAvgPool2d`` saving nothing: its backward needs only the input's shape."""

    hwsim_fused = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or not _wants_grad(x):
            return super().forward(x)
        return _AdaptiveAvgPoolFn.apply(x, self.output_size)


# ---------------------------------------------------------------------------------------------
# Swapping them in
# ---------------------------------------------------------------------------------------------


def _replace(model: nn.Module, pick, make) -> int:
    n = 0
    for name, child in list(model.named_children()):
        new = make(child) if pick(child) else None
        if new is not None:
            setattr(model, name, new)
            n += 1
        else:
            n += _replace(child, pick, make)
    return n


def compress_saved(model: nn.Module, bn_codec: Codec | None = None, relu: bool = True, pools: bool = True) -> nn.Module:
    """Swap in the modules above: exact ones always (1-bit ReLU masks if ``relu``, pools if
    ``pools``); batch-norms (PyTorch's, or already swapped) with ``bn_codec`` when it is given.

    Graham's batch-norm is left alone: it already keeps a code.
    """
    from hwsim.quant.graham import GrahamBatchNorm

    if relu:
        _replace(model, lambda m: type(m) is nn.ReLU, lambda m: StashReLU(pack_mask=True))
        for m in model.modules():
            if isinstance(m, StashReLU):
                m.pack_mask = True
    if pools:
        _replace(model, lambda m: type(m) is nn.MaxPool2d, StashMaxPool2d.from_pool)
        _replace(model, lambda m: type(m) is nn.AdaptiveAvgPool2d, lambda m: StashAdaptiveAvgPool2d(m.output_size))
    if bn_codec is not None:
        from hwsim.quant.stash import RecomputeCodec

        if isinstance(bn_codec, RecomputeCodec):
            recompute_producers(model)
        for m in model.modules():
            if isinstance(m, StashBatchNorm):
                m.set_codec(bn_codec)
        _replace(model, lambda m: isinstance(m, nn.modules.batchnorm._BatchNorm)
                 and not isinstance(m, (StashBatchNorm, GrahamBatchNorm)),
                 lambda m: StashBatchNorm.from_bn(m, bn_codec))
    return model


BN_STASH = ("float", "int8", "int4", "int2", "recompute")


def bn_stash_codec(choice: str) -> Codec | None:
    """A scheme's ``bn_stash`` option: ``float`` keeps the batch-norm input exact (None: leave the
    batch-norms as they are); ``intB`` holds it at B bits per value (per group of 256, stochastic
    rounding, as ActNN), which changes the gradient; ``recompute`` keeps nothing new and
    recomputes it in backward from the producing convolution's exact stash (lossless; the
    scheme refuses it where its stash is lossy)."""
    if choice == "float":
        return None
    from hwsim.quant.stash import GroupCodec, RecomputeCodec

    return RecomputeCodec() if choice == "recompute" else GroupCodec(int(choice[3:]))


def recompute_producers(model: nn.Module) -> int:
    """For ``bn_stash: recompute``: a plain ``nn.Conv2d`` (a layer the scheme keeps in float, such
    as the stem) becomes a ``QConv2d`` saving its input as is (``FloatCodec``: the same buffer
    F.conv2d saves), so the batch-norm after it can recompute its input too."""
    from hwsim.quant.layers import QConv2d
    from hwsim.quant.stash import FloatCodec

    def make(m: nn.Module) -> nn.Module:
        q = QConv2d.from_float(m)
        q.stash_codec = FloatCodec()
        return q

    return _replace(model, lambda m: type(m) is nn.Conv2d, make)
