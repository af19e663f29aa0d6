"""Static (leakage) energy: leakage power per mm2 x the accelerator's area x the time each layer takes.

    static pJ of (layer, phase) = leakage_mw_per_mm2 x area_mm2 x total_cycles / clock

Dynamic energy (:mod:`hwsim.energy.price`) counts operations and accesses, so a slower clock, a
bigger array or a layer that stalls on DRAM costs nothing there; leakage is paid for every
microsecond the chip is powered, busy or idle, over its whole area (PEs, buffers, vector unit,
wiring). The density is the technology table's ``leakage_mw_per_mm2`` (its source is cited there);
it is not node-scaled, while the area follows the node (:mod:`accel_models.area`).

:func:`add_static` returns a copy of an :class:`~hwsim.energy.price.EnergyReport` with a ``static``
component on every (layer, phase) the :class:`~accel_models.CycleReport` timed, and its totals,
per-phase sums and per-sample figures recomputed. Inference rows a training report derives from
its forward records take the forward rows' time.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from accel_models.report import CycleReport
from hwsim.energy.price import EnergyReport
from hwsim.energy.tech import TechTable
from hwsim.formats import FORWARD, INFERENCE, PHASES, TRAIN_PHASES

COMPONENT = "static"


def leakage_mw(tech: TechTable, area_mm2: float) -> float:
    """Leakage power (mW) of ``area_mm2`` of silicon on ``tech`` (0 when the table gives no density)."""
    entry = tech.leakage_mw_per_mm2
    return float(entry.value) * float(area_mm2) if entry is not None else 0.0


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


def add_static(report: EnergyReport, cycles: CycleReport, area_mm2: float, tech: TechTable) -> EnergyReport:
    """``report`` with static energy added (see the module docstring); unchanged when the table has no
    leakage density."""
    power = leakage_mw(tech, area_mm2)
    if power <= 0:
        return report
    clock = float(cycles.accelerator.clock_mhz)
    phases = {r["phase"] for r in report.rows} | set(report.by_phase)
    rows = list(report.rows)
    for (layer, phase), c in _times(cycles, phases).items():
        if c > 0 and phase in PHASES:
            rows.append({"layer": layer, "phase": phase, "component": COMPONENT,
                         "energy_pj": static_pj(power, c, clock)})
    by_phase: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        by_phase[r["phase"]][r["component"]] += r["energy_pj"]

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
    entry = tech.leakage_mw_per_mm2
    static = {
        "mw_per_mm2": float(entry.value) if entry is not None else 0.0,
        "citation": tech.cite(entry.source) if entry is not None else "",
        "area_mm2": float(area_mm2), "power_mw": power, "clock_mhz": clock,
        "rule": "leakage_mw_per_mm2 x area_mm2 x total_cycles / clock per (layer, phase) the accelerator "
                "ran; inference rows derived from forward records take forward's cycles; not node-scaled"}
    assumptions = dataclasses.replace(report.assumptions, static=static) if report.assumptions is not None else None
    return dataclasses.replace(
        report, rows=rows, by_phase={p: dict(v) for p, v in by_phase.items()},
        totals=train if train_step else infer_batch, infer_totals=infer_totals, train_step_pj=train_step,
        train_epoch_pj=(train_step * spe if spe and train_step else None),
        infer_pj_per_sample=sum(infer_totals.values()), assumptions=assumptions)
