"""Run design points into a results store: local worker processes or a Ray cluster; resumable.

Resume rule: a point whose id is in the store with status ``done`` (or ``failed``, unless
``retry_failed``) is never evaluated again; everything else (new, or ``running`` left by a
killed run) is. Each finished point is written by this (parent) process in one SQLite
transaction (:meth:`hwsim.store.Store.write`), so ``kill -9`` loses only points in flight.

Work unit: the points sharing one training run (:attr:`DesignPoint.train_key`) go to one
worker, which trains once and prices each point (see :mod:`hwsim.pipeline`).

Backends
  local  a ``spawn`` process pool of ``workers`` processes, torch limited to 1 thread each
         (so N workers use N cores); ``workers=0`` evaluates in this process (debugging).
  ray    ``ray.init(address)`` when an address is given, else a local instance with
         ``num_cpus=workers``; one task (1 CPU) per group.
"""

from __future__ import annotations

import functools
import importlib
import json
import multiprocessing as mp
import os
import queue as queue_mod
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hwsim.errors import UserError
from hwsim.store import PointResult, Store
from hwsim.sweep.expand import DesignPoint

DEFAULT_EVALUATOR = "hwsim.pipeline:evaluate_group"


@dataclass
class RunSummary:
    total: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    wall_s: float = 0.0
    ran: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _load_evaluator(spec: str) -> Callable[..., list[PointResult]]:
    mod, _, fn = spec.partition(":")
    return getattr(importlib.import_module(mod), fn)


# -- worker side --------------------------------------------------------------------------
_queue: Any = None


def _limit_threads() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def _worker_init(q: Any) -> None:
    global _queue
    _queue = q
    _limit_threads()
    from hwsim import pipeline

    pipeline.set_progress_hook(lambda key, stage, done, total: q.put((key, stage, done, total)))


def _run_group(evaluator: str, key: str, pts: list[dict[str, Any]]) -> list[PointResult]:
    if _queue is not None:
        _queue.put((key, "start", 0, len(pts)))
    return _load_evaluator(evaluator)(pts, key=key)


def _run_group_ray(evaluator: str, key: str, pts: list[dict[str, Any]]) -> list[PointResult]:
    _limit_threads()
    return _load_evaluator(evaluator)(pts, key=key)


# -- parent side ----------------------------------------------------------------------------
def pending(points: list[DesignPoint], store: Store, retry_failed: bool = False) -> list[DesignPoint]:
    skip = {"done"} if retry_failed else {"done", "failed"}
    return [p for p in points if store.status_of(p.id) not in skip]


def groups_of(points: list[DesignPoint]) -> list[tuple[str, list[dict[str, Any]]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for p in points:
        out.setdefault(p.train_key, []).append({"id": p.id, "config": p.config, "sweep": p.sweep, "label": p.label})
    return list(out.items())


class _Bars:
    """One bar for the sweep, one per group in flight (rich); silent when progress is off."""

    def __init__(self, enabled: bool, total: int, title: str):
        self.enabled = enabled
        self.tasks: dict[str, Any] = {}
        self.labels: dict[str, str] = {}
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=False)
        self.progress.start()
        self.sweep = self.progress.add_task(f"sweep {title}", total=total)

    def start(self, key: str, label: str, n: int) -> None:
        if self.enabled and key not in self.tasks:
            from rich.markup import escape

            self.labels[key] = escape(label)
            self.tasks[key] = self.progress.add_task(f"  {self.labels[key]}", total=None)

    def stage(self, key: str, stage: str, done: int, total: int) -> None:
        if self.enabled and key in self.tasks:
            self.progress.update(self.tasks[key], description=f"  {self.labels[key]}: {stage}",
                                 completed=done, total=total or None)

    def finish(self, key: str, n: int) -> None:
        if not self.enabled:
            return
        if key in self.tasks:
            self.progress.remove_task(self.tasks.pop(key))
        self.progress.advance(self.sweep, n)

    def close(self) -> None:
        if self.enabled:
            self.progress.stop()


def run_points(points: list[DesignPoint], db: str | Path, *, workers: int = 2, backend: str = "local",
               address: str | None = None, progress: bool = False, retry_failed: bool = False,
               evaluator: str = DEFAULT_EVALUATOR, sweep: str = "") -> RunSummary:
    """Evaluate every point not yet in the store ``db``; write each as it finishes."""
    t0 = time.time()
    if backend not in ("local", "ray"):
        raise UserError("--backend", f"unknown backend {backend!r}; expected local or ray")
    if workers < 0:
        raise UserError("--workers", "must be >= 0")
    store = Store(db)
    try:
        todo = pending(points, store, retry_failed)
        summary = RunSummary(total=len(points), skipped=len(points) - len(todo))
        groups = groups_of(todo)
        bars = _Bars(progress and bool(todo), len(todo), sweep)
        labels = {k: pts[0]["label"].rsplit("/", 1)[0] for k, pts in groups}
        by_key = dict(groups)

        def started(key: str) -> None:
            for p in by_key[key]:
                store.mark_running(p["id"], p["config"], sweep=p["sweep"])
            bars.start(key, labels[key], len(by_key[key]))

        def finished(key: str, results: list[PointResult]) -> None:
            for r in results:
                store.write(r)
                summary.ran.append(r.id)
                if r.status == "done":
                    summary.done += 1
                else:
                    summary.failed += 1
            bars.finish(key, len(by_key[key]))

        try:
            if not groups:
                pass
            elif backend == "ray":
                _run_ray(groups, evaluator, workers, address, started, finished)
            elif workers == 0:
                _run_inline(groups, evaluator, started, finished, bars)
            else:
                _run_pool(groups, evaluator, workers, started, finished, bars)
        finally:
            bars.close()
        summary.wall_s = time.time() - t0
        return summary
    finally:
        store.close()


def _run_inline(groups, evaluator, started, finished, bars) -> None:
    from hwsim import pipeline

    pipeline.set_progress_hook(bars.stage)
    try:
        fn = _load_evaluator(evaluator)
        for key, pts in groups:
            started(key)
            finished(key, fn(pts, key=key))
    finally:
        pipeline.set_progress_hook(None)


def _cost_estimate(pts: list[dict[str, Any]]) -> float:
    """A group's relative cost, for longest-first scheduling: forward MACs per sample (meta
    tensors, no data) x epochs for trained points; literature points are cheap and equal."""
    cfg = pts[0]["config"]
    if cfg.get("accuracy_source") != "train":
        return 0.0
    try:
        macs = _model_macs(cfg["model"]["name"], json.dumps(cfg["model"].get("args", {}), sort_keys=True),
                           cfg.get("num_classes"), tuple(cfg["input_shape"]))
        return float(macs) * float(cfg["recipe"].get("epochs", 1))
    except Exception:  # an estimate only: never let it stop a sweep
        return 0.0


@functools.cache
def _model_macs(name: str, args_json: str, num_classes: int | None, input_shape: tuple[int, ...]) -> int:
    """Forward MACs of one sample, once per distinct network (many groups share one)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from hwsim.models import build_model

    with torch.device("meta"):
        model = build_model(name, num_classes=num_classes, in_shape=input_shape, **json.loads(args_json))
    with FlopCounterMode(display=False) as fc:
        model.eval()(torch.empty(1, *input_shape, device="meta"))
    return fc.get_total_flops() // 2


def _run_pool(groups, evaluator, workers, started, finished, bars) -> None:
    """Groups on a spawn pool, longest first (so no long group starts last and runs alone). A
    worker that dies (segfault, OOM kill) breaks the pool: the groups it and its siblings had
    started are stored as failed, the rest go to a fresh pool."""
    ctx = mp.get_context("spawn")
    todo = sorted(groups, key=lambda g: -_cost_estimate(g[1]))
    by_key = dict(groups)
    while todo:
        todo = _pool_round(todo, ctx, evaluator, workers, started, finished, bars, by_key)


def _pool_round(groups, ctx, evaluator, workers, started, finished, bars, by_key) -> list:
    q = ctx.Queue()
    n = min(workers, len(groups))
    ex = ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_worker_init, initargs=(q,))
    futs = {ex.submit(_run_group, evaluator, key, pts): key for key, pts in groups}
    seen: set[str] = set()
    ended: set[str] = set()

    def drain() -> None:
        while True:
            try:
                key, stage, done, total = q.get_nowait()
            except (queue_mod.Empty, OSError, EOFError):
                return
            if key not in seen:
                seen.add(key)
                started(key)
            bars.stage(key, stage, done, total)

    try:
        left = set(futs)
        while left:
            done, left = wait(left, timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
            for f in done:
                key = futs[f]
                try:
                    results = f.result()
                except BrokenProcessPool:
                    drain()
                    ex.shutdown(wait=False, cancel_futures=True)
                    crashed = [k for k in futs.values() if k in seen and k not in ended]
                    if not crashed:   # the start message was lost with the worker: tasks run in order
                        crashed = [k for k in futs.values() if k not in ended][:n]
                    reason = (f"a worker process died while this group was in flight ({len(crashed)} in flight; "
                              "killed or crashed, e.g. out of memory); rerun with --retry-failed")
                    for k in crashed:
                        finished(k, [PointResult(id=p["id"], config=p["config"], status="failed", error=reason,
                                                 sweep=p["sweep"], label=p["label"]) for p in by_key[k]])
                        ended.add(k)
                    return [(k, by_key[k]) for k in futs.values() if k not in ended]
                if key not in seen:
                    seen.add(key)
                    started(key)
                finished(key, results)
                ended.add(key)
        ex.shutdown(wait=True)
        return []
    except BaseException:
        ex.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        q.close()


def _run_ray(groups, evaluator, workers, address, started, finished) -> None:
    try:
        import ray
    except ImportError:
        raise UserError("--backend ray", "ray is not installed (pip install 'hwsim[ray]')") from None
    own = not ray.is_initialized()
    if own:
        if address:
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, workers), include_dashboard=False, ignore_reinit_error=True,
                     log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(_run_group_ray)
        refs = {}
        for key, pts in groups:
            started(key)
            refs[remote.remote(evaluator, key, pts)] = key
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1, timeout=1.0)
            for r in done:
                key = refs.pop(r)
                finished(key, ray.get(r))
    finally:
        if own:
            ray.shutdown()


def summary_rows(db: str | Path, ids: list[str]) -> list[dict[str, Any]]:
    """Rows for the end-of-sweep table: label, status, headline metrics, error."""
    with Store(db, readonly=True) as s:
        out = []
        for pid in ids:
            try:
                d = s.point(pid)
            except UserError:
                continue
            m = d["metrics"]
            out.append({"id": pid, "label": d.get("label") or "", "status": d["status"],
                        "accuracy": m.get("accuracy"), "train_energy_pj_per_step": m.get("train_energy_pj_per_step"),
                        "infer_energy_pj": m.get("infer_energy_pj"), "latency_cycles": m.get("latency_cycles"),
                        "train_memory_bytes": m.get("train_memory_bytes"), "wall_s": d.get("wall_s"),
                        "error": d.get("error")})
        return out
