"""Evaluate design points: train (or take the paper's accuracy), count, price, simulate -> PointResult.

One call evaluates a *group*: the points of a sweep that share model, data set, scheme and
recipe and differ only in technology table, accelerator or pricing. The network is trained
once for the group (seeded, so a rerun gives the same numbers) and each point is then priced
on its own technology and accelerator.

Per point, in order (each stage is its own module, called through its public API):
  1. accuracy  ``accuracy_source == "train"``: ``hwsim.train.train`` on the data set under the
               scheme, with ``hwsim.count.CountingCallback``; ``"literature"``: the cited
               table row's figure; ``"none"``: no accuracy, costs only.
  2. trace     one training step: for trained points the real step CountingCallback traced
               after training (measured sparsity and stash) when ``pricing.batch`` is the recipe's
               batch, else ``hwsim.count.trace`` on meta tensors; inference (batch
               ``pricing.infer_batch``) on meta tensors.
  3. cycles    ``hwsim.hardware.simulate_trace`` on the accelerator YAML.
  4. energy    ``hwsim.energy.price`` with the technology table; memory energy from the accelerator's
               SRAM/DRAM accesses and buffer sizes (``pricing.memory: accelerator``, the default, as
               ``hwsim cost --accelerator`` does) or from hwsim.energy's placement model
               (``pricing.memory: hierarchy``).
A failure (divergence, NaN loss, bad shapes, any exception) is recorded on the point with
its reason; the sweep goes on.

Training memory (``train_memory_bytes``) = master weights + weight gradients + optimizer state
(all fp32: 4 bytes per parameter each; momentum SGD keeps 1 state tensor, Adam 2, plain SGD 0)
+ the stash (``Trace.stash_bytes``: what the step keeps for backward, at stored width).
"""

from __future__ import annotations

import math
import platform
import time
import traceback
from collections.abc import Callable
from typing import Any

from hwsim.store import PointResult

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
    try:
        import torch

        v["torch"] = torch.__version__
    except ImportError:  # pragma: no cover
        pass
    return v


def _reason(e: BaseException) -> str:
    """One line: exception type, message, and the innermost frame (file:line) for bugs."""
    from hwsim.errors import UserError

    if isinstance(e, UserError):
        return f"{e.where}: {e.what}"
    msg = str(e).replace("\n", " ").strip()
    tb = traceback.extract_tb(e.__traceback__)
    at = f" (at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
    return f"{type(e).__name__}: {msg}{at}"[:500]


def _failed(p: dict[str, Any], reason: str, started: float, vers: dict[str, str],
            curves: list | None = None) -> PointResult:
    return PointResult(id=p["id"], config=p["config"], status="failed", error=reason, sweep=p.get("sweep"),
                       label=p.get("label"), columns=columns(p["config"]), curves=list(curves or []),
                       versions=vers, started=started, finished=time.time())


def columns(config: dict[str, Any]) -> dict[str, Any]:
    from hwsim.schemes import build_scheme
    from hwsim.store import hardware_columns

    c = {"model": config["model"]["name"], "dataset": config["dataset"], "scheme": config["scheme"]["name"],
         "tech": config["tech"], "accelerator": config["accelerator"],
         "accuracy_source": config["accuracy_source"], **hardware_columns(config.get("hardware"))}
    try:
        s = build_scheme(dict(config["scheme"]))
        c["family"] = s.family
        c["bits_w"] = int(s.weight_bits())
        c["bits_a"] = int(s.act_bits())
    except Exception:  # columns are for filtering only
        pass
    return c


def build_raw(config: dict[str, Any]):
    """The point's network as built, before the scheme converts it."""
    from hwsim.models import build_model

    return build_model(config["model"]["name"], num_classes=config["num_classes"],
                       in_shape=tuple(config["input_shape"]), **config["model"].get("args", {}))


def build(config: dict[str, Any]):
    """(model converted by the scheme, scheme) for a resolved config."""
    from hwsim.schemes import build_scheme

    scheme = build_scheme(dict(config["scheme"]))
    return scheme.convert(build_raw(config)), scheme


def _train_recipe(rec: dict[str, Any]):
    """hwsim.train.TrainRecipe from the sweep's recipe: ``batch`` -> ``batch_size``, CPU, no data-set cap."""
    from hwsim.train import TrainRecipe

    kw = {k: v for k, v in rec.items() if k not in ("batch", "limit")}
    return TrainRecipe(batch_size=rec["batch"], device="cpu", **kw)


class _EpochProgress:
    """A train() callback that forwards each finished epoch to the progress bars."""

    def __init__(self, key: str, epochs: int, progress: Progress | None):
        self.key, self.epochs, self.progress = key, epochs, progress

    def on_epoch_end(self, model: Any, epoch: int, row: dict[str, Any]) -> None:
        _report(self.progress, self.key, "train", epoch, self.epochs)


def train_point(config: dict[str, Any], key: str = "", progress: Progress | None = None) -> tuple[Any, Any, float, list[tuple[float, str, float]], int, Any]:
    """Train the group's network with ``hwsim.count.CountingCallback`` attached.

    Returns (model, scheme, final test accuracy, curves, steps per epoch, the callback's trace of a
    real training step after training: measured stash and operand sparsity)."""
    import torch

    from hwsim.count import CountingCallback
    from hwsim.data import load_dataset
    from hwsim.train import train

    rec = config["recipe"]
    torch.manual_seed(rec["seed"])
    ds = load_dataset(config["dataset"], seed=rec["seed"], limit=rec.get("limit"))
    model, scheme = build(config)
    recipe = _train_recipe(rec)
    counting = CountingCallback(scheme, model_name=config["model"]["name"], optimizer=optimizer_name(config))
    cbs: list[Any] = [_EpochProgress(key, rec["epochs"], progress), counting]
    _report(progress, key, "train", 0, rec["epochs"])
    res = train(model, scheme, ds, recipe, callbacks=tuple(cbs), progress=False)
    curves = []
    for row in getattr(res, "curves", []) or []:
        ep = float(row.get("epoch", 0))
        for k, v in row.items():
            if k != "epoch" and isinstance(v, (int, float)) and v is not None:
                curves.append((ep, k, float(v)))
    steps = math.ceil(ds.n_train / rec["batch"])
    acc = float(res.final_test_acc)
    if not math.isfinite(acc):
        raise FloatingPointError(f"final test accuracy is {acc}")
    return model, scheme, acc, curves, steps, counting.trace


def evaluate_group(points: list[dict[str, Any]], key: str = "", progress: Progress | None = None,
                   emit: Callable[[PointResult], None] | None = None) -> list[PointResult]:
    """Evaluate points ``[{id, config, sweep, label}]`` that share one training run; ``progress``
    is told each stage. With ``emit``, each priced point is handed to it as soon as it is finished
    (the runner writes it to the store then) and left out of the returned list."""
    started = time.time()
    vers = versions()
    first = points[0]["config"]
    src = first["accuracy_source"]
    curves: list[tuple[float, str, float]] = []
    real = None
    try:
        if src == "train":
            _, scheme, acc, curves, steps, real = train_point(first, key, progress)
        else:
            from hwsim.schemes import build_scheme

            scheme = build_scheme(dict(first["scheme"]))
            acc = first["literature"]["accuracy"] if src == "literature" else None
            steps = math.ceil(TRAIN_SET_SIZE.get(first["dataset"], 50000) / first["pricing"]["batch"])
    except Exception as e:
        from hwsim.train import TrainingDiverged

        reason = ("diverged: " if isinstance(e, TrainingDiverged) else "") + _reason(e)
        return [_failed(p, reason, started, vers, curves) for p in points]

    out = []
    traces: dict[tuple, Any] = {"real": real}
    for i, p in enumerate(points):
        _report(progress, key, "price", i, len(points))
        try:
            r = price_point(p, scheme, acc, curves, steps, traces, started, vers)
        except Exception as e:
            r = _failed(p, _reason(e), started, vers, curves)
        if emit is not None:
            emit(r)
        else:
            out.append(r)
        started = time.time()
    _report(progress, key, "done", len(points), len(points))
    return out


def optimizer_name(config: dict[str, Any]) -> str:
    """The optimizer the trace prices the update with (hwsim.count OPTIMIZERS)."""
    rec = config.get("recipe") or {}
    if rec.get("optimizer") == "adam":
        return "adam"
    return "sgd_momentum" if rec.get("momentum", 0.9) > 0 else "sgd"


def _traces(scheme: Any, config: dict[str, Any], steps: int, cache: dict[Any, Any]):
    """(training-step trace, inference trace), cached per pricing batch.

    The training step is the real step CountingCallback traced after training (measured sparsity
    and stash) when there is one at the priced batch, else a meta-tensor trace of the network as
    built (``trace`` converts a copy with the scheme). Inference is always traced on meta tensors."""
    from hwsim.count import trace

    pr = config["pricing"]
    shape = tuple(config["input_shape"])
    k = (pr["batch"], pr["infer_batch"])
    if k not in cache:
        raw = build_raw(config)
        name = config["model"]["name"]
        real = cache.get("real")
        if real is not None and real.batch == pr["batch"]:
            tr = real
            tr.steps_per_epoch = steps
        else:
            tr = trace(raw, scheme, batch=pr["batch"], input_shape=shape, num_classes=config["num_classes"],
                       mode="train", device="meta", optimizer=optimizer_name(config), model_name=name,
                       steps_per_epoch=steps)
        ti = trace(raw, scheme, batch=pr["infer_batch"], input_shape=shape, num_classes=config["num_classes"],
                   mode="infer", device="meta", model_name=name)
        cache[k] = (tr, ti)
    return cache[k]


def _total(report: Any, *names: str) -> float | None:
    tot = getattr(report, "totals", None) or {}
    for n in names:
        if n in tot and tot[n] is not None:
            return float(tot[n])
    return None


def price_point(p: dict[str, Any], scheme: Any, acc: float | None,
                curves: list[tuple[float, str, float]], steps: int, cache: dict[tuple, Any],
                started: float, vers: dict[str, str]) -> PointResult:
    from accel_models.area import accelerator_area
    from hwsim.energy import hierarchy_for_accelerator, load_hierarchy, load_tech, price
    from hwsim.hardware import load_accelerator, simulate_trace
    from hwsim.sweep.expand import resolve_file

    config = p["config"]
    pr = config["pricing"]
    tr, ti = _traces(scheme, config, steps, cache)
    tech = load_tech(config["tech"])
    hier = load_hierarchy(pr.get("hierarchy"))
    hw = config.get("hardware") or str(resolve_file("accelerators", config["accelerator"], "accelerator"))
    accel = load_accelerator(hw)
    c_train = simulate_trace(tr, accel)
    c_inf = simulate_trace(ti, accel)
    area = accelerator_area(accel, node_nm=tech.node_nm)
    support = c_train.accelerator.get("sparsity")    # what the accelerator does with zero operands
    if pr.get("memory", "accelerator") == "accelerator":
        # memory energy from the accelerator's own SRAM/DRAM accesses and buffer sizes
        e_train = price(tr, tech, hierarchy=hierarchy_for_accelerator(c_train.accelerator, hier), accesses=c_train,
                        steps_per_epoch=steps, sparsity=support)
        e_inf = price(ti, tech, hierarchy=hierarchy_for_accelerator(c_inf.accelerator, hier), accesses=c_inf,
                      sparsity=support)
    else:
        e_train = price(tr, tech, hierarchy=hier, steps_per_epoch=steps, sparsity=support)
        e_inf = price(ti, tech, hierarchy=hier, sparsity=support)

    tt, it = tr.totals(), ti.totals()
    nb = max(1, pr["infer_batch"])
    params = int(tr.param_count)
    opt_states = 0
    rec = config.get("recipe") or {}
    if rec:
        opt_states = 2 if rec.get("optimizer") == "adam" else (1 if rec.get("momentum", 0) > 0 else 0)
    m: dict[str, float] = {
        "train_energy_pj_per_step": float(e_train.train_step_pj),
        "train_energy_pj_per_epoch": float(e_train.train_epoch_pj),
        "infer_energy_pj": float(e_inf.infer_pj_per_sample),
        "stash_bytes": float(tr.stash_bytes),
        "weight_input_stash_bytes": float(tr.meta.get("weight_input_stash_bytes") or 0),
        "scheme_noop": float(bool(tr.meta.get("scheme_noop"))),
        "model_size_bytes": float(tr.model_size_bytes),
        "train_memory_bytes": float(4 * params * (2 + opt_states) + tr.stash_bytes),
        "macs_train_step": float(sum(tt["macs"].values())),
        "macs_infer": float(sum(it["macs"].values())) / nb,
    }
    if acc is not None:
        m["accuracy"] = float(acc)
        m["error"] = 1.0 - float(acc)
    lat = _total(c_inf, "total_cycles", "cycles")
    if lat is not None:
        m["latency_cycles"] = lat / nb
    step = _total(c_train, "total_cycles", "cycles")
    if step is not None:
        m["train_step_cycles"] = step
    util = _total(c_train, "utilization")
    if util is not None:
        m["utilization"] = util
    m["dram_bytes_per_step"] = _dram(c_train)
    m["dram_bytes_infer"] = _dram(c_inf) / nb
    m.update(hardware_metrics(area.total_mm2, accel.clock_mhz, accel.rows * accel.cols,
                              macs=float(sum(it["macs"].values())), energy_pj=float(e_inf.infer_pj_per_sample) * nb,
                              cycles=lat * nb if lat is not None else None, batch=nb,
                              train_energy_pj=float(e_train.train_step_pj), train_cycles=step))

    assumptions = {"energy": getattr(e_train, "assumptions", None),
                   "train_memory_bytes": "4 B x params x (master + grad + optimizer states) + stash",
                   "trace_device": {"train": tr.meta.get("device"), "infer": ti.meta.get("device")},
                   "sparsity_source": tr.meta.get("sparsity_source"), "pricing": pr}
    if pr.get("detail", "full") == "summary":
        # a hardware point of a large sweep: totals only (the trace is the group's, the same for all)
        layers: list[tuple[str, str, str, float]] = []
        blobs: dict[str, Any] = {
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
            "energy": {"train": _to_dict(e_train), "infer": _to_dict(e_inf)},
            "cycles": {"train": _to_dict(c_train), "infer": _to_dict(c_inf)},
            "hardware": accel.to_dict(),
            "area": area.to_dict(),
            "assumptions": assumptions,
        }
    if config.get("literature"):
        blobs["literature"] = config["literature"]
    return PointResult(id=p["id"], config=config, status="done", sweep=p.get("sweep"), label=p.get("label"),
                       columns=columns(config), metrics=m, layers=layers, curves=list(curves),
                       blobs=blobs, versions=vers, started=started, finished=time.time())


def hardware_metrics(area_mm2: float, clock_mhz: float, pes: int, *, macs: float, energy_pj: float,
                     cycles: float | None, batch: int = 1, train_energy_pj: float | None = None,
                     train_cycles: float | None = None) -> dict[str, float]:
    """Area, time, power and efficiency of one inference batch of ``batch`` samples (``macs``, ``energy_pj``,
    ``cycles`` for the batch) at the accelerator's clock and the utilization the simulation measured
    (ops = 2 x MACs): area_mm2, latency_us (per sample), edp_pj_s (energy x latency per sample), power_w,
    tops (achieved),
    peak_tops (2 x PEs x clock), tops_per_w = 2 MACs / energy, tops_per_mm2; train_power_w for a
    training step."""
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


def _trace_blob(tr: Any) -> dict[str, Any]:
    """The trace as stored: without its wall-clock time, so a rerun stores identical blobs
    (timings live in the points table: started, finished, wall_s)."""
    d = tr.to_dict()
    d["meta"] = {k: v for k, v in d.get("meta", {}).items() if k != "seconds"}
    return d


def _to_dict(r: Any) -> Any:
    return r.to_dict() if hasattr(r, "to_dict") else r


def _dram(cyc: Any) -> float:
    """DRAM bytes read + written, as the accelerator model moves them (double-buffered tiles)."""
    tot = cyc.totals
    return float(tot.get("dram_read_bytes", 0) + tot.get("dram_write_bytes", 0))


def _dedupe(rows: list[tuple[str, str, str, float]]) -> list[tuple[str, str, str, float]]:
    """Sum repeated (layer, phase, name) rows, except ratios, where the last one stands."""
    acc: dict[tuple[str, str, str], float] = {}
    for la, ph, n, v in rows:
        if v is None:
            continue
        k = (la, ph, n)
        acc[k] = float(v) if n in ("utilization", "mapping_efficiency") else acc.get(k, 0.0) + float(v)
    return [(la, ph, n, v) for (la, ph, n), v in acc.items()]


def trace_layer_rows(tr: Any) -> list[tuple[str, str, str, float]]:
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


def _rows_of(report: Any) -> list[Any]:
    rows = getattr(report, "rows", None)
    if rows is None and isinstance(report, dict):
        rows = report.get("rows")
    return list(rows or [])


def _get(row: Any, k: str) -> Any:
    return row.get(k) if isinstance(row, dict) else getattr(row, k, None)


def energy_layer_rows(rep: Any, skip_phase: str | None = None) -> list[tuple[str, str, str, float]]:
    """``energy_pj.<component>`` rows (EnergyReport.store_layers), without ``skip_phase``.

    The training-step report also prices inference from its forward records; the point's
    inference rows come from its own inference trace instead, so they are skipped there."""
    return [r for r in rep.store_layers() if r[1] != skip_phase]


def cycle_layer_rows(rep: Any, phase_override: str | None = None) -> list[tuple[str, str, str, float]]:
    """Rows from a CycleReport (accel_models): cycles, compute_cycles, stall_cycles (summed over the
    array and vector-unit rows of a layer and phase), utilization and mapping_efficiency (array rows),
    and ``sram_reads.<operand>`` ... ``dram_writes.<operand>`` in operand elements, as the report counts."""
    out = []
    for row in _rows_of(rep):
        la, ph = row.get("layer"), phase_override or row.get("phase")
        if la is None or ph is None:
            continue
        out.append((la, ph, "cycles", row.get("total_cycles", 0)))
        out.append((la, ph, "compute_cycles", row.get("compute_cycles", 0)))
        out.append((la, ph, "stall_cycles", row.get("stall_cycles", 0)))
        if row.get("unit") == "array":
            out.append((la, ph, "utilization", row.get("utilization")))
            out.append((la, ph, "mapping_efficiency", row.get("mapping_efficiency")))
        for k, v in row.items():
            for pre in ("sram_reads_", "sram_writes_", "dram_reads_", "dram_writes_"):
                if k.startswith(pre) and isinstance(v, (int, float)):
                    out.append((la, ph, f"{pre[:-1]}.{k[len(pre):]}", v))
    return out
