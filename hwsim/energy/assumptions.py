"""What a pricing assumed: every table value and rule it used, with citations, section by section.

:class:`EnergyAssumptions` is built by :func:`hwsim.energy.price` and shown by reports and the store;
its :meth:`~EnergyAssumptions.to_dict` is the JSON document they hold (one object per section, keys as
below). The sections are typed here so that code reading them (tests, benchmarks, static energy)
names fields instead of string keys.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hwsim.energy.hierarchy import Hierarchy, PlacementSummary
from hwsim.energy.tech import Accumulator, DramPreset, Gates, TechSummary
from hwsim.jsondoc import JsonDocument


@dataclass(frozen=True)
class MacRuleUse:
    """A MAC energy rule the pricing applied, and the MAC types it priced."""

    rule: str
    text: str
    source: str
    citation: str
    mac_types: list[str]


@dataclass(frozen=True)
class PjRange:
    """Lowest and highest pJ per MAC of one MAC type over the records (fan-in and widths vary)."""

    min: float
    max: float


@dataclass(frozen=True)
class TableCost:
    """A tabulated primitive: pJ at each width, its citation and, where widths between are read by a
    rule, the rule."""

    points: dict[int, float]
    citation: str
    rule: str | None = None

    def to_dict(self) -> JsonDocument:
        d = asdict(self)
        if self.rule is None:
            d.pop("rule")
        return d


@dataclass(frozen=True)
class Primitives:
    """The arithmetic primitives MAC and element-wise energies are built from."""

    int_add_pj: TableCost
    int_mult_pj: TableCost
    fp_add_pj: TableCost
    fp_mult_pj: TableCost
    bit_add_pj: float
    bit_add_rule: str
    gates: Gates
    gates_citation: str
    accumulator: Accumulator
    accumulator_rule: str

    def to_dict(self) -> JsonDocument:
        return {
            "int_add_pj": self.int_add_pj.to_dict(), "int_mult_pj": self.int_mult_pj.to_dict(),
            "fp_add_pj": self.fp_add_pj.to_dict(), "fp_mult_pj": self.fp_mult_pj.to_dict(),
            "bit_add_pj": {"value": self.bit_add_pj, "rule": self.bit_add_rule},
            "gates": self.gates.model_dump() | {"citation": self.gates_citation},
            "accumulator": self.accumulator.model_dump() | {"rule": self.accumulator_rule},
        }


@dataclass(frozen=True)
class ElementOpCost:
    """One element-wise op as priced: its fp32 primitives, their pJ sum, and whether the table's
    default list stood in for an op it does not list."""

    primitives: list[str]
    pj_per_op: float
    default: bool


@dataclass(frozen=True)
class ElementwiseCosts:
    ops: dict[str, ElementOpCost]
    citation: str
    rule: str


@dataclass(frozen=True)
class BufferCost:
    """An on-chip buffer of its own size, and its energy per 64-bit access."""

    bytes: int
    pj_per_64b: float


@dataclass(frozen=True)
class SramCost:
    capacity_bytes: int
    pj_per_64b: float
    buffers: dict[str, BufferCost]
    pj_per_bit: float
    points: dict[int, float]
    citation: str
    rule: str


@dataclass(frozen=True)
class DramCost:
    """The DRAM preset priced (its table entry: pJ per access of ``bits``) and its per-bit energy."""

    preset: str
    pj_per_bit: float
    table: DramPreset
    citation: str
    rule: str

    def to_dict(self) -> JsonDocument:
        return {"preset": self.preset, "pj_per_bit": self.pj_per_bit, **self.table.model_dump(),
                "citation": self.citation, "rule": self.rule}


@dataclass(frozen=True)
class RfCost:
    pj_per_bit: float
    citation: str
    rule: str
    registers_pj_per_bit: dict[str, dict[str, float]]   # declared PE register -> {read, write} pJ per bit


@dataclass(frozen=True)
class MemoryCosts:
    sram: SramCost
    dram: DramCost
    rf: RfCost

    def to_dict(self) -> JsonDocument:
        return {"sram": asdict(self.sram), "dram": self.dram.to_dict(), "rf": asdict(self.rf)}


@dataclass(frozen=True)
class PlacementUse:
    """Where the step's (else the inference pass's) bytes lived, the inference pass's, bytes per
    tensor class and level, and the bytes fetched from DRAM once per pass."""

    step: PlacementSummary
    inference: PlacementSummary
    bytes_by_level: dict[str, dict[str, int]]
    dram_fetch_once_bytes: dict[str, int]
    rule: str

    def to_dict(self) -> JsonDocument:
        return {**asdict(self.step), "inference": asdict(self.inference), "bytes_by_level": self.bytes_by_level,
                "dram_fetch_once_bytes": self.dram_fetch_once_bytes, "rule": self.rule}


@dataclass(frozen=True)
class StaticUse:
    """The leakage rule of :func:`hwsim.energy.static.add_static`: densities and citations, areas, the
    leakage power and the clock it ran at."""

    mw_per_mm2: float
    citation: str
    sram_nw_per_bit: float | None
    sram_citation: str
    logic_mm2: float
    sram_mm2: float
    sram_bits: int
    area_mm2: float
    logic_mw: float
    sram_mw: float
    power_mw: float
    clock_mhz: float
    rule: str


@dataclass(frozen=True)
class EnergyAssumptions:
    """Every table value and rule a pricing used, with citations: what the report documents (its
    :meth:`to_dict` form is what reports and the store show). ``records_priced_by``: how many records
    had their memory priced from the accelerator's accesses and how many by the placement model
    (``placement`` is None when that is none: the model was not run);
    ``static``: the leakage rule, when static energy was added (:mod:`hwsim.energy.static`)."""

    tech: TechSummary
    rules: dict[str, MacRuleUse]             # MAC rule name -> the rule and the MAC types it priced
    pj_per_mac: dict[str, PjRange]           # MAC type -> lowest and highest pJ
    primitives: Primitives
    elementwise: ElementwiseCosts
    memory: MemoryCosts                      # sram, dram, rf: per-bit costs and their rules
    hierarchy: Hierarchy
    placement: PlacementUse | None
    records_priced_by: dict[str, int]
    notes: list[str]
    static: StaticUse | None = None

    def to_dict(self) -> JsonDocument:
        """The assumptions as reports and the store hold them."""
        d: JsonDocument = {
            "tech": self.tech.to_dict(), "rules": {k: asdict(v) for k, v in self.rules.items()},
            "pj_per_mac": {k: asdict(v) for k, v in self.pj_per_mac.items()},
            "primitives": self.primitives.to_dict(), "elementwise": asdict(self.elementwise),
            "memory": self.memory.to_dict(), "hierarchy": self.hierarchy.model_dump(),
            "placement": self.placement.to_dict() if self.placement is not None else None, "notes": list(self.notes),
        }
        if self.static is not None:
            d["static"] = asdict(self.static)
        d["memory_source"] = {"records_priced_by": dict(self.records_priced_by),
                              "accelerator_form": "accel_models.MemoryAccesses: bytes per (layer, phase), level "
                                                  "(rf, sram, dram), buffer (ifmap, filter, ofmap) and read/write"}
        return d
