"""Number formats, training phases and the one rule table that names MAC types.

Operand values cannot tell what hardware would run (a binarized weight is still a
float tensor), so every quantized layer *declares* the formats of its GEMM
operands per phase (see :class:`LayerPrecision`). Counting, the energy model and
the accelerator bridge all derive MAC types through :func:`mac_type` and nothing
else. Torch-free on purpose.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from hwsim.errors import UserError
from hwsim.minifloat import KINDS as MINIFLOAT_KINDS
from hwsim.minifloat import NAMES as MINIFLOAT_NAMES
from hwsim.minifloat import bits_per_element as _minifloat_bits
from hwsim.minifloat import display_name, element, storage_bits

# Kinds of number format.
#   float    IEEE float (32, 16 bits)
#   int      uniform fixed point / integer (Graham's U4/U5/U8, k-bit schemes)
#   binary   +-1 (optionally times one scale per channel/layer)
#   ternary  {-a, 0, +b}
#   log      sign + exponent, value +-2^k (Graham's L2..L5, log gradients)
#   lq       LQ-Nets: K-bit code over a learned basis, sum_k v_k b_k with b_k in {-1,+1}
#   codebook K-bit index into a non-uniform table (Graham's O4); decoded to float to multiply
#   bf, e4m3, e5m2, e3m2, e2m3, e2m1          narrow floats with one scale per tensor (BF16, FP8, FP6, FP4)
#   mxe4m3, mxe5m2, mxe3m2, mxe2m3, mxe2m1, mxint, nve2m1
#                                              block-scaled (OCP MX, NVFP4); see hwsim.minifloat
KINDS = ("float", "int", "binary", "ternary", "log", "lq", "codebook", *MINIFLOAT_KINDS)

FORWARD = "forward"
BACKWARD_DATA = "backward_data"
BACKWARD_WEIGHT = "backward_weight"
UPDATE = "update"
INFERENCE = "inference"
TRAIN_PHASES = (FORWARD, BACKWARD_DATA, BACKWARD_WEIGHT, UPDATE)
PHASES = TRAIN_PHASES + (INFERENCE,)

# Tensor classes for memory traffic (bytes at the width each is stored).
TENSOR_CLASSES = (
    "weight",           # weights as the GEMM reads them (quantized width)
    "weight_master",    # full-precision master copy read/written by the update
    "input",            # layer inputs read by forward GEMMs
    "output",           # layer outputs written
    "stash_write",      # saved-for-backward tensors written in forward
    "stash_read",       # ... and read back in backward
    "grad_output",      # activation gradients read
    "grad_input",       # activation gradients written
    "grad_weight",      # weight gradients written / read by the update
    "optimizer_state",  # momentum etc.
)

# MAC types: every name the counter can emit. intAxB and lqKxJ are families.
MAC_TYPES_FIXED = ("fp32", "fp16", "xnor_popcount", "sign_add", "ternary", "shift_add")

_FMT_RE = re.compile(r"^\s*(float|fp|int|uint|binary|ternary|log|lq|codebook)\s*[_-]?(\d+)?\s*$", re.I)


@dataclass(frozen=True, order=True)
class Format:
    """A number format: kind + bits (``float32``, ``int4``, ``binary1``, ``ternary2``, ``log4``)."""

    kind: str = "float"
    bits: int = 32

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UserError("format", f"unknown format kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if not isinstance(self.bits, int) or not 1 <= self.bits <= 64:
            raise UserError("format", f"bits must be an integer in 1..64, got {self.bits!r}")
        if self.kind == "binary" and self.bits != 1:
            raise UserError("format", "binary format has exactly 1 bit")
        if self.kind == "ternary" and self.bits != 2:
            raise UserError("format", "ternary format has exactly 2 bits")
        if self.kind in MINIFLOAT_KINDS and self.bits != element(self.kind).bits:
            raise UserError("format", f"{display_name(self.kind)} has exactly {element(self.kind).bits} bits")

    def __str__(self) -> str:
        if self.kind in MINIFLOAT_KINDS:
            return display_name(self.kind)
        return f"{self.kind}{self.bits}"

    @property
    def bits_per_element(self) -> float:
        """Stored bits per value, a block scale's share included (MXFP8 8.25, NVFP4 4.5)."""
        return _minifloat_bits(self.kind) if self.kind in MINIFLOAT_KINDS else float(self.bits)

    @property
    def is_full(self) -> bool:
        return self.kind == "float" and self.bits >= 32

    @classmethod
    def parse(cls, text: str | Format, where: str = "format") -> Format:
        """``"int4"``, ``"binary"``, ``"log 8"``, ``"fp16"`` -> Format."""
        if isinstance(text, Format):
            return text
        named = MINIFLOAT_NAMES.get(str(text).strip().lower())
        if named is not None:
            return cls(named, element(named).bits)
        m = _FMT_RE.match(str(text))
        if not m:
            raise UserError(where, f"cannot read format {text!r}; expected e.g. float32, int4, binary, ternary, log4, "
                                   "bf16, fp8_e4m3, mxfp8, mxfp4, nvfp4")
        kind = m.group(1).lower()
        kind = {"fp": "float", "uint": "int"}.get(kind, kind)
        default_bits = {"float": 32, "binary": 1, "ternary": 2}.get(kind)
        bits = int(m.group(2)) if m.group(2) else default_bits
        if bits is None:
            raise UserError(where, f"format {text!r} needs a bit width, e.g. {kind}4")
        return cls(kind, bits)


FP32 = Format("float", 32)
FP16 = Format("float", 16)
BINARY = Format("binary", 1)
TERNARY = Format("ternary", 2)


def mac_type(a: Format, b: Format) -> str:
    """The MAC type hardware would execute for operands ``a`` x ``b`` (order-free).

    Rules, first match wins:
      binary x binary   -> xnor_popcount (XNOR + popcount)
      ternary x any     -> ternary (add, subtract or skip)
      binary x any      -> sign_add (add or subtract the other operand)
      log x any         -> shift_add (shift by the exponent, then add)
      lqK x lqJ/binary  -> lq{K}x{J}  (K*J XNOR-popcount passes over the basis bits)
      lqK x other       -> lq{K}x{bits} (K sign-adds of the other operand)
      intA x intB       -> int{min}x{max} (narrower first, as FINN names them)
      anything else     -> fp32, or fp16 when both operands are at most 16-bit floats/ints
    Codebook formats (O4) are decoded to float before multiplying.
    """
    # One rule table for counting, energy and the accelerator model: accel_models holds it because
    # accel_models must stay usable without hwsim (and without torch).
    from accel_models.pe import mac_type_of

    return mac_type_of((a.kind, a.bits), (b.kind, b.bits))


@dataclass(frozen=True)
class LayerPrecision:
    """What a layer feeds its GEMMs per phase, and what it stashes for backward.

    forward          weight x input
    backward_data    grad x weight (the weight as used in forward)
    backward_weight  grad x stash  (the input at its *stored* precision)
    inference        weight_infer x input_infer (defaults: the training formats)

    ``stash`` is also the width at which the layer's saved input is held in memory.
    ``weight_store`` is the width weights are kept in for deployment (model size).
    """

    weight: Format = FP32
    input: Format = FP32
    stash: Format = FP32
    grad: Format = FP32
    weight_infer: Format | None = None
    input_infer: Format | None = None
    weight_store: Format | None = None
    master: Format = FP32
    note: str = ""

    def operands(self, phase: str) -> tuple[Format, Format]:
        if phase == FORWARD:
            return self.weight, self.input
        if phase == BACKWARD_DATA:
            return self.grad, self.weight
        if phase == BACKWARD_WEIGHT:
            return self.grad, self.stash
        if phase == INFERENCE:
            return self.weight_infer or self.weight, self.input_infer or self.input
        raise ValueError(f"phase {phase!r} has no GEMM operands")

    def mac_type(self, phase: str) -> str:
        return mac_type(*self.operands(phase))

    @property
    def deployed_weight(self) -> Format:
        return self.weight_store or self.weight_infer or self.weight

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: (str(Format(**v)) if isinstance(v, dict) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> LayerPrecision:
        kw = {}
        for k, v in d.items():
            if k == "note":
                kw[k] = v
            elif v is not None:
                kw[k] = Format.parse(v, where=f"precision.{k}")
        return cls(**kw)


FULL_PRECISION = LayerPrecision()


@dataclass
class NormPrecision:
    """Batch-norm declaration (Graham): the format N(x) is stored in for backward."""

    stash: Format = FP32
    grad: Format = FP32
    extra: dict = field(default_factory=dict)


def bytes_for(numel: int, fmt: Format) -> int:
    """Bytes to hold ``numel`` values packed at ``fmt.bits`` (rounded up to whole bytes); a block-scaled
    format adds its scales (:func:`hwsim.minifloat.storage_bits`)."""
    if fmt.kind in MINIFLOAT_KINDS:
        return (storage_bits(fmt.kind, fmt.bits, numel) + 7) // 8
    return (numel * fmt.bits + 7) // 8
