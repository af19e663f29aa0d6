"""Static (leakage) energy: leakage power of logic and of SRAM x the time each layer takes.

    static.logic pJ of (layer, phase) = leakage_mw_per_mm2 x logic area x total_cycles / clock
    static.sram  pJ of (layer, phase) = sram_leakage_nw_per_bit x SRAM bits x total_cycles / clock

Dynamic energy (:mod:`hwsim.energy.price`) counts operations and accesses, so a slower clock, a
bigger array or a layer that stalls on DRAM costs nothing there; leakage is paid for every
microsecond the chip is powered, busy or idle. Logic (PEs, registers, vector unit and their
placement overhead: every part of the area that is not SRAM) leaks at the technology table's
``leakage_mw_per_mm2``; the SRAMs leak per stored bit at its ``sram_leakage_nw_per_bit`` (without
that entry, at the logic density over their area). Both figures are cited in the table and are not
node-scaled, while the area follows the node (:mod:`accel_models.area`).

:func:`add_static` returns a copy of an :class:`~hwsim.energy.price.EnergyReport` with the two
static components on every (layer, phase) the :class:`~accel_models.CycleReport` timed, and its
totals, per-phase sums and per-sample figures recomputed. Inference rows a training report derives
from its forward records take the forward rows' time.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass

from accel_models.area import AreaReport
from accel_models.report import CycleReport
from hwsim.energy.assumptions import StaticUse
from hwsim.energy.price import EnergyReport, EnergyRow
from hwsim.energy.tech import TechTable
from hwsim.formats import FORWARD, INFERENCE, PHASES, TRAIN_PHASES

LOGIC, SRAM = "static.logic", "static.sram"
COMPONENTS = (LOGIC, SRAM)


@dataclass(frozen=True)
class Leakage:
    """Leakage power (mW) of an accelerator's logic and SRAM, and what it was computed from."""

    logic_mw: float
    sram_mw: float
    logic_mm2: float
    sram_mm2: float
    sram_bits: int

    @property
    def total_mw(self) -> float:
        return self.logic_mw + self.sram_mw


def leakage_mw(tech: TechTable, area_mm2: float) -> float:
    """Leakage power (mW) of ``area_mm2`` of logic on ``tech`` (0 when the table gives no density)."""
    entry = tech.leakage_mw_per_mm2
    return float(entry.value) * float(area_mm2) if entry is not None else 0.0


def leakage(tech: TechTable, area: AreaReport, sram_bits: int) -> Leakage:
    """Logic and SRAM leakage of an accelerator whose area is ``area`` and whose SRAMs hold ``sram_bits``."""
    sram_mm2 = sum(v for k, v in area.breakdown.items() if k.startswith("sram"))
    logic_mm2 = area.total_mm2 - sram_mm2
    per_bit = tech.sram_leakage_nw_per_bit
    sram_mw = float(per_bit.value) * sram_bits * 1e-6 if per_bit is not None else leakage_mw(tech, sram_mm2)
    return Leakage(leakage_mw(tech, logic_mm2), sram_mw, logic_mm2, sram_mm2, int(sram_bits))


def static_pj(power_mw: float, cycles: float, clock_mhz: float) -> float:
    """Energy (pJ) of ``power_mw`` for ``cycles`` at ``clock_mhz``: mW x us = nJ = 1e3 pJ."""
    return power_mw * (cycles / clock_mhz) * 1e3


def _times(cycles: CycleReport, phases: set[str]) -> dict[tuple[str, str], float]:
    """Cycles per (layer, phase); inference borrows forward's when the report timed no inference."""
    t: dict[tuple[str, str], float] = defaultdict(float)
    for r in cycles.rows:
        t[(r.layer, r.phase)] += float(r.total_cycles)
    timed = {ph for _, ph in t}
    if INFERENCE in phases and INFERENCE not in timed:
        for (layer, ph), c in list(t.items()):
            if ph == FORWARD:
                t[(layer, INFERENCE)] += c
    return dict(t)


def add_static(report: EnergyReport, cycles: CycleReport, area: AreaReport, tech: TechTable) -> EnergyReport:
    """``report`` with static energy added (see the module docstring); unchanged when the table gives
    no leakage figure."""
    acc = cycles.accelerator
    leak = leakage(tech, area, 8 * (acc.ifmap_sram_bytes + acc.filter_sram_bytes + acc.ofmap_sram_bytes))
    if leak.total_mw <= 0:
        return report
    clock = float(acc.clock_mhz)
    phases = {r.phase for r in report.rows} | set(report.by_phase)
    rows = list(report.rows)
    for (layer, phase), c in _times(cycles, phases).items():
        if c > 0 and phase in PHASES:
            for comp, mw in ((LOGIC, leak.logic_mw), (SRAM, leak.sram_mw)):
                if mw > 0:
                    rows.append(EnergyRow(layer, phase, comp, static_pj(mw, c, clock)))
    by_phase: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        by_phase[r.phase][r.component] += r.energy_pj

    def summed(phs: tuple[str, ...]) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for p in phs:
            for comp, v in by_phase.get(p, {}).items():
                out[comp] += v
        return dict(out)

    train, infer_batch = summed(TRAIN_PHASES), summed((INFERENCE,))
    batch = max(int(report.batch or 1), 1)
    infer_totals = {comp: v / batch for comp, v in infer_batch.items()}
    train_step = sum(train.values()) if report.train_step_pj else 0.0
    spe = report.steps_per_epoch
    density, per_bit = tech.leakage_mw_per_mm2, tech.sram_leakage_nw_per_bit
    static = StaticUse(
        mw_per_mm2=float(density.value) if density is not None else 0.0,
        citation=tech.cite(density.source) if density is not None else "",
        sram_nw_per_bit=float(per_bit.value) if per_bit is not None else None,
        sram_citation=tech.cite(per_bit.source) if per_bit is not None else "",
        logic_mm2=leak.logic_mm2, sram_mm2=leak.sram_mm2, sram_bits=leak.sram_bits,
        area_mm2=float(area.total_mm2), logic_mw=leak.logic_mw, sram_mw=leak.sram_mw,
        power_mw=leak.total_mw, clock_mhz=clock,
        rule="per (layer, phase) the accelerator ran, x total_cycles / clock: static.logic = "
             "leakage_mw_per_mm2 x the area that is not SRAM; static.sram = sram_leakage_nw_per_bit x SRAM "
             "bits (else the logic density over the SRAM area); inference rows derived from forward records "
             "take forward's cycles; not node-scaled")
    assumptions = dataclasses.replace(report.assumptions, static=static) if report.assumptions is not None else None
    return dataclasses.replace(
        report, rows=rows, by_phase={p: dict(v) for p, v in by_phase.items()},
        totals=train if train_step else infer_batch, infer_totals=infer_totals, train_step_pj=train_step,
        train_epoch_pj=(train_step * spe if spe and train_step else None),
        infer_pj_per_sample=sum(infer_totals.values()), assumptions=assumptions)
