"""Operation energies: from a technology table to pJ per MAC of every MAC type.

Primitives (each exact at the table's points, which come from Horowitz, ISSCC 2014):
  int_add(b)      piecewise-linear in b through the table points; outside them, proportional
                  to b from the nearest point (adders scale linearly with width)
  int_mult(a, b)  quadratic fit c2 w^2 + c1 w through the table points (least squares through
                  the origin; with Horowitz's 8b and 32b points it is exact and equals QKeras'
                  0.002994791667 w^2 + 0.001041666667 w), w = sqrt(a b) for mixed widths (as QKeras);
                  a width that is a table point returns the table value
  fp_add/fp_mult  table only (fp16, fp32); another float width is refused
  bit_add         int_add(bmax) / bmax at the widest table point (0.1/32 = 0.003125 pJ, QKeras' slope)

MAC rules are a registry of :class:`Rule` (name, text, source, function); :func:`mac_energy`
picks one by MAC type name (the names :func:`hwsim.formats.mac_type` emits) and returns the
pJ per MAC with the rule it used, so every result can print its rules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from hwsim.energy.tech import TechTable
from hwsim.errors import UserError
from hwsim.formats import Format
from hwsim.registry import Registry

# ---------------------------------------------------------------------------- primitives


def int_add_pj(tech: TechTable, bits: float) -> float:
    """Integer add of ``bits`` bits: table value, piecewise-linear between points, proportional outside."""
    pts = tech.int_add_pj.points
    if bits in pts:
        return pts[bits]
    ws = sorted(pts)
    if bits < ws[0]:
        return pts[ws[0]] * bits / ws[0]
    if bits > ws[-1]:
        return pts[ws[-1]] * bits / ws[-1]
    for lo, hi in zip(ws, ws[1:]):
        if lo <= bits <= hi:
            t = (bits - lo) / (hi - lo)
            return pts[lo] + t * (pts[hi] - pts[lo])
    raise AssertionError("unreachable")


def mult_coefficients(tech: TechTable) -> tuple[float, float]:
    """(c2, c1) of the multiplier fit E(w) = c2 w^2 + c1 w (least squares through the origin)."""
    pts = tech.int_mult_pj.points
    if len(pts) == 1:
        (w, e), = pts.items()
        return e / (w * w), 0.0
    # Normal equations for E = c2 w^2 + c1 w.
    s44 = sum(w ** 4 for w in pts)
    s33 = sum(w ** 3 for w in pts)
    s22 = sum(w ** 2 for w in pts)
    t2 = sum(e * w * w for w, e in pts.items())
    t1 = sum(e * w for w, e in pts.items())
    det = s44 * s22 - s33 * s33
    return (t2 * s22 - t1 * s33) / det, (s44 * t1 - s33 * t2) / det


def int_mult_pj(tech: TechTable, a: int, b: int | None = None) -> float:
    """Integer multiply of an a-bit by a b-bit operand (quadratic in width, w = sqrt(a b))."""
    w = math.sqrt(a * (a if b is None else b))
    pts = tech.int_mult_pj.points
    if w == int(w) and int(w) in pts:
        return pts[int(w)]
    c2, c1 = mult_coefficients(tech)
    return c2 * w * w + c1 * w


def _fp(tech: TechTable, key: str, bits: int) -> float:
    pts = getattr(tech, key).points
    if bits not in pts:
        raise UserError(f"tech {tech.name}", f"no {key} entry for {bits}-bit floats (have {sorted(pts)})")
    return pts[bits]


def fp_add_pj(tech: TechTable, bits: int = 32) -> float:
    return _fp(tech, "fp_add_pj", bits)


def fp_mult_pj(tech: TechTable, bits: int = 32) -> float:
    return _fp(tech, "fp_mult_pj", bits)


def bit_add_pj(tech: TechTable) -> float:
    """One bit of an adder: the per-bit energy of the widest tabulated integer adder."""
    wmax = max(tech.int_add_pj.points)
    return tech.int_add_pj.points[wmax] / wmax


def primitive_pj(tech: TechTable, name: str) -> float:
    """``fp32_add`` | ``fp32_mult`` | ``fp16_add`` | ``fp16_mult``."""
    kind, op = name.split("_")
    bits = int(kind[2:])
    return fp_add_pj(tech, bits) if op == "add" else fp_mult_pj(tech, bits)


def accumulator_bits(tech: TechTable, product_bits: int, fan_in: int | None) -> int:
    """product bits + ceil(log2(fan-in)), capped at ``accumulator.max_bits``; the cap when fan-in is unknown."""
    cap = tech.accumulator.max_bits
    if not fan_in or fan_in < 1:
        return cap
    return min(cap, product_bits + math.ceil(math.log2(fan_in)) if fan_in > 1 else product_bits)


def popcount_tree_bit_adds(n: int) -> int:
    """Bit-adds in a tree that sums n one-bit inputs: level k has n/2^k adders of k bits."""
    total, k, width = 0, 1, n
    while width > 1:
        adders = width // 2
        total += adders * k
        width = adders + (width % 2)
        k += 1
    return total


# ---------------------------------------------------------------------------- MAC rules


@dataclass(frozen=True)
class MacContext:
    """What a rule may use: the table, both operand formats (if known) and the reduction fan-in."""

    tech: TechTable
    mac_type: str
    operands: tuple[Format, Format] | None = None
    fan_in: int | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    text: str
    source: str
    fn: Callable[[MacContext], float]

    def describe(self) -> dict[str, str]:
        return {"rule": self.name, "text": self.text, "source": self.source}


RULES: Registry[Rule] = Registry("energy rule")


def rule(name: str, text: str, source: str) -> Callable[[Callable[[MacContext], float]], Callable[[MacContext], float]]:
    def deco(fn: Callable[[MacContext], float]) -> Callable[[MacContext], float]:
        RULES.add(name, Rule(name, text, source, fn))
        return fn
    return deco


def _other(ctx: MacContext, kinds: tuple[str, ...]) -> Format:
    """The operand that is not of ``kinds`` (the one being added); fp32 when formats are unknown."""
    if ctx.operands is None:
        return Format("float", 32)
    a, b = ctx.operands
    if a.kind in kinds and b.kind not in kinds:
        return b
    if b.kind in kinds and a.kind not in kinds:
        return a
    return a if a.kind not in kinds else b


def _add_of(ctx: MacContext, other: Format, product_bits: int | None = None) -> float:
    """One accumulate of ``other``: an fp add at its width for floats, else an int add at accumulator width."""
    if other.kind == "float":
        return fp_add_pj(ctx.tech, 16 if other.bits <= 16 else 32)
    return int_add_pj(ctx.tech, accumulator_bits(ctx.tech, product_bits or other.bits, ctx.fan_in))


@rule("fp32", "fp32 MAC = fp32 multiply + fp32 add (3.7 + 0.9 pJ at 45 nm)", "horowitz2014")
def _fp32(ctx: MacContext) -> float:
    return fp_mult_pj(ctx.tech, 32) + fp_add_pj(ctx.tech, 32)


@rule("fp16", "fp16 MAC = fp16 multiply + fp16 add, accumulating in fp16 (1.1 + 0.4 pJ at 45 nm)", "horowitz2014")
def _fp16(ctx: MacContext) -> float:
    return fp_mult_pj(ctx.tech, 16) + fp_add_pj(ctx.tech, 16)


@rule("intAxB", "int{A}x{B} MAC = integer multiply (quadratic fit, w = sqrt(A B)) + integer add at the "
      "accumulator width A + B + ceil(log2(fan-in)) (capped at accumulator.max_bits)", "horowitz2014")
def _int(ctx: MacContext) -> float:
    a, b = (int(x) for x in re.fullmatch(r"int(\d+)x(\d+)", ctx.mac_type).groups())
    return int_mult_pj(ctx.tech, a, b) + int_add_pj(ctx.tech, accumulator_bits(ctx.tech, a + b, ctx.fan_in))


@rule("sign_add", "sign_add (binary +-1 x other) = one add of the other operand: an fp add at its width for "
      "floats, else an integer add at the accumulator width; the sign only selects add or subtract",
      "horowitz2014")
def _sign_add(ctx: MacContext) -> float:
    return _add_of(ctx, _other(ctx, ("binary",)))


@rule("ternary", "ternary ({-a,0,+b} x other) = one add/subtract like sign_add; with hierarchy zero_skipping "
      "only the effectual MACs (non-zero operands) are priced", "horowitz2014")
def _ternary(ctx: MacContext) -> float:
    other = _other(ctx, ("ternary",))
    if other.kind == "ternary":
        return int_add_pj(ctx.tech, accumulator_bits(ctx.tech, 2, ctx.fan_in))
    return _add_of(ctx, other)


def xnor_popcount_pj(tech: TechTable, fan_in: int | None) -> float:
    n = tech.accumulator.popcount_word_bits
    xnor = tech.gates.xnor_per_bit_add * bit_add_pj(tech)
    tree = popcount_tree_bit_adds(n) / n * bit_add_pj(tech)
    acc = int_add_pj(tech, accumulator_bits(tech, 1, fan_in)) / n
    return xnor + tree + acc


@rule("xnor_popcount", "xnor_popcount (+-1 x +-1) = one XNOR gate (xnor_per_bit_add x one bit of an adder) "
      "+ its share of a popcount adder tree over popcount_word_bits inputs (tree bit-adds / word bits) "
      "+ 1/word_bits of an add at the accumulator width", "qkeras")
def _xnor(ctx: MacContext) -> float:
    return xnor_popcount_pj(ctx.tech, ctx.fan_in)


_EXP_BITS = {16: 5, 32: 8}


@rule("shift_add", "shift_add (log 2^k x other) = shifter + add: for an int operand of b bits a b-bit "
      "shifter (shifter_per_add x b-bit add) + an add at the accumulator width (b + 2^(k-1) - 1 product bits); "
      "for a float operand an exponent add (8 bits fp32, 5 bits fp16) + an fp add", "qkeras")
def _shift_add(ctx: MacContext) -> float:
    t = ctx.tech
    if ctx.operands is None:
        log_bits, other = 4, Format("float", 32)
    else:
        a, b = ctx.operands
        lg = a if a.kind == "log" else b
        log_bits = lg.bits
        other = _other(ctx, ("log",))
        if other.kind == "log":
            other = Format("int", other.bits)
    if other.kind == "float":
        w = 16 if other.bits <= 16 else 32
        return int_add_pj(t, _EXP_BITS[w]) + fp_add_pj(t, w)
    product = min(t.accumulator.max_bits, other.bits + 2 ** (log_bits - 1) - 1)
    return t.gates.shifter_per_add * int_add_pj(t, other.bits) + int_add_pj(
        t, accumulator_bits(t, product, ctx.fan_in))


@rule("lqKxJ", "lq{K}x{J}: with both operands LQ-coded (or binary), K*J XNOR-popcount passes; with a plain "
      "J-bit operand, K sign-adds of it; plus, once per output (so / fan-in per MAC), K*J (or K) fp32 "
      "multiply-adds that apply the learned basis (fan-in unknown: once per MAC, an upper bound)", "hwsim")
def _lq(ctx: MacContext) -> float:
    t = ctx.tech
    k, j = (int(x) for x in re.fullmatch(r"lq(\d+)x(\d+)", ctx.mac_type).groups())
    if ctx.operands is not None:
        a, b = ctx.operands
        both_coded = a.kind in ("lq", "binary") and b.kind in ("lq", "binary")
        other = b if a.kind == "lq" else a
    else:
        both_coded = j != 32
        other = Format("float", 32)
    scale = fp_mult_pj(t, 32) + fp_add_pj(t, 32)
    per_out = 1.0 / ctx.fan_in if ctx.fan_in else 1.0
    if both_coded:
        return k * j * xnor_popcount_pj(t, ctx.fan_in) + k * j * scale * per_out
    sign_add = MacContext(t, "sign_add", (Format("binary", 1), other), ctx.fan_in)
    return k * _sign_add(sign_add) + k * scale * per_out


def rule_for(mac_type: str) -> Rule:
    """The rule that prices ``mac_type``; an unknown name is a UserError."""
    if re.fullmatch(r"int\d+x\d+", mac_type):
        return RULES.get("intAxB")
    if re.fullmatch(r"lq\d+x\d+", mac_type):
        return RULES.get("lqKxJ")
    if _BLOCK_MAC.fullmatch(mac_type):
        return RULES.get("block_scaled")
    if mac_type in RULES:
        return RULES.get(mac_type)
    raise UserError("mac_type", f"no energy rule for MAC type {mac_type!r}; known: fp32, fp16, int{{A}}x{{B}}, "
                                "xnor_popcount, sign_add, ternary, shift_add, lq{K}x{J}, bf16, fp8, "
                                "{mx|nv}{A}x{B}")


def mac_energy(tech: TechTable, mac_type: str, operands: tuple[Format, Format] | None = None,
               fan_in: int | None = None) -> tuple[float, Rule]:
    """pJ per MAC of ``mac_type`` and the rule that priced it."""
    r = rule_for(mac_type)
    return r.fn(MacContext(tech, mac_type, operands, fan_in)), r


def elementwise_pj(tech: TechTable, op: str) -> tuple[float, list[str], bool]:
    """pJ per element op: the sum of its fp32 primitives; (pJ, primitives, used_default)."""
    prims = tech.elementwise.ops.get(op)
    default = prims is None
    prims = tech.elementwise.default if default else prims
    return sum(primitive_pj(tech, p) for p in prims), list(prims), default


# ---------------------------------------------------------------------------- narrow floats and block scaling
# No 45 nm figure is published for BF16, FP8, FP6, FP4 or MX multipliers (the MX papers give
# normalised area only, at other nodes). The rule: a float multiply costs what Horowitz's fp16
# multiply costs, scaled by the energy of its mantissa multiplier (the quadratic integer-multiplier
# fit of the table, at the significand widths m + 1) relative to fp16's 11 x 11 bits; products are
# accumulated in fp32 (Micikevicius et al. 2022: FP8 GEMMs accumulate in higher precision).


def _element_of(fmt: Format | None, default: str):
    from hwsim.minifloat import ELEMENTS, KINDS

    if fmt is not None and fmt.kind in KINDS:
        return ELEMENTS[KINDS[fmt.kind][0]]
    return ELEMENTS[default]


def float_mult_pj(tech: TechTable, sig_a: int, sig_b: int) -> float:
    """A float multiply of significands ``sig_a`` x ``sig_b`` bits (mantissa + hidden bit): fp16's
    multiply x int_mult(sig_a, sig_b) / int_mult(11, 11)."""
    return fp_mult_pj(tech, 16) * int_mult_pj(tech, sig_a, sig_b) / int_mult_pj(tech, 11, 11)


def _narrow_operands(ctx: MacContext, default: str):
    ops = ctx.operands or (None, None)
    return _element_of(ops[0], default), _element_of(ops[1], default)


@rule("bf16", "bf16 MAC = a float multiply of 8 x 8-bit significands (fp16 multiply x int_mult(8, 8) / "
      "int_mult(11, 11)) + an fp32 add (BF16 GEMMs accumulate in fp32)", "horowitz2014")
def _bf16(ctx: MacContext) -> float:
    a, b = _narrow_operands(ctx, "bf16")
    return float_mult_pj(ctx.tech, a.man + 1, b.man + 1) + fp_add_pj(ctx.tech, 32)


@rule("fp8", "fp8 MAC (E4M3/E5M2, FP6, FP4 with one scale per tensor) = a float multiply of the two "
      "significands (fp16 multiply x int_mult(ma+1, mb+1) / int_mult(11, 11)) + an fp32 add", "horowitz2014")
def _fp8(ctx: MacContext) -> float:
    a, b = _narrow_operands(ctx, "e4m3")
    return float_mult_pj(ctx.tech, a.man + 1, b.man + 1) + fp_add_pj(ctx.tech, 32)


_BLOCK_MAC = re.compile(r"(mx|nv)(fp|int)(\d+)x(fp|int)(\d+)")
_DEFAULT_ELEMENT = {"fp8": "e4m3", "fp6": "e2m3", "fp4": "e2m1", "int8": "int8"}


def _block_parts(ctx: MacContext) -> tuple[float, float]:
    """(element work, scale work) per MAC of an MX / NVFP4 dot product (see the rule's text)."""
    from hwsim.minifloat import ELEMENTS, SCALINGS

    t = ctx.tech
    m = _BLOCK_MAC.fullmatch(ctx.mac_type)
    if m is None:
        raise UserError("mac_type", f"cannot read block-scaled MAC type {ctx.mac_type!r}")
    sc = SCALINGS[m.group(1)]
    defaults = (_DEFAULT_ELEMENT[m.group(2) + m.group(3)], _DEFAULT_ELEMENT[m.group(4) + m.group(5)])
    ops = ctx.operands or (None, None)
    els = [_element_of(f, d) for f, d in zip(ops, defaults)]
    if all(e.is_int for e in els):
        mult = int_mult_pj(t, els[0].bits, els[1].bits)
        product = els[0].bits + els[1].bits
    else:
        mult = float_mult_pj(t, els[0].man + 1, els[1].man + 1)
        # the products of one block are aligned to their largest exponent and summed in fixed point:
        # significand bits plus each element's exponent range
        product = sum(e.bits if e.is_int else e.man + 1 + e.emax - e.emin for e in els)
    tree = int_add_pj(t, accumulator_bits(t, product, sc.block))
    per_block = fp_add_pj(t, 32) / sc.block          # the block's sum added into the fp32 accumulator
    if sc.scale == "e8m0":
        # two E8M0 exponents added, the block sum shifted by them
        scale = int_add_pj(t, sc.scale_bits) + t.gates.shifter_per_add * int_add_pj(t, t.accumulator.max_bits)
    else:
        # two E4M3 block scales multiplied (an 8-bit significand), the block sum (fp32, 24 bits)
        # multiplied by it (NVFP4); the per-tensor FP32 scales once per output
        e4m3 = ELEMENTS[sc.scale]
        sig = 2 * (e4m3.man + 1)
        scale = float_mult_pj(t, e4m3.man + 1, e4m3.man + 1) + float_mult_pj(t, 24, sig)
        scale += fp_mult_pj(t, 32) * sc.block / ctx.fan_in if ctx.fan_in else 0.0
    return mult + tree + per_block, scale / sc.block


@rule("block_scaled", "MX / NVFP4 dot product ({mx|nv}{A}x{B}: mxfp8xfp8, mxfp4xfp4, nvfp4xfp4, ...): per MAC an "
      "element multiply (integer for MXINT8, else fp16 multiply x int_mult(ma+1, mb+1) / int_mult(11, 11)) and "
      "a fixed-point add at the block's aligned width (significands + element exponent ranges + log2(block), "
      "capped at accumulator.max_bits); per block of 32 (MX) or 16 (NVFP4) one fp32 add into the accumulator "
      "and the scale work, priced as its own component 'scale': MX an 8-bit exponent add + a shift of the block "
      "sum (shifter_per_add x an add at accumulator.max_bits); NVFP4 an E4M3 x E4M3 multiply + a 24 x 8-bit "
      "significand float multiply of the block sum (and the per-tensor fp32 scale once per output)", "horowitz2014")
def _block_scaled(ctx: MacContext) -> float:
    elem, scale = _block_parts(ctx)
    return elem + scale


def scale_share_pj(tech: TechTable, mac_type: str, operands: tuple[Format, Format] | None = None,
                   fan_in: int | None = None) -> float:
    """The part of one MAC's energy that is block-scale work (0 for MAC types without block scales)."""
    if not _BLOCK_MAC.fullmatch(mac_type):
        return 0.0
    return _block_parts(MacContext(tech, mac_type, operands, fan_in))[1]
