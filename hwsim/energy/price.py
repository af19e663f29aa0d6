"""Price a Trace: counts become picojoules per layer, phase and component.

Components of a row: ``compute.<mac_type>`` (MACs x the MAC type's rule), ``elementwise``
(element ops x their fp32 primitives), ``rf`` (operand reads per MAC + tensors that fit the
register file), ``sram`` and ``dram`` (tensor traffic at the level the placement model, or the
accelerator's access counts, put it).

Accelerator access counts (``accesses``), the plain form agreed with the accelerator model::

    {(layer, phase): {"sram_read_bytes": int, "sram_write_bytes": int,
                      "dram_read_bytes": int, "dram_write_bytes": int,
                      "rf_read_bytes": int, "rf_write_bytes": int}}       # any subset
    # or, JSON-friendly, {layer: {phase: {...}}}; a key may carry an operand suffix
    # ("sram_read_bytes.weight"), summed. Values are BYTES.

For a (layer, phase) present there, its SRAM and DRAM energy comes only from those counts
(the placement model and its once-per-step weight fetch are skipped for it); RF energy comes
from its ``rf_*`` counts when given, else from the per-MAC operand reads. Pairs absent there
are priced by the placement model; the report's assumptions count both.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from hwsim.energy.hierarchy import (
    PERSISTENT,
    TRANSIENT,
    WRITTEN_BACK,
    Hierarchy,
    class_level,
    load_hierarchy,
    place,
)
from hwsim.energy.memory import dram_pj_per_bit, rf_pj_per_bit, sram_pj_per_64b, sram_pj_per_bit
from hwsim.energy.ops import bit_add_pj, elementwise_pj, mac_energy, mult_coefficients
from hwsim.energy.tech import TechTable, load_tech
from hwsim.errors import UserError
from hwsim.formats import (
    BACKWARD_DATA,
    BACKWARD_WEIGHT,
    FORWARD,
    INFERENCE,
    PHASES,
    TRAIN_PHASES,
    UPDATE,
    Format,
    LayerPrecision,
)
from hwsim.trace import LayerInfo, LayerRecord, Trace

COMPONENTS = ("compute", "elementwise", "rf", "sram", "dram")
_ACCESS_KEY = re.compile(r"^(rf|sram|dram)_(read|write)_bytes(\..+)?$")


@dataclass
class EnergyReport:
    """Energy of one model under one scheme. pJ everywhere; see ``assumptions`` for every rule used.

    rows            [{layer, phase, component, energy_pj}] for every phase priced
    totals          component -> pJ of one training step (train trace) or of one inference
                    batch (inference-only trace)
    by_phase        phase -> component -> pJ
    infer_totals    component -> pJ per inference sample
    """

    model: str
    scheme: str
    mode: str
    batch: int
    tech: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)
    by_phase: dict[str, dict[str, float]] = field(default_factory=dict)
    infer_totals: dict[str, float] = field(default_factory=dict)
    train_step_pj: float = 0.0
    train_epoch_pj: float | None = None
    infer_pj_per_sample: float = 0.0
    steps_per_epoch: int | None = None
    rate_hz: float | None = None
    assumptions: dict[str, Any] = field(default_factory=dict)

    def avg_power_w(self, rate_hz: float | None = None, per: str | None = None) -> float:
        """Average power at ``rate_hz`` training steps (``per="step"``) or inferences (``"inference"``) a second.

        ``per`` defaults to ``step`` for a training trace and ``inference`` otherwise.
        """
        rate = self.rate_hz if rate_hz is None else rate_hz
        if rate is None:
            raise UserError("--rate", "average power needs a rate in Hz")
        per = per or ("step" if self.train_step_pj > 0 else "inference")
        if per not in ("step", "inference"):
            raise UserError("per", f"expected 'step' or 'inference', got {per!r}")
        pj = self.train_step_pj if per == "step" else self.infer_pj_per_sample
        return pj * 1e-12 * float(rate)

    def by_layer(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for r in self.rows:
            if r["phase"] in TRAIN_PHASES or not self.train_step_pj:
                out[r["layer"]][r["component"]] += r["energy_pj"]
        return {k: dict(v) for k, v in out.items()}

    def metrics(self) -> dict[str, float]:
        """Canonical store metrics (hwsim.store.METRICS names)."""
        m = {"infer_energy_pj": self.infer_pj_per_sample}
        if self.train_step_pj:
            m["train_energy_pj_per_step"] = self.train_step_pj
        if self.train_epoch_pj is not None:
            m["train_energy_pj_per_epoch"] = self.train_epoch_pj
        return m

    def store_layers(self) -> list[tuple[str, str, str, float]]:
        """(layer, phase, ``energy_pj.<component>``, value) rows for the results store's ``layers`` table."""
        return [(r["layer"], r["phase"], f"energy_pj.{r['component']}", r["energy_pj"]) for r in self.rows]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["avg_power_w"] = self.avg_power_w() if self.rate_hz is not None else None
        return d


# ---------------------------------------------------------------------------- helpers


def fan_in(info: LayerInfo | None, phase: str) -> int | None:
    """Length of the reduction each output accumulates, from the layer shape (None when unknown).

    conv2d: forward/inference C/groups x R x S; backward_data K/groups x R x S; backward_weight N x P x Q.
    linear: forward/inference C; backward_data K; backward_weight N.
    """
    if info is None:
        return None
    s = info.shape
    try:
        if info.op == "conv2d":
            g = s.get("groups", 1) or 1
            if phase in (FORWARD, INFERENCE):
                return s["C"] // g * s["R"] * s["S"]
            if phase == BACKWARD_DATA:
                return s["K"] // g * s["R"] * s["S"]
            if phase == BACKWARD_WEIGHT:
                return s["N"] * s["P"] * s["Q"]
        if info.op == "linear":
            return {FORWARD: s["C"], INFERENCE: s["C"], BACKWARD_DATA: s["K"], BACKWARD_WEIGHT: s["N"]}.get(phase)
    except KeyError:
        return None
    return None


def operands_for(info: LayerInfo | None, phase: str, mac: str) -> tuple[Format, Format] | None:
    """The declared GEMM operand formats of this layer and phase, when they give this MAC type."""
    if info is None or not info.precision or phase == UPDATE:
        return None
    try:
        prec = LayerPrecision.from_dict(info.precision)
        ops = prec.operands(phase)
    except (UserError, ValueError, TypeError):
        return None
    return ops if prec.mac_type(phase) == mac else None


def operand_bits(mac: str, ops: tuple[Format, Format] | None) -> int:
    """Bits the two operands of one MAC occupy (what the RF delivers per MAC)."""
    if ops is not None:
        return ops[0].bits + ops[1].bits
    m = re.fullmatch(r"(?:int|lq)(\d+)x(\d+)", mac)
    if m:
        return int(m.group(1)) + int(m.group(2))
    return {"fp32": 64, "fp16": 32, "xnor_popcount": 2, "sign_add": 33, "ternary": 34, "shift_add": 36}.get(mac, 64)


def _normalise_accesses(accesses: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """-> {(layer, phase): {"rf": bytes, "dram": bytes, "sram": {operand or "": bytes}}}."""
    if accesses is None:
        return {}
    if hasattr(accesses, "rows") or isinstance(accesses, list):
        accesses = accesses_from_cycles(accesses)
    if not isinstance(accesses, dict):
        raise UserError("accesses", "expected {(layer, phase): counts}, {layer: {phase: counts}} or a CycleReport")
    out: dict[tuple[str, str], dict[str, Any]] = {}

    def put(layer: str, phase: str, counts: Any) -> None:
        where = f"accesses[{layer}, {phase}]"
        if phase not in PHASES:
            raise UserError(where, f"unknown phase {phase!r}; expected one of {', '.join(PHASES)}")
        if not isinstance(counts, dict):
            raise UserError(where, "expected a mapping of access counts in bytes")
        acc: dict[str, Any] = out.setdefault((layer, phase), {"sram": defaultdict(float)})
        for k, v in counts.items():
            m = _ACCESS_KEY.match(str(k))
            if not m:
                raise UserError(where, f"unknown key {k!r}; expected {{rf,sram,dram}}_{{read,write}}_bytes[.operand]")
            if not isinstance(v, (int, float)) or v < 0:
                raise UserError(where, f"{k}: expected a non-negative byte count, got {v!r}")
            level, operand = m.group(1), (m.group(3) or ".")[1:]
            if level == "sram":
                acc["sram"][operand] += float(v)
            else:
                acc[level] = acc.get(level, 0.0) + float(v)

    for key, val in accesses.items():
        if isinstance(key, tuple) and len(key) == 2:
            put(str(key[0]), str(key[1]), val)
        elif isinstance(val, dict) and all(isinstance(v, dict) for v in val.values()):
            for phase, counts in val.items():
                put(str(key), str(phase), counts)
        else:
            raise UserError("accesses", f"key {key!r}: expected (layer, phase) or {{layer: {{phase: counts}}}}")
    return out


_BUFFERS = ("ifmap", "filter", "ofmap")


def accesses_from_cycles(report: Any) -> dict[tuple[str, str], dict[str, float]]:
    """The accelerator model's CycleReport (or its rows) as ``accesses``: bytes per buffer, per (layer, phase).

    Per row, ``sram_reads_<buf>`` / ``sram_writes_ofmap`` / ``dram_reads_<buf>`` / ``dram_writes_ofmap``
    (elements) x ``<buf>_bits`` / 8 give ``sram_read_bytes.<buf>`` etc.; whatever the row's
    ``*_bytes`` totals hold beyond those (vector-unit rows) is added without a buffer suffix.
    """
    rows = report.rows if hasattr(report, "rows") else report
    out: dict[tuple[str, str], dict[str, float]] = {}
    for r in rows:
        d = out.setdefault((str(r["layer"]), str(r["phase"])), defaultdict(float))
        for level in ("sram", "dram"):
            for rw, verb, bufs in (("read", "reads", _BUFFERS), ("write", "writes", ("ofmap",))):
                split = 0.0
                for b in bufs:
                    n = (r.get(f"{level}_{verb}_{b}") or 0) * (r.get(f"{b}_bits") or 0) / 8
                    if n:
                        d[f"{level}_{rw}_bytes.{b}"] += n
                        split += n
                rest = (r.get(f"{level}_{rw}_bytes") or 0) - split
                if rest > 0.5:
                    d[f"{level}_{rw}_bytes"] += rest
    return {k: dict(v) for k, v in out.items()}


def hierarchy_for_accelerator(accelerator: dict[str, Any], base: Any = None) -> Hierarchy:
    """The hierarchy with the accelerator's SRAM buffers (``CycleReport.accelerator["sram"]`` in KB)."""
    h = load_hierarchy(base)
    kb = (accelerator or {}).get("sram") or {}
    buffers = {b: int(round(float(kb[f"{b}_kb"]) * 1024)) for b in _BUFFERS if kb.get(f"{b}_kb")}
    if not buffers:
        return h
    return h.model_copy(update={"sram_buffers": buffers, "sram_bytes": sum(buffers.values())})


def _inference_from_forward(trace: Trace) -> list[LayerRecord]:
    """Forward records re-labelled as inference, without the stash they write for backward."""
    out = []
    for r in trace.records:
        if r.phase == FORWARD:
            tb = {k: v for k, v in r.traffic_bytes.items() if k not in ("stash_write", "weight_master")}
            out.append(LayerRecord(r.layer, INFERENCE, dict(r.macs), dict(r.effectual_macs), dict(r.elementwise), tb))
    return out


# ---------------------------------------------------------------------------- sparsity
_WEIGHT_PHASES = (FORWARD, INFERENCE, BACKWARD_DATA)      # the weight is a GEMM operand
_INPUT_PHASES = (FORWARD, INFERENCE, BACKWARD_WEIGHT)     # the layer input (stashed in backward) is


def _support(sparsity: dict[str, str] | None, hier: Hierarchy) -> tuple[bool, bool]:
    """(zero weights cost no MAC energy, zero activations cost none): gating or skipping."""
    sp = sparsity or {}
    w = sp.get("weights", "none") in ("gating", "skipping") or hier.zero_skipping
    a = sp.get("activations", "none") in ("gating", "skipping") or hier.zero_skipping
    return w, a


def priced_macs(trace: Trace, r: LayerRecord, mac: str, n: int, support: tuple[bool, bool]) -> int | None:
    """MACs of ``mac`` type in record ``r`` that cost energy under ``support``, for every MAC type.

    Gating weights prices the MACs with a non-zero weight (n x weight density), gating activations
    those with a non-zero input, both: the trace's exact effectual MACs (both operands non-zero).
    Densities are the ones measured on the step; a weight kept in a sparse format on a meta trace
    has its pruning target's. None: support is on but nothing was measured for this layer."""
    w_all, a_all = support
    sp = trace.sparsity.get(r.layer)
    st = (trace.meta.get("weight_storage") or {}).get(r.layer) if trace.meta else None
    if w_all and a_all and st is None and mac in r.effectual_macs:
        return int(r.effectual_macs[mac])       # both operands of this phase's GEMM, as counted
    w_on, a_on = w_all and r.phase in _WEIGHT_PHASES, a_all and r.phase in _INPUT_PHASES
    if not (w_on or a_on):
        return n
    if sp is None and st is None:
        return None
    if w_all and a_all and sp is not None and mac in r.effectual_macs:
        return int(r.effectual_macs[mac])
    wd = 1.0 - float(sp["weight"]) if sp and "weight" in sp else (float(st["density"]) if st else 1.0)
    ad = 1.0 - float(sp["input"]) if sp and "input" in sp else 1.0
    return int(round(n * (wd if w_on else 1.0) * (ad if a_on else 1.0)))


# ---------------------------------------------------------------------------- price


def price(trace: Trace, tech: TechTable | str | None = "45nm", hierarchy: Any = None, accesses: Any = None,
          steps_per_epoch: int | None = None, rate_hz: float | None = None,
          sparsity: dict[str, str] | None = None) -> EnergyReport:
    """Energy of ``trace`` on ``tech`` with ``hierarchy`` (or an accelerator's ``accesses``).

    ``sparsity``: the accelerator's support for zero operands (``{weights, activations}`` each
    ``none | gating | skipping``, :mod:`accel_models.sparsity`); ``hierarchy.zero_skipping`` gates both."""
    tech = tech if isinstance(tech, TechTable) else load_tech(tech or "45nm")
    hier: Hierarchy = load_hierarchy(hierarchy)
    acc = _normalise_accesses(accesses)
    infos = {li.name: li for li in trace.layers}
    notes: list[str] = []

    records = list(trace.records)
    phases_present = {r.phase for r in records}
    if not phases_present & {INFERENCE} and FORWARD in phases_present:
        records += _inference_from_forward(trace)
        notes.append("the trace has no inference records: inference is priced as the forward records "
                     "without their stash and master-weight traffic")
        borrowed = [k for k in acc if k[1] == FORWARD and (k[0], INFERENCE) not in acc]
        for layer, _ in borrowed:
            acc[(layer, INFERENCE)] = acc[(layer, FORWARD)]
        if borrowed:
            notes.append("inference memory energy uses the accelerator's forward access counts")

    support = _support(sparsity, hier)
    placement = place(trace, hier)
    sram_bit = sram_pj_per_bit(tech, hier.sram_bytes)
    dram_bit = dram_pj_per_bit(tech, hier.dram)
    rf_bit = rf_pj_per_bit(tech)
    level_bit = {"rf": rf_bit, "sram": sram_bit, "dram": dram_bit}

    energy: dict[tuple[str, str, str], float] = defaultdict(float)
    rules_used: dict[str, dict[str, Any]] = {}
    per_mac: dict[str, list[float]] = {}
    ew_used: dict[str, dict[str, Any]] = {}
    mem_source = {"placement": 0, "accelerator": 0}
    level_bytes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    no_effectual: set[str] = set()

    for r in records:
        info = infos.get(r.layer)
        key = (r.layer, r.phase)
        # -- compute and per-MAC operand reads from the RF
        rf_operand_pj = 0.0
        for mac, n in r.macs.items():
            if not n:
                continue
            ops = operands_for(info, r.phase, mac)
            fi = fan_in(info, r.phase)
            e, rule = mac_energy(tech, mac, ops, fi)
            count = priced_macs(trace, r, mac, n, support)
            if count is None:
                count = n
                no_effectual.add(r.layer)
            energy[(r.layer, r.phase, f"compute.{mac}")] += count * e
            rf_operand_pj += count * operand_bits(mac, ops) * rf_bit * hier.rf_operand_reads_per_mac / 2
            d = rules_used.setdefault(rule.name, {**rule.describe(), "citation": tech.cite(rule.source),
                                                  "mac_types": []})
            if mac not in d["mac_types"]:
                d["mac_types"].append(mac)
            lo_hi = per_mac.setdefault(mac, [e, e])
            lo_hi[0], lo_hi[1] = min(lo_hi[0], e), max(lo_hi[1], e)
        # -- element-wise
        for op, n in r.elementwise.items():
            if not n:
                continue
            e, prims, defaulted = elementwise_pj(tech, op)
            energy[(r.layer, r.phase, "elementwise")] += n * e
            ew_used[op] = {"primitives": prims, "pj_per_op": e, "default": defaulted}
        # -- memory
        if key in acc:
            mem_source["accelerator"] += 1
            a = acc[key]
            for operand, b in a["sram"].items():
                cap = hier.sram_buffers.get(operand, hier.sram_bytes)
                energy[(r.layer, r.phase, "sram")] += b * 8 * sram_pj_per_bit(tech, cap)
            energy[(r.layer, r.phase, "dram")] += a.get("dram", 0.0) * 8 * dram_bit
            energy[(r.layer, r.phase, "rf")] += a["rf"] * 8 * rf_bit if "rf" in a else rf_operand_pj
            continue
        mem_source["placement"] += 1
        energy[(r.layer, r.phase, "rf")] += rf_operand_pj
        # the record's largest activation/gradient stream must fit the SRAM left to stay on chip
        transient = max((int(b) for c, b in r.traffic_bytes.items() if c in TRANSIENT), default=0)
        for cls, b in r.traffic_bytes.items():
            if not b:
                continue
            lvl = class_level(cls, r.layer, int(b), placement, hier, transient)
            level_bytes[cls][lvl] += int(b)
            energy[(r.layer, r.phase, lvl)] += int(b) * 8 * level_bit[lvl]

    # -- persistent classes held on chip: fetched from DRAM once per step (per inference batch)
    fetched: dict[str, int] = defaultdict(int)
    for cls in PERSISTENT:
        for layer, size in placement["layer_footprints"].get(cls, {}).items():
            if not size:
                continue
            lvl = class_level(cls, layer, size, placement, hier, 0)
            if lvl == "dram":
                continue
            first = {INFERENCE: None, "train": None}
            for rec in records:
                if rec.layer == layer and rec.traffic_bytes.get(cls):
                    slot = INFERENCE if rec.phase == INFERENCE else "train"
                    if first[slot] is None:
                        first[slot] = rec.phase
            for slot, phase in first.items():
                if phase is None or (layer, phase) in acc:
                    continue
                if slot == INFERENCE and cls != "weight":
                    continue
                times = 2 if (cls in WRITTEN_BACK and slot == "train") else 1
                energy[(layer, phase, "dram")] += times * size * 8 * dram_bit
                fetched[f"{cls}.{'train_step' if slot == 'train' else 'inference_batch'}"] += times * size

    if no_effectual:
        notes.append(f"zero operands are gated or skipped but {len(no_effectual)} layer(s) have no measured "
                     "sparsity (a meta-device trace): all their MACs are priced")
    rows = [{"layer": lay, "phase": ph, "component": comp, "energy_pj": v}
            for (lay, ph, comp), v in energy.items() if v]
    by_phase: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        by_phase[row["phase"]][row["component"]] += row["energy_pj"]
    by_phase_d = {p: dict(v) for p, v in by_phase.items()}

    def sum_phases(phases: tuple[str, ...]) -> dict[str, float]:
        t: dict[str, float] = defaultdict(float)
        for p in phases:
            for c, v in by_phase_d.get(p, {}).items():
                t[c] += v
        return dict(t)

    train_totals = sum_phases(TRAIN_PHASES)
    infer_batch = sum_phases((INFERENCE,))
    batch = max(int(trace.batch or 1), 1)
    infer_totals = {c: v / batch for c, v in infer_batch.items()}
    train_step = sum(train_totals.values())
    spe = steps_per_epoch if steps_per_epoch is not None else (trace.steps_per_epoch or None)

    c2, c1 = mult_coefficients(tech)
    assumptions = {
        "tech": tech.summary(),
        "rules": rules_used,
        "pj_per_mac": {m: {"min": v[0], "max": v[1]} for m, v in per_mac.items()},
        "primitives": {
            "int_add_pj": {"points": tech.int_add_pj.points, "citation": tech.cite(tech.int_add_pj.source),
                           "rule": "piecewise-linear in width between points; proportional to width outside"},
            "int_mult_pj": {"points": tech.int_mult_pj.points, "citation": tech.cite(tech.int_mult_pj.source),
                            "rule": f"table value at a tabulated width, else {c2:.10g} w^2 + {c1:.10g} w, "
                                    "w = sqrt(a b) (least-squares quadratic through the origin)"},
            "fp_add_pj": {"points": tech.fp_add_pj.points, "citation": tech.cite(tech.fp_add_pj.source)},
            "fp_mult_pj": {"points": tech.fp_mult_pj.points, "citation": tech.cite(tech.fp_mult_pj.source)},
            "bit_add_pj": {"value": bit_add_pj(tech), "rule": "int add of the widest tabulated width / its bits"},
            "gates": tech.gates.model_dump() | {"citation": tech.cite(tech.gates.source)},
            "accumulator": tech.accumulator.model_dump()
            | {"rule": "product bits + ceil(log2(fan-in)), capped at max_bits; max_bits when fan-in is unknown"},
        },
        "elementwise": {"ops": ew_used, "citation": tech.cite(tech.elementwise.source),
                        "rule": "each counted element op = the listed fp32 primitives; ops not listed use 'default'"},
        "memory": {
            "sram": {"capacity_bytes": hier.sram_bytes, "pj_per_64b": sram_pj_per_64b(tech, hier.sram_bytes),
                     "buffers": {b: {"bytes": c, "pj_per_64b": sram_pj_per_64b(tech, c)}
                                 for b, c in hier.sram_buffers.items()},
                     "pj_per_bit": sram_bit, "points": tech.sram_pj_per_64b.points,
                     "citation": tech.cite(tech.sram_pj_per_64b.source),
                     "rule": "power law in capacity between table points (linear in log E vs log2 C), end "
                             "segments extended; w-bit access = w/64 x E64; writes = reads"},
            "dram": {"preset": hier.dram or tech.dram.default, "pj_per_bit": dram_bit,
                     **tech.dram_preset(hier.dram).model_dump(),
                     "citation": tech.cite(tech.dram_preset(hier.dram).source), "rule": "priced per bit; not node-scaled"},
            "rf": {"pj_per_bit": rf_bit, "citation": tech.cite(tech.rf_pj_per_32b.source),
                   "rule": f"{hier.rf_operand_reads_per_mac:g} operand reads per MAC at the operands' widths, "
                           "plus tensors of at most rf_bytes"},
        },
        "hierarchy": hier.model_dump(),
        "placement": {"levels": placement["levels"], "footprint_bytes": placement["footprint_bytes"],
                      "sram_free_for_transients": placement["sram_free_for_transients"],
                      "bytes_by_level": {c: dict(v) for c, v in level_bytes.items()},
                      "dram_fetch_once_bytes": dict(fetched),
                      "rule": "long-lived classes claim SRAM in sram_priority order, else DRAM; transients of a "
                              "(layer, phase) stay on chip if their largest class fits what is left; tensors <= rf_bytes in RF; "
                              "on-chip persistent classes are fetched from DRAM once per step (weight_master and "
                              "optimizer_state also written back) and weights once per inference batch"},
        "memory_source": {"records_priced_by": mem_source,
                          "accelerator_form": "{(layer, phase): {rf|sram|dram}_{read|write}_bytes[.operand]: bytes}"},
        "notes": notes,
    }
    return EnergyReport(
        model=trace.model, scheme=trace.scheme, mode=trace.mode, batch=batch, tech=tech.name, rows=rows,
        totals=train_totals if train_step else infer_batch, by_phase=by_phase_d, infer_totals=infer_totals,
        train_step_pj=train_step, train_epoch_pj=(train_step * spe if spe and train_step else None),
        infer_pj_per_sample=sum(infer_totals.values()), steps_per_epoch=spe, rate_hz=rate_hz,
        assumptions=assumptions,
    )
