"""Price a Trace: counts become picojoules per layer, phase and component.

Components of a row: ``compute.<mac_type>`` (MACs x the MAC type's rule), ``scale`` (the
block-scale share of block-scaled MACs: MX, NVFP4), ``elementwise`` (element ops x their fp32 primitives), ``rf`` (operand reads per MAC + tensors that fit the
register file), ``sram`` and ``dram`` (tensor traffic at the level the placement model, or the
accelerator's access counts, put it).

Memory energy of a (layer, phase) comes either from the accelerator model's
:class:`accel_models.MemoryAccesses` (bytes by level, buffer and direction: SRAM priced at the
capacity of its buffer, DRAM per bit, RF from its counts when given, else from the per-MAC operand
reads), or, for pairs the accelerator did not run, from the placement model on a
:class:`~hwsim.energy.hierarchy.Hierarchy`; the report's assumptions count both.

``price`` runs by phase: compute and element-wise energy per record, memory energy from accesses or
from placement, the once-per-step fetch of persistent classes held on chip, then totals per phase.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from accel_models.accesses import Access, MemoryAccesses
from accel_models.config import Accelerator
from hwsim import memo
from hwsim.energy.assumptions import (
    BufferCost,
    DramCost,
    ElementOpCost,
    ElementwiseCosts,
    EnergyAssumptions,
    MacRuleUse,
    MemoryCosts,
    PjRange,
    PlacementUse,
    Primitives,
    RfCost,
    SramCost,
    TableCost,
)
from hwsim.energy.hierarchy import (
    PERSISTENT,
    WRITTEN_BACK,
    Hierarchy,
    Placement,
    class_level,
    load_hierarchy,
    place,
)
from hwsim.energy.memory import dram_pj_per_bit, rf_pj_per_bit, sram_pj_per_64b, sram_pj_per_bit
from hwsim.energy.ops import bit_add_pj, elementwise_pj, mac_energy, mult_coefficients, scale_share_pj
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
from hwsim.jsondoc import JsonDocument
from hwsim.trace import CONV_ND_OPS, LayerInfo, LayerRecord, Trace, conv_dims

COMPONENTS = ("compute", "elementwise", "scale", "rf", "sram", "dram")


@dataclass(frozen=True)
class EnergyRow:
    """pJ of one energy component of one layer in one phase."""

    layer: str
    phase: str
    component: str
    energy_pj: float


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
    rows: list[EnergyRow] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)
    by_phase: dict[str, dict[str, float]] = field(default_factory=dict)
    infer_totals: dict[str, float] = field(default_factory=dict)
    train_step_pj: float = 0.0
    train_epoch_pj: float | None = None
    infer_pj_per_sample: float = 0.0
    steps_per_epoch: int | None = None
    rate_hz: float | None = None
    assumptions: EnergyAssumptions | None = None

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
            if r.phase in TRAIN_PHASES or not self.train_step_pj:
                out[r.layer][r.component] += r.energy_pj
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
        return [(r.layer, r.phase, f"energy_pj.{r.component}", r.energy_pj) for r in self.rows]

    def to_dict(self) -> JsonDocument:
        """The report as the store, reports and ``--json`` hold it."""
        d = asdict(self)
        d["assumptions"] = self.assumptions.to_dict() if self.assumptions is not None else {}
        d["avg_power_w"] = self.avg_power_w() if self.rate_hz is not None else None
        return d


# ---------------------------------------------------------------------------- helpers


def fan_in(info: LayerInfo | None, phase: str) -> int | None:
    """Length of the reduction each output accumulates, from the layer shape (None when unknown).

    conv2d: forward/inference C/groups x R x S; backward_data K/groups x R x S; backward_weight N x P x Q.
    conv1d/conv3d: the same with their kernel and output dimensions. A transposed convolution is a
    convolution's input gradient: forward/inference C/groups x kernel, backward_data K/groups x kernel,
    backward_weight N x its input's spatial size (the positions its weight gradient sums over).
    linear: forward/inference C; backward_data K; backward_weight N.
    """
    if info is None:
        return None
    s = info.shape
    try:
        if info.op == "conv2d" or info.op in CONV_ND_OPS:
            ins, outs, ks = conv_dims(info.op)
            g = s.get("groups", 1) or 1
            kernel = math.prod(int(s[k]) for k in ks)
            if phase in (FORWARD, INFERENCE):
                return s["C"] // g * kernel
            if phase == BACKWARD_DATA:
                return s["K"] // g * kernel
            if phase == BACKWARD_WEIGHT:
                spatial = ins if info.op.startswith("convtranspose") else outs
                return s["N"] * math.prod(int(s[k]) for k in spatial)
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


def hierarchy_for_accelerator(accelerator: Accelerator, base: Hierarchy | str | dict | None = None) -> Hierarchy:
    """``base`` (default configs/hierarchy/default.yaml) with the accelerator's ifmap, filter and ofmap SRAMs
    as its buffers: the capacity each buffer's accesses are priced at."""
    h = load_hierarchy(base)
    buffers = {"ifmap": accelerator.ifmap_sram_bytes, "filter": accelerator.filter_sram_bytes,
               "ofmap": accelerator.ofmap_sram_bytes}
    regs = {op: {rw: pj / r.bits for rw, pj in (("read", r.read_pj), ("write", r.write_pj)) if pj is not None}
            for op, r in accelerator.registers.items()}
    return h.model_copy(update={"sram_buffers": buffers, "sram_bytes": sum(buffers.values()), "rf_registers": regs})


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
    st = trace.meta.weight_storage.get(r.layer)
    if w_all and a_all and st is None and mac in r.effectual_macs:
        return int(r.effectual_macs[mac])       # both operands of this phase's GEMM, as counted
    w_on, a_on = w_all and r.phase in _WEIGHT_PHASES, a_all and r.phase in _INPUT_PHASES
    if not (w_on or a_on):
        return n
    if sp is None and st is None:
        return None
    if w_all and a_all and sp is not None and mac in r.effectual_macs:
        return int(r.effectual_macs[mac])
    wd = 1.0 - float(sp["weight"]) if sp and "weight" in sp else (st.density if st else 1.0)
    ad = 1.0 - float(sp["input"]) if sp and "input" in sp else 1.0
    return int(round(n * (wd if w_on else 1.0) * (ad if a_on else 1.0)))


# ---------------------------------------------------------------------------- price


@dataclass
class _Ledger:
    """What pricing accumulates: pJ per (layer, phase, component) and the rules and sources it used."""

    energy: dict[tuple[str, str, str], float] = field(default_factory=lambda: defaultdict(float))
    rules_used: dict[str, dict[str, Any]] = field(default_factory=dict)
    per_mac: dict[str, list[float]] = field(default_factory=dict)
    elementwise: dict[str, dict[str, Any]] = field(default_factory=dict)
    mem_source: dict[str, int] = field(default_factory=lambda: {"placement": 0, "accelerator": 0})
    level_bytes: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    fetched: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    no_effectual: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _PerBit:
    """pJ per bit at each level (SRAM at the hierarchy's whole capacity)."""

    rf: float
    sram: float
    dram: float

    def level(self, name: str) -> float:
        return {"rf": self.rf, "sram": self.sram, "dram": self.dram}[name]


def _index_accesses(accesses: MemoryAccesses | None) -> dict[tuple[str, str], list[Access]]:
    """The accelerator's accesses per (layer, phase); a phase hwsim does not price is a user error."""
    if accesses is None:
        return {}
    for layer, phase in accesses.pairs():
        if phase not in PHASES:
            raise UserError(f"accesses[{layer}, {phase}]",
                            f"unknown phase {phase!r}; expected one of {', '.join(PHASES)}")
    return {pair: accesses.of(*pair) for pair in accesses.pairs()}


def _records_to_price(trace: Trace, acc: dict[tuple[str, str], list[Access]], ledger: _Ledger) -> list[LayerRecord]:
    """The trace's records, plus inference records made from forward ones when the trace has none
    (their accelerator accesses borrowed from forward)."""
    records = list(trace.records)
    phases_present = {r.phase for r in records}
    if INFERENCE in phases_present or FORWARD not in phases_present:
        return records
    records += _inference_from_forward(trace)
    ledger.notes.append("the trace has no inference records: inference is priced as the forward records "
                        "without their stash and master-weight traffic")
    borrowed = [k for k in acc if k[1] == FORWARD and (k[0], INFERENCE) not in acc]
    for layer, _ in borrowed:     # an inference pass keeps no stash: its forward writes are left out
        acc[(layer, INFERENCE)] = [a for a in acc[(layer, FORWARD)] if a.buffer != "stash"]
    if borrowed:
        ledger.notes.append("inference memory energy uses the accelerator's forward access counts")
    return records


@dataclass(frozen=True)
class _MacTerm:
    """One MAC type of one record, as its pricing rule gives it: ``count`` MACs cost energy (None: support
    for zero operands is on but nothing was measured, so all ``n`` do), each at ``pj`` of which ``scale_pj`` is
    block-scale work, reading ``operand_bits`` from the register file."""

    mac: str
    n: int
    count: int | None
    pj: float
    scale_pj: float
    rule: Any
    operand_bits: int


def _mac_terms(trace: Trace, r: LayerRecord, info: LayerInfo | None, tech: TechTable,
               support: tuple[bool, bool]) -> tuple[_MacTerm, ...]:
    """The MAC types of one record with their rule's pJ for the declared operand formats and fan-in, and
    how many of them cost energy: what a record's compute energy is made of, whatever the memory is."""
    out = []
    for mac, n in r.macs.items():
        if not n:
            continue
        ops = operands_for(info, r.phase, mac)
        fi = fan_in(info, r.phase)
        e, rule = mac_energy(tech, mac, ops, fi)
        out.append(_MacTerm(mac, n, priced_macs(trace, r, mac, n, support), e, scale_share_pj(tech, mac, ops, fi),
                            rule, operand_bits(mac, ops)))
    return tuple(out)


def _price_compute(r: LayerRecord, terms: tuple[_MacTerm, ...], tech: TechTable, hier: Hierarchy,
                   per_bit: _PerBit, ledger: _Ledger) -> float:
    """Compute energy of one record: its MACs by type (``terms``, :func:`_mac_terms`), only the effectual
    ones where zero operands are gated. Returns the pJ of the operand reads those MACs make from the
    register file (priced as memory energy by the caller)."""
    rf_operand_pj = 0.0
    for t in terms:
        mac, e, s, rule = t.mac, t.pj, t.scale_pj, t.rule
        count = t.count
        if count is None:
            count = t.n
            ledger.no_effectual.add(r.layer)
        # block-scale work (MX, NVFP4) is its own component
        ledger.energy[(r.layer, r.phase, f"compute.{mac}")] += count * (e - s)
        if s:
            ledger.energy[(r.layer, r.phase, "scale")] += count * s
        rf_operand_pj += count * t.operand_bits * per_bit.rf * hier.rf_operand_reads_per_mac / 2
        d = ledger.rules_used.get(rule.name)
        if d is None:
            d = ledger.rules_used[rule.name] = {**rule.describe(), "citation": tech.cite(rule.source),
                                                "mac_types": []}
        if mac not in d["mac_types"]:
            d["mac_types"].append(mac)
        lo_hi = ledger.per_mac.setdefault(mac, [e, e])
        lo_hi[0], lo_hi[1] = min(lo_hi[0], e), max(lo_hi[1], e)
    return rf_operand_pj


def _price_elementwise(r: LayerRecord, tech: TechTable, ledger: _Ledger) -> None:
    """Element-wise energy of one record: each counted element op at its fp32 primitives."""
    for op, n in r.elementwise.items():
        if not n:
            continue
        e, prims, defaulted = memo.derived(tech, ("elementwise_pj", op), lambda op=op: elementwise_pj(tech, op))
        ledger.energy[(r.layer, r.phase, "elementwise")] += n * e
        ledger.elementwise[op] = {"primitives": list(prims), "pj_per_op": e, "default": defaulted}


def _price_accesses(r: LayerRecord, entries: list[Access], tech: TechTable, hier: Hierarchy, per_bit: _PerBit,
                    rf_operand_pj: float, ledger: _Ledger) -> None:
    """Memory energy of one record from the accelerator's accesses: SRAM bytes at the capacity of the buffer
    they go to (the whole SRAM when unnamed), DRAM bytes per bit, RF bytes when counted, else the MACs'
    operand reads."""
    sram: dict[str, float] = defaultdict(float)
    dram, rf = 0.0, None
    for a in entries:
        if a.level == "sram":
            sram[a.buffer] += a.bytes
        elif a.level == "dram":
            dram += a.bytes
        else:   # a declared register at its own energy per bit, else the technology's register file
            rate = hier.rf_registers.get(a.buffer, {}).get(a.rw, per_bit.rf)
            rf = (rf or 0.0) + a.bytes * 8 * rate
    energy, key = ledger.energy, (r.layer, r.phase)
    for buffer, b in sram.items():
        cap = hier.sram_buffers.get(buffer, hier.sram_bytes)
        energy[(*key, "sram")] += b * 8 * memo.derived(tech, ("sram_pj_per_bit", cap),
                                                       lambda cap=cap: sram_pj_per_bit(tech, cap))
    energy[(*key, "dram")] += dram * 8 * per_bit.dram
    energy[(*key, "rf")] += rf if rf is not None else rf_operand_pj
    ledger.mem_source["accelerator"] += 1


def _price_placed(r: LayerRecord, placement: Placement, per_bit: _PerBit, rf_operand_pj: float,
                  ledger: _Ledger) -> None:
    """Memory energy of one record from the placement model: each tensor class's bytes at the register
    file, or split between SRAM and DRAM by the fraction of it the placement holds on chip."""
    ledger.energy[(r.layer, r.phase, "rf")] += rf_operand_pj
    for cls, b in r.traffic_bytes.items():
        if not b:
            continue
        lvl, frac = class_level(cls, r.layer, r.phase, int(b), placement)
        if lvl == "rf":
            ledger.level_bytes[cls]["rf"] += int(b)
            ledger.energy[(r.layer, r.phase, "rf")] += int(b) * 8 * per_bit.rf
            continue
        on, off = int(b) * frac, int(b) * (1.0 - frac)
        ledger.level_bytes[cls]["sram"] += on
        ledger.level_bytes[cls]["dram"] += off
        ledger.energy[(r.layer, r.phase, "sram")] += on * 8 * per_bit.sram
        ledger.energy[(r.layer, r.phase, "dram")] += off * 8 * per_bit.dram
    ledger.mem_source["placement"] += 1


def _price_fetch_once(records: list[LayerRecord], placement: Placement, slot: str,
                      acc: dict[tuple[str, str], list[Access]], per_bit: _PerBit, ledger: _Ledger) -> None:
    """DRAM energy of the on-chip part of persistent classes: fetched once per pass (a training step or an
    inference batch; weight_master and optimizer_state also written back), charged to the first record
    that uses them unless the accelerator's accesses price that (layer, phase)."""
    for cls in PERSISTENT:
        for layer, size in placement.footprint.get(cls, {}).items():
            frac = placement.onchip.get((cls, layer), 0.0)
            if not size or not frac or placement.in_rf(cls, layer, size):
                continue
            first = next((rec.phase for rec in records if rec.layer == layer and rec.traffic_bytes.get(cls)), None)
            if first is None or (layer, first) in acc:
                continue
            times = 2 if cls in WRITTEN_BACK else 1
            ledger.energy[(layer, first, "dram")] += times * size * frac * 8 * per_bit.dram
            ledger.fetched[f"{cls}.{'inference_batch' if slot == INFERENCE else 'train_step'}"] += \
                int(round(times * size * frac))


@dataclass
class _Totals:
    rows: list[EnergyRow]
    by_phase: dict[str, dict[str, float]]
    train: dict[str, float]
    infer_batch: dict[str, float]


def _totals(ledger: _Ledger) -> _Totals:
    """Rows per (layer, phase, component), pJ per phase and component, and the training-step and
    inference-batch totals per component."""
    rows = [EnergyRow(lay, ph, comp, v) for (lay, ph, comp), v in ledger.energy.items() if v]
    by_phase: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        by_phase[row.phase][row.component] += row.energy_pj
    by_phase_d = {p: dict(v) for p, v in by_phase.items()}

    def sum_phases(phases: tuple[str, ...]) -> dict[str, float]:
        t: dict[str, float] = defaultdict(float)
        for p in phases:
            for c, v in by_phase_d.get(p, {}).items():
                t[c] += v
        return dict(t)

    return _Totals(rows, by_phase_d, sum_phases(TRAIN_PHASES), sum_phases((INFERENCE,)))


def _placement_prices(records: list[LayerRecord], acc: dict[tuple[str, str], list[Access]]) -> bool:
    """Whether the placement model prices anything: the (layer, phase) pairs the accelerator's accesses
    leave out, and the once-per-pass fetches charged to them. When the accesses cover every record it
    would price nothing, so it is not run (its linear program, nor scipy's import)."""
    return any((r.layer, r.phase) not in acc for r in records)


def price(trace: Trace, tech: TechTable | str | None = "45nm", hierarchy: Hierarchy | str | dict | None = None,
          accesses: MemoryAccesses | None = None, steps_per_epoch: int | None = None, rate_hz: float | None = None,
          sparsity: dict[str, str] | None = None) -> EnergyReport:
    """Energy of ``trace`` on ``tech`` with ``hierarchy`` (a Hierarchy, or a name, path or mapping
    :func:`load_hierarchy` reads; default configs/hierarchy/default.yaml).

    ``accesses``: the accelerator model's (``CycleReport.accesses``); the (layer, phase) pairs it holds
    take their memory energy from it, the others from the placement model on ``hierarchy``.
    ``sparsity``: the accelerator's support for zero operands (``{weights, activations}`` each
    ``none | gating | skipping``, :mod:`accel_models.sparsity`); ``hierarchy.zero_skipping`` gates both."""
    tech = tech if isinstance(tech, TechTable) else load_tech(tech or "45nm")
    hier = load_hierarchy(hierarchy)
    acc = _index_accesses(accesses)
    ledger = _Ledger()
    records = _records_to_price(trace, acc, ledger)
    infos = {li.name: li for li in trace.layers}
    support = _support(sparsity, hier)
    passes = {"train": [r for r in records if r.phase != INFERENCE],
              INFERENCE: [r for r in records if r.phase == INFERENCE]}
    # what depends on the trace and not on the memory: the same for every accelerator a sweep prices it on
    placements = None
    if _placement_prices(records, acc):
        placements = memo.derived(trace, ("placements", len(records), hier.sram_bytes, hier.rf_bytes,
                                          tuple(hier.sram_priority)),
                                  lambda: {k: place(v, hier) for k, v in passes.items()})
    terms = memo.derived((trace, tech), ("mac_terms", len(records), support),
                         lambda: [_mac_terms(trace, r, infos.get(r.layer), tech, support) for r in records])
    per_bit = _PerBit(rf=rf_pj_per_bit(tech), sram=sram_pj_per_bit(tech, hier.sram_bytes),
                      dram=dram_pj_per_bit(tech, hier.dram))
    for r, rterms in zip(records, terms):
        rf_operand_pj = _price_compute(r, rterms, tech, hier, per_bit, ledger)
        _price_elementwise(r, tech, ledger)
        if (r.layer, r.phase) in acc:
            _price_accesses(r, acc[(r.layer, r.phase)], tech, hier, per_bit, rf_operand_pj, ledger)
        else:
            assert placements is not None   # run whenever a pair is left out
            _price_placed(r, placements[INFERENCE if r.phase == INFERENCE else "train"], per_bit,
                          rf_operand_pj, ledger)
    if placements is not None:
        for slot, recs in passes.items():
            _price_fetch_once(recs, placements[slot], slot, acc, per_bit, ledger)
    if ledger.no_effectual:
        ledger.notes.append(f"zero operands are gated or skipped but {len(ledger.no_effectual)} layer(s) have no "
                            "measured sparsity (a meta-device trace): all their MACs are priced")
    t = _totals(ledger)
    batch = max(int(trace.batch or 1), 1)
    infer_totals = {c: v / batch for c, v in t.infer_batch.items()}
    train_step = sum(t.train.values())
    spe = steps_per_epoch if steps_per_epoch is not None else (trace.steps_per_epoch or None)
    return EnergyReport(
        model=trace.model, scheme=trace.scheme, mode=trace.mode, batch=batch, tech=tech.name, rows=t.rows,
        totals=t.train if train_step else t.infer_batch, by_phase=t.by_phase, infer_totals=infer_totals,
        train_step_pj=train_step, train_epoch_pj=(train_step * spe if spe and train_step else None),
        infer_pj_per_sample=sum(infer_totals.values()), steps_per_epoch=spe, rate_hz=rate_hz,
        assumptions=_assumptions(tech, hier, placements, per_bit, ledger),
    )


def _has_records(p: Placement) -> bool:
    return bool(p.transient_onchip)


def _placement_use(placements: dict[str, Placement] | None, ledger: _Ledger) -> PlacementUse | None:
    """What the placement model held where; None when it priced nothing (the accelerator's accesses
    priced every record)."""
    if placements is None:
        return None
    step = placements["train"] if _has_records(placements["train"]) else placements[INFERENCE]
    return PlacementUse(
        step=step.summary(), inference=placements[INFERENCE].summary(),
        bytes_by_level={c: {k: int(round(v)) for k, v in d.items()} for c, d in ledger.level_bytes.items()},
        dram_fetch_once_bytes=dict(ledger.fetched),
        rule="per pass, in execution order: the transients of the running (layer, phase) first "
             "(the part of their largest stream that fits the SRAM); long-lived tensors (weight, "
             "stash, grad_weight, weight_master, optimizer_state) hold SRAM only while live, in "
             "the split that saves the most DRAM bytes (a linear program over the records); tensors "
             "<= rf_bytes in RF; on-chip persistent classes are fetched from DRAM once per pass "
             "(weight_master and optimizer_state also written back); an inference pass has no stash")


def _assumptions(tech: TechTable, hier: Hierarchy, placements: dict[str, Placement] | None, per_bit: _PerBit,
                 ledger: _Ledger) -> EnergyAssumptions:
    """Every table value and rule the pricing used, with citations, for the report."""
    c2, c1 = mult_coefficients(tech)
    dram = tech.dram_preset(hier.dram)
    return EnergyAssumptions(
        tech=tech.summary(),
        rules={k: MacRuleUse(**v) for k, v in ledger.rules_used.items()},
        pj_per_mac={m: PjRange(min=v[0], max=v[1]) for m, v in ledger.per_mac.items()},
        primitives=Primitives(
            int_add_pj=TableCost(tech.int_add_pj.points, tech.cite(tech.int_add_pj.source),
                                 "piecewise-linear in width between points; proportional to width outside"),
            int_mult_pj=TableCost(tech.int_mult_pj.points, tech.cite(tech.int_mult_pj.source),
                                  f"table value at a tabulated width, else {c2:.10g} w^2 + {c1:.10g} w, "
                                  "w = sqrt(a b) (least-squares quadratic through the origin)"),
            fp_add_pj=TableCost(tech.fp_add_pj.points, tech.cite(tech.fp_add_pj.source)),
            fp_mult_pj=TableCost(tech.fp_mult_pj.points, tech.cite(tech.fp_mult_pj.source)),
            bit_add_pj=bit_add_pj(tech), bit_add_rule="int add of the widest tabulated width / its bits",
            gates=tech.gates, gates_citation=tech.cite(tech.gates.source),
            accumulator=tech.accumulator,
            accumulator_rule="product bits + ceil(log2(fan-in)), capped at max_bits; max_bits when fan-in is "
                             "unknown"),
        elementwise=ElementwiseCosts(
            ops={op: ElementOpCost(list(v["primitives"]), v["pj_per_op"], v["default"])
                 for op, v in ledger.elementwise.items()},
            citation=tech.cite(tech.elementwise.source),
            rule="each counted element op = the listed fp32 primitives; ops not listed use 'default'"),
        memory=MemoryCosts(
            sram=SramCost(capacity_bytes=hier.sram_bytes, pj_per_64b=sram_pj_per_64b(tech, hier.sram_bytes),
                          buffers={b: BufferCost(c, sram_pj_per_64b(tech, c)) for b, c in hier.sram_buffers.items()},
                          pj_per_bit=per_bit.sram, points=tech.sram_pj_per_64b.points,
                          citation=tech.cite(tech.sram_pj_per_64b.source),
                          rule="power law in capacity between table points (linear in log E vs log2 C), end "
                               "segments extended; w-bit access = w/64 x E64; writes = reads"),
            dram=DramCost(preset=hier.dram or tech.dram.default, pj_per_bit=per_bit.dram, table=dram,
                          citation=tech.cite(dram.source), rule="priced per bit; not node-scaled"),
            rf=RfCost(pj_per_bit=per_bit.rf, citation=tech.cite(tech.rf_pj_per_32b.source),
                      rule=f"{hier.rf_operand_reads_per_mac:g} operand reads per MAC at the operands' widths, "
                           "plus tensors of at most rf_bytes; an accelerator's declared PE registers instead: "
                           "their words read and written by its dataflow (accel_models.registers)",
                      registers_pj_per_bit=hier.rf_registers)),
        hierarchy=hier,
        placement=_placement_use(placements, ledger),
        records_priced_by=ledger.mem_source,
        notes=ledger.notes,
    )
