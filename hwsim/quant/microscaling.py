"""Quantise-dequantise emulation of BF16, FP8, FP6, FP4 and the block-scaled OCP MX and NVFP4 formats.

Every function follows its specification (sources in :mod:`hwsim.minifloat`):

* element rounding (:func:`round_to_element`): round to nearest, ties to even, at the binade of
  each value (``floor(log2|x|)``, not below the smallest normal exponent, so subnormals keep the
  smallest normal's step), then saturation to the largest normal (OCP MX v1.0 section 6.3 asks for
  saturation; FP8 training clips to the representable range, Micikevicius et al. 2022 section 3);
  MXINT8 elements round ``x / 2^-6`` to an integer in [-127, 127];
* MX blocks (:func:`mx_quantize`): 32 values along the reduction share ``X = 2^(floor(log2(amax))
  - emax_elem)``, stored as an E8M0 code ``log2 X + 127`` (clamped to 2^-127 .. 2^127), and each
  element is ``round_to_element(V_i / X)`` (OCP MX v1.0 section 6.3, "quantize_to_element_format");
* NVFP4 (:func:`nvfp4_quantize`): a per-tensor FP32 encode scale ``s = 6 x 448 / amax(tensor)``;
  per 16 values a decode scale ``e4m3(amax(block) / 6 x s)``; elements ``e2m1(V_i s / scale)``,
  value ``e2m1 x scale / s`` (NVIDIA, "Pretraining LLMs with NVFP4", 2025, section 2);
* per-tensor FP8 scaling (:class:`ScaledCast`): ``scale = max_normal / amax`` from the current
  tensor ("current") or from the largest amax of the last ``history`` steps ("delayed",
  Micikevicius et al. 2022 section 4.3; Transformer Engine's recipe).

Codes (:func:`encode_element`) are the formats' bit patterns: sign in the top bit, then exponent
and mantissa; the magnitude table lists every finite non-negative value by pattern.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import _disable_current_modes

from hwsim.formats import Format
from hwsim.minifloat import ELEMENTS, ElementFormat, element, scaling
from hwsim.quant.pack import pack, unpack

E8M0_BIAS = 127


# ---------------------------------------------------------------------------------------------
# Elements
# ---------------------------------------------------------------------------------------------


@cache
def _magnitudes(name: str) -> tuple[float, ...]:
    el = ELEMENTS[name]
    if el.is_int:
        return tuple(i * 2.0 ** -el.man for i in range(128))
    out = []
    for p in range(1 << (el.bits - 1)):
        e, m = p >> el.man, p & ((1 << el.man) - 1)
        v = m * 2.0 ** (el.emin - el.man) if e == 0 else (1 + m / (1 << el.man)) * 2.0 ** (e - el.bias)
        if v > el.max_normal:
            break
        out.append(v)
    return tuple(out)


def magnitudes(el: ElementFormat) -> Tensor:
    """Every finite non-negative value of ``el``, indexed by its bit pattern (sign bit clear)."""
    return torch.tensor(_magnitudes(el.name), dtype=torch.float64)


def round_to_element(x: Tensor, el: ElementFormat) -> Tensor:
    """``x`` rounded to the nearest value of ``el`` (ties to even), saturating at +-max_normal."""
    if el.is_int:
        step = 2.0 ** -el.man
        return torch.clamp(torch.round(x / step), -127, 127) * step
    a = x.abs()
    _, e = torch.frexp(a)                       # a = f 2^e, f in [0.5, 1): floor(log2 a) = e - 1
    e = (e - 1).clamp(min=el.emin)              # subnormals share the smallest normal's step
    step = torch.pow(2.0, (e - el.man).to(x.dtype))
    q = torch.round(a / step) * step             # torch.round: half to even; a / step is exact
    q = torch.clamp(q, max=el.max_normal)
    return torch.copysign(q, x)


def encode_element(v: Tensor, el: ElementFormat) -> Tensor:
    """Bit patterns (int64) of values ``v`` that lie on ``el``'s grid."""
    if el.is_int:
        return torch.round(v * 2.0 ** el.man).to(torch.int64) & 0xFF
    table = magnitudes(el).to(v.device)
    idx = torch.searchsorted(table, v.abs().to(torch.float64).contiguous())
    sign = torch.signbit(v).to(torch.int64) << (el.bits - 1)
    return idx.clamp(max=table.numel() - 1) | sign


def decode_element(codes: Tensor, el: ElementFormat, dtype: torch.dtype = torch.float32) -> Tensor:
    codes = codes.to(torch.int64)
    if el.is_int:
        return (codes - ((codes & 0x80) << 1)).to(dtype) * 2.0 ** -el.man
    table = magnitudes(el).to(device=codes.device, dtype=dtype)
    half = 1 << (el.bits - 1)
    mag = table[(codes & (half - 1)).clamp(max=table.numel() - 1)]
    return torch.where(codes & half != 0, -mag, mag)


# ---------------------------------------------------------------------------------------------
# Blocks
# ---------------------------------------------------------------------------------------------


def _blocks(x: Tensor, axis: int, block: int) -> tuple[Tensor, tuple[int, ...], int]:
    """``x`` with ``axis`` moved last, padded with zeros to whole blocks: (..., n_blocks, block)."""
    y = x.movedim(axis, -1)
    shape, n = tuple(y.shape), y.shape[-1]
    pad = -n % block
    if pad:
        y = torch.cat([y, y.new_zeros(*y.shape[:-1], pad)], dim=-1)
    return y.reshape(*y.shape[:-1], -1, block), shape, n


def _unblocks(y: Tensor, shape: tuple[int, ...], n: int, axis: int) -> Tensor:
    return y.reshape(*shape[:-1], -1)[..., :n].movedim(-1, axis)


def mx_shared_exponent(amax: Tensor, el: ElementFormat) -> Tensor:
    """OCP MX v1.0: ``floor(log2(amax)) - emax_elem``, within E8M0's -127 .. 127 (amax 0: -127)."""
    _, e = torch.frexp(amax)
    shared = (e - 1 - el.emax).clamp(-E8M0_BIAS, E8M0_BIAS)
    return torch.where(amax > 0, shared, torch.full_like(shared, -E8M0_BIAS))


def mx_encode(x: Tensor, el: ElementFormat, axis: int = -1, block: int = 32) -> tuple[Tensor, Tensor]:
    """(element codes, E8M0 scale codes) of ``x`` in blocks of ``block`` along ``axis``; codes have
    the blocked shape (..., n_blocks, block), scales (..., n_blocks, 1)."""
    b, _, _ = _blocks(x, axis, block)
    shared = mx_shared_exponent(b.abs().amax(dim=-1, keepdim=True), el)
    scale = torch.pow(2.0, shared.to(x.dtype))
    return encode_element(round_to_element(b / scale, el), el), (shared + E8M0_BIAS).to(torch.uint8)


def mx_quantize(x: Tensor, el: ElementFormat, axis: int = -1, block: int = 32) -> Tensor:
    """``x`` through an MX format and back (same shape and dtype)."""
    b, shape, n = _blocks(x, axis, block)
    shared = mx_shared_exponent(b.abs().amax(dim=-1, keepdim=True), el)
    scale = torch.pow(2.0, shared.to(x.dtype))
    return _unblocks(round_to_element(b / scale, el) * scale, shape, n, axis)


NVFP4_SCALE = ELEMENTS["e4m3"]
NVFP4_ELEM = ELEMENTS["e2m1"]


def nvfp4_scales(b: Tensor, tensor_amax: Tensor) -> tuple[Tensor, Tensor]:
    """(per-tensor encode scale ``6 x 448 / amax``, per-block E4M3 decode scales) of blocks ``b``."""
    s_enc = torch.where(tensor_amax > 0, NVFP4_ELEM.max_normal * NVFP4_SCALE.max_normal / tensor_amax,
                        torch.ones_like(tensor_amax))
    s_blk = round_to_element(b.abs().amax(dim=-1, keepdim=True) / NVFP4_ELEM.max_normal * s_enc, NVFP4_SCALE)
    return s_enc, s_blk


def nvfp4_quantize(x: Tensor, axis: int = -1, block: int = 16) -> Tensor:
    """``x`` through NVFP4 (E2M1 elements, E4M3 scale per 16, FP32 per-tensor scale) and back."""
    b, shape, n = _blocks(x, axis, block)
    s_enc, s_blk = nvfp4_scales(b, x.abs().amax())
    safe = torch.where(s_blk > 0, s_blk, torch.ones_like(s_blk))
    q = round_to_element(b * (s_enc / safe), NVFP4_ELEM) * (safe / s_enc)
    return _unblocks(torch.where(s_blk > 0, q, torch.zeros_like(q)), shape, n, axis)


def cast(x: Tensor, fmt: Format, axis: int = -1, scale: Tensor | float | None = None) -> Tensor:
    """``x`` through ``fmt`` and back: block-scaled kinds along ``axis``; a narrow float per tensor
    with ``scale`` (values times ``scale`` are rounded, then divided by it; None: no scaling)."""
    el, sc = element(fmt.kind), scaling(fmt.kind)
    if sc is not None:
        if sc.name == "nv":
            return nvfp4_quantize(x, axis, sc.block)
        return mx_quantize(x, el, axis, sc.block)
    if scale is None:
        return round_to_element(x, el)
    return round_to_element(x * scale, el) / scale


def round_state(optimizer: Any, formats: dict[str, Format]) -> None:
    """Round the optimizer's per-element states to their role's format, in place, after a step:
    BF16 and FP16 by a cast (round to nearest even), FP8 with a per-tensor scale from the state's own
    amax (FP8-LM's scaled FP8 first moment). Meta tensors (shapes only) are left alone."""
    from hwsim.workload import STATE_ROLES

    with torch.no_grad(), _disable_current_modes():
        for st in optimizer.state.values():
            for key, t in st.items():
                f = formats.get(STATE_ROLES.get(key, ""))
                if f is None or f.is_full or not isinstance(t, Tensor) or t.is_meta:
                    continue
                if f.kind == "float" and f.bits == 16:
                    t.copy_(t.to(torch.float16).to(t.dtype))
                elif f.kind == "bf":
                    t.copy_(t.to(torch.bfloat16).to(t.dtype))
                else:
                    el = element(f.kind)
                    amax = t.abs().amax().to(torch.float32)
                    scale = torch.where(amax > 0, el.max_normal / amax, torch.ones_like(amax)).to(t.dtype)
                    t.copy_(cast(t, f, -1, scale))


# ---------------------------------------------------------------------------------------------
# Modules: forward and gradient quantizers with straight-through gradients
# ---------------------------------------------------------------------------------------------


def conversion_work(x: Tensor) -> Tensor:
    """The element work a hardware conversion to a scaled narrow format does, as the ops a counter sees:
    per element one magnitude, one max (the block's or tensor's amax), one scaling multiply and one
    round-and-saturate. The exact emulation (:func:`cast`) runs with dispatch modes disabled, so the
    counted work is this and not the emulation's arithmetic (which differs between real and meta
    tensors and is no hardware's)."""
    return torch.round(x * x.abs().amax())


class ScaledCast(nn.Module):
    """Quantise-dequantise to ``fmt`` with a straight-through gradient.

    Per-tensor narrow floats (FP8/FP6/FP4) are scaled so that the tensor's amax maps to the largest
    normal: ``scaling="current"`` uses this tensor's amax, ``"delayed"`` the largest amax of the last
    ``history`` calls in training (the current one when there is none yet); BF16 is not scaled.
    Block-scaled kinds carry their own scales. ``conv`` says a 4-d input has channels in dim 1.
    """

    def __init__(self, fmt: Format, role: str = "input", scaling: str = "current", history: int = 16):
        super().__init__()
        if scaling not in ("current", "delayed"):
            raise ValueError(f"scaling must be current or delayed, got {scaling!r}")
        self.fmt, self.role, self.scaling, self.history = fmt, role, scaling, history
        self.register_buffer("amax_history", torch.zeros(history), persistent=False)
        self._seen = 0
        self.last_scale: Tensor | None = None     # the per-tensor scale of the last call (the stash codes use it)

    def _tensor_scale(self, x: Tensor) -> Tensor | None:
        el = element(self.fmt.kind)
        if scaling(self.fmt.kind) is not None or el.name == "bf16":
            return None
        amax = x.detach().abs().amax().to(torch.float32)
        if self.scaling == "delayed" and self.training:
            hist = self.amax_history
            use = hist.amax() if self._seen else amax
            if not x.is_meta:
                self.amax_history.copy_(torch.roll(hist, 1))
                self.amax_history[0] = amax
            self._seen += 1
            amax = use
        return torch.where(amax > 0, el.max_normal / amax, torch.ones_like(amax)).to(x.dtype)

    def quantize(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            work = conversion_work(x)
            if x.is_meta:      # shapes only: the conversion's work is all there is to count
                return work
            with _disable_current_modes():
                s = self.last_scale = self._tensor_scale(x)
                if self.role == "weight" and x.dim() > 2:
                    return cast(x.reshape(x.shape[0], -1), self.fmt, -1, s).view_as(x)
                axis = 1 if (self.role == "conv" and x.dim() >= 3) else -1
                return cast(x, self.fmt, axis, s)

    def forward(self, x: Tensor) -> Tensor:
        if not (torch.is_grad_enabled() and x.requires_grad):
            return self.quantize(x)
        return _StraightThrough.apply(x, self)

    def extra_repr(self) -> str:
        return f"{self.fmt}, role={self.role}, scaling={self.scaling}"


class _StraightThrough(torch.autograd.Function):
    """The quantised tensor forward, the gradient passed through unchanged (no element ops of its own)."""

    @staticmethod
    def forward(ctx, x: Tensor, q: ScaledCast) -> Tensor:
        return q.quantize(x)

    @staticmethod
    def backward(ctx, g: Tensor):
        return g, None


class _OnGradient(torch.autograd.Function):
    """Identity forward; backward passes the output gradient through ``fn``."""

    @staticmethod
    def forward(ctx, x: Tensor, fn) -> Tensor:
        ctx.fn = fn
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g: Tensor):
        return ctx.fn(g), None


class OutputGradientQuantizer(nn.Module):
    """Identity in forward; in backward the layer's output gradient goes through
    :meth:`quantize_gradient` before both backward GEMMs read it (installed on a weight layer as
    ``grad_quantizer`` and applied by :func:`quantize_output_gradient`)."""

    def quantize_gradient(self, g: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, y: Tensor) -> Tensor:
        if not (torch.is_grad_enabled() and y.requires_grad):
            return y
        return _OnGradient.apply(y, self.quantize_gradient)


class GradQuantizer(OutputGradientQuantizer):
    """The output gradient through ``fmt`` (E5M2 for FP8 training, Micikevicius et al. 2022)."""

    def __init__(self, fmt: Format, conv: bool, scaling: str = "current", history: int = 16):
        super().__init__()
        self.cast = ScaledCast(fmt, "conv" if conv else "linear", scaling, history)

    def quantize_gradient(self, g: Tensor) -> Tensor:
        return self.cast.quantize(g)


def quantize_output_gradient(module: nn.Module, inputs, output: Tensor) -> Tensor:
    """Forward hook of a weight layer: its output, whose gradient its ``grad_quantizer`` quantises."""
    gq = getattr(module, "grad_quantizer", None)
    return output if gq is None else gq(output)


# ---------------------------------------------------------------------------------------------
# Stash codec: the saved input held as element codes plus its scales
# ---------------------------------------------------------------------------------------------


class FormatCodec:
    """Stash codec for an input already quantised by a :class:`ScaledCast` of the same format.

    Block-scaled: packed element codes + one uint8 scale code per block (E8M0, or E4M3 plus NVFP4's
    FP32 tensor scale), along the same axis as the quantizer; the NVFP4 scales are derived again from
    the quantised tensor. Per-tensor narrow floats: codes + one FP32 scale (amax / max_normal, exact for
    the values). BF16: the tensor in bfloat16. Duck-types :class:`hwsim.quant.stash.Codec`.
    """

    def __init__(self, fmt: Format, conv: bool, quantizer: ScaledCast | None = None):
        self.fmt, self.conv, self.quantizer = fmt, conv, quantizer
        self.bits = fmt.bits
        self.el, self.sc = element(fmt.kind), scaling(fmt.kind)

    def _axis(self, x: Tensor) -> int:
        return 1 if self.conv and x.dim() >= 3 else -1

    def encode(self, x: Tensor):
        # the codes are what the input's conversion produced (counted there): storing them is no
        # element work of its own, on real tensors as on meta ones
        with _disable_current_modes():
            return self._encode(x)

    def _encode(self, x: Tensor):
        from hwsim.quant.stash import Packed, PackedMeta

        meta = PackedMeta(x.shape, x.dtype)
        x = x.detach()
        if self.el.name == "bf16":
            return Packed((x.to(torch.bfloat16),), meta)
        if x.is_meta:
            n = x.numel()
            side = ()
            if self.sc is not None:
                length = x.shape[self._axis(x)] if x.dim() else 1
                blocks = n // max(length, 1) * math.ceil(length / self.sc.block)
                n = blocks * self.sc.block
                side = (torch.empty(blocks, dtype=torch.uint8, device="meta"),)
                if self.sc.tensor_scale_bits:
                    side += (torch.empty(1, dtype=torch.float32, device="meta"),)
            else:
                side = (torch.empty(1, dtype=torch.float32, device="meta"),)
            return Packed((torch.empty((n * self.bits + 7) // 8, dtype=torch.uint8, device="meta"), *side), meta)
        axis = self._axis(x)
        if self.sc is None:
            scale = getattr(self.quantizer, "last_scale", None)
            if scale is None:
                amax = x.abs().amax().to(torch.float32)
                scale = torch.where(amax > 0, self.el.max_normal / amax, torch.ones_like(amax))
            scale = torch.as_tensor(scale, dtype=torch.float32, device=x.device)
            # x is on the grid of the quantizer's scale: rounding again recovers its codes
            codes = encode_element(round_to_element(x * scale.to(x.dtype), self.el), self.el)
            return Packed((pack(codes, self.bits), (1.0 / scale).reshape(1)), meta)
        if self.sc.name == "mx":
            codes, scales = mx_encode(x, self.el, axis, self.sc.block)
            return Packed((pack(codes, self.bits), scales.reshape(-1)), meta)
        b, _, _ = _blocks(x, axis, self.sc.block)
        s_enc, s_blk = nvfp4_scales(b, x.abs().amax())
        safe = torch.where(s_blk > 0, s_blk, torch.ones_like(s_blk))
        codes = encode_element(round_to_element(b * (s_enc / safe), NVFP4_ELEM), NVFP4_ELEM)
        return Packed((pack(codes, self.bits), encode_element(s_blk, NVFP4_SCALE).to(torch.uint8).reshape(-1),
                       s_enc.reshape(1).to(torch.float32)), meta)

    def decode(self, p) -> Tensor:
        if p.tensors[0].is_meta:
            return torch.empty(p.meta.shape, dtype=p.meta.dtype, device="meta")
        with _disable_current_modes():
            return self._decode(p)

    def _decode(self, p) -> Tensor:
        shape, dtype = p.meta.shape, p.meta.dtype
        if self.el.name == "bf16":
            return p.tensors[0].to(dtype)
        if self.sc is None:
            codes = unpack(p.tensors[0], self.bits, shape.numel()).view(shape)
            return decode_element(codes, self.el, dtype) * p.tensors[1].to(dtype)
        axis = 1 if self.conv and len(shape) >= 3 else -1
        moved = list(shape)
        moved.append(moved.pop(axis))
        n = moved[-1]
        nb = math.ceil(n / self.sc.block)
        blocked = (*moved[:-1], nb, self.sc.block)
        codes = unpack(p.tensors[0], self.bits, math.prod(blocked)).view(blocked)
        vals = decode_element(codes, self.el, dtype)
        if self.sc.name == "mx":
            scale = torch.pow(2.0, (p.tensors[1].to(torch.int64) - E8M0_BIAS).to(dtype)).view(*blocked[:-1], 1)
        else:
            s_blk = decode_element(p.tensors[1], NVFP4_SCALE, dtype).view(*blocked[:-1], 1)
            scale = s_blk / p.tensors[2].to(dtype)
        return _unblocks(vals * scale, tuple(moved), n, axis)

    def roundtrip(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def __repr__(self) -> str:
        return f"FormatCodec({self.fmt})"
