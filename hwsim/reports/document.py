"""The report document: everything a cost report says about one or more design points.

Built once from the results store; every writer (CSV, JSON, XLSX, HTML) renders this same
document, so the four formats cannot disagree. Torch-free.
"""

from __future__ import annotations

import datetime as _dt
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from hwsim import __version__, labels
from hwsim.store import METRICS, POINT_COLUMNS, Store

if TYPE_CHECKING:
    from hwsim.jsondoc import Json, JsonDocument
    from hwsim.store import Cell

REPORT_SCHEMA_VERSION = "1.0"

# Groups of per-layer columns, by the prefix of their store name (see hwsim.store).
GROUPS = {
    "shape": "shape.",
    "macs": "macs.",
    "effectual_macs": "effectual_macs.",
    "elementwise": "elementwise.",
    "traffic": "traffic_bytes.",
    "energy": "energy_pj.",
    "sram": "sram_",
    "dram": "dram_",
}
CYCLE_COLUMNS = ("cycles", "compute_cycles", "stall_cycles", "utilization", "mapping_efficiency")


@dataclass(frozen=True)
class LayerRow:
    """One (layer, phase) of a point: its figures by store name (``macs.<type>``, ``energy_pj.<component>``,
    ``cycles``, ...; see :mod:`hwsim.store`)."""

    layer: str
    phase: str
    figures: dict[str, float | None]

    def to_json(self) -> JsonDocument:
        return {"layer": self.layer, "phase": self.phase, **self.figures}


class CurvePoint(NamedTuple):
    """One value of a training curve or a sparsity timeline."""

    epoch: float
    metric: str
    value: float | None

    def to_json(self) -> JsonDocument:
        return {"epoch": self.epoch, "metric": self.metric, "value": self.value}


@dataclass
class PointReport:
    """One point of a report. ``config`` and ``assumptions`` are the documents the store keeps, passed on
    to the writers as they were read."""

    id: str
    label: str
    status: str
    columns: dict[str, Cell]             # model, dataset, scheme, ... (hwsim.store.POINT_COLUMNS)
    config: JsonDocument
    metrics: dict[str, float]
    layers: list[LayerRow]
    curves: list[CurvePoint]
    assumptions: JsonDocument
    versions: dict[str, str]


@dataclass
class ReportDocument:
    points: list[PointReport]
    provenance: JsonDocument = field(default_factory=dict)   # written as the report's provenance section

    @property
    def layer_columns(self) -> list[str]:
        """Every figure column present in any point, in a stable, grouped order."""
        names: set[str] = set()
        for p in self.points:
            for row in p.layers:
                names.update(row.figures)
        return sorted(names, key=_column_order)

    @property
    def metric_names(self) -> list[str]:
        names: set[str] = set()
        for p in self.points:
            names.update(p.metrics)
        known = [m for m in METRICS if m in names]
        return known + sorted(names - set(known))

    def to_dict(self) -> JsonDocument:
        """The JSON form (validated against report.schema.json)."""
        return {
            "schema": "hwsim-cost-report",
            "schema_version": REPORT_SCHEMA_VERSION,
            "provenance": self.provenance,
            "metric_definitions": {m: METRICS[m] for m in self.metric_names if m in METRICS},
            "points": [
                {
                    "id": p.id, "label": p.label, "status": p.status, "columns": p.columns,
                    "config": p.config, "metrics": p.metrics, "layers": [r.to_json() for r in p.layers],
                    "curves": [c.to_json() for c in p.curves], "assumptions": p.assumptions, "versions": p.versions,
                }
                for p in self.points
            ],
        }


def _column_order(name: str) -> tuple[int, str]:
    for i, prefix in enumerate(GROUPS.values()):
        if name.startswith(prefix):
            return (i, name)
    if name in CYCLE_COLUMNS:
        return (len(GROUPS), f"{CYCLE_COLUMNS.index(name):02d}")
    return (len(GROUPS) + 1, name)


def _clean(v: Json) -> Json:
    """Store values are REAL; give integers back as int so counts read as counts."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def point_report(store: Store, point_id: str) -> PointReport:
    p = store.point(point_id)
    layers_long = store.layers(point_id)
    figures: dict[tuple[str, str], dict[str, float | None]] = {}   # (layer, phase) -> figures, in store order
    for la, ph, name, value in layers_long.itertuples(index=False):
        figures.setdefault((la, ph), {})[name] = _clean(value)
    curves = [CurvePoint(_clean(e), m, v) for e, m, v in store.curves(point_id).itertuples(index=False)]
    assumptions = dict(store.blob(point_id, "assumptions") or {})
    # the accelerator as simulated (array, dataflow, PEs, buffers, DRAM bandwidth) travels with the cycles
    # the resolved accelerator (every field) and its area with the rules used, when the point has them
    hardware = store.blob(point_id, "hardware")
    if hardware:
        assumptions["accelerator"] = hardware
    area = store.blob(point_id, "area")
    if area:
        assumptions["area"] = area
    cycles = store.blob(point_id, "cycles") or {}
    for part in ("train", "infer"):
        acc = cycles.get(part, {}).get("accelerator") if isinstance(cycles.get(part), dict) else None
        if acc and "accelerator" not in assumptions:
            assumptions["accelerator"] = {k: v for k, v in acc.items() if k != "trace"}
    cfg = p["config"]
    label = p.get("label") or " / ".join(str(p.get(c)) for c in ("model", "scheme", "accelerator") if p.get(c))
    return PointReport(
        id=p["id"], label=label or p["id"][:12], status=p["status"],
        columns={c: p.get(c) for c in POINT_COLUMNS},
        config=cfg,
        metrics={k: _clean(v) for k, v in p["metrics"].items()},
        layers=[LayerRow(la, ph, f) for (la, ph), f in figures.items()],
        curves=curves,
        assumptions=assumptions,
        versions=p.get("versions") or {},
    )


def build_document(store_path: str | Path, point_ids: list[str], command: str | None = None) -> ReportDocument:
    """Read the named points (ids or unique prefixes) from the store into one document."""
    with Store(store_path, readonly=True) as store:
        ids = [store.resolve(i) for i in point_ids]
        points = [point_report(store, i) for i in ids]
    # readable names that tell these points apart (hwsim.labels), not the sweep's key=value labels
    for p, name in zip(points, labels.design_names([p.config for p in points])):
        p.label = name or p.label
    provenance = {
        "hwsim_version": __version__,
        "generated_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "command": command if command is not None else "hwsim.reports.export (Python API)",
        "store": str(Path(store_path).resolve()),
        "config_hashes": [p.id for p in points],
        "python": platform.python_version(),
    }
    return ReportDocument(points=points, provenance=provenance)
