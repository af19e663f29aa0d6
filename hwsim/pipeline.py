"""Evaluate design points: train (or take the paper's accuracy), count, price, simulate -> PointResult.

One call evaluates a *group*: the points of a sweep that share model, data set, scheme and
recipe and differ only in technology table, accelerator or pricing. The network is trained
once for the group (seeded, so a rerun gives the same numbers) and each point is then priced
on its own technology and accelerator.

Per group: the scheme is built once (``hwsim.schemes.build_scheme``) and passed on as an object.
  1. accuracy  ``accuracy_source == "train"``: ``hwsim.train.train`` on the data set under the
               scheme, with ``hwsim.count.CountingCallback``; ``"literature"``: the cited
               table row's figure; ``"none"``: no accuracy, costs only.
  2. trace     ``hwsim.evaluate.trace_workload``, once per (training batch, inference batch): the
               real step CountingCallback traced after training when ``pricing.batch`` is the
               recipe's batch, else meta tensors; inference (``pricing.infer_batch``) on meta tensors.
Per point:
  3. evaluate  ``hwsim.evaluate.evaluate`` on the point's accelerator, technology and memory pricing
               (``pricing.memory: accelerator``: the accelerator's SRAM/DRAM accesses and buffer sizes;
               ``hierarchy``: hwsim.energy's placement model), then ``hwsim.evaluate.metrics``.
A failure (divergence, NaN loss, bad shapes, any exception) is recorded on the point with
its reason; the sweep goes on.

Training memory (``train_memory_bytes``): see :func:`hwsim.evaluate.metrics`.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import math
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from accel_models import COLUMNS, CycleReport
from hwsim import memo, timeline
from hwsim.design import DesignPoint
from hwsim.jsondoc import JsonDocument
from hwsim.store import PointResult

if TYPE_CHECKING:
    from hwsim.energy import EnergyReport
    from hwsim.evaluate import DecodeEvaluation, WorkloadTraces
    from hwsim.trace import EpochRow, Trace
    from hwsim.workload import Workload

# Training-set sizes for pricing an epoch of a paper-scale (literature) point.
TRAIN_SET_SIZE = {"digits": 1347, "mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000,
                  "cifar100": 50000, "svhn": 73257, "imagenet": 1281167}

# progress(group_key, stage, done, total): how a caller (the sweep runner) follows a group.
Progress = Callable[[str, str, int, int], None]


def _report(progress: Progress | None, key: str, stage: str, done: int, total: int) -> None:
    if progress is not None:
        try:
            progress(key, stage, done, total)
        except Exception:  # progress is best-effort; never fail a point for it
            pass


def versions() -> dict[str, str]:
    import numpy

    import hwsim

    v = {"hwsim": hwsim.__version__, "numpy": numpy.__version__, "python": platform.python_version()}
    t = _torch_version()
    if t is not None:
        v["torch"] = t
    return v


@functools.cache
def _torch_version() -> str | None:
    """torch's version, read from its installed metadata unless torch is loaded already: a worker that
    only prices hardware points never imports torch (about 2 CPU-s)."""
    if "torch" in sys.modules:
        return str(sys.modules["torch"].__version__)
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return None


def prepare() -> None:
    """Import what pricing a point needs (the runner calls it in a new worker while it waits for work, so
    a worker that prices a split group's share is ready when the group's traces come)."""
    import hwsim.energy  # noqa: F401
    import hwsim.evaluate  # noqa: F401
    import hwsim.hardware  # noqa: F401


def _reason(e: BaseException) -> str:
    """One line: exception type, message, and the innermost frame (file:line) for bugs."""
    from hwsim.errors import UserError

    if isinstance(e, UserError):
        return f"{e.where}: {e.what}"
    msg = str(e).replace("\n", " ").strip()
    tb = traceback.extract_tb(e.__traceback__)
    at = f" (at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
    return f"{type(e).__name__}: {msg}{at}"[:500]


def _failed(p: DesignPoint, reason: str, started: float, vers: dict[str, str],
            curves: list | None = None) -> PointResult:
    return PointResult(id=p.id, config=p.to_json(), status="failed", error=reason, sweep=p.sweep,
                       label=p.label, columns=columns(p), curves=list(curves or []),
                       versions=vers, started=started, finished=time.time())


def columns(p: DesignPoint) -> dict[str, str | int | None]:
    """The store's filter columns of a point."""
    from hwsim.store import hardware_columns

    s = p.scheme
    c: dict[str, str | int | None] = {
        "model": p.model.name, "dataset": p.dataset, "scheme": s.name, "tech": p.tech,
        "accelerator": p.accelerator_name, "accuracy_source": p.accuracy_source,
        **hardware_columns(p.accelerator.to_dict())}
    try:
        c["family"] = s.family
        c["bits_w"] = int(s.weight_bits())
        c["bits_a"] = int(s.act_bits())
    except Exception:  # columns are for filtering only
        pass
    return c


class _EpochProgress:
    """A train() callback that forwards each finished epoch to the progress bars."""

    def __init__(self, key: str, epochs: int, progress: Progress | None):
        self.key, self.epochs, self.progress = key, epochs, progress

    def on_epoch_end(self, model: Any, epoch: int, row: EpochRow) -> None:
        _report(self.progress, self.key, "train", epoch, self.epochs)


def train_point(p: DesignPoint, key: str = "", progress: Progress | None = None
                ) -> tuple[Any, float, list[tuple[float, str, float]], int, Trace | None]:
    """Train the group's network (its point ``p``) with ``hwsim.count.CountingCallback`` attached.

    Returns (model, final test accuracy, curves, steps per epoch, the callback's trace of a real
    training step after training: measured stash and operand sparsity)."""
    import torch

    from hwsim.count import CountingCallback
    from hwsim.data import load_dataset
    from hwsim.train import train

    rec = p.recipe
    if rec is None:
        raise ValueError("a point trained for its accuracy needs a recipe")
    torch.manual_seed(rec.seed)
    ds = load_dataset(p.dataset, seed=rec.seed, limit=rec.limit)
    scheme = p.scheme
    model = scheme.convert(p.workload().build_network())
    counting = CountingCallback(scheme, model_name=p.model.name, optimizer=p.optimizer)
    cbs: list[Any] = [_EpochProgress(key, rec.epochs, progress), counting]
    _report(progress, key, "train", 0, rec.epochs)
    res = train(model, scheme, ds, rec.train_recipe(), callbacks=tuple(cbs), progress=False)
    curves = []
    for row in res.curves:
        curves += [(float(row.epoch), k, v) for k, v in row.values()]
    steps = math.ceil(ds.n_train / rec.batch)
    acc = float(res.final_test_acc)
    if not math.isfinite(acc):
        raise FloatingPointError(f"final test accuracy is {acc}")
    return model, acc, curves, steps, counting.trace


def evaluate_group(points: list[DesignPoint], key: str = "", progress: Progress | None = None,
                   emit: Callable[[PointResult], None] | None = None,
                   share: Callable[[str], None] | None = None, shared: str | None = None,
                   keep: bool = False) -> list[PointResult]:
    """Evaluate design points that share one training run; ``progress``
    is told each stage. With ``emit``, each priced point is handed to it as soon as it is finished
    (the runner writes it to the store then) and left out of the returned list.

    A group split across workers (hwsim.sweep.runner): the worker with its first share of points
    trains and traces, and hands ``share`` the group's state (accuracy, curves and traces as JSON,
    :func:`group_state_json`) before pricing; the others get that text as ``shared`` and only price.
    ``keep``: this process keeps the group's state for a later call with the same ``key`` (a worker
    kept across a search's generations)."""
    vers = versions()
    if shared is not None:
        state = _state_from_json(shared)
        timeline.mark("worker", "decoded the group's state")
    else:
        state = (_KEPT.get(key) if keep else None) or _group_state(points, key, progress)
        if keep and key and state.failed is None:
            _keep(key, state)
        if share is not None:
            share(group_state_json(state))
            timeline.mark("worker", "sent the group's state")
    if state.failed is not None:
        now = time.time()   # the group's time is the runner's to record (store.groups), not each point's
        return [_failed(p, state.failed, now, vers, state.curves) for p in points]

    # the group's traces stay as they are while it is priced; what is derived from them is kept with them
    with memo.fixed(state.derived), _collector_skips_what_lives():
        return _price_group(points, key, progress, emit, state, vers)


@contextlib.contextmanager
def _collector_skips_what_lives() -> Iterator[None]:
    """The cyclic garbage collector leaves alone the objects alive now (the group's traces, the modules)
    while a group is priced: each full collection would walk them again, about a fifth of the CPU time
    of a hardware point. Objects made while pricing are collected as usual."""
    if gc.get_freeze_count():   # someone else froze the heap: theirs to thaw
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _price_group(points: list[DesignPoint], key: str, progress: Progress | None,
                 emit: Callable[[PointResult], None] | None, state: GroupState,
                 vers: dict[str, str]) -> list[PointResult]:
    out = []
    started = time.time()   # a point's wall time is its own pricing: training belongs to the group
    traces = state.traces
    for i, p in enumerate(points):
        _report(progress, key, "price", i, len(points))
        traced = traces.traced_s
        try:
            r = price_point(p, state.accuracy, state.curves, state.steps, traces, started, vers)
            r.started = started + traces.traced_s - traced   # tracing shared by the group
        except Exception as e:
            r = _failed(p, _reason(e), started, vers, state.curves)
        if emit is not None:
            emit(r)
        else:
            out.append(r)
        if i == 0:
            timeline.mark("worker", "first point priced")
        started = time.time()
    _report(progress, key, "done", len(points), len(points))
    return out


TraceKey = tuple[int, int, int | None, int | None]   # (training batch, inference batch, prompt, new tokens)


@dataclass
class TraceCache:
    """A group's traces, counted once per :data:`TraceKey`: points differing only in hardware,
    technology or memory pricing share them. ``real``: the step CountingCallback traced after
    training (used for the training step at the recipe's batch); ``traced_s``: the group's time spent
    tracing, so far (the group's, not any one point's)."""

    real: Trace | None = None
    by_key: dict[TraceKey, WorkloadTraces] = field(default_factory=dict)
    traced_s: float = 0.0

    def get(self, workload: Workload) -> WorkloadTraces:
        from hwsim.evaluate import trace_workload

        k = (workload.batch, workload.infer_batch, workload.prompt, workload.new_tokens)
        if k not in self.by_key:
            t0 = time.time()
            timeline.mark("worker", "trace starts")
            self.by_key[k] = trace_workload(workload, real_train=self.real)
            self.traced_s += time.time() - t0
            timeline.mark("worker", "trace ends")
        return self.by_key[k]


@dataclass
class GroupState:
    """What a group's points share: the trained accuracy (or the paper's, or none), training curves,
    steps per epoch and the traces counted so far; or why the group failed (training diverged, the
    network does not build). The scheme is the points' own (one object per group)."""

    accuracy: float | None = None
    curves: list[tuple[float, str, float]] = field(default_factory=list)
    steps: int = 0
    traces: TraceCache = field(default_factory=TraceCache)
    failed: str | None = None
    derived: dict = field(default_factory=dict)   # hwsim.memo's results from these traces, for every share


# Group states this process computed, by group key (the newest few): a worker kept across a
# search's generations (hwsim.sweep.runner.WorkerPool) trains and traces a group once, not once
# per generation. Training is seeded and tracing deterministic, so a kept state is what a fresh
# one would be.
_KEPT: dict[str, GroupState] = {}
KEEP_GROUPS = 8


def _keep(key: str, st: GroupState) -> None:
    _KEPT.pop(key, None)
    _KEPT[key] = st
    while len(_KEPT) > KEEP_GROUPS:
        _KEPT.pop(next(iter(_KEPT)))


def prepare_groups(points: list[DesignPoint]) -> list[str]:
    """Count here, once, the traces of the groups of ``points`` that train nothing (accuracy from the
    literature or none), and keep their states as a kept worker would (at most KEEP_GROUPS): worker
    processes forked from this one afterwards price those groups without tracing them. Returns the
    keys kept; a group that fails is left to its worker, which reports it."""
    groups: dict[str, list[DesignPoint]] = {}
    for p in points:
        if p.accuracy_source != "train":
            groups.setdefault(p.train_key, []).append(p)
    kept = []
    for key, pts in list(groups.items())[:KEEP_GROUPS]:
        st = _group_state(pts, key, None)
        if st.failed is None:
            _keep(key, st)
            kept.append(key)
    return kept


def _group_state(points: list[DesignPoint], key: str, progress: Progress | None) -> GroupState:
    """Train (or look up the accuracy) once, then count the traces every point of ``points`` needs."""
    first = points[0]
    src = first.accuracy_source
    st = GroupState()
    real = None
    try:
        if src == "train":
            _, st.accuracy, st.curves, st.steps, real = train_point(first, key, progress)
        else:
            st.accuracy = first.literature.accuracy if src == "literature" and first.literature else None
            st.steps = math.ceil(TRAIN_SET_SIZE.get(first.dataset, 50000) / first.pricing.batch)
    except Exception as e:
        from hwsim.train import TrainingDiverged

        st.failed = ("diverged: " if isinstance(e, TrainingDiverged) else "") + _reason(e)
        return st
    st.traces = TraceCache(real=real)
    for p in points:   # a point whose workload does not trace fails on its own when it is priced
        try:
            st.traces.get(p.workload(steps_per_epoch=st.steps))
        except Exception:
            pass
    return st


def group_state_json(st: GroupState) -> str:
    """A group's state for the other workers of a split group (each has the group's points, and so
    its scheme, already)."""
    return json.dumps({"accuracy": st.accuracy, "curves": st.curves, "steps": st.steps, "failed": st.failed,
                       "traces": [[list(k), v.to_dict()] for k, v in st.traces.by_key.items()]})


@functools.lru_cache(maxsize=2)
def _decoded(text: str) -> tuple[GroupState, dict[TraceKey, WorkloadTraces]]:
    """One worker gets the same group's state for each share it prices: decoded once."""
    from hwsim.evaluate import WorkloadTraces

    d = json.loads(text)
    traces = {tuple(k): WorkloadTraces.from_dict(v) for k, v in d["traces"]}
    return GroupState(accuracy=d["accuracy"], curves=[tuple(c) for c in d["curves"]], steps=d["steps"],
                      failed=d["failed"]), traces


def _state_from_json(text: str) -> GroupState:
    st, traces = _decoded(text)
    # a copy of the cache: a workload this worker traces itself (not in the shared state) stays its own
    return GroupState(accuracy=st.accuracy, curves=list(st.curves), steps=st.steps,
                      traces=TraceCache(by_key=dict(traces)), failed=st.failed, derived=st.derived)


def price_point(p: DesignPoint, acc: float | None, curves: list[tuple[float, str, float]], steps: int,
                cache: TraceCache, started: float, vers: dict[str, str]) -> PointResult:
    """One point of a group: its workload's traces (from the group's ``cache``), evaluated on its
    accelerator, technology and memory pricing; the figures and documents the store keeps."""
    from hwsim.energy import load_hierarchy, load_tech
    from hwsim.evaluate import Pricing, evaluate, metrics

    pr = p.pricing
    workload = p.workload(steps_per_epoch=steps)
    traces = cache.get(workload)
    accel = p.accelerator
    # one table object per name while the group is priced, so what is derived from it is too (hwsim.memo)
    pricing = Pricing(memory=pr.memory, hierarchy=memo.derived((), ("hierarchy", pr.hierarchy),
                                                               lambda: load_hierarchy(pr.hierarchy)))
    tech = memo.derived((), ("tech", p.tech), lambda: load_tech(p.tech))
    ev = evaluate(workload, accel, tech, pricing, traces=traces)
    m = metrics(ev)
    if acc is not None:
        m["accuracy"] = float(acc)
        m["error"] = 1.0 - float(acc)
    tr, ti = traces.train, traces.infer
    c_train, c_inf, e_train, e_inf, area = ev.train_cycles, ev.infer_cycles, ev.train_energy, ev.infer_energy, ev.area

    assumptions = {"energy": e_train.assumptions.to_dict() if e_train.assumptions is not None else None,
                   "train_memory_bytes": "master weights + weight gradients + optimizer states (fp32 unless the "
                                         "scheme keeps them narrower) + stash",
                   "trace_device": {"train": tr.meta.device, "infer": ti.meta.device},
                   "sparsity_source": tr.meta.step.sparsity_source if tr.meta.step else None,
                   "pricing": pr.to_json()}
    config = p.to_json()   # the store's copy of the point (and the id it hashes to)
    if pr.detail == "summary":
        # a hardware point of a large sweep: totals only (the trace is the group's, the same for all)
        layers: list[tuple[str, str, str, float]] = []
        blobs: JsonDocument = {
            "config": config,
            "energy": {"train": {"totals": e_train.totals, "by_phase": e_train.by_phase},
                       "infer": {"totals": e_inf.totals, "by_phase": e_inf.by_phase}},
            "cycles": {"train": {"totals": c_train.totals, "by_phase": c_train.by_phase()},
                       "infer": {"totals": c_inf.totals, "by_phase": c_inf.by_phase()}},
            "hardware": accel.to_dict(), "area": area.to_dict(), "assumptions": assumptions,
        }
    else:
        layers = trace_layer_rows(tr) + trace_layer_rows(ti)
        layers += energy_layer_rows(e_train, skip_phase="inference") + energy_layer_rows(e_inf)
        layers += cycle_layer_rows(c_train) + cycle_layer_rows(c_inf, phase_override="inference")
        layers = _dedupe(layers)
        blobs = {
            "config": config,
            "trace": {"train": _trace_blob(tr), "infer": _trace_blob(ti)},
            "energy": {"train": e_train.to_dict(), "infer": e_inf.to_dict()},
            "cycles": {"train": c_train.to_dict(), "infer": c_inf.to_dict()},
            "hardware": accel.to_dict(),
            "area": area.to_dict(),
            "assumptions": assumptions,
        }
    if ev.decode is not None:
        blobs["decode"] = decode_blob(ev.decode)
    if p.literature is not None:
        blobs["literature"] = p.literature.to_json()
    return PointResult(id=p.id, config=config, status="done", sweep=p.sweep, label=p.label,
                       columns=columns(p), metrics=m, layers=layers, curves=list(curves),
                       blobs=blobs, versions=vers, started=started, finished=time.time())


def decode_blob(dec: DecodeEvaluation) -> JsonDocument:
    """Prefill and the first and last decode steps: KV cache, energy by phase and component, cycle totals."""
    d = dec.traces
    steps = {"prefill": (d.prefill, dec.prefill_energy, dec.prefill_cycles),
             "decode_first": (d.first, dec.first_energy, dec.first_cycles),
             "decode_last": (d.last, dec.last_energy, dec.last_cycles)}
    out: JsonDocument = {"prompt": d.prompt, "new_tokens": d.new_tokens}
    for k, (tr, e, c) in steps.items():
        out[k] = {"kv_cache": asdict(tr.meta.kv_cache) if tr.meta.kv_cache else None, "batch": tr.batch,
                  "macs": sum(sum(r.macs.values()) for r in tr.records),
                  "energy": {"totals": e.totals, "by_phase": e.by_phase},
                  "cycles": c.totals if c is not None else None}
    return out


def _trace_blob(tr: Trace) -> JsonDocument:
    """The trace as stored: without its wall-clock time, so a rerun stores identical blobs
    (timings live in the points table: started, finished, wall_s)."""
    d = tr.to_dict()
    d["meta"] = {k: v for k, v in tr.meta.to_json().items() if k != "seconds"}
    return d


def _dedupe(rows: list[tuple[str, str, str, float]]) -> list[tuple[str, str, str, float]]:
    """Sum repeated (layer, phase, name) rows, except ratios, where the last one stands."""
    acc: dict[tuple[str, str, str], float] = {}
    for la, ph, n, v in rows:
        if v is None:
            continue
        k = (la, ph, n)
        acc[k] = float(v) if n in ("utilization", "mapping_efficiency") else acc.get(k, 0.0) + float(v)
    return [(la, ph, n, v) for (la, ph, n), v in acc.items()]


def trace_layer_rows(tr: Trace) -> list[tuple[str, str, str, float]]:
    """layers rows from a Trace: shape.<k> (under forward / inference), stays_float (1 where the
    scheme left the layer float; the reason is in the stored trace), macs.*, effectual_macs.*, ..."""
    rows: list[tuple[str, str, str, float]] = []
    shape_phase = "forward" if tr.mode == "train" else "inference"
    for li in tr.layers:
        for k, v in li.shape.items():
            if isinstance(v, (int, float)):
                rows.append((li.name, shape_phase, f"shape.{k}", v))
        if getattr(li, "stays_float", ""):      # the scheme could not apply: the layer ran in float32
            rows.append((li.name, shape_phase, "stays_float", 1.0))
    for r in tr.records:
        for group in ("macs", "effectual_macs", "elementwise", "traffic_bytes"):
            for k, v in getattr(r, group).items():
                rows.append((r.layer, r.phase, f"{group}.{k}", v))
    return rows


def energy_layer_rows(rep: EnergyReport, skip_phase: str | None = None) -> list[tuple[str, str, str, float]]:
    """``energy_pj.<component>`` rows (EnergyReport.store_layers), without ``skip_phase``.

    The training-step report also prices inference from its forward records; the point's
    inference rows come from its own inference trace instead, so they are skipped there."""
    return [r for r in rep.store_layers() if r[1] != skip_phase]


def cycle_layer_rows(rep: CycleReport, phase_override: str | None = None) -> list[tuple[str, str, str, float]]:
    """Rows from a CycleReport (accel_models): cycles, compute_cycles, stall_cycles (summed over the
    array and vector-unit rows of a layer and phase), utilization and mapping_efficiency (array rows),
    and ``sram_reads.<operand>`` ... ``dram_writes.<operand>`` in operand elements, as the report counts."""
    out = []
    for row in rep.rows:
        la, ph = row.layer, phase_override or row.phase
        out.append((la, ph, "cycles", row.total_cycles))
        out.append((la, ph, "compute_cycles", row.compute_cycles))
        out.append((la, ph, "stall_cycles", row.stall_cycles))
        if row.unit == "array":
            out.append((la, ph, "utilization", row.utilization))
            out.append((la, ph, "mapping_efficiency", row.mapping_efficiency))
        for name, k in _ACCESS_COUNTS:
            out.append((la, ph, name, getattr(row, k)))
    return out


# the CycleRow access counts as layers rows: sram_reads_ifmap -> sram_reads.ifmap, ...
_ACCESS_COUNTS = tuple((f"{pre}.{k[len(pre) + 1:]}", k) for k in COLUMNS
                       for pre in ("sram_reads", "sram_writes", "dram_reads", "dram_writes")
                       if k.startswith(pre + "_"))
