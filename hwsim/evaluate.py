"""The one evaluation route: count a workload, simulate it on an accelerator, price it on a technology.

    trace_workload(workload)                          -> WorkloadTraces   (hwsim.count, torch)
    evaluate(workload, accelerator, tech, pricing,
             traces=None)                             -> Evaluation       (hwsim.hardware, hwsim.energy)
    price_traces(traces, accelerator, tech, pricing)  -> Evaluation       (traces already counted: trace files)
    simulate_traces(traces, accelerator)              -> (train, infer) CycleReports (price_traces' first stage)
    metrics(evaluation)                               -> {store.METRICS name: value}

Tracing is separate from pricing: points that differ only in hardware, technology or memory
pricing pass the same :class:`WorkloadTraces` to :func:`evaluate` and are counted once. The sweep
pipeline and ``hwsim cost`` reach costs through :func:`evaluate` (``hwsim cost`` on a trace file through
:func:`price_traces`); ``hwsim simulate`` counts through :func:`trace_workload` and stops after
:func:`simulate_traces`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import accel_models as am
from hwsim import memo
from hwsim.energy import EnergyReport, Hierarchy, TechTable
from hwsim.trace import Trace
from hwsim.workload import Workload, optimizer_states, parse_input_shape


@dataclass
class DecodeTraces:
    """Inference of a decoder as prefill + decode: the prompt's pass and two decode steps.

    ``first`` attends over the ``prompt`` cached tokens, ``last`` over ``prompt + new_tokens - 1``;
    a step's MACs and KV-cache bytes are affine in the cache length, so the ``new_tokens`` steps sum
    to ``new_tokens`` x the mean of the two (exact for MACs and bytes; for cycles and energy, to
    within the accelerator's tiling and the memory placement, which step with the cache size)."""

    prompt: int
    new_tokens: int
    prefill: Trace
    first: Trace
    last: Trace

    def to_dict(self) -> dict[str, object]:
        return {"prompt": self.prompt, "new_tokens": self.new_tokens, "prefill": self.prefill.to_dict(),
                "first": self.first.to_dict(), "last": self.last.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> DecodeTraces:
        return cls(prompt=d["prompt"], new_tokens=d["new_tokens"], prefill=Trace.from_dict(d["prefill"]),
                   first=Trace.from_dict(d["first"]), last=Trace.from_dict(d["last"]))


@dataclass
class WorkloadTraces:
    """The counted training step and inference pass of one workload (either may be absent), and
    for a decoder with ``new_tokens``, its prefill and decode steps."""

    train: Trace | None = None
    infer: Trace | None = None
    decode: DecodeTraces | None = None

    def to_dict(self) -> dict[str, object]:
        """The JSON form (Trace.to_dict each): how a group's traces reach the other sweep workers."""
        return {"train": self.train.to_dict() if self.train else None,
                "infer": self.infer.to_dict() if self.infer else None,
                "decode": self.decode.to_dict() if self.decode else None}

    @classmethod
    def from_dict(cls, d: dict) -> WorkloadTraces:
        return cls(train=Trace.from_dict(d["train"]) if d.get("train") else None,
                   infer=Trace.from_dict(d["infer"]) if d.get("infer") else None,
                   decode=DecodeTraces.from_dict(d["decode"]) if d.get("decode") else None)


@dataclass
class Pricing:
    """Where memory energy comes from: ``accelerator`` (the accelerator model's SRAM/DRAM accesses and
    its buffer sizes) or ``hierarchy`` (hwsim.energy's placement model on ``hierarchy``, default
    configs/hierarchy/default.yaml)."""

    memory: Literal["accelerator", "hierarchy"] = "accelerator"
    hierarchy: Hierarchy | None = None
    rate_hz: float | None = None


@dataclass
class Evaluation:
    """Everything one point's figures come from, as the stages produced it."""

    workload: Workload | None
    traces: WorkloadTraces
    accelerator: am.Accelerator | None
    tech: TechTable
    pricing: Pricing
    train_cycles: am.CycleReport | None
    infer_cycles: am.CycleReport | None
    train_energy: EnergyReport | None
    infer_energy: EnergyReport | None
    area: am.AreaReport | None
    decode: DecodeEvaluation | None = None


@dataclass
class DecodeEvaluation:
    """Cycles (None without an accelerator) and energy of the prefill and the two decode steps."""

    traces: DecodeTraces
    prefill_cycles: am.CycleReport | None
    first_cycles: am.CycleReport | None
    last_cycles: am.CycleReport | None
    prefill_energy: EnergyReport
    first_energy: EnergyReport
    last_energy: EnergyReport


def trace_workload(workload: Workload, real_train: Trace | None = None, train: bool = True,
                   infer: bool = True) -> WorkloadTraces:
    """Count the workload's training step and inference pass on meta tensors.

    ``real_train``: a step already traced on real data (hwsim.count.CountingCallback after training:
    measured sparsity and stash); used instead of the meta trace when its batch is the workload's.

    Traces counted on meta tensors are kept in :mod:`hwsim.trace_cache` and read back from it (without
    importing torch) by any later process asking for the same workload under the same code."""
    from hwsim import trace_cache

    measured = train and real_train is not None and real_train.batch == workload.batch
    key, cached = trace_cache.lookup(workload, train, infer) if not measured else (None, None)
    if cached is not None:
        trace_cache.counts.hits += 1
        return cached
    trace_cache.counts.counted += 1
    try:   # the network built on meta tensors: no memory for its weights (a 7B model is counted in seconds)
        traces = _trace_workload(workload, real_train, train, infer, build_on="meta")
    except (RuntimeError, NotImplementedError, TypeError):
        # a scheme whose conversion needs weight values converts a network built on the CPU
        traces = _trace_workload(workload, real_train, train, infer, build_on=None)
    if key is not None:
        trace_cache.put(key, traces)
    return traces


def _trace_workload(workload: Workload, real_train: Trace | None, train: bool, infer: bool,
                    build_on: str | None) -> WorkloadTraces:
    from hwsim.count import trace

    raw = workload.build_network(build_on) if (train and real_train is None) or infer else None
    tr = ti = None
    kw = dict(input_shape=parse_input_shape(workload.input_shape, where="input_shape"),
              num_classes=workload.num_classes, device="meta", model_name=workload.model)
    if train:
        if real_train is not None and real_train.batch == workload.batch:
            tr = real_train
            tr.steps_per_epoch = workload.steps_per_epoch
        else:
            tr = trace(raw, workload.scheme, batch=workload.batch, mode="train", optimizer=workload.optimizer,
                       steps_per_epoch=workload.steps_per_epoch or 0, **kw)
    if infer:
        ti = trace(raw, workload.scheme, batch=workload.infer_batch, mode="infer", **kw)
    dec = trace_decode(workload, infer=ti) if workload.decodes else None
    return WorkloadTraces(train=tr, infer=ti, decode=dec)


def trace_decode(workload: Workload, infer: Trace | None = None) -> DecodeTraces:
    """Count a decoder's prefill of ``workload.prompt_tokens`` and its first and last decode steps, on
    meta tensors at the inference batch (``infer``: the inference pass, reused as the prefill when it
    is one). A model that is not a built-in decoder, or a prompt + new tokens past GPT-2's learned
    positions, is a user error."""
    from hwsim.count import trace
    from hwsim.count.decode import check_context, decode_trace, decoder_config
    from hwsim.models.spec import Tokens
    from hwsim.workload import check_decode

    check_decode(workload.prompt, workload.new_tokens, "new_tokens")
    prompt, new = workload.prompt_tokens, int(workload.new_tokens or 0)
    net = workload.build_network("meta")     # paper-scale decoders: no weights are allocated
    cfg = decoder_config(net, "new_tokens")
    check_context(cfg, prompt + new, "new_tokens")
    sch, b = workload.scheme, workload.infer_batch
    if infer is not None and infer.meta.input == f"tokens:{prompt}" \
            and infer.batch == b:
        pre = infer
    else:
        pre = trace(net, sch, batch=b, mode="infer", input_shape=Tokens((prompt,)), device="meta",
                    model_name=workload.model)
    first = decode_trace(net, sch, kv_len=prompt, batch=b, model_name=workload.model)
    last = decode_trace(net, sch, kv_len=prompt + new - 1, batch=b, model_name=workload.model) if new > 1 else first
    return DecodeTraces(prompt=prompt, new_tokens=new, prefill=pre, first=first, last=last)


def _price(trace: Trace, tech: TechTable, pricing: Pricing, cycles: am.CycleReport | None,
           steps_per_epoch: int | None, sparsity: dict[str, str] | None,
           area: am.AreaReport | None = None) -> EnergyReport:
    """Dynamic energy of ``trace``, plus static energy (leakage x area x time) where the accelerator
    timed it (``cycles`` and ``area``)."""
    from hwsim.energy import hierarchy_for_accelerator, load_hierarchy, price
    from hwsim.energy.static import add_static

    hier = load_hierarchy(pricing.hierarchy)
    if pricing.memory == "accelerator" and cycles is not None:
        # memory energy from the accelerator's own SRAM/DRAM accesses and buffer sizes
        hier = hierarchy_for_accelerator(cycles.accelerator, hier)
        rep = price(trace, tech, hier, cycles.accesses, steps_per_epoch=steps_per_epoch, rate_hz=pricing.rate_hz,
                    sparsity=sparsity)
    else:
        rep = price(trace, tech, hier, steps_per_epoch=steps_per_epoch, rate_hz=pricing.rate_hz, sparsity=sparsity)
    if cycles is not None and area is not None:
        rep = add_static(rep, cycles, area, tech)
    return rep


def evaluate(workload: Workload, accelerator: am.Accelerator, tech: TechTable, pricing: Pricing | None = None,
             traces: WorkloadTraces | None = None) -> Evaluation:
    """Cycles, energy and area of ``workload`` on ``accelerator`` at ``tech`` (``traces``: the workload's,
    when already counted)."""
    traces = traces if traces is not None else trace_workload(workload)
    ev = price_traces(traces, accelerator, tech, pricing, steps_per_epoch=workload.steps_per_epoch)
    ev.workload = workload
    return ev


def price_traces(traces: WorkloadTraces, accelerator: am.Accelerator | None, tech: TechTable,
                 pricing: Pricing | None = None, steps_per_epoch: int | None = None) -> Evaluation:
    """Simulate and price traces already counted (a workload's, or a trace file's); without an
    accelerator, memory energy comes from the placement model and there are no cycles or area."""
    from accel_models.area import accelerator_area

    pricing = pricing or Pricing()
    c_train, c_inf = simulate_traces(traces, accelerator)
    # what the accelerator does with zero operands (priced as effectual MACs where it skips them)
    support = accelerator.sparsity.to_dict() if accelerator is not None else None
    area = accelerator_area(accelerator, node_nm=tech.node_nm) if accelerator is not None else None
    e_train = (_price(traces.train, tech, pricing, c_train, steps_per_epoch, support, area)
               if traces.train is not None else None)
    e_inf = _price(traces.infer, tech, pricing, c_inf, None, support, area) if traces.infer is not None else None
    dec = None
    if traces.decode is not None:
        from hwsim.hardware import simulate_trace

        d = traces.decode
        cy = {k: simulate_trace(getattr(d, k), accelerator) if accelerator is not None else None
              for k in ("prefill", "first", "last")}
        en = {k: _price(getattr(d, k), tech, pricing, cy[k], None, support, area) for k in cy}
        dec = DecodeEvaluation(traces=d, prefill_cycles=cy["prefill"], first_cycles=cy["first"],
                               last_cycles=cy["last"], prefill_energy=en["prefill"], first_energy=en["first"],
                               last_energy=en["last"])
    return Evaluation(workload=None, traces=traces, accelerator=accelerator, tech=tech, pricing=pricing,
                      train_cycles=c_train, infer_cycles=c_inf, train_energy=e_train, infer_energy=e_inf, area=area,
                      decode=dec)


def simulate_traces(traces: WorkloadTraces, accelerator: am.Accelerator | None
                    ) -> tuple[am.CycleReport | None, am.CycleReport | None]:
    """Cycles of the training step and of the inference pass on ``accelerator`` (None where the trace
    or the accelerator is absent): the first stage of :func:`price_traces`, alone for ``hwsim simulate``."""
    from hwsim.hardware import simulate_trace

    def cycles(tr: Trace | None) -> am.CycleReport | None:
        return simulate_trace(tr, accelerator) if tr is not None and accelerator is not None else None

    return cycles(traces.train), cycles(traces.infer)


def _dram(cycles: am.CycleReport) -> float:
    """DRAM bytes read + written, as the accelerator model moves them (double-buffered tiles), each
    transfer in whole bytes."""
    return cycles.accesses.total(level="dram", whole_bytes=True)


def metrics(ev: Evaluation) -> dict[str, float]:
    """The store's figures (``hwsim.store.METRICS`` names) of a training step and inference pass.

    ``train_memory_bytes`` = master weights + weight gradients + optimizer state, at the widths the
    trace counted them (``train_state_bytes``: fp32 unless the scheme keeps its master weights or
    optimizer moments narrower; a trace without it: 4 bytes per parameter each, states from
    :data:`hwsim.workload.OPTIMIZERS`) + the stash at its stored width."""
    tr, ti = ev.traces.train, ev.traces.infer
    if (tr is None or ti is None or ev.workload is None or ev.accelerator is None or ev.train_cycles is None
            or ev.infer_cycles is None):
        raise ValueError("metrics() needs an evaluation of both the training step and the inference pass")
    e_train, e_inf = ev.train_energy, ev.infer_energy
    assert e_train is not None and e_inf is not None
    tt, it = memo.derived(tr, "totals", tr.totals), memo.derived(ti, "totals", ti.totals)
    nb = max(1, ev.workload.infer_batch)
    states = optimizer_states(ev.workload.optimizer)
    macs_infer_batch = float(sum(it["macs"].values()))
    c_train = ev.train_cycles.totals
    lat = float(ev.infer_cycles.totals["total_cycles"])   # the whole inference batch of nb samples
    step = float(c_train["total_cycles"])
    m: dict[str, float] = {
        "train_energy_pj_per_step": float(e_train.train_step_pj),
        "train_energy_pj_per_epoch": float(e_train.train_epoch_pj),
        "infer_energy_pj": float(e_inf.infer_pj_per_sample),
        "stash_bytes": float(tr.stash_bytes),
        "weight_input_stash_bytes": float(tr.meta.step.weight_input_stash_bytes if tr.meta.step else 0),
        "scheme_noop": float(tr.meta.scheme_noop),
        "model_size_bytes": float(tr.model_size_bytes),
        "train_memory_bytes": float(_train_state_bytes(tr, states) + tr.stash_bytes),
        "macs_train_step": float(sum(tt["macs"].values())),
        "macs_infer": macs_infer_batch / nb,
        "latency_cycles": lat / nb,
        "train_step_cycles": step,
        "utilization": float(c_train["utilization"]),
        "dram_bytes_per_step": _dram(ev.train_cycles),
        "dram_bytes_infer": _dram(ev.infer_cycles) / nb,
    }
    if ev.decode is not None:
        m.update(decode_metrics(ev.decode, ev.accelerator.clock_mhz))
    acc = ev.accelerator
    m.update(hardware_metrics(ev.area.total_mm2, acc.clock_mhz, acc.rows * acc.cols, macs=macs_infer_batch,
                              energy_pj=float(e_inf.infer_pj_per_sample) * nb, cycles=lat, batch=nb,
                              train_energy_pj=float(e_train.train_step_pj), train_cycles=step))
    return m


def _train_state_bytes(tr: Trace, states: int) -> int:
    """Master weights + weight gradients + optimizer state of a training trace, in bytes."""
    mem = tr.meta.step.train_state_bytes if tr.meta.step else None
    if mem:
        return int(sum(mem.values()))
    return 4 * int(tr.param_count) * (2 + states)


def hardware_metrics(area_mm2: float, clock_mhz: float, pes: int, *, macs: float, energy_pj: float,
                     cycles: float | None, batch: int = 1, train_energy_pj: float | None = None,
                     train_cycles: float | None = None) -> dict[str, float]:
    """Area, time, power and efficiency of one inference batch of ``batch`` samples (``macs``, ``energy_pj``,
    ``cycles`` for the batch) at the accelerator's clock and the utilization the simulation measured
    (ops = 2 x MACs): area_mm2, latency_us (per sample), edp_pj_s (energy x latency per sample), power_w,
    tops (achieved), peak_tops (2 x PEs x clock), tops_per_w = 2 MACs / energy, tops_per_mm2; train_power_w
    for a training step."""
    m = {"area_mm2": area_mm2, "peak_tops": 2.0 * pes * clock_mhz * 1e6 / 1e12}
    if energy_pj > 0:
        m["tops_per_w"] = 2.0 * macs / energy_pj          # (2 MACs / (E pJ x 1e-12)) / 1e12
    if cycles:
        t_s = cycles / (clock_mhz * 1e6)
        m["latency_us"] = t_s * 1e6 / batch
        m["edp_pj_s"] = (energy_pj / batch) * (t_s / batch)
        m["power_w"] = energy_pj * 1e-12 / t_s
        m["tops"] = 2.0 * macs / t_s / 1e12
        m["tops_per_mm2"] = m["tops"] / area_mm2 if area_mm2 > 0 else 0.0
    if train_energy_pj and train_cycles:
        m["train_power_w"] = train_energy_pj * 1e-12 / (train_cycles / (clock_mhz * 1e6))
    return m


def decode_metrics(dec: DecodeEvaluation, clock_mhz: float | None = None) -> dict[str, float]:
    """Prefill + decode figures per sequence (``hwsim.store.METRICS`` names).

    Energies and MACs are per sequence of the inference batch; latencies are the batch's wall time
    on the accelerator (``clock_mhz``; none without one): the prefill is the time to the first
    token, a decode step the time per output token, every sequence of the batch getting one."""
    d = dec.traces
    b = max(1, d.prefill.batch)
    n = d.new_tokens

    def macs(tr: Trace) -> float:
        return float(sum(sum(r.macs.values()) for r in tr.records))

    kv = d.last.meta.kv_cache
    assert kv is not None, "a decode step's trace holds its KV cache"
    per_token_pj = (dec.first_energy.infer_pj_per_sample + dec.last_energy.infer_pj_per_sample) / 2
    m = {
        "prefill_energy_pj": float(dec.prefill_energy.infer_pj_per_sample),
        "decode_energy_pj_per_token": float(per_token_pj),
        "generate_energy_pj": float(dec.prefill_energy.infer_pj_per_sample + n * per_token_pj),
        "macs_prefill": macs(d.prefill) / b,
        "macs_decode_per_token": (macs(d.first) + macs(d.last)) / 2 / b,
        "kv_cache_bytes_per_token": float(kv.bytes_per_token),
        "kv_cache_bytes": float(kv.bytes_per_token * (d.prompt + n)),
    }
    cy = (dec.prefill_cycles, dec.first_cycles, dec.last_cycles)
    if clock_mhz and all(c is not None for c in cy):
        pre, first, last = (float(c.totals["total_cycles"]) for c in cy if c is not None)
        us = 1.0 / clock_mhz          # cycles -> microseconds
        step = (first + last) / 2 * us
        m["prefill_latency_us"] = pre * us
        m["decode_latency_us_per_token"] = step
        m["generate_latency_us"] = pre * us + n * step
        m["dram_bytes_decode_per_token"] = (_dram(dec.first_cycles) + _dram(dec.last_cycles)) / 2 / b
    return m
