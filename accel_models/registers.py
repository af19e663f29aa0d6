"""Per-PE register levels: what an accelerator declares, and how often its dataflow reads and writes them.

An accelerator may declare, per operand, the register each PE keeps it in (ZigZag's innermost memory
levels: a size, a word width and a per-access energy)::

    registers:
      filter: {bytes: 128, bits: 8, read_pj: 0.095, write_pj: 0.095}
      psum:   {bytes: 2, bits: 16, read_pj: 0.021, write_pj: 0.021}
      ifmap:  {bytes: 64, bits: 8}        # no energies: the technology table's register file per bit

Operands without a register are read by the MAC straight from the level above (the SRAM access
counts already hold those reads). An accelerator that declares no register at all keeps the
default rule of :mod:`hwsim.energy.price` (two operand reads per MAC from a register file).

Counts, in words per GEMM (all groups), for the systolic dataflows of :mod:`accel_models.systolic`
(C[MxN] = A[MxK] B[KxN]; A = ifmap, B = filter; MACs = M x N x K):

    a moving operand is latched by each PE it passes and read by its MAC; the running partial sum is
    read and written per MAC; a stationary operand is written once per fill and read once per fill:

    operand    stationary in     written (filled)                       read
    filter     ws, bitfusion     once per element per fold (K x N)      once per fill (K x N)
    ifmap      is                once per element per fold (M x K)      once per fill (M x K)
    moving     otherwise         MACs (each PE latches what it passes)  MACs
    psum       -                 MACs (one running sum per MAC)          MACs (K - 1 accumulations per
                                                                         output chain + 1 drain)

Why a stationary operand is not read per MAC: in a systolic PE it sits in a flip-flop whose output is
wired to the multiplier for the whole fold, with no address, decoder or read port to exercise; what
changes per MAC is the moving operand and the sum. TPU v1's matrix unit holds "one 64 KiB tile of
weights plus one for double-buffering" (Jouppi et al., ISCA 2017), and Gemmini's PE (ucb-bar/gemmini,
``PE.scala``: registers ``c1``/``c2``, ``propagate`` chooses which one feeds the multiplier) is built
the same way. ZigZag counts the same: it reads the innermost register once per run of MACs that keep
the same operand at the multiplier (``mac_level_data_stationary_cycle``,
``access_same_data_considered_as_no_access``). A per-MAC read (Chen et al., ISCA 2016's register-file
model, Timeloop's innermost level) describes a scratch-pad that cycles through several operands, such
as Eyeriss's 224-entry filter scratch-pad, not a held operand.

A word is one operand element, rounded up to whole register words (a 4-bit operand in an 8-bit
register moves one 8-bit word; a 32-bit partial sum in a 16-bit register two).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accel_models.errors import ConfigError

REGISTER_OPERANDS = ("ifmap", "filter", "psum")
STATIONARY = {"ws": "filter", "bitfusion": "filter", "is": "ifmap", "os": "psum"}


@dataclass(frozen=True)
class Register:
    """One PE's register for one operand: capacity, word width, energy per word access (None: the
    technology table's register-file energy per bit x ``bits``)."""

    operand: str
    bytes: int
    bits: int
    read_pj: float | None = None
    write_pj: float | None = None

    def __post_init__(self) -> None:
        where = f"registers.{self.operand}"
        if self.operand not in REGISTER_OPERANDS:
            raise ConfigError(where, f"unknown operand; expected one of {', '.join(REGISTER_OPERANDS)}")
        if self.bytes * 8 < self.bits:
            raise ConfigError(f"{where}.bytes", f"{self.bytes} B cannot hold one {self.bits}-bit word")

    def words(self, elements: float, operand_bits: int) -> float:
        """Register words moved for ``elements`` operand elements of ``operand_bits`` bits."""
        return elements * math.ceil(operand_bits / self.bits)

    def to_dict(self) -> dict[str, float | int]:
        d: dict[str, float | int] = {"bytes": self.bytes, "bits": self.bits}
        if self.read_pj is not None:
            d["read_pj"] = self.read_pj
        if self.write_pj is not None:
            d["write_pj"] = self.write_pj
        return d


@dataclass(frozen=True)
class RegisterCounts:
    """Operand elements read from and written to one register over a GEMM."""

    reads: int
    writes: int


def register_words(dataflow: str, operand: str, macs: int, fills: int) -> RegisterCounts:
    """Elements read and written in ``operand``'s register over a GEMM of ``macs`` MACs.

    ``fills``: how often the stationary operand is loaded (its SRAM reads: one per element per
    fold); it is read once per fill (held at the multiplier)."""
    if operand == "psum":
        return RegisterCounts(macs, macs)
    if STATIONARY.get(dataflow) == operand:
        return RegisterCounts(fills, fills)
    return RegisterCounts(macs, macs)


def parse_registers(spec: object, where: str = "registers") -> dict[str, Register]:
    """``{operand: {bytes, bits, read_pj?, write_pj?}}`` -> Registers, every error naming its field."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise ConfigError(where, f"expected a mapping of operand -> register, got {spec!r}")
    out: dict[str, Register] = {}
    for op, fields in spec.items():
        at = f"{where}.{op}"
        if op not in REGISTER_OPERANDS:
            raise ConfigError(at, f"unknown operand; expected one of {', '.join(REGISTER_OPERANDS)}")
        if not isinstance(fields, dict):
            raise ConfigError(at, f"expected a mapping with bytes and bits, got {fields!r}")
        extra = set(fields) - {"bytes", "bits", "read_pj", "write_pj"}
        if extra:
            raise ConfigError(f"{at}.{sorted(extra)[0]}", "unknown field; expected bytes, bits, read_pj, write_pj")
        vals: dict[str, float | int | None] = {}
        for k in ("bytes", "bits"):
            v = fields.get(k)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= 1 << 30:
                raise ConfigError(f"{at}.{k}", f"expected a positive integer, got {v!r}")
            vals[k] = v
        for k in ("read_pj", "write_pj"):
            v = fields.get(k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1e6):
                raise ConfigError(f"{at}.{k}", f"expected a finite positive number of pJ, got {v!r}")
            vals[k] = float(v) if v is not None else None
        out[op] = Register(op, int(vals["bytes"]), int(vals["bits"]), vals["read_pj"], vals["write_pj"])  # type: ignore[arg-type]
    return out
