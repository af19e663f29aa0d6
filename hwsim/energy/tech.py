"""Technology tables: published per-operation and per-access energies, loaded from YAML.

A table lives in ``configs/tech/<name>.yaml`` (or any path). It holds only published
figures with their sources; the rules that extend them to other widths and MAC types are
in :mod:`hwsim.energy.ops`. Validation is strict: a missing or malformed entry is a
one-line :class:`~hwsim.errors.UserError` naming it, and an unknown table or node name is
refused, never replaced by another table (QKeras QTools falls back silently; we do not).

Other nodes: ``load_tech("45nm", node="7nm")`` (or ``load_tech("7nm")`` when no
``7nm.yaml`` exists) scales every on-chip energy by Stillmaker & Baas (Integration 58,
2017): E(node, V) = a V^2 + b V + c, factor = E(target, V_target) / E(45nm, 0.9 V), with
the coefficients and voltages in ``configs/tech/node_scaling.yaml``. DRAM is not scaled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hwsim.configs import CONFIG_DIR, is_path, resolve
from hwsim.errors import UserError
from hwsim.jsondoc import JsonDocument
from hwsim.yamlsafe import load_file

TECH_DIR = CONFIG_DIR / "tech"
SCALING_FILE = TECH_DIR / "node_scaling.yaml"
FP_PRIMITIVES = ("fp32_add", "fp32_mult", "fp16_add", "fp16_mult")


class _Strict(BaseModel):
    # .inf and NaN are no energy; an energy past MAX_PJ (1 J an operation) is a typo that turns totals into inf
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


MAX_PJ = 1e12


class PointTable(_Strict):
    """Energies at given widths (bits) or capacities (bytes): ``{8: 0.03, 16: 0.05}``."""

    source: str
    points: dict[int, float]

    @field_validator("points")
    @classmethod
    def _positive(cls, v: dict[int, float]) -> dict[int, float]:
        if not v:
            raise ValueError("needs at least one point")
        for k, e in v.items():
            if k <= 0 or not (0 < e <= MAX_PJ and math.isfinite(e)):
                raise ValueError(f"point {k}: {e} must be a positive width/capacity with a positive energy")
        return dict(sorted(v.items()))


class ValueEntry(_Strict):
    source: str
    value: float = Field(gt=0, le=MAX_PJ)


class HanTable(_Strict):
    source: str
    register_file: float = Field(gt=0, le=MAX_PJ)
    sram: float = Field(gt=0, le=MAX_PJ)
    dram: float = Field(gt=0, le=MAX_PJ)


class DramPreset(_Strict):
    """``pj`` per access of ``bits`` bits."""

    pj: float = Field(gt=0, le=MAX_PJ)
    bits: int = Field(gt=0)
    source: str
    note: str = ""

    @property
    def pj_per_bit(self) -> float:
        return self.pj / self.bits


class DramTable(_Strict):
    default: str
    presets: dict[str, DramPreset]


class Gates(_Strict):
    source: str
    xnor_per_bit_add: float = Field(gt=0, le=MAX_PJ)
    shifter_per_add: float = Field(gt=0, le=MAX_PJ)


class Accumulator(_Strict):
    source: str
    max_bits: int = Field(gt=0, le=64)
    popcount_word_bits: int = Field(ge=2, le=4096)


class Elementwise(_Strict):
    source: str
    default: list[str]
    ops: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("default")
    @classmethod
    def _known_default(cls, v: list[str]) -> list[str]:
        for p in v:
            if p not in FP_PRIMITIVES:
                raise ValueError(f"unknown primitive {p!r}; expected one of {', '.join(FP_PRIMITIVES)}")
        return v

    @field_validator("ops")
    @classmethod
    def _known_ops(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for op, prims in v.items():
            for p in prims:
                if p not in FP_PRIMITIVES:
                    raise ValueError(f"{op}: unknown primitive {p!r}; expected one of {', '.join(FP_PRIMITIVES)}")
        return v


class NodeScaling(_Strict):
    """How ``load_tech`` scaled a table to another node: from which table, to which node, by what factor."""

    model_config = ConfigDict(populate_by_name=True)

    from_table: str = Field(alias="from")
    to: str
    factor: float
    source: str
    rule: str


class TechTable(_Strict):
    """One technology table (see ``configs/tech/45nm.yaml`` for every field, with sources)."""

    name: str
    node_nm: float = Field(gt=0, le=1e6)
    vdd_v: float = Field(gt=0, le=1e3)
    description: str = ""
    sources: dict[str, str]
    int_add_pj: PointTable
    int_mult_pj: PointTable
    fp_add_pj: PointTable
    fp_mult_pj: PointTable
    sram_pj_per_64b: PointTable
    rf_pj_per_32b: ValueEntry
    han_32b_pj: HanTable
    dram: DramTable
    gates: Gates
    accumulator: Accumulator
    elementwise: Elementwise
    # Leakage power density (mW per mm2) for static energy (hwsim.energy.static); none: no static energy.
    leakage_mw_per_mm2: ValueEntry | None = None
    # SRAM leakage per stored bit (nW); none: SRAM leaks at leakage_mw_per_mm2 over its area like logic.
    sram_leakage_nw_per_bit: ValueEntry | None = None
    # Filled by load_tech: where the table came from and any node scaling applied.
    path: str = ""
    scaling: NodeScaling | None = None

    def cite(self, key: str) -> str:
        """Full citation for a source key (``horowitz2014``), or the key itself."""
        return self.sources.get(key, key)

    def dram_preset(self, name: str | None = None, where: str = "hierarchy.dram") -> DramPreset:
        name = name or self.dram.default
        if name not in self.dram.presets:
            raise UserError(where, f"unknown DRAM preset {name!r} in tech table {self.name}; "
                                   f"known: {', '.join(sorted(self.dram.presets))}")
        return self.dram.presets[name]

    def summary(self) -> TechSummary:
        return TechSummary(name=self.name, node_nm=self.node_nm, vdd_v=self.vdd_v, path=self.path,
                           description=self.description, sources=dict(self.sources), scaling=self.scaling)


@dataclass(frozen=True)
class TechSummary:
    """The technology table a pricing used: its name, node, supply, file, sources and any node scaling."""

    name: str
    node_nm: float
    vdd_v: float
    path: str
    description: str
    sources: dict[str, str]
    scaling: NodeScaling | None = None

    def to_dict(self) -> JsonDocument:
        d = {k: getattr(self, k) for k in ("name", "node_nm", "vdd_v", "path", "description")}
        d["sources"] = dict(self.sources)
        d["scaling"] = self.scaling.model_dump(by_alias=True) if self.scaling is not None else {}
        return d


def _read_yaml(path: Path) -> Any:
    return load_file(path)


def _first_error(where: str, err: ValidationError) -> UserError:
    e = err.errors()[0]
    loc = ".".join(str(x) for x in e["loc"])
    if e["type"] == "missing":
        return UserError(where, f"missing entry {loc}")
    if e["type"] == "extra_forbidden":
        return UserError(where, f"unknown entry {loc}")
    return UserError(where, f"{loc}: {e['msg']}")


def known_tables() -> list[str]:
    return sorted(p.stem for p in TECH_DIR.glob("*.yaml") if p.stem != "node_scaling")


@dataclass(frozen=True)
class NodeFit:
    """Energy per operation at a node, E(V) = a V^2 + b V + c, and the supply assumed there."""

    a: float
    b: float
    c: float
    vdd_v: float

    def energy(self, v: float) -> float:
        return self.a * v * v + self.b * v + self.c


@dataclass(frozen=True)
class NodeScalingTable:
    """``configs/tech/node_scaling.yaml``: the fits per node, the base node and its supply."""

    source: str
    base: str
    base_vdd_v: float
    nodes: dict[str, NodeFit]


def _load_scaling() -> NodeScalingTable:
    data = _read_yaml(SCALING_FILE)
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise UserError(str(SCALING_FILE), "missing entry nodes")
    for k in ("source", "base", "base_vdd_v"):
        if k not in data:
            raise UserError(str(SCALING_FILE), f"missing entry {k}")
    for node, c in data["nodes"].items():
        for k in ("a", "b", "c", "vdd_v"):
            if not isinstance(c, dict) or not isinstance(c.get(k), (int, float)):
                raise UserError(str(SCALING_FILE), f"missing entry nodes.{node}.{k}")
    return NodeScalingTable(source=str(data["source"]), base=str(data["base"]), base_vdd_v=float(data["base_vdd_v"]),
                            nodes={str(n): NodeFit(**{k: float(c[k]) for k in ("a", "b", "c", "vdd_v")})
                                   for n, c in data["nodes"].items()})


def scalable_nodes() -> list[str]:
    return sorted(_load_scaling().nodes, key=lambda n: -float(n.rstrip("nm")))


def node_factor(node: str, base: str = "45nm") -> float:
    """Energy factor from ``base`` to ``node``: E(node, V_node) / E(base, V_base) (Stillmaker & Baas 2017)."""
    data = _load_scaling()
    nodes = data.nodes
    for n in (node, base):
        if n not in nodes:
            raise UserError("tech.node", f"unknown node {n!r}; Stillmaker & Baas scaling covers "
                                         f"{', '.join(scalable_nodes())} (22 nm is not in their table: use 20nm)")

    v_base = data.base_vdd_v if base == data.base else nodes[base].vdd_v
    return nodes[node].energy(nodes[node].vdd_v) / nodes[base].energy(v_base)


def _scale(table: TechTable, node: str) -> TechTable:
    base = f"{table.node_nm:g}nm"
    f = node_factor(node, base)
    d = table.model_dump()
    for key in ("int_add_pj", "int_mult_pj", "fp_add_pj", "fp_mult_pj", "sram_pj_per_64b"):
        d[key]["points"] = {k: v * f for k, v in d[key]["points"].items()}
    d["rf_pj_per_32b"]["value"] *= f
    d["han_32b_pj"]["register_file"] *= f
    d["han_32b_pj"]["sram"] *= f
    data = _load_scaling()
    d.update(name=f"{table.name}->{node}", node_nm=float(node.rstrip("nm")), vdd_v=data.nodes[node].vdd_v)
    d["sources"] = dict(d["sources"], stillmaker2017=data.source)
    d["scaling"] = {"from": table.name, "to": node, "factor": f, "source": data.source,
                    "rule": "on-chip energies x E(node,V)/E(45nm,0.9V), E = a V^2 + b V + c; DRAM unscaled"}
    return TechTable.model_validate(d)


def load_tech(name: str | Path | dict = "45nm", node: str | None = None) -> TechTable:
    """Load a technology table by name (``configs/tech/<name>.yaml``), path or dict.

    ``node`` scales the loaded table to another CMOS node (``"7nm"``). A name with no YAML
    file that is a node in ``node_scaling.yaml`` (``"7nm"``) means ``45nm`` scaled to it.
    Anything else is refused with a one-line UserError.
    """
    if isinstance(name, TechTable):
        table = name
    elif isinstance(name, dict):
        try:
            table = TechTable.model_validate(name)
        except ValidationError as e:
            raise _first_error("tech", e) from None
    else:
        text = str(name)
        if is_path("tech", text):
            path = resolve("tech", text, "--tech")
        else:
            path = TECH_DIR / f"{text}.yaml"
            if not path.exists() or text == SCALING_FILE.stem:
                data = _load_scaling()
                if text in data.nodes and node is None:
                    return load_tech(data.base, node=text)
                raise UserError("--tech", f"unknown technology {text!r}; tables: {', '.join(known_tables())}; "
                                          f"scalable nodes: {', '.join(scalable_nodes())}")
        raw = _read_yaml(path)
        if not isinstance(raw, dict):
            raise UserError(str(path), "a technology table must be a YAML mapping")
        try:
            table = TechTable.model_validate(raw)
        except ValidationError as e:
            raise _first_error(str(path), e) from None
        table = table.model_copy(update={"path": str(path)})
    _check_sources(table)
    if node is not None and node != f"{table.node_nm:g}nm":
        table = _scale(table, node)
    return table


def _check_sources(t: TechTable) -> None:
    """Every ``source:`` must name a key of ``sources`` so each number carries its citation."""
    where = t.path or "tech"
    entries = {"int_add_pj": t.int_add_pj.source, "int_mult_pj": t.int_mult_pj.source,
               "fp_add_pj": t.fp_add_pj.source, "fp_mult_pj": t.fp_mult_pj.source,
               "sram_pj_per_64b": t.sram_pj_per_64b.source, "rf_pj_per_32b": t.rf_pj_per_32b.source,
               "han_32b_pj": t.han_32b_pj.source, "gates": t.gates.source, "accumulator": t.accumulator.source,
               "elementwise": t.elementwise.source}
    if t.leakage_mw_per_mm2 is not None:
        entries["leakage_mw_per_mm2"] = t.leakage_mw_per_mm2.source
    if t.sram_leakage_nw_per_bit is not None:
        entries["sram_leakage_nw_per_bit"] = t.sram_leakage_nw_per_bit.source
    entries.update({f"dram.presets.{k}": p.source for k, p in t.dram.presets.items()})
    for entry, src in entries.items():
        if src not in t.sources:
            raise UserError(where, f"{entry}.source {src!r} is not a key of sources")
    if t.dram.default not in t.dram.presets:
        raise UserError(where, f"dram.default {t.dram.default!r} is not a DRAM preset")
    for key in ("fp_add_pj", "fp_mult_pj"):
        for bits in (16, 32):
            if bits not in getattr(t, key).points:
                raise UserError(where, f"missing entry {key}.points.{bits}")
