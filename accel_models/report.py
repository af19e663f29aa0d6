"""CycleReport: the accelerator simulated, its memory accesses, and per (layer, phase) rows and totals.

``accelerator`` is the :class:`~accel_models.config.Accelerator` that ran; ``accesses`` the
:class:`~accel_models.accesses.MemoryAccesses` a cost model prices; ``rows`` / ``totals`` the display
form (dicts, CSV or JSON).

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
from dataclasses import dataclass, field
from typing import Any

from accel_models.accesses import MemoryAccesses
from accel_models.config import Accelerator

COLUMNS = (
    "layer", "phase", "unit", "dataflow", "loop_order", "M", "N", "K", "groups", "macs", "mac_type", "ifmap_bits",
    "filter_bits", "ofmap_bits", "output_bits", "pe_rate", "row_folds", "col_folds", "compute_cycles", "stall_cycles",
    "total_cycles", "mapping_efficiency", "utilization", "overall_utilization",
    "sram_reads_ifmap", "sram_reads_filter", "sram_reads_ofmap", "sram_writes_ofmap",
    "scalesim_sram_writes_ofmap", "dram_reads_ifmap", "dram_reads_filter", "dram_reads_ofmap",
    "dram_writes_ofmap", "sram_read_bytes", "sram_write_bytes", "dram_read_bytes", "dram_write_bytes",
    "avg_dram_bw", "vector_ops", "time_us",
)

_SUMMED = ("macs", "compute_cycles", "stall_cycles", "total_cycles", "sram_reads_ifmap", "sram_reads_filter",
           "sram_reads_ofmap", "sram_writes_ofmap", "scalesim_sram_writes_ofmap", "dram_reads_ifmap",
           "dram_reads_filter", "dram_reads_ofmap", "dram_writes_ofmap", "sram_read_bytes", "sram_write_bytes",
           "dram_read_bytes", "dram_write_bytes", "vector_ops", "time_us")


@dataclass
class CycleReport:
    """Cycles and accesses of work items on ``accelerator``.

    ``workload``: what was simulated (model, scheme, batch, mode), shown with the accelerator."""

    accelerator: Accelerator
    rows: list[dict[str, Any]] = field(default_factory=list)
    accesses: MemoryAccesses = field(default_factory=MemoryAccesses)
    workload: dict[str, Any] | None = None

    UNITS = {
        "cycles": "integer clock cycles", "sram_/dram_ counts": "operand elements (words) at *_bits",
        "*_bytes": "bytes at the operand widths", "avg_dram_bw": "bytes per cycle",
        "mapping_efficiency/utilization": "fraction 0..1", "time_us": "microseconds at clock_mhz",
    }

    @property
    def totals(self) -> dict[str, Any]:
        t: dict[str, Any] = {k: 0 for k in _SUMMED}
        for r in self.rows:
            for k in _SUMMED:
                t[k] += r.get(k, 0) or 0
        t["time_us"] = round(t["time_us"], 6)
        cyc = t["total_cycles"]
        t["avg_dram_bw"] = (t["dram_read_bytes"] + t["dram_write_bytes"]) / cyc if cyc else 0.0
        arr = [r for r in self.rows if r["unit"] == "array"]
        cc = sum(r["compute_cycles"] for r in arr)
        t["mapping_efficiency"] = sum(r["mapping_efficiency"] * r["compute_cycles"] for r in arr) / cc if cc else 0.0
        t["utilization"] = sum(r["utilization"] * r["compute_cycles"] for r in arr) / cc if cc else 0.0
        return t

    def by_phase(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self.rows:
            d = out.setdefault(r["phase"], {"compute_cycles": 0, "stall_cycles": 0, "total_cycles": 0})
            for k in d:
                d[k] += r[k]
        return out

    def to_dict(self) -> dict[str, Any]:
        acc = self.accelerator.to_dict()
        if self.workload is not None:
            acc["trace"] = dict(self.workload)
        return {"accelerator": acc, "units": self.UNITS, "rows": self.rows,
                "totals": self.totals, "by_phase": self.by_phase()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str)

    def to_csv(self, totals: bool = True) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(COLUMNS), extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in self.rows:
            w.writerow(r)
        if totals:
            w.writerow({"layer": "TOTAL", **{k: v for k, v in self.totals.items() if k in COLUMNS}})
        return buf.getvalue()
