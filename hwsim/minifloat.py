"""Narrow floating-point element formats and block scalings (FP8, FP6, FP4, BF16; OCP MX, NVFP4).

Torch-free data: what each format *is* (exponent and mantissa bits, bias, largest normal,
infinities) and how a block scaling stores its scales. :mod:`hwsim.formats` names them as
:class:`~hwsim.formats.Format` kinds, :mod:`hwsim.quant.microscaling` quantises to them and the
energy rules read their mantissa widths.

Sources
  FP8 E4M3 / E5M2   Micikevicius et al., "FP8 Formats for Deep Learning", 2022 (Table 1): E4M3
                    bias 7, max 448 (S.1111.110), no infinities, NaN S.1111.111; E5M2 bias 15,
                    max 57344, IEEE infinities and NaNs.
  FP6 E3M2 / E2M3,  OCP Microscaling Formats (MX) Specification v1.0, 2023, section 5.3: no
  FP4 E2M1          infinities or NaNs; max 28, 7.5 and 6.0.
  INT8 (MXINT8)     OCP MX v1.0 section 5.3.5: two's complement with an implicit scale 2^-6
                    (max 1 + 63/64), emax 0.
  E8M0 scale        OCP MX v1.0 section 5.4: an unsigned exponent, bias 127, 2^-127 .. 2^127,
                    0xFF is NaN.
  MX blocks         OCP MX v1.0 section 5: 32 elements share one E8M0 scale.
  NVFP4             NVIDIA, "Pretraining Large Language Models with NVFP4", 2025: E2M1 elements,
                    one E4M3 scale per 16 elements, one FP32 scale per tensor.
  BF16              8 exponent bits, 7 mantissa bits (the top half of an FP32).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ElementFormat:
    """A sign-exponent-mantissa format (or, with ``exp == 0``, a scaled two's-complement integer)."""

    name: str
    bits: int
    exp: int                 # exponent bits (0: integer element)
    man: int                 # mantissa bits (integer: magnitude bits)
    max_normal: float        # largest finite magnitude
    has_inf: bool = False    # IEEE-style infinities (E5M2, BF16)

    @property
    def bias(self) -> int:
        return (1 << (self.exp - 1)) - 1 if self.exp else 0

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal (subnormals share it): 1 - bias."""
        return 1 - self.bias

    @property
    def emax(self) -> int:
        """Exponent of the largest normal, ``floor(log2(max_normal))`` (OCP MX's emax_elem)."""
        if not self.exp:
            return 0
        e, m = 0, self.max_normal
        while m >= 2.0:
            m, e = m / 2.0, e + 1
        return e

    @property
    def is_int(self) -> bool:
        return self.exp == 0


ELEMENTS: dict[str, ElementFormat] = {f.name: f for f in (
    ElementFormat("e4m3", 8, 4, 3, 448.0),
    ElementFormat("e5m2", 8, 5, 2, 57344.0, has_inf=True),
    ElementFormat("e3m2", 6, 3, 2, 28.0),
    ElementFormat("e2m3", 6, 2, 3, 7.5),
    ElementFormat("e2m1", 4, 2, 1, 6.0),
    ElementFormat("int8", 8, 0, 6, 127 / 64),          # MXINT8: int8 x 2^-6
    ElementFormat("bf16", 16, 8, 7, 3.3895313892515355e38, has_inf=True),
)}


@dataclass(frozen=True)
class BlockScaling:
    """``block`` consecutive elements (along the reduction) share one scale of ``scale`` format;
    ``tensor_scale_bits`` more bits once per tensor (NVFP4's FP32 scale)."""

    name: str                # "mx" | "nv"
    block: int
    scale: str               # "e8m0" or an ElementFormat name
    scale_bits: int = 8
    tensor_scale_bits: int = 0


SCALINGS: dict[str, BlockScaling] = {
    "mx": BlockScaling("mx", 32, "e8m0", 8),
    "nv": BlockScaling("nv", 16, "e4m3", 8, tensor_scale_bits=32),
}

# Format kind -> (element, scaling or None). Kinds are what hwsim.formats.Format and
# accel_models carry; the element format fixes the bits.
KINDS: dict[str, tuple[str, str | None]] = {
    "bf": ("bf16", None),
    "e4m3": ("e4m3", None), "e5m2": ("e5m2", None), "e3m2": ("e3m2", None), "e2m3": ("e2m3", None),
    "e2m1": ("e2m1", None),
    "mxe4m3": ("e4m3", "mx"), "mxe5m2": ("e5m2", "mx"), "mxe3m2": ("e3m2", "mx"), "mxe2m3": ("e2m3", "mx"),
    "mxe2m1": ("e2m1", "mx"), "mxint": ("int8", "mx"),
    "nve2m1": ("e2m1", "nv"),
}

# Names a user writes -> kind (the first name of a kind is how it prints).
NAMES: dict[str, str] = {
    "bf16": "bf", "bfloat16": "bf",
    "fp8_e4m3": "e4m3", "e4m3": "e4m3", "fp8_e5m2": "e5m2", "e5m2": "e5m2",
    "fp6_e3m2": "e3m2", "e3m2": "e3m2", "fp6_e2m3": "e2m3", "e2m3": "e2m3",
    "fp4_e2m1": "e2m1", "e2m1": "e2m1",
    "mxfp8_e4m3": "mxe4m3", "mxfp8": "mxe4m3", "mxfp8_e5m2": "mxe5m2",
    "mxfp6_e3m2": "mxe3m2", "mxfp6_e2m3": "mxe2m3", "mxfp6": "mxe2m3",
    "mxfp4_e2m1": "mxe2m1", "mxfp4": "mxe2m1", "mxint8": "mxint",
    "nvfp4": "nve2m1",
}


def element(kind: str) -> ElementFormat:
    return ELEMENTS[KINDS[kind][0]]


def scaling(kind: str) -> BlockScaling | None:
    s = KINDS[kind][1]
    return SCALINGS[s] if s else None


def display_name(kind: str) -> str:
    """``mxe4m3`` -> ``mxfp8_e4m3``, ``nve2m1`` -> ``nvfp4``, ``bf`` -> ``bf16``."""
    return next(n for n, k in NAMES.items() if k == kind)


def bits_per_element(kind: str) -> float:
    """Element bits plus the block's scale bits shared out (MXFP8 8.25, MXFP4 4.25, NVFP4 4.5)."""
    el, sc = element(kind), scaling(kind)
    return el.bits + (sc.scale_bits / sc.block if sc else 0.0)


def storage_bits(kind: str, bits: int, numel: int) -> int:
    """Bits that hold ``numel`` values of this kind: elements, one scale per started block, and the
    per-tensor scale. Blocks are counted over the flattened tensor (a reduction length that is not a
    multiple of the block pads its last block; that padding is not counted)."""
    sc = scaling(kind)
    if sc is None or numel == 0:
        return numel * bits
    return numel * bits + -(-numel // sc.block) * sc.scale_bits + sc.tensor_scale_bits
