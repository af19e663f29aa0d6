"""The stash: tensors saved for backward, really held at low precision.

A *codec* turns a float tensor into a bit-packed uint8 buffer plus small side tensors
(scales, per-channel tables) and back. The weight layers' autograd functions
:func:`stashed_conv2d` / :func:`stashed_linear` compute the forward exactly as ``F.conv2d`` /
``F.linear`` on the float input, but save ONLY the encoded input and the weight; backward
decodes the input and computes

    grad_weight = conv2d_weight(decode(stash), grad_out)    (aten.convolution_backward)
    grad_input  = conv2d_input(weight, grad_out)             (needs no stash)

so the weight gradient sees the input at its stored precision (the ``backward_weight`` MAC
type ``grad x stash`` of :class:`hwsim.formats.LayerPrecision`).

Tensors produced by Graham's batch-norm (:mod:`hwsim.schemes.graham`) carry a *tag*: the
packed code of Q(N(x)) and the per-channel affine. :class:`StashReLU` and
:class:`CodebookCodec` read the tag and store a reference to that same packed buffer instead
of a float copy (the Affine-ReLU is recomputed in backward, Graham Section 1.4).

:func:`measure_saved` counts what autograd really keeps, with
``torch.autograd.graph.saved_tensors_hooks``.
"""

from __future__ import annotations

import contextlib
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hwsim.formats import BINARY, FP32, Format
from hwsim.quant.pack import pack, packed_nbytes, unpack

# ---------------------------------------------------------------------------------------------
# Encoded tensors and tags
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackedMeta:
    """What decoding needs besides the saved tensors: the original shape and dtype, and how it was kept."""

    shape: torch.Size
    dtype: torch.dtype
    raw: bool = False        # saved as it is, not encoded
    shared: bool = False     # the codes a tagged producer already holds (one buffer for both)
    recompute: Callable[[tuple[torch.Tensor, ...]], torch.Tensor] | None = None   # rebuilt from its inputs


@dataclass
class Packed:
    """An encoded tensor: ``tensors`` are what autograd saves (packed codes first, then side
    tensors); ``meta`` is plain data (shape, dtype, flags)."""

    tensors: tuple[torch.Tensor, ...]
    meta: PackedMeta

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors)


AFFINE_TAG = "_hwsim_affine"      # z = a * Q(N(x)) + b, set by Graham's batch-norm
CODEBOOK_TAG = "_hwsim_codebook"  # y = table[c, code], set by StashReLU on a tagged input


@dataclass
class AffineTag:
    """``z[n, c, ...] = levels[code] * a[c] + b[c]`` with ``code`` packed at ``bits``."""

    packed: torch.Tensor
    levels: torch.Tensor
    bits: int
    weight: torch.Tensor
    bias: torch.Tensor
    version: int


@dataclass
class CodebookTag:
    """``y[n, c, ...] = table[c, code]`` with ``code`` packed at ``bits`` (table: C x 2^bits)."""

    packed: torch.Tensor
    table: torch.Tensor
    bits: int
    version: int


def set_tag(t: torch.Tensor, name: str, tag: Any) -> None:
    setattr(t, name, tag)


def get_tag(t: torch.Tensor, name: str) -> Any:
    """The tag if present and the tensor was not modified in place since (version counter)."""
    tag = getattr(t, name, None)
    if tag is None or tag.version != t._version:
        return None
    return tag


def _channel_index(shape: torch.Size, device: torch.device) -> torch.Tensor:
    c = shape[1]
    view = [1] * len(shape)
    view[1] = c
    return torch.arange(c, device=device).view(view).expand(shape)


def decode_table(packed: torch.Tensor, table: torch.Tensor, bits: int, shape: torch.Size) -> torch.Tensor:
    """``table[c, code]`` for a tensor of ``shape`` whose channel axis is dim 1."""
    codes = unpack(packed, bits, shape.numel()).view(shape)
    k = table.shape[1]
    idx = _channel_index(shape, packed.device) * k + codes
    return table.reshape(-1)[idx]


# ---------------------------------------------------------------------------------------------
# Codecs
# ---------------------------------------------------------------------------------------------


class Codec:
    """Base: ``encode(x) -> Packed``; ``decode(Packed) -> tensor of x's shape and dtype``."""

    bits: int = 32
    fmt: Format = FP32
    # decode(encode(x)) == x for the tensors schemes give it (a quantizer's outputs), so what was
    # computed from x can be recomputed from the code (``bn_stash: recompute``)
    exact: bool = False

    def encode(self, x: torch.Tensor) -> Packed:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, p: Packed) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def roundtrip(self, x: torch.Tensor) -> torch.Tensor:
        """What backward will see in place of ``x``."""
        return self.decode(self.encode(x))

    def _meta(self, x: torch.Tensor, *, raw: bool = False, shared: bool = False,
              recompute: Callable[[tuple[torch.Tensor, ...]], torch.Tensor] | None = None) -> PackedMeta:
        return PackedMeta(x.shape, x.dtype, raw=raw, shared=shared, recompute=recompute)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.fmt})"


class FloatCodec(Codec):
    """No compression: saves the tensor itself (the fp32 reference)."""

    exact = True

    def encode(self, x: torch.Tensor) -> Packed:
        return Packed((x,), self._meta(x, raw=True))

    def decode(self, p: Packed) -> torch.Tensor:
        return p.tensors[0]


class SignCodec(Codec):
    """Exact for +-1 tensors (BNN activations): 1 bit, code = (x >= 0), value = 2 code - 1."""

    bits = 1
    fmt = BINARY
    exact = True

    def encode(self, x: torch.Tensor) -> Packed:
        return Packed((pack(x >= 0, 1),), self._meta(x))

    def decode(self, p: Packed) -> torch.Tensor:
        shape, dtype = p.meta.shape, p.meta.dtype
        codes = unpack(p.tensors[0], 1, shape.numel()).view(shape)
        return (2 * codes - 1).to(dtype)


class StochasticBinaryCodec(Codec):
    """McDonnell et al.: ``A_q = I(A + noise > 1)`` for ReLU activations A, 1 bit per value.

    noise ~ Uniform[0, 1) (our choice; the seed does not name the distribution), so
    ``P(A_q = 1) = clamp(A, 0, 1)``: A_q is an unbiased stochastic rounding of the
    hard-clipped activation, and exact for A in {0, 1}. ``stochastic=False`` replaces the noise
    by its mean 1/2, i.e. the deterministic threshold ``A_q = I(A > 1/2)`` (the paper's
    ablation "without stochastic binarization").

    Backward uses ``A_q`` in {0, 1} itself (the seed's formula). With ``rescale=True`` it uses
    ``s * A_q`` with one fp32 scale per tensor ``s = sum(A) / max(sum(A_q), 1)`` (keeps the
    tensor's sum), stored beside the bits.
    """

    bits = 1
    fmt = BINARY

    def __init__(self, stochastic: bool = True, rescale: bool = False):
        self.stochastic = stochastic
        self.rescale = rescale

    def binarize(self, x: torch.Tensor) -> torch.Tensor:
        if self.stochastic:
            return x + torch.rand_like(x) > 1.0
        return x > 0.5

    def encode(self, x: torch.Tensor) -> Packed:
        q = self.binarize(x)
        side: tuple[torch.Tensor, ...] = ()
        if self.rescale:
            s = x.sum(dtype=torch.float32) / q.sum().clamp(min=1).to(torch.float32)
            side = (s.reshape(1),)
        return Packed((pack(q, 1), *side), self._meta(x))

    def decode(self, p: Packed) -> torch.Tensor:
        shape, dtype = p.meta.shape, p.meta.dtype
        out = unpack(p.tensors[0], 1, shape.numel()).view(shape).to(dtype)
        if self.rescale:
            out = out * p.tensors[1].to(dtype)
        return out

    def __repr__(self) -> str:
        return f"StochasticBinaryCodec(stochastic={self.stochastic}, rescale={self.rescale})"


class KBitCodec(Codec):
    """Uniform b-bit: ``code = round((x - lo) / s)``, ``s = (hi - lo) / (2^b - 1)``, value ``lo + code s``.

    lo/hi are the min/max of the tensor (``per_channel=True``: of each channel, dim 1) unless a
    fixed range ``lo``/``hi`` is given; side tensors are lo and s in fp32. Round to nearest.
    With the fixed range of a k-bit activation quantizer (e.g. ``lo=0, hi=clip`` for DoReFa's
    ``round(x (2^k-1) / clip) clip / (2^k-1)``) the code is exact for its outputs; with the
    min/max range it is exact only when min and max are themselves grid end points.
    """

    def __init__(self, bits: int, per_channel: bool = False, lo: float | None = None, hi: float | None = None):
        if not 1 <= int(bits) <= 8:
            raise ValueError(f"KBitCodec bits must be 1..8, got {bits}")
        if (lo is None) != (hi is None) or (lo is not None and not hi > lo):
            raise ValueError("KBitCodec: give both lo < hi, or neither")
        self.bits = int(bits)
        self.fmt = Format("int", self.bits)
        self.per_channel = per_channel
        self.lo, self.hi = lo, hi

    def _range(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.lo is not None:
            return (torch.full((1,), float(self.lo), device=x.device), torch.full((1,), float(self.hi), device=x.device))
        if self.per_channel and x.dim() >= 2:
            dims = [d for d in range(x.dim()) if d != 1]
            return torch.amin(x, dim=dims, keepdim=True), torch.amax(x, dim=dims, keepdim=True)
        return x.min().reshape(1), x.max().reshape(1)

    def encode(self, x: torch.Tensor) -> Packed:
        lo, hi = self._range(x.detach().float())
        levels = (1 << self.bits) - 1
        s = (hi - lo) / levels
        s = torch.where(s > 0, s, torch.ones_like(s))
        codes = torch.clamp(torch.round((x.detach().float() - lo) / s), 0, levels).to(torch.int32)
        return Packed((pack(codes, self.bits), lo, s), self._meta(x))

    def decode(self, p: Packed) -> torch.Tensor:
        shape, dtype = p.meta.shape, p.meta.dtype
        codes = unpack(p.tensors[0], self.bits, shape.numel()).view(shape)
        lo, s = p.tensors[1], p.tensors[2]
        return (lo + codes.to(torch.float32) * s).to(dtype)

    def __repr__(self) -> str:
        rng = "" if self.lo is None else f", lo={self.lo}, hi={self.hi}"
        return f"KBitCodec({self.bits}, per_channel={self.per_channel}{rng})"


class GroupCodec(Codec):
    """ActNN-style compression of any float tensor: per group of ``group`` consecutive values of
    one sample, ``b``-bit codes on ``[min, max]`` of the group with stochastic rounding.

    ``code = floor((x - lo) / s + u)``, u ~ U[0, 1) (``stochastic=False``: u = 1/2, nearest),
    ``s = (hi - lo) / (2^b - 1)``; decoded ``lo + code s``: unbiased (E = x) with noise. Side
    tensors: lo and s per group in fp32 (8 bytes per group; 0.25 bit per value at group 256).
    Chen et al., ActNN (ICML 2021) also give each sample its own range; they use 2 bits.
    """

    def __init__(self, bits: int, group: int = 256, stochastic: bool = True):
        if not 1 <= int(bits) <= 8:
            raise ValueError(f"GroupCodec bits must be 1..8, got {bits}")
        if int(group) < 1:
            raise ValueError(f"GroupCodec group must be positive, got {group}")
        self.bits = int(bits)
        self.group = int(group)
        self.stochastic = stochastic
        self.fmt = Format("int", self.bits)

    def _groups(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.detach().float().reshape(-1)
        pad = (-flat.numel()) % self.group
        if pad:
            flat = F.pad(flat, (0, pad))
        return flat.view(-1, self.group)

    def encode(self, x: torch.Tensor) -> Packed:
        g = self._groups(x)
        lo = g.amin(dim=1, keepdim=True)
        levels = (1 << self.bits) - 1
        s = (g.amax(dim=1, keepdim=True) - lo) / levels
        s = torch.where(s > 0, s, torch.ones_like(s))
        noise = torch.rand_like(g) if self.stochastic else 0.5
        codes = torch.clamp(torch.floor((g - lo) / s + noise), 0, levels).to(torch.uint8)
        return Packed((pack(codes.reshape(-1)[: x.numel()], self.bits), lo.reshape(-1), s.reshape(-1)),
                      self._meta(x))

    def decode(self, p: Packed) -> torch.Tensor:
        shape, dtype = p.meta.shape, p.meta.dtype
        n = shape.numel()
        codes = unpack(p.tensors[0], self.bits, n).to(torch.float32)
        pad = (-n) % self.group
        if pad:
            codes = F.pad(codes, (0, pad))
        g = p.tensors[1].view(-1, 1) + codes.view(-1, self.group) * p.tensors[2].view(-1, 1)
        return g.reshape(-1)[:n].view(shape).to(dtype)

    def __repr__(self) -> str:
        return f"GroupCodec({self.bits}, group={self.group}, stochastic={self.stochastic})"


class LevelsCodec(Codec):
    """A fixed table of 2^b levels shared by all values: code = index of the nearest level.

    Exact for tensors whose values are levels of the table (the output of a quantizer).
    """

    exact = True

    def __init__(self, levels: torch.Tensor, fmt: Format):
        lv = torch.as_tensor(levels).flatten()
        if lv.numel() > 256 or lv.numel() > (1 << fmt.bits):
            raise ValueError(f"{lv.numel()} levels do not fit {fmt}")
        self.levels = torch.sort(lv).values
        self.fmt = fmt
        self.bits = fmt.bits

    def _codes(self, x: torch.Tensor) -> torch.Tensor:
        lv = self.levels.to(device=x.device, dtype=x.dtype)
        mids = (lv[1:] + lv[:-1]) / 2
        return torch.bucketize(x, mids)

    def encode(self, x: torch.Tensor) -> Packed:
        return Packed((pack(self._codes(x), self.bits),), self._meta(x))

    def decode(self, p: Packed) -> torch.Tensor:
        shape, dtype = p.meta.shape, p.meta.dtype
        codes = unpack(p.tensors[0], self.bits, shape.numel()).view(shape)
        return self.levels.to(device=codes.device, dtype=dtype)[codes]


class CodebookCodec(Codec):
    """Per-channel codebook: ``y[n, c, ...] = table[c, code]``, at most 2^b values per channel.

    Exact for e.g. ReLU(a * L4(N(x)) + b) after Graham's batch-norm. If the input carries the
    tag written by :class:`StashReLU` the codec stores a reference to that same packed buffer
    (nothing new is allocated). Otherwise it builds the table from the channel's distinct
    values; a channel with more than 2^b distinct values cannot be coded exactly, and then
    ``fallback="float"`` keeps the tensor itself (measured as fp32 bytes) while
    ``fallback="error"`` raises.
    """

    exact = True     # a channel it cannot code is kept in float

    def __init__(self, bits: int, fmt: Format | None = None, fallback: str = "float"):
        if not 1 <= int(bits) <= 8:
            raise ValueError(f"CodebookCodec bits must be 1..8, got {bits}")
        if fallback not in ("float", "error"):
            raise ValueError("fallback is 'float' or 'error'")
        self.bits = int(bits)
        self.fmt = fmt or Format("codebook", self.bits)
        self.fallback = fallback

    def encode(self, x: torch.Tensor) -> Packed:
        tag = get_tag(x, CODEBOOK_TAG)
        if tag is not None and tag.bits == self.bits:
            return Packed((tag.packed, tag.table), self._meta(x, shared=True))
        atag = get_tag(x, AFFINE_TAG)
        if atag is not None and atag.bits == self.bits:   # a layer right after the BN, no ReLU between
            with torch.no_grad():
                table = affine_values(atag.levels.to(x.dtype), atag.weight, atag.bias, x.dim())
            return Packed((atag.packed, table), self._meta(x, shared=True))
        if x.dim() < 2:
            return self._fallback(x, "needs a channel axis (dim 1)")
        k = 1 << self.bits
        c = x.shape[1]
        if x.device.type == "meta":
            # Shape only: the sizes a coded tensor would have.
            packed = torch.empty(packed_nbytes(x.numel(), self.bits), dtype=torch.uint8, device="meta")
            return Packed((packed, x.new_empty(c, k)), self._meta(x))
        per_c = x.detach().transpose(0, 1).reshape(c, -1)
        table = x.new_zeros(c, k)
        codes = torch.empty_like(per_c, dtype=torch.int64)
        for ch in range(c):
            vals, inv = torch.unique(per_c[ch], return_inverse=True)
            if vals.numel() > k:
                return self._fallback(x, f"channel {ch} has {vals.numel()} distinct values > 2^{self.bits}")
            table[ch, : vals.numel()] = vals
            codes[ch] = inv
        codes = codes.view(c, x.shape[0], *x.shape[2:]).transpose(0, 1)
        return Packed((pack(codes, self.bits), table), self._meta(x))

    def _fallback(self, x: torch.Tensor, why: str) -> Packed:
        if self.fallback == "error":
            raise ValueError(f"CodebookCodec: {why}")
        return Packed((x,), self._meta(x, raw=True))

    def decode(self, p: Packed) -> torch.Tensor:
        if p.meta.raw:
            return p.tensors[0]
        shape, dtype = p.meta.shape, p.meta.dtype
        return decode_table(p.tensors[0], p.tensors[1], self.bits, shape).to(dtype)

    def __repr__(self) -> str:
        return f"CodebookCodec({self.bits}, fmt={self.fmt})"


class RecomputeCodec(Codec):
    """A batch-norm's saved input, recomputed in backward from the producing convolution's stash
    (``bn_stash: recompute``): it keeps references to the buffers that convolution saved (its
    input's exact code, its weight or nothing when the weight is itself recomputed), so it adds
    no bytes; backward runs the convolution again on the decoded code (extra MACs in backward).
    An input no exactly-coded convolution produced is kept in float."""

    exact = True

    def encode(self, x: torch.Tensor) -> Packed:
        tag = get_tag(x, PRODUCER_TAG)
        if tag is None:
            return Packed((x,), self._meta(x, raw=True))
        return Packed(tag.tensors, self._meta(x, recompute=tag.recompute))

    def decode(self, p: Packed) -> torch.Tensor:
        if p.meta.raw:
            return p.tensors[0]
        with torch.no_grad():
            return p.meta.recompute(p.tensors).to(p.meta.dtype)

    def __repr__(self) -> str:
        return "RecomputeCodec()"


# ---------------------------------------------------------------------------------------------
# One input, one code
# ---------------------------------------------------------------------------------------------

ENCODED_TAG = "_hwsim_encoded"   # {key: Packed} of a tensor, written by shared_code / encode_once
SOURCE_TAG = "_hwsim_source"     # on a deterministic quantizer's output: (weakref to its input, quantizer key)


def _value_key(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        # a small table on a real device by value (two codecs built alike share a code), else by identity
        if v.device.type != "meta" and v.numel() <= 256:
            return (str(v.dtype), tuple(v.flatten().tolist()))
        return ("id", id(v))
    if isinstance(v, (int, float, str, bool, type(None), Format)):
        return v
    return ("id", id(v))


def codec_key(codec: Any) -> tuple:
    """What determines a codec's code of a given tensor: its type and its settings."""
    return (type(codec).__qualname__, *sorted((k, _value_key(v)) for k, v in vars(codec).items()))


def quantizer_key(q: nn.Module) -> tuple | None:
    """What determines a quantizer module's output for a given input, or None where it is not a
    function of the input alone (a stochastic draw, or learned state: Parameters, buffers)."""
    if getattr(q, "stochastic", False) or any(True for _ in q.parameters()) or any(True for _ in q.buffers()):
        return None
    return (type(q).__qualname__, q.training, *sorted((k, _value_key(v)) for k, v in vars(q).items()
                                                      if not k.startswith("_") and k != "training"))


@dataclass
class _Codes:
    codes: dict[tuple, Any]
    version: int


@dataclass
class SourceTag:
    source: Any          # weakref to the quantizer's input
    key: tuple
    version: int


def shared_code(x: torch.Tensor, key: tuple, make: Any) -> Any:
    """``make()``, once per tensor ``x`` and ``key``: the code of ``x`` that a second reader of ``x``
    would make again (a second mask, a second stash code) is the first one. ``make`` must return
    plain tensors without autograd history, so the tag on ``x`` closes no reference cycle through
    the graph. Codes are cached only on a tensor computed in this forward (one with autograd
    history): a tensor fed to several steps (a batch used twice) gets a fresh code, and a fresh
    random sample, each step."""
    if x.grad_fn is None:
        return make()
    tag = get_tag(x, ENCODED_TAG)
    if tag is not None and key in tag.codes:
        return tag.codes[key]
    code = make()
    if tag is None:
        tag = _Codes({}, x._version)
        set_tag(x, ENCODED_TAG, tag)
    tag.codes[key] = code
    return code


def mark_quantized(xq: torch.Tensor, x: torch.Tensor, key: tuple | None) -> None:
    """Record on a deterministic quantizer's output ``xq`` which input and quantizer made it, so
    two layers quantizing one tensor alike keep one code of it (:func:`encode_once`)."""
    if key is not None and xq is not x:
        set_tag(xq, SOURCE_TAG, SourceTag(weakref.ref(x), key, xq._version))


def encode_once(codec: Any, x: torch.Tensor) -> Packed:
    """``codec.encode(x)``, once per tensor and codec settings: a tensor read by two layers (a
    projection shortcut and its block's first convolution reading the block input) is stashed as
    one code (one random sample for a stochastic codec), saved by both. Where ``x`` is a
    deterministic quantizer's output the code is kept on the quantizer's input, so two layers
    that quantize one input alike also share it. A code holding the tensor itself (no
    compression) is not cached: saving one tensor twice is one buffer anyway."""
    holder, key = x, codec_key(codec)
    src = get_tag(x, SOURCE_TAG)
    if src is not None and (raw := src.source()) is not None:
        holder, key = raw, (src.key, key)
    tag = get_tag(holder, ENCODED_TAG)
    if tag is not None and key in tag.codes:
        return tag.codes[key]
    enc = codec.encode(x)
    if enc.meta.raw or any(t.grad_fn is not None or t.requires_grad for t in enc.tensors):
        return enc
    return shared_code(holder, key, lambda: enc)


# ---------------------------------------------------------------------------------------------
# Weight layers that save the encoded input
# ---------------------------------------------------------------------------------------------


def _pair(v: Any) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(t) for t in v]


def _int_padding(padding: Any, weight: torch.Tensor, dilation: list[int]) -> list[int]:
    if isinstance(padding, str):
        if padding == "valid":
            return [0, 0]
        total = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:])]
        if any(t % 2 for t in total):
            raise NotImplementedError("padding='same' with an even effective kernel is not supported")
        return [t // 2 for t in total]
    return _pair(padding)


WEIGHT_ROLE = "_hwsim_saved_weight"


def _mark_weight(w: torch.Tensor) -> None:
    """Flag the weight operand so :func:`measure_saved` books a quantized weight copy (a new
    tensor, not a Parameter) as a weight, apart from the activation stash."""
    if not isinstance(w, nn.Parameter):
        setattr(w, WEIGHT_ROLE, True)


def _weight_saved(ctx, weight: torch.Tensor, weight_fn: Any) -> tuple[torch.Tensor, ...]:
    """What a weight layer keeps of its weight operand: the Parameter itself (held anyway); nothing
    when ``weight_fn`` is a callable that recomputes a quantized weight from the Parameters in
    backward (a deterministic quantizer: the same values, and no float copy of what is a code);
    the code of a quantized weight that cannot be recomputed (a stochastic draw) when
    ``weight_fn`` is a :class:`Codec`. A non-Parameter weight kept is flagged as a weight copy."""
    param = isinstance(weight, nn.Parameter)
    ctx.weight_fn = ctx.weight_codec = None
    if weight_fn is not None and not param:
        if isinstance(weight_fn, Codec):
            enc = weight_fn.encode(weight)
            ctx.weight_codec, ctx.weight_meta, ctx.weight_n = weight_fn, enc.meta, len(enc.tensors)
            for t in enc.tensors:
                _mark_weight(t)
            return enc.tensors
        ctx.weight_fn = weight_fn
        return ()
    _mark_weight(weight)
    ctx.weight_n = 1
    return (weight,)


def _weight_and_saved(ctx) -> tuple[torch.Tensor, list[torch.Tensor]]:
    saved = list(ctx.saved_tensors)
    if ctx.weight_fn is None and ctx.weight_codec is None:
        return saved[0], saved[1:]
    if ctx.weight_codec is not None:
        n = ctx.weight_n
        w = ctx.weight_codec.decode(Packed(tuple(saved[:n]), ctx.weight_meta))
        saved = saved[n:]
    else:
        with torch.no_grad():
            w = ctx.weight_fn()
    setattr(w, WEIGHT_ROLE, True)   # the counter reads the flag: this product is backward-data
    return w, saved


PRODUCER_TAG = "_hwsim_producer"   # on a weight layer's output: how to recompute it from the layer's stash


@dataclass
class ProducerTag:
    """A convolution's output ``out = recompute(tensors)``, where ``tensors`` are what the layer
    saved (its input's exact code, and its weight unless that is recomputed): a consumer that
    needs ``out`` in backward (a batch-norm with ``bn_stash: recompute``) saves the same buffers
    and recomputes it, instead of keeping ``out`` in float. ``precision``: the layer's
    declaration, so the counter prices the recomputed GEMM at the layer's forward MAC type."""

    tensors: tuple[torch.Tensor, ...]
    recompute: Any
    version: int
    precision: Any = None


def _conv_recompute(codec: Codec, meta: PackedMeta, n_weight: int, weight_fn: Any, weight_codec: Any, weight_meta: Any,
                    bias: torch.Tensor | None, conf: tuple) -> Any:
    stride, padding, dilation, groups = conf

    def run(saved: tuple[torch.Tensor, ...]) -> torch.Tensor:
        w_saved, enc = saved[:n_weight], saved[n_weight:]
        if weight_codec is not None:
            w = weight_codec.decode(Packed(tuple(w_saved), weight_meta))
        elif weight_fn is not None:
            w = weight_fn()
        else:
            w = w_saved[0]
        return F.conv2d(codec.decode(Packed(tuple(enc), meta)), w, bias, stride, padding, dilation, groups)
    return run


class _StashedConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, codec, weight_fn):
        stride, dilation = _pair(stride), _pair(dilation)
        padding = _int_padding(padding, weight, dilation)
        out = F.conv2d(x, weight, bias, stride, padding, dilation, groups)
        enc = encode_once(codec, x) if ctx.needs_input_grad[1] else Packed((), {"shape": x.shape, "dtype": x.dtype})
        w_saved = _weight_saved(ctx, weight, weight_fn)
        ctx.save_for_backward(*w_saved, *enc.tensors)
        ctx.enc_meta, ctx.codec = enc.meta, codec
        ctx.conf = (stride, padding, dilation, groups, bias is not None, x.shape)
        if getattr(codec, "exact", False) and ctx.needs_input_grad[1]:
            run = _conv_recompute(codec, enc.meta, len(w_saved), ctx.weight_fn, ctx.weight_codec,
                                  getattr(ctx, "weight_meta", None), bias, (stride, padding, dilation, groups))
            set_tag(out, PRODUCER_TAG, ProducerTag((*w_saved, *enc.tensors), run, out._version))
        return out

    @staticmethod
    def backward(ctx, grad_out):
        weight, saved = _weight_and_saved(ctx)
        stride, padding, dilation, groups, has_bias, x_shape = ctx.conf
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        need_b = has_bias and ctx.needs_input_grad[2]
        if need_w:
            x_hat = ctx.codec.decode(Packed(tuple(saved), ctx.enc_meta))
        else:  # only the shape matters for grad_input: an expanded scalar, no memory
            x_hat = grad_out.new_zeros(()).expand(x_shape)
        gi, gw, gb = torch.ops.aten.convolution_backward(
            grad_out, x_hat, weight, [weight.shape[0]] if has_bias else None, stride, padding, dilation,
            False, [0, 0], groups, [need_x, need_w, need_b],
        )
        return gi, gw, gb, None, None, None, None, None, None


class _StashedLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, codec, weight_fn):
        out = F.linear(x, weight, bias)
        enc = encode_once(codec, x) if ctx.needs_input_grad[1] else Packed((), {"shape": x.shape, "dtype": x.dtype})
        ctx.save_for_backward(*_weight_saved(ctx, weight, weight_fn), *enc.tensors)
        ctx.enc_meta, ctx.codec, ctx.has_bias = enc.meta, codec, bias is not None
        return out

    @staticmethod
    def backward(ctx, grad_out):
        weight, saved = _weight_and_saved(ctx)
        g2 = grad_out.reshape(-1, grad_out.shape[-1])
        gi = gw = gb = None
        if ctx.needs_input_grad[0]:
            # mm on the weight operand itself, so the counter sees the (flagged) weight
            gi = g2.mm(weight).view(*grad_out.shape[:-1], -1)
        if ctx.needs_input_grad[1]:
            x_hat = ctx.codec.decode(Packed(tuple(saved), ctx.enc_meta))
            gw = g2.t().mm(x_hat.reshape(-1, x_hat.shape[-1]).to(g2.dtype))
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = g2.sum(0)
        return gi, gw, gb, None, None


def _wants_grad(*ts: torch.Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in ts)


def stashed_conv2d(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, stride: Any = 1,
                   padding: Any = 0, dilation: Any = 1, groups: int = 1, codec: Codec | None = None,
                   weight_fn: Any = None) -> torch.Tensor:
    """``F.conv2d`` whose saved input is ``codec.encode(x)``; the weight is saved as is, or, with
    ``weight_fn`` (a no-argument callable returning ``w`` again), recomputed in backward, or
    (``weight_fn`` a :class:`Codec` exact for ``w``) kept as its code.

    Backward: grad_input from the weight; grad_weight from ``codec.decode`` of the stash
    (``aten.convolution_backward``); grad_bias = sum of grad_out.
    """
    if codec is None or not _wants_grad(x, w, bias):
        return F.conv2d(x, w, bias, stride, padding, dilation, groups)
    return _StashedConv2d.apply(x, w, bias, stride, padding, dilation, groups, codec, weight_fn)


def stashed_linear(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None = None,
                   codec: Codec | None = None, weight_fn: Any = None) -> torch.Tensor:
    """``F.linear`` whose saved input is ``codec.encode(x)``; grad_weight = grad_out^T decode(stash).
    ``weight_fn`` as for :func:`stashed_conv2d`."""
    if codec is None or not _wants_grad(x, w, bias):
        return F.linear(x, w, bias)
    return _StashedLinear.apply(x, w, bias, codec, weight_fn)


class _StashedConvolution(torch.autograd.Function):
    """Any convolution (1-3 spatial dims, transposed or not) whose saved input is ``codec.encode(x)``."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, transposed, output_padding, groups, codec):
        out = torch.ops.aten.convolution(x, weight, bias, stride, padding, dilation, transposed, output_padding,
                                         groups)
        enc = encode_once(codec, x) if ctx.needs_input_grad[1] else Packed((), {"shape": x.shape, "dtype": x.dtype})
        _mark_weight(weight)
        ctx.save_for_backward(weight, *enc.tensors)
        ctx.enc_meta, ctx.codec = enc.meta, codec
        ctx.conf = (stride, padding, dilation, transposed, output_padding, groups, bias is not None, x.shape)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        weight, *saved = ctx.saved_tensors
        stride, padding, dilation, transposed, output_padding, groups, has_bias, x_shape = ctx.conf
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        need_b = has_bias and ctx.needs_input_grad[2]
        if need_w:
            x_hat = ctx.codec.decode(Packed(tuple(saved), ctx.enc_meta))
        else:
            x_hat = grad_out.new_zeros(()).expand(x_shape)
        bias_sizes = [weight.shape[1] * groups if transposed else weight.shape[0]] if has_bias else None
        gi, gw, gb = torch.ops.aten.convolution_backward(
            grad_out, x_hat, weight, bias_sizes, stride, padding, dilation, transposed, output_padding, groups,
            [need_x, need_w, need_b])
        return gi, gw, gb, None, None, None, None, None, None, None


def _nd(v: Any, n: int) -> list[int]:
    return [int(v)] * n if isinstance(v, int) else [int(t) for t in v]


def stashed_convolution(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, stride: Any, padding: Any,
                        dilation: Any, transposed: bool, output_padding: Any, groups: int,
                        codec: Codec | None = None) -> torch.Tensor:
    """Conv1d/2d/3d or a transposed convolution (``aten.convolution``) whose saved input is
    ``codec.encode(x)``; backward as :func:`stashed_conv2d`."""
    n = w.dim() - 2
    stride, dilation, output_padding = _nd(stride, n), _nd(dilation, n), _nd(output_padding, n)
    if isinstance(padding, str):
        if padding == "valid":
            padding = [0] * n
        else:
            total = [d * (k - 1) for d, k in zip(dilation, w.shape[2:])]
            if any(t % 2 for t in total):
                raise NotImplementedError("padding='same' with an even effective kernel is not supported")
            padding = [t // 2 for t in total]
    padding = _nd(padding, n)
    if codec is None or not _wants_grad(x, w, bias):
        return torch.ops.aten.convolution(x, w, bias, stride, padding, dilation, transposed, output_padding, groups)
    return _StashedConvolution.apply(x, w, bias, stride, padding, dilation, transposed, output_padding, groups,
                                     codec)


# ---------------------------------------------------------------------------------------------
# ReLU that keeps 1 bit (its mask), or nothing new after Graham's batch-norm
# ---------------------------------------------------------------------------------------------


class _MaskReLU(torch.autograd.Function):
    """ReLU saving the packed 1-bit mask ``x > 0`` instead of its float output."""

    @staticmethod
    def forward(ctx, x):
        mask = x > 0
        ctx.save_for_backward(pack(mask, 1))
        ctx.shape = x.shape
        return torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))

    @staticmethod
    def backward(ctx, g):
        (packed,) = ctx.saved_tensors
        mask = unpack(packed, 1, ctx.shape.numel()).view(ctx.shape).bool()
        return torch.where(mask, g, torch.zeros((), dtype=g.dtype, device=g.device))


def affine_values(levels: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, ndim: int) -> torch.Tensor:
    """Per-channel table ``a[c] * level[k] + b[c]`` computed with the same float ops as
    :func:`affine_apply`, so a decoded value equals the forward value bit for bit."""
    return levels.view(1, -1) * weight.view(-1, 1) + bias.view(-1, 1)


def affine_apply(q: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``a * q + b`` per channel (dim 1)."""
    view = [1] * q.dim()
    view[1] = -1
    return q * weight.view(view) + bias.view(view)


class _AffineReLU(torch.autograd.Function):
    """relu(z) for z = a * Q(N(x)) + b tagged by Graham's batch-norm: saves nothing new.

    The mask ``z > 0`` is recomputed in backward from the packed code and (a, b) (Graham 1.4:
    "recalculating the Affine-ReLU transformation as needed, rather than saving the result").
    """

    @staticmethod
    def forward(ctx, z, packed, levels, weight, bias, bits):
        ctx.save_for_backward(packed, levels, weight, bias)
        ctx.bits, ctx.shape = bits, z.shape
        return torch.relu(z)

    @staticmethod
    def backward(ctx, g):
        packed, levels, weight, bias = ctx.saved_tensors
        z = decode_table(packed, affine_values(levels.to(g.dtype), weight.detach(), bias.detach(), len(ctx.shape)),
                         ctx.bits, ctx.shape)
        return torch.where(z > 0, g, torch.zeros((), dtype=g.dtype, device=g.device)), None, None, None, None, None


class SharedBatchNorm(nn.modules.batchnorm._BatchNorm):
    """A batch-norm taking any input of rank >= 2 that can take over another one's state.

    The replacements of ``nn.BatchNorm{1,2,3}d`` (:class:`hwsim.quant.saved_layers.StashBatchNorm`,
    :class:`hwsim.quant.graham.GrahamBatchNorm`) share the original's parameters and running
    statistics, so the optimizer and checkpoints keep seeing the same tensors.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def share_state(self, bn: nn.modules.batchnorm._BatchNorm) -> None:
        """Take ``bn``'s parameters, running statistics and train/eval mode."""
        if bn.affine:
            self.weight, self.bias = bn.weight, bn.bias
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            setattr(self, name, getattr(bn, name))
        self.train(bn.training)


def stash_relu(x: torch.Tensor, pack_mask: bool = True) -> torch.Tensor:
    """ReLU for training with a small stash.

    * input tagged by Graham's batch-norm: nothing new is saved (recomputed from the code);
      the output is tagged with its per-channel codebook ``relu(a * level + b)`` so a following
      :class:`CodebookCodec` stores the same packed buffer;
    * otherwise: the 1-bit packed mask (``pack_mask=True``) or plain ``torch.relu``.
    """
    if not _wants_grad(x):
        return torch.relu(x)
    tag = get_tag(x, AFFINE_TAG)
    if tag is None:
        return _MaskReLU.apply(x) if pack_mask else torch.relu(x)
    y = _AffineReLU.apply(x, tag.packed, tag.levels, tag.weight, tag.bias, tag.bits)
    with torch.no_grad():
        table = torch.relu(affine_values(tag.levels.to(x.dtype), tag.weight, tag.bias, x.dim()))
    set_tag(y, CODEBOOK_TAG, CodebookTag(tag.packed, table, tag.bits, y._version))
    return y


class StashReLU(nn.ReLU):
    """Drop-in ``nn.ReLU`` using :func:`stash_relu` (``inplace`` is ignored: the output is new)."""

    hwsim_fused = True   # priced as one kernel (hwsim.count.mode.is_fused)

    def __init__(self, pack_mask: bool = True):
        super().__init__()
        self.pack_mask = pack_mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return stash_relu(x, self.pack_mask)

    def hwsim_changed(self) -> bool:
        """Unpacked and untagged it is ``torch.relu``; it changes what is kept only with a mask
        (a tagged input only comes from a batch-norm that is itself changed)."""
        return self.pack_mask

    def extra_repr(self) -> str:
        return f"pack_mask={self.pack_mask}"


def replace_relus(model: nn.Module, pack_mask: bool = True) -> int:
    """Replace every ``nn.ReLU`` module by :class:`StashReLU`; returns how many were replaced.

    Functional ``F.relu`` calls in a model's forward cannot be reached this way; they keep
    their float output (PyTorch's relu saves its result).
    """
    n = 0
    for name, child in list(model.named_children()):
        if type(child) is nn.ReLU:
            setattr(model, name, StashReLU(pack_mask))
            n += 1
        else:
            n += replace_relus(child, pack_mask)
    return n


# ---------------------------------------------------------------------------------------------
# Measuring what autograd keeps
# ---------------------------------------------------------------------------------------------


def _storage_key(t: torch.Tensor) -> int:
    return t.untyped_storage()._cdata


@dataclass
class SavedBytes:
    """Bytes of the tensors autograd saved during a forward pass.

    ``total``      all saved tensors except the model's parameters and buffers, each storage
                   region counted once (the real stash of the step);
    ``params``     saved tensors that are parameters/buffers (held anyway; not stash);
    ``weight_copies`` per module, saved weight operands that are not Parameters (a quantized
                   weight such as sign(W) computed in forward); in ``total``, not in ``by_module``;
    ``by_module``  per innermost module that was running when the tensor was saved, de-duplicated
                   within the module only (so a conv whose input a ReLU also saved still shows it);
    ``tensors``    (module, shape, dtype, nbytes) of every distinct saved tensor.
    """

    total: int = 0
    params: int = 0
    by_module: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    weight_copies: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tensors: list[tuple[str, tuple[int, ...], str, int]] = field(default_factory=list)

    def modules(self, names: Iterator[str] | list[str]) -> int:
        """Sum of ``by_module`` over ``names``."""
        return sum(self.by_module.get(n, 0) for n in names)


class _Held:
    """Handed to autograd in place of a saved tensor: it lives as long as the node that saved it."""

    __slots__ = ("t", "__weakref__")

    def __init__(self, t: torch.Tensor):
        self.t = t


@contextlib.contextmanager
def measure_saved(model: nn.Module | None = None) -> Iterator[SavedBytes]:
    """Count the bytes of every tensor autograd saved for backward inside the ``with`` block and
    still holds when the block ends.

    The pack hook records ``numel * element_size`` of each saved tensor (the packed uint8
    buffers of a low-precision stash are what gets saved, so they are what is counted),
    de-duplicating by (storage, offset, numel) and leaving out ``model``'s parameters and
    buffers. It hands autograd a small holder of the tensor, weakly referenced: a tensor whose
    holder died before the block ended was saved on a branch autograd already freed (one that
    backward never reaches, such as a straight-through estimator's detached branch), and is not
    counted. The tensors reach backward unchanged, so training is unaffected.
    """
    res = SavedBytes()
    param_keys: set[int] = set()
    stack: list[str] = []
    handles = []
    if model is not None:
        param_keys = {_storage_key(p) for p in list(model.parameters()) + list(model.buffers())}
        for name, mod in model.named_modules():
            handles.append(mod.register_forward_pre_hook(lambda m, a, n=name or "<root>": stack.append(n)))
            handles.append(mod.register_forward_hook(lambda m, a, o: stack.pop() and None))
    saved: list[tuple[Any, str, torch.Tensor]] = []   # (holder ref, module, tensor), in saving order

    def pack_hook(t: torch.Tensor) -> _Held:
        held = _Held(t)
        saved.append((weakref.ref(held), stack[-1] if stack else "<none>", t))
        return held

    try:
        with torch.autograd.graph.saved_tensors_hooks(pack_hook, lambda h: h.t):
            yield res
    finally:
        for h in handles:
            h.remove()
        seen: set[tuple[int, int, int]] = set()
        seen_mod: set[tuple[str, int, int, int]] = set()
        for ref, mod, t in saved:
            if ref() is None:
                continue
            key = (_storage_key(t), t.storage_offset(), t.numel())
            nbytes = t.numel() * t.element_size()
            if key[0] in param_keys:
                if key not in seen:
                    res.params += nbytes
                    seen.add(key)
                continue
            if (mod, *key) not in seen_mod:
                seen_mod.add((mod, *key))
                if getattr(t, WEIGHT_ROLE, False):
                    res.weight_copies[mod] += nbytes
                else:
                    res.by_module[mod] += nbytes
            if key not in seen:
                seen.add(key)
                res.total += nbytes
                res.tensors.append((mod, tuple(t.shape), str(t.dtype).replace("torch.", ""), nbytes))
