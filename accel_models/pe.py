"""Precision-aware processing elements: how many products one PE completes per cycle.

A PE kind is a class registered by name (``@register_pe("bitfusion")``); an accelerator YAML picks one
with ``pe: {kind: bitfusion, pmax: 8, pmin: 2}``. :meth:`PE.rate` returns products per PE per cycle as
an exact :class:`fractions.Fraction` (``< 1`` when a product takes several cycles). The array model
applies it along the reduction: a GEMM with reduction K runs as if its reduction were
K_eff = ceil(K / rate) (``rate`` products packed into one PE-cycle), which is how Bit Fusion's
``ceil(ic / (N x perf_factor))`` enters its cycle count.

Widths: binary = 1 bit, ternary = 2, log/int/lq/codebook = their bits, float = their bits.

Kinds
  fp32       one MAC per cycle for any operand up to 32 bits.
  fp16       one MAC per cycle when both operands are at most 16 bits; wider operands are split
             into 16-bit pieces: 1 / (ceil(a/16) x ceil(w/16)).
  int        a ``bits``-bit integer MAC (TPU-like int8): 1 / (ceil(a/bits) x ceil(w/bits)).
  bitfusion  Bit Fusion (Sharma et al., ISCA 2018; hsharma35/bitfusion): a fusion unit of
             ``pmax``-bit bricks runs floor(pmax / max(a, pmin)) x floor(pmax / max(w, pmin)) products
             per cycle; operands wider than pmax take ceil(a/pmax) x ceil(w/pmax) cycles per product.
  xnor       XNOR-popcount PE of ``width`` lanes: binary x binary = ``width`` products per cycle;
             other integer-like operands run bit-serially over their bit planes:
             width / (a x w) (so binary weights x k-bit inputs = width / k). No floats.
  shift_add  for log-scale (power-of-two) operands: one shift-and-add per cycle (``lanes`` of them);
             non-log integer operands are multiplied by shift-add over the narrower operand's bits.
  sign_add   for binary (or ternary) weights: add or subtract the other operand, ``lanes`` per cycle,
             other operand at most ``bits`` wide; non-binary weights run bit-serially over the weight.
  fp8        an FP8 MAC array: one narrow-float product (up to 8 bits) per cycle, wider ones split.
  mx         an MX dot-product unit with block-scale alignment (fp4 elements at twice the fp8 rate).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from fractions import Fraction

from accel_models.errors import ConfigError
from accel_models.layers import Operands

PE_KINDS: dict[str, type[PE]] = {}


def register_pe(name: str) -> Callable[[type[PE]], type[PE]]:
    def deco(cls: type[PE]) -> type[PE]:
        cls.kind = name
        PE_KINDS[name] = cls
        return cls
    return deco


def width(kind: str, bits: int) -> int:
    """Bits a PE must handle for an operand of this format."""
    return {"binary": 1, "ternary": 2}.get(kind, int(bits))


def mac_type_of(a: tuple[str, int], b: tuple[str, int]) -> str:
    """THE MAC-type rule table, on (kind, bits) operand pairs, first match wins; order-free.

    hwsim.formats.mac_type delegates here, so counting, energy and this model share one table
    (it lives in accel_models because accel_models must not import hwsim).
      binary x binary -> xnor_popcount; ternary x any -> ternary; binary x any -> sign_add;
      log x any -> shift_add; lqK x lqJ -> lq{lo}x{hi}; lqK x other -> lq{K}x{bits};
      two block-scaled operands of one scaling (mx, nv) -> {scaling}{elem}x{elem}, narrower first
      (mxfp8xfp8, mxfp4xfp8, mxint8xint8, nvfp4xfp4); a block-scaled operand beside any other is
      dequantised to its element; narrow floats both at most 8 bits -> fp8; narrow floats and bf16
      at most 16 bits -> bf16;
      intA x intB -> int{lo}x{hi}; else fp16 when both are at most 16-bit floats/ints, fp32 otherwise
      (codebook formats are decoded to float).
    """
    kinds = {a[0], b[0]}
    if kinds == {"binary"}:
        return "xnor_popcount"
    if "ternary" in kinds:
        return "ternary"
    if "binary" in kinds:
        return "sign_add"
    if "log" in kinds:
        return "shift_add"
    if "lq" in kinds:
        lq, other = (a, b) if a[0] == "lq" else (b, a)
        if other[0] == "lq":
            lo, hi = sorted((a[1], b[1]))
            return f"lq{lo}x{hi}"
        return f"lq{lq[1]}x{other[1]}"
    narrow = _narrow_mac(a, b)
    if narrow is not None:
        return narrow
    if kinds == {"int"}:
        lo, hi = sorted((a[1], b[1]))
        return f"int{lo}x{hi}"
    widths = [x[1] if x[0] in ("float", "int") else 32 for x in (a, b)]
    return "fp16" if max(widths) <= 16 else "fp32"


# Narrow float kinds of hwsim.minifloat: bf (BF16), e{E}m{M} (per-tensor scaled), mx.../nv... (block-scaled).
_NARROW = re.compile(r"^(mx|nv)?(?:e(\d)m(\d)|(int))$")


def narrow_kind(kind: str, bits: int) -> tuple[str, str] | None:
    """``(scaling, element)`` of a narrow float kind (``("mx", "fp8")``, ``("", "bf16")``), else None."""
    if kind == "bf":
        return "", "bf16"
    m = _NARROW.match(kind)
    if m is None or (m.group(4) and not m.group(1)):
        return None
    return m.group(1) or "", f"int{bits}" if m.group(4) else f"fp{bits}"


def _narrow_mac(a: tuple[str, int], b: tuple[str, int]) -> str | None:
    na, nb = narrow_kind(*a), narrow_kind(*b)
    if na is None and nb is None:
        return None
    if na and nb and na[0] and na[0] == nb[0]:
        lo, hi = sorted((na[1], nb[1]), key=lambda e: (int(e.lstrip("fpint")), e))
        return f"{na[0]}{lo}x{hi}"
    if na and nb:
        if a[1] <= 8 and b[1] <= 8 and "int8" not in (na[1], nb[1]):
            return "fp8"
        return "bf16" if max(a[1], b[1]) <= 16 else "fp32"
    other = b if na else a
    if other[0] in ("float", "int") and other[1] <= 16:
        return "fp16"
    return "fp32"


def derive_mac_type(op: Operands) -> str:
    """The MAC type of a layer's operands (:func:`mac_type_of`)."""
    return mac_type_of((op.ifmap_kind, op.ifmap_bits), (op.filter_kind, op.filter_bits))


class PE:
    """Base class: ``params`` holds the YAML fields of ``pe:``; subclasses define ``rate``."""

    kind = "base"
    fields: dict[str, int] = {}          # parameter name -> default

    def __init__(self, **params: int):
        unknown = set(params) - set(self.fields)
        if unknown:
            raise ConfigError("pe", f"unknown field(s) {sorted(unknown)} for PE kind {self.kind!r}; "
                                    f"expected {sorted(self.fields) or 'none'}")
        self.params = {**self.fields, **params}
        for k, v in self.params.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"pe.{k}", f"must be a positive integer, got {v!r}")
        self.check()

    def check(self) -> None:
        """Validate parameter relations (override)."""

    def rate(self, op: Operands) -> Fraction:
        raise NotImplementedError

    def unsupported(self, op: Operands) -> ConfigError:
        return ConfigError("pe", f"PE kind {self.kind!r} cannot run {derive_mac_type(op)} "
                                 f"({op.ifmap_kind}{op.ifmap_bits} x {op.filter_kind}{op.filter_bits})")

    def to_dict(self) -> dict:
        return {"kind": self.kind, **self.params}


@register_pe("fp32")
class FP32PE(PE):
    fields: dict[str, int] = {}

    def rate(self, op: Operands) -> Fraction:
        return Fraction(1)


@register_pe("fp16")
class FP16PE(PE):
    fields: dict[str, int] = {}

    def rate(self, op: Operands) -> Fraction:
        a, w = width(op.ifmap_kind, op.ifmap_bits), width(op.filter_kind, op.filter_bits)
        return Fraction(1, math.ceil(a / 16) * math.ceil(w / 16))


@register_pe("int")
class IntPE(PE):
    fields = {"bits": 8}

    def rate(self, op: Operands) -> Fraction:
        b = self.params["bits"]
        a, w = width(op.ifmap_kind, op.ifmap_bits), width(op.filter_kind, op.filter_bits)
        return Fraction(1, math.ceil(a / b) * math.ceil(w / b))


@register_pe("bitfusion")
class BitFusionPE(PE):
    fields = {"pmax": 8, "pmin": 2}

    def check(self) -> None:
        if self.params["pmin"] > self.params["pmax"]:
            raise ConfigError("pe.pmin", f"must be <= pmax ({self.params['pmax']}), got {self.params['pmin']}")

    def rate(self, op: Operands) -> Fraction:
        pmax, pmin = self.params["pmax"], self.params["pmin"]
        a, w = width(op.ifmap_kind, op.ifmap_bits), width(op.filter_kind, op.filter_bits)
        if a <= pmax and w <= pmax:
            # Bit Fusion perf_factor = floor(pmax/max(p_in,pmin)) * floor(pmax/max(p_w,pmin))
            return Fraction((pmax // max(a, pmin)) * (pmax // max(w, pmin)))
        return Fraction(1, math.ceil(a / pmax) * math.ceil(w / pmax))


@register_pe("xnor")
class XnorPE(PE):
    fields = {"width": 64}

    def rate(self, op: Operands) -> Fraction:
        if "float" in (op.ifmap_kind, op.filter_kind):
            raise self.unsupported(op)
        a, w = width(op.ifmap_kind, op.ifmap_bits), width(op.filter_kind, op.filter_bits)
        return Fraction(self.params["width"], a * w)


@register_pe("shift_add")
class ShiftAddPE(PE):
    fields = {"bits": 16, "lanes": 1}

    def rate(self, op: Operands) -> Fraction:
        lanes = self.params["lanes"]
        if "log" in (op.ifmap_kind, op.filter_kind):
            other = op.filter_bits if op.ifmap_kind == "log" else op.ifmap_bits
            if other > self.params["bits"]:
                raise self.unsupported(op)
            return Fraction(lanes)
        if "float" in (op.ifmap_kind, op.filter_kind):
            raise self.unsupported(op)
        a, w = width(op.ifmap_kind, op.ifmap_bits), width(op.filter_kind, op.filter_bits)
        return Fraction(lanes, min(a, w))


@register_pe("sign_add")
class SignAddPE(PE):
    fields = {"bits": 16, "lanes": 1}

    def rate(self, op: Operands) -> Fraction:
        lanes = self.params["lanes"]
        if op.filter_kind in ("binary", "ternary"):
            other = (op.ifmap_kind, op.ifmap_bits)
        elif op.ifmap_kind in ("binary", "ternary"):
            other = (op.filter_kind, op.filter_bits)
        else:
            if "float" in (op.ifmap_kind, op.filter_kind):
                raise self.unsupported(op)
            return Fraction(lanes, width(op.filter_kind, op.filter_bits))   # bit-serial over the weight
        if width(*other) > self.params["bits"]:
            raise self.unsupported(op)
        return Fraction(lanes)


@register_pe("fp8")
class FP8PE(PE):
    """An FP8 MAC (E4M3/E5M2 products, FP32 accumulation; Micikevicius et al. 2022): one product per
    cycle for narrow floats up to 8 bits (FP6/FP4 run on it unpacked); wider operands split into 8-bit
    pieces, 1 / (ceil(a/8) x ceil(w/8)) (a BF16 x BF16 product takes 4 cycles)."""

    fields = {"lanes": 1}

    def rate(self, op: Operands) -> Fraction:
        a, w = width(op.ifmap_kind, op.ifmap_bits), width(op.filter_kind, op.filter_bits)
        return Fraction(self.params["lanes"], math.ceil(a / 8) * math.ceil(w / 8))


@register_pe("mx")
class MXPE(PE):
    """An MX dot-product unit (Rouhani et al. 2023; OCP MX v1.0 section 6.2): the products of one block
    of ``block`` elements are summed in fixed point, then the block's partial sum is aligned by the
    two shared scales and added into the FP32 accumulator. ``bits``-bit element multipliers: elements
    of at most bits/2 bits pack two products per multiplier (MXFP4 runs at twice MXFP8's rate), wider
    operands split, 1 / (ceil(a/bits) x ceil(w/bits)). The scale alignment takes ``align_cycles`` per
    block of products (pipelined units hide it: default 0), so a block costs block / rate + align_cycles."""

    fields = {"bits": 8, "block": 32}         # and align_cycles (default 0, which the base class refuses)

    def __init__(self, **params: int):
        # align_cycles may be 0 (the base class asks for positive integers)
        align = params.pop("align_cycles", 0)
        if not isinstance(align, int) or isinstance(align, bool) or align < 0:
            raise ConfigError("pe.align_cycles", f"must be a non-negative integer, got {align!r}")
        super().__init__(**params)
        self.params["align_cycles"] = align

    def rate(self, op: Operands) -> Fraction:
        b, block, align = self.params["bits"], self.params["block"], self.params["align_cycles"]
        a, w = width(op.ifmap_kind, op.ifmap_bits), width(op.filter_kind, op.filter_bits)
        if a <= b and w <= b:
            per = Fraction(2) if max(a, w) <= b // 2 else Fraction(1)
        else:
            per = Fraction(1, math.ceil(a / b) * math.ceil(w / b))
        blocked = narrow_kind(op.ifmap_kind, op.ifmap_bits) and narrow_kind(op.filter_kind, op.filter_bits) \
            and op.ifmap_kind[:2] in ("mx", "nv") and op.filter_kind[:2] in ("mx", "nv")
        if not blocked or not align:
            return per
        # block products take block / per cycles plus the alignment
        return Fraction(block) / (Fraction(block) / per + align)


def build_pe(spec: dict | PE | None) -> PE:
    """``{"kind": "bitfusion", "pmax": 8, "pmin": 2}`` -> a PE instance."""
    if isinstance(spec, PE):
        return spec
    spec = dict(spec or {"kind": "fp32"})
    kind = spec.pop("kind", None)
    if kind not in PE_KINDS:
        raise ConfigError("pe.kind", f"unknown PE kind {kind!r}; expected one of {', '.join(PE_KINDS)}")
    return PE_KINDS[kind](**spec)
