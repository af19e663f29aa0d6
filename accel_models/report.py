"""CycleReport: the accelerator simulated, its memory accesses, and per (layer, phase) rows and totals.

``accelerator`` is the :class:`~accel_models.config.Accelerator` that ran; ``accesses`` the
:class:`~accel_models.accesses.MemoryAccesses` a cost model prices; ``rows`` one typed
:class:`CycleRow` per work item; ``totals`` and :meth:`CycleReport.to_dict` / ``to_csv`` / ``to_json``
the display form.

Units (also in ``CycleReport.UNITS``): cycles are integers; ``sram_*`` / ``dram_*`` access counts
are in operand *elements* (SCALE-Sim's words) of the width in ``ifmap_bits`` / ``filter_bits`` /
``ofmap_bits`` (the partial-sum width); ``output_bits`` is the width finished outputs leave at
(the consumer's input precision), which DRAM writes use; ``*_bytes`` are the accesses the energy
model prices, in bytes at those widths: they differ from the element counts where partial sums stay
in the accumulators across row folds (the counts are SCALE-Sim's, a round trip per fold) and where
element-wise work runs fused on the on-chip buffers (its bytes then count as SRAM, not DRAM); ``avg_dram_bw`` is bytes per cycle; efficiencies and utilizations are fractions in [0, 1];
``time_us`` is total_cycles / clock.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Literal

from accel_models.accesses import MemoryAccesses
from accel_models.config import Accelerator
from accel_models.jsondoc import JsonDocument


@dataclass(slots=True)
class CycleRow:
    """One work item on the accelerator: a GEMM on the array (``unit="array"``) or element-wise work on
    the vector unit (``unit="vector"``, its GEMM fields 0). Units as in the module docstring."""

    layer: str
    phase: str
    unit: Literal["array", "vector"]
    dataflow: str
    loop_order: str = ""        # the memory model's loop order (array rows; '' on the vector unit)
    M: int = 0
    N: int = 0
    K: int = 0
    groups: int = 0
    macs: int = 0
    mac_type: str = ""
    ifmap_bits: int = 0
    filter_bits: int = 0
    ofmap_bits: int = 0
    output_bits: int = 0
    pe_rate: float = 0.0
    row_folds: int = 0
    col_folds: int = 0
    compute_cycles: int = 0
    stall_cycles: int = 0
    total_cycles: int = 0
    mapping_efficiency: float = 0.0
    utilization: float = 0.0
    overall_utilization: float = 0.0
    sram_reads_ifmap: int = 0
    sram_reads_filter: int = 0
    sram_reads_ofmap: int = 0
    sram_writes_ofmap: int = 0
    scalesim_sram_writes_ofmap: int = 0
    dram_reads_ifmap: int = 0
    dram_reads_filter: int = 0
    dram_reads_ofmap: int = 0
    dram_writes_ofmap: int = 0
    sram_read_bytes: float = 0
    sram_write_bytes: float = 0
    dram_read_bytes: float = 0
    dram_write_bytes: float = 0
    avg_dram_bw: float = 0.0
    vector_ops: int = 0
    time_us: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


COLUMNS = tuple(f.name for f in fields(CycleRow))

_SUMMED = ("macs", "compute_cycles", "stall_cycles", "total_cycles", "sram_reads_ifmap", "sram_reads_filter",
           "sram_reads_ofmap", "sram_writes_ofmap", "scalesim_sram_writes_ofmap", "dram_reads_ifmap",
           "dram_reads_filter", "dram_reads_ofmap", "dram_writes_ofmap", "sram_read_bytes", "sram_write_bytes",
           "dram_read_bytes", "dram_write_bytes", "vector_ops", "time_us")


@dataclass(frozen=True)
class SimulatedWorkload:
    """What a report's rows simulate: the counted model, scheme, batch and mode (shown with the accelerator)."""

    model: str
    scheme: str
    batch: int
    mode: str


@dataclass
class CycleReport:
    """Cycles and accesses of work items on ``accelerator``.

    ``workload``: what was simulated (model, scheme, batch, mode), shown with the accelerator."""

    accelerator: Accelerator
    rows: list[CycleRow] = field(default_factory=list)
    accesses: MemoryAccesses = field(default_factory=MemoryAccesses)
    workload: SimulatedWorkload | None = None

    UNITS = {
        "cycles": "integer clock cycles", "sram_/dram_ counts": "operand elements (words) at *_bits",
        "*_bytes": "bytes at the operand widths", "avg_dram_bw": "bytes per cycle",
        "mapping_efficiency/utilization": "fraction 0..1", "time_us": "microseconds at clock_mhz",
    }

    @property
    def totals(self) -> dict[str, float]:
        """The summed columns, average DRAM bandwidth and the array's cycle-weighted efficiencies
        (counts stay integers)."""
        t: dict[str, float] = {k: 0 for k in _SUMMED}
        for r in self.rows:
            for k in _SUMMED:
                t[k] += getattr(r, k) or 0
        t["time_us"] = round(t["time_us"], 6)
        cyc = t["total_cycles"]
        t["avg_dram_bw"] = (t["dram_read_bytes"] + t["dram_write_bytes"]) / cyc if cyc else 0.0
        arr = [r for r in self.rows if r.unit == "array"]
        cc = sum(r.compute_cycles for r in arr)
        t["mapping_efficiency"] = sum(r.mapping_efficiency * r.compute_cycles for r in arr) / cc if cc else 0.0
        t["utilization"] = sum(r.utilization * r.compute_cycles for r in arr) / cc if cc else 0.0
        return t

    def by_phase(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self.rows:
            d = out.setdefault(r.phase, {"compute_cycles": 0, "stall_cycles": 0, "total_cycles": 0})
            for k in d:
                d[k] += getattr(r, k)
        return out

    def to_dict(self) -> JsonDocument:
        """The report as the store, ``--json`` and report files hold it."""
        acc = self.accelerator.to_dict()
        if self.workload is not None:
            acc["trace"] = asdict(self.workload)
        return {"accelerator": acc, "units": self.UNITS, "rows": [r.to_dict() for r in self.rows],
                "totals": self.totals, "by_phase": self.by_phase()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str)

    def to_csv(self, totals: bool = True) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(COLUMNS), extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in self.rows:
            w.writerow(r.to_dict())
        if totals:
            w.writerow({"layer": "TOTAL", **{k: v for k, v in self.totals.items() if k in COLUMNS}})
        return buf.getvalue()
