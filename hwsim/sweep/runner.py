"""Run design points into a results store: local worker processes or a Ray cluster; resumable.

Resume rule: a point whose id is in the store with status ``done`` (or ``failed``, unless
``retry_failed``) is never evaluated again; everything else (new, ``queued``, or ``running``
left by a killed run) is. Each finished point is written by this (parent) process in one
SQLite transaction (:meth:`hwsim.store.Store.write`), so ``kill -9`` loses only points in flight.

Work unit: the points sharing one training run (:attr:`DesignPoint.train_key`) are claimed
together as a group. With more than one local worker a group of at least ``2 x MIN_SHARE`` points
is split into shares: the worker with the first share trains and traces once and sends the group's
state (accuracy, curves, traces in their JSON form) back through its pipe; the other shares go with
that state to any idle worker, which only prices its hardware points. So a sweep with one scheme
uses every worker, and nothing is traced twice (see :mod:`hwsim.pipeline`). The Ray backend sends
whole groups.

Faults (docs/reliability.md)
  * A group is claimed in the store before it is computed (a lease renewed by a heartbeat), so
    two runs on one store share the work; a run waits for groups another live run holds, and
    takes them over if that run dies.
  * Each local worker is its own process with its own pipe: when one dies (killed, out of
    memory, a crash in native code) only its group is handed back (``queued``, redone by a plain
    rerun, or marked failed after ``MAX_LOST`` deaths on it); the other groups go on.
  * Workers watch their parent and exit when it dies, so ``kill -9`` of a run leaves no orphans.

Backends
  local  ``workers`` ``spawn`` processes, torch limited to 1 thread each (so N workers use N
         cores), started before the groups are claimed; a new worker with no work yet calls the
         evaluator module's ``prepare()`` if it has one; a search's :class:`WorkerPool` forks them
         instead from its process, once that has loaded what they need; ``workers=0`` evaluates in
         this process (debugging).
  ray    ``ray.init(address)`` when an address is given, else a local instance with
         ``num_cpus=workers``; one task (1 CPU) per group.
"""

from __future__ import annotations

import functools
import importlib
import json
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import wait as mp_wait
from pathlib import Path
from typing import Any

from hwsim import timeline, units
from hwsim.design import DesignPoint, Wire, from_wire
from hwsim.errors import UserError
from hwsim.store import PointResult, Store, owner_id

DEFAULT_EVALUATOR = "hwsim.pipeline:evaluate_group"
_hard_exit = os._exit   # bound at import: user model code runs with os._exit replaced (hwsim.usercode)
LEASE_S = 60.0            # a claim lives this long without a heartbeat
HEARTBEAT_S = 10.0        # how often a run renews its claims
PROGRESS_EVERY_S = 10.0   # progress lines when stderr is not a terminal
STREAM_EVERY_S = 0.5      # a worker sends the points it finished at most this often
MAX_LOST = 3              # worker deaths on one group before its points are marked failed
# A worker is stalled when it has sent nothing and used no CPU time for this long (a heartbeat alone
# proves nothing: a stopped or deadlocked worker's run keeps renewing its claims); HWSIM_STALL_S sets it.
STALL_S = float(os.environ.get("HWSIM_STALL_S", "600"))
# The longest a run waits on groups another live run holds before it gives up; HWSIM_WAIT_S sets it.
WAIT_S = float(os.environ.get("HWSIM_WAIT_S", "3600"))
MIN_SHARE = 8             # a group is split across workers when it has at least twice this many points;
SHARES_PER_WORKER = 8     # its lead share is about 1/(8 x workers) of the group (MIN_SHARE at least), and
TAIL_SHARE = 2            # each later share a half of what is left per worker, down to this many points, so
                          # the workers end within about one point of each other


@dataclass
class RunSummary:
    total: int = 0
    skipped: int = 0          # finished before this run (or by another run during it)
    done: int = 0
    failed: int = 0
    lost: int = 0             # handed back unfinished: a worker died; a plain rerun redoes them
    wall_s: float = 0.0
    ran: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _load_evaluator(spec: str) -> Callable[..., list[PointResult]]:
    mod, _, fn = spec.partition(":")
    return getattr(importlib.import_module(mod), fn)


def _takes_emit(fn: Callable[..., Any]) -> bool:
    """Whether an evaluator streams: it accepts ``emit(result)`` and calls it for each point it finishes
    (those are then not in its return value), so points land in the store one by one."""
    import inspect

    try:
        return "emit" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


# -- worker side --------------------------------------------------------------------------
def _limit_threads() -> None:
    """One core per worker. torch takes its thread count from OMP_NUM_THREADS when it is first imported,
    so a worker that only prices points need not import it (about 2 CPU-s) to limit it."""
    os.environ["OMP_NUM_THREADS"] = "1"
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def _prepare(evaluator: str) -> None:
    """Run the evaluator module's ``prepare()``, if it has one: imports a worker makes while it has no work
    yet (one pricing a split group's share waits for the group's traces), not once the work has come."""
    prep = getattr(importlib.import_module(evaluator.partition(":")[0]), "prepare", None)
    if callable(prep):
        prep()


def _exit_with_parent(parent: int) -> None:
    """Die when the parent run dies (even by SIGKILL): a watchdog thread, since a worker may sit in
    a long native call; and PR_SET_PDEATHSIG on Linux for the common case."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                _hard_exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, name="hwsim-parent-watch", daemon=True).start()
    if os.getppid() != parent:   # died before the thread started
        _hard_exit(1)


class _Streamer:
    """A worker's ``emit``: finished points go to the parent in batches, one message per
    STREAM_EVERY_S at most (a message per point would cost more than pricing a hardware point)."""

    def __init__(self, conn: Any, key: str):
        self.conn, self.key = conn, key
        self.buf: list[PointResult] = []
        self.last = time.time()

    def emit(self, r: PointResult) -> None:
        self.buf.append(r)
        if time.time() - self.last >= STREAM_EVERY_S:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            timeline.mark("worker", f"sends {len(self.buf)} points")
            self.conn.send(("points", self.key, self.buf))
            self.buf = []
        self.last = time.time()


def _worker_main(conn: Any, parent: int, evaluator: str, keep: bool = False) -> None:
    """A local worker: take (key, points) from the pipe, send progress and results back. ``keep``: a
    worker of a :class:`WorkerPool`, told to keep its groups' states if the evaluator can. Under
    ``HWSIM_PROFILE`` (:mod:`hwsim.timeline`) it runs under cProfile and writes its profile there."""
    timeline.mark("worker", "started")
    folder = os.environ.get(timeline.PROFILE_ENV)
    if not folder:
        _serve_pipe(conn, parent, evaluator, keep)
    else:
        import cProfile

        prof = cProfile.Profile()
        try:
            prof.runcall(_serve_pipe, conn, parent, evaluator, keep)
        finally:
            prof.dump_stats(os.path.join(folder, f"worker-{os.getpid()}.prof"))
    # Told to stop (or the parent is gone): everything it owes the parent has been sent. Tearing down an
    # interpreter that holds torch and a group's traces takes seconds, and the parent waits for its workers
    # to end, so skip the teardown: nothing in a worker is left to flush but the standard streams.
    timeline.mark("worker", "exits")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    _hard_exit(0)


def _serve_pipe(conn: Any, parent: int, evaluator: str, keep: bool) -> None:
    # Ctrl-C reaches the whole process group: the parent alone reports it and stops the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # the parent owns stdout (a --json summary); whatever a model prints while it runs goes to stderr
    try:
        sys.stdout.flush()
        os.dup2(2, 1)
        sys.stdout = sys.stderr
    except (OSError, ValueError, AttributeError):
        pass
    _exit_with_parent(parent)
    _limit_threads()
    fn = _load_evaluator(evaluator)
    timeline.mark("worker", "evaluator imported")
    streams = _takes_emit(fn)
    import inspect

    try:
        keeps = keep and "keep" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover
        keeps = False

    def progress(key: str, stage: str, done: int, total: int) -> None:
        conn.send(("stage", key, stage, done, total))

    if not conn.poll():   # nothing to do yet
        _prepare(evaluator)
        timeline.mark("worker", "prepared")
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        key, pts = msg[0], from_wire(msg[1])   # the points, typed again (hwsim.design)
        role = msg[2][0] if len(msg) > 2 and msg[2] else "group"
        timeline.mark("worker", f"got {role} of {len(pts)} points")
        out_stream = _Streamer(conn, key)
        kw: dict[str, Any] = {"emit": out_stream.emit} if streams else {}
        kw.update(_share_kwargs(conn, key, msg[2] if len(msg) > 2 else None))
        if keeps:
            kw["keep"] = True
        try:
            out = fn(pts, key=key, progress=progress, **kw)
            out_stream.flush()
            conn.send(("result", key, out))
            timeline.mark("worker", f"sent {role} result")
        except Exception as e:   # a bug in the evaluator: its group fails with the reason
            out_stream.flush()   # the points it finished before that are kept
            tb = traceback.extract_tb(e.__traceback__)
            at = f" (at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
            conn.send(("error", key, f"{type(e).__name__}: {e}{at}"[:500]))


def _takes_share(fn: Callable[..., Any]) -> bool:
    """Whether an evaluator can split a group: it accepts ``share(state)`` (called once the group is
    trained and traced, with that state as text) and ``shared=state`` (price only)."""
    import inspect

    try:
        ps = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False
    return "share" in ps and "shared" in ps


def _share_kwargs(conn: Any, key: str, role: tuple[str, str | None] | None) -> dict[str, Any]:
    """A share of a split group: the lead sends the group's state to the parent (which hands it to the
    workers pricing the other shares); a follower prices against the state it was sent."""
    if role is None:
        return {}
    if role[0] == "lead":
        return {"share": lambda state: conn.send(("shared", key, state))}
    return {"shared": role[1]} if role[1] is not None else {}


def _run_group_ray(evaluator: str, key: str, pts: list[Wire]) -> list[PointResult]:
    _limit_threads()
    return _load_evaluator(evaluator)(from_wire(pts), key=key, progress=None)


# -- parent side ----------------------------------------------------------------------------
def pending(points: list[DesignPoint], store: Store, retry_failed: bool = False) -> list[DesignPoint]:
    skip = {"done"} if retry_failed else {"done", "failed"}
    return [p for p in points if store.status_of(p.id) not in skip]


def groups_of(points: list[DesignPoint]) -> list[tuple[str, list[DesignPoint]]]:
    out: dict[str, list[DesignPoint]] = {}
    for p in points:
        out.setdefault(p.train_key, []).append(p)
    return list(out.items())


class _Bars:
    """One bar for the sweep, one per group in flight (rich, on a terminal); otherwise a plain
    progress line on stderr at least every PROGRESS_EVERY_S seconds; silent when progress is off."""

    def __init__(self, mode: str, total: int, title: str):
        self.mode = mode                  # "bars" | "lines" | "off"
        self.total, self.title = total, title
        self.done = self.failed = self.lost = 0
        self.running: set[str] = set()
        self.waiting = 0
        self.t0 = time.time()
        self.tasks: dict[str, Any] = {}
        self.labels: dict[str, str] = {}
        self._stop = threading.Event()
        if mode == "bars":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=Console(stderr=True), transient=False)
            self.progress.start()
            self.sweep = self.progress.add_task(f"sweep {title}", total=total)
        elif mode == "lines":
            self.line()
            self._thread = threading.Thread(target=self._tick, name="hwsim-progress", daemon=True)
            self._thread.start()

    def _tick(self) -> None:
        while not self._stop.wait(PROGRESS_EVERY_S):
            self.line()

    def line(self) -> None:
        n = self.done + self.failed
        dt = time.time() - self.t0
        rate = n / dt if dt > 0 else 0.0
        left = self.total - n - self.lost
        eta = f"{_hms(left / rate)}" if rate > 0 and left > 0 else ("0s" if left <= 0 else "?")
        extra = f", {self.waiting} held by another run" if self.waiting else ""
        print(f"sweep {self.title}: {n}/{self.total} points ({self.failed} failed, {self.lost} lost, "
              f"{len(self.running)} groups running{extra}); {units.rate(rate * 60, 'points/min')}; "
              f"elapsed {_hms(dt)}, ETA {eta}", file=sys.stderr, flush=True)

    def start(self, key: str, label: str, n: int) -> None:
        self.running.add(key)
        if self.mode == "bars" and key not in self.tasks:
            from rich.markup import escape

            from hwsim.errors import printable

            self.labels[key] = escape(printable(label))
            self.tasks[key] = self.progress.add_task(f"  {self.labels[key]}", total=None)

    def stage(self, key: str, stage: str, done: int, total: int) -> None:
        if self.mode == "bars" and key in self.tasks:
            self.progress.update(self.tasks[key], description=f"  {self.labels[key]}: {stage}",
                                 completed=done, total=total or None)

    def point(self, done: int, failed: int) -> None:
        """A point of a group in flight finished (streamed before its group ends)."""
        self.done += done
        self.failed += failed
        if self.mode == "bars":
            self.progress.advance(self.sweep, done + failed)

    def finish(self, key: str, done: int, failed: int, lost: int) -> None:
        self.running.discard(key)
        self.done += done
        self.failed += failed
        self.lost += lost
        if self.mode == "bars":
            if key in self.tasks:
                self.progress.remove_task(self.tasks.pop(key))
            self.progress.advance(self.sweep, done + failed + lost)

    def close(self) -> None:
        self._stop.set()
        if self.mode == "bars":
            self.progress.stop()
        elif self.mode == "lines":
            self.line()


def _hms(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else (f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s")


class _Heartbeat:
    """Renews this run's claims every HEARTBEAT_S seconds, on its own connection (the main thread may
    be busy evaluating a group for minutes)."""

    def __init__(self, db: str | Path, owner: str):
        self.db, self.owner = db, owner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hwsim-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # its connection is opened at the first beat: a run shorter than HEARTBEAT_S (a search's
        # generation) never opens one
        store: Store | None = None
        try:
            while not self._stop.wait(HEARTBEAT_S):
                try:
                    store = store or Store(self.db)
                    store.renew(self.owner, LEASE_S)
                except Exception:  # a busy store: the next beat retries well within the lease
                    pass
        finally:
            if store is not None:
                store.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class _Run:
    """The parent's bookkeeping for one call of :func:`run_points`: claims, writes, the summary."""

    def __init__(self, store: Store, groups: list[tuple[str, list[DesignPoint]]], retry_failed: bool,
                 summary: RunSummary, bars: _Bars, owner: str):
        self.store, self.summary, self.bars, self.owner = store, summary, bars, owner
        self.skip = ("done",) if retry_failed else ("done", "failed")
        self.queue = list(groups)           # not yet claimed by this run
        self.by_key = dict(groups)
        self.flight: dict[str, list[DesignPoint]] = {}   # claimed, being computed: key -> points
        self.streamed: dict[str, set[str]] = {}             # key -> ids already written while in flight
        self.began: dict[str, float] = {}                   # key -> when this run claimed the group
        self.tally: dict[str, list[int]] = {}               # key -> [done, failed] written so far
        self.labels = {k: pts[0].label.rsplit("/", 1)[0] for k, pts in groups}
        self.waiting_since: float | None = None

    def take(self) -> tuple[str, list[DesignPoint]] | None:
        """The next group this run may compute, claimed; None when every remaining one is held by
        another live run (or none remain)."""
        waiting = 0
        for i, (key, pts) in enumerate(self.queue):
            ids = self.store.claim([p.id for p in pts], self.owner, LEASE_S, self.skip)
            if ids is None:
                waiting += len(pts)
                continue
            del self.queue[i]
            mine = [p for p in pts if p.id in set(ids)]
            self.summary.skipped += len(pts) - len(mine)
            self.bars.finish(key, len(pts) - len(mine), 0, 0)
            if not mine:
                return self.take()
            self.store.mark_running_many([(p.id, p.to_json(), p.sweep) for p in mine])
            timeline.mark("parent", f"claimed a group of {len(mine)} points")
            self.flight[key] = mine
            self.began[key], self.tally[key] = time.time(), [0, 0]
            self.bars.start(key, self.labels[key], len(mine))
            self.bars.waiting = waiting
            return key, mine
        self.bars.waiting = waiting
        return None

    def _write(self, results: list[PointResult]) -> tuple[int, int]:
        done = failed = 0
        for r in results:
            if not self.store.write(r):   # another run finished it first
                self.summary.skipped += 1
                continue
            self.summary.ran.append(r.id)
            if r.status == "done":
                done += 1
            else:
                failed += 1
        self.summary.done += done
        self.summary.failed += failed
        return done, failed

    def point(self, key: str, result: PointResult) -> None:
        """One point of a group in flight, written as soon as it is finished (streaming evaluators)."""
        if key not in self.flight:
            return
        self.streamed.setdefault(key, set()).add(result.id)
        done, failed = self._write([result])
        self.tally[key][0] += done
        self.tally[key][1] += failed
        self.bars.point(done, failed)

    def finished(self, key: str, results: list[PointResult]) -> None:
        pts = self.flight.pop(key)
        streamed = self.streamed.pop(key, set())
        results = [r for r in results if r.id not in streamed]
        done, failed = self._write(results)
        self.bars.finish(key, done, failed, len(pts) - len(results) - len(streamed))
        # The group's wall time (its training and tracing are shared by its points) goes to the group.
        d0, f0 = self.tally.pop(key, [0, 0])
        self.store.write_group(key, self.began.pop(key, time.time()), time.time(), [p.id for p in pts],
                               sweep=pts[0].sweep if pts else None, label=self.labels.get(key),
                               done=d0 + done, failed=f0 + failed)

    def failed_group(self, key: str, reason: str) -> None:
        pts = [p for p in self.flight[key] if p.id not in self.streamed.get(key, set())]
        self.finished(key, [PointResult(id=p.id, config=p.to_json(), status="failed", error=reason,
                                        sweep=p.sweep, label=p.label) for p in pts])

    def lost(self, key: str, reason: str) -> None:
        """A worker died with this group: hand its points back (redone by a rerun), or fail them
        after MAX_LOST deaths (a group that always kills its worker must not loop forever)."""
        pts = [p for p in self.flight[key] if p.id not in self.streamed.get(key, set())]
        ids = [p.id for p in pts]
        if not ids:   # every point was written before the worker died
            self.finished(key, [])
            return
        self.store.release(ids, self.owner, reason)
        if max(self.store.lost_count(i) for i in ids) >= MAX_LOST:
            self.failed_group(key, f"{reason}; {MAX_LOST} times on this group, so it is marked failed")
            return
        self.flight.pop(key)
        self.streamed.pop(key, None)
        self.began.pop(key, None)
        self.tally.pop(key, None)
        self.summary.lost += len(pts)
        self.bars.finish(key, 0, 0, len(pts))

    def give_back(self, key: str) -> None:
        """Return a claimed group to this run's queue, unpenalised (its worker died before starting it)."""
        pts = self.flight.pop(key)
        self.store.release([p.id for p in pts], self.owner)
        self.bars.running.discard(key)
        self.queue.insert(0, (key, self.by_key[key]))

    def wait_for_others(self) -> None:
        """Sleep a second while another run holds every remaining group; past WAIT_S, one error naming
        the groups (a wait is never endless)."""
        now = time.time()
        if self.waiting_since is None:
            self.waiting_since = now
        elif now - self.waiting_since > WAIT_S:
            held = ", ".join(self.labels[k] for k, _ in self.queue[:3]) + (", ..." if len(self.queue) > 3 else "")
            raise UserError("sweep", f"waited {WAIT_S:g} s for {len(self.queue)} group(s) another run holds ({held}); "
                                     "rerun when that run has finished (HWSIM_WAIT_S sets the wait)")
        time.sleep(1.0)

    def interrupted(self) -> None:
        """The run stops early (Ctrl-C, an error): hand every group in flight back, unpenalised."""
        for key, pts in list(self.flight.items()):
            self.store.release([p.id for p in pts], self.owner)
            self.flight.pop(key)


def run_points(points: list[DesignPoint], db: str | Path, *, workers: int = 2, backend: str = "local",
               address: str | None = None, progress: bool | str = False, retry_failed: bool = False,
               evaluator: str = DEFAULT_EVALUATOR, sweep: str = "", pool: WorkerPool | None = None,
               store: Store | None = None) -> RunSummary:
    """Evaluate every point not yet in the store ``db``; write each as it finishes.

    ``pool``: local workers kept across calls (:class:`WorkerPool`; its size and evaluator are used).
    ``store``: ``db`` opened already, by a caller that runs it many times (a search, once per generation);
    left open.

    ``progress``: True or "bars" (rich bars), "lines" (a line at least every 10 s, for logs), False."""
    t0 = time.time()
    timeline.mark("parent", "run_points")
    if backend not in ("local", "ray"):
        raise UserError("--backend", f"unknown backend {backend!r}; expected local or ray")
    if workers < 0:
        raise UserError("--workers", "must be >= 0")
    own = store is None
    store = Store(db) if store is None else store
    owner = owner_id()
    beat = None
    try:
        todo = pending(points, store, retry_failed)
        summary = RunSummary(total=len(points), skipped=len(points) - len(todo))
        store.enqueue((p.id, p.to_json(), p.sweep, p.label) for p in todo)
        groups = groups_of(todo)
        mode = ("bars" if progress in (True, "bars") else "lines" if progress == "lines" else "off") if todo else "off"
        bars = _Bars(mode, len(todo), sweep)
        run = _Run(store, groups, retry_failed, summary, bars, owner)
        beat = _Heartbeat(db, owner)
        try:
            if not groups:
                pass
            elif backend == "ray":
                _run_ray(run, evaluator, workers, address)
            elif workers == 0:
                _run_inline(run, evaluator)
            else:
                if pool is not None:
                    pool.run(run)
                else:
                    _run_pool(run, evaluator, workers)
        except BaseException:
            run.interrupted()
            raise
        finally:
            bars.close()
        summary.wall_s = time.time() - t0
        timeline.mark("parent", "done")
        return summary
    finally:
        if beat is not None:
            beat.stop()
        if own:
            store.close()


def _run_inline(run: _Run, evaluator: str) -> None:
    fn = _load_evaluator(evaluator)
    while run.queue:
        g = run.take()
        if g is None:              # every remaining group is held by another run: wait for it
            run.wait_for_others()
            continue
        run.waiting_since = None
        key, pts = g
        kw: dict[str, Any] = {"emit": lambda r, key=key: run.point(key, r)} if _takes_emit(fn) else {}
        run.finished(key, fn(pts, key=key, progress=run.bars.stage, **kw))


def _cost_estimate(pts: list[DesignPoint]) -> float:
    """A group's relative cost, for longest-first scheduling: forward MACs per sample (meta
    tensors, no data) x epochs for trained points; literature points are cheap and equal."""
    p = pts[0]
    if p.accuracy_source != "train" or p.recipe is None:
        return 0.0
    try:
        shape = p.input_shape
        macs = _model_macs(p.model.name, json.dumps(p.model.args, sort_keys=True), p.num_classes,
                           type(shape).__name__, shape)
        return float(macs) * float(p.recipe.epochs)
    except Exception:  # an estimate only: never let it stop a sweep
        return 0.0


@functools.cache
def _model_macs(name: str, args_json: str, num_classes: int | None, shape_kind: str,
                input_shape: tuple[int, ...]) -> int:
    """Forward MACs of one sample of the float network: its inference pass at batch 1, counted by the
    evaluation route (:func:`hwsim.evaluate.trace_workload`), so a later run reads it from the trace cache
    without importing torch; once per distinct network (many groups share one). ``shape_kind`` keeps a
    token input apart from a tensor input of the same sizes."""
    from hwsim.evaluate import trace_workload
    from hwsim.schemes import build_scheme
    from hwsim.workload import Workload

    w = Workload(model=name, scheme=build_scheme("fp32"), input_shape=input_shape, num_classes=num_classes,
                 batch=1, infer_batch=1, model_args=json.loads(args_json))
    infer = trace_workload(w, train=False, infer=True).infer
    assert infer is not None
    return int(sum(infer.totals()["macs"].values()))


class _Worker:
    def __init__(self, ctx: Any, evaluator: str, keep: bool = False):
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child, os.getpid(), evaluator, keep), daemon=True)
        # the worker starts with SIGINT ignored (inherited through exec), so a Ctrl-C while it is still
        # importing cannot print a traceback; the parent keeps its own handler
        try:
            old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:   # not the main thread: signals are not ours to change
            old = None
        try:
            self.proc.start()
            timeline.mark("parent", f"started worker {self.proc.pid}")
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)
        child.close()
        self.key: str | None = None
        self.stage = ""                   # what the worker last said it was doing
        self.seen = time.time()           # when it last sent something or used CPU time
        self.cpu = -1.0
        self.share: list[DesignPoint] | None = None   # its points, when its group is split
        self.held: set[str] = set()                       # keys of the groups it was sent (or holds from its fork)
        self.priced: set[str] = set()                     # keys of the groups it was sent

    def stalled(self, now: float) -> bool:
        """Neither a message nor CPU time for STALL_S seconds (a stopped or deadlocked worker)."""
        cpu = _cpu_seconds(self.proc.pid)
        if cpu is not None and cpu != self.cpu:
            self.cpu, self.seen = cpu, now
        return now - self.seen > STALL_S

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, BrokenPipeError):
            pass


class _Split:
    """One claimed group priced by several workers ("send the trace, not the work of tracing"): its
    first share (the lead) trains and traces and sends the group's state back before pricing; the
    other shares then go to idle workers with that state and are only priced. Each share's results
    are written as they come; the group ends (``run.finished``, or ``run.lost`` when a worker died
    with a share) when no share is left. Points stay claimed per group, as unsplit."""

    def __init__(self, run: _Run, key: str, pts: list[DesignPoint], workers: int, held: bool = False):
        size = max(MIN_SHARE, -(-len(pts) // (SHARES_PER_WORKER * workers)))
        self.run, self.key, self.workers, self.size = run, key, workers, size
        # (is the lead, points); the points after the first share are cut into shares as they are handed
        # out. held: every worker keeps the group's state already (a search's kept pool), so no share leads
        # and none waits for a state sent through the pipes
        self.waiting: list[tuple[bool, list[DesignPoint]]] = [(not held, pts[:size])] + (
            [(False, pts[size:])] if pts[size:] else [])
        self.state: str | None = None
        self.ready = held       # the state came, or the lead ended without one (followers work alone)
        self.out = 0            # shares at workers
        self.lost_reason: str | None = None

    def next(self) -> tuple[tuple[Any, ...], list[DesignPoint]] | None:
        """The next share to send (message, points), or None while it waits for the lead's state."""
        if not self.waiting or (not self.waiting[0][0] and not self.ready):
            return None
        lead, pts = self.waiting.pop(0)
        if not lead:   # guided: large shares while much is left, small ones at the end (no worker idles long)
            left = len(pts) + sum(len(sh) for _, sh in self.waiting)
            n = min(self.size, max(TAIL_SHARE, -(-left // (2 * self.workers))))
            if len(pts) > n:
                self.waiting.insert(0, (False, pts[n:]))
                pts = pts[:n]
        self.out += 1
        return (self.key, pts, ("lead", None) if lead else ("follow", self.state)), pts

    def give_back(self, msg: tuple[Any, ...]) -> None:
        """The worker it went to had died idle: the share waits for the next one."""
        self.out -= 1
        self.waiting.insert(0, (msg[2][0] == "lead", msg[1]))

    def shared(self, state: str) -> None:
        self.state, self.ready = state, True

    def done(self, results: list[PointResult]) -> bool:
        for r in results:
            self.run.point(self.key, r)
        self.ready = True
        return self._end()

    def failed(self, pts: list[DesignPoint], reason: str) -> bool:
        """The evaluator raised on a share; before the state came, the group's unsent shares fail with it."""
        if not self.ready:
            pts = pts + [p for _, sh in self.waiting for p in sh]
            self.waiting = []
        written = self.run.streamed.get(self.key, set())
        return self.done([PointResult(id=p.id, config=p.to_json(), status="failed", error=reason,
                                      sweep=p.sweep, label=p.label) for p in pts if p.id not in written])

    def lost(self, reason: str) -> bool:
        """A worker died with a share: its unwritten points are handed back when the group ends (and,
        if no state had come, the unsent shares with them)."""
        self.lost_reason = reason
        if not self.ready:
            self.waiting = []
        self.ready = True
        return self.done([])

    def _end(self) -> bool:
        self.out -= 1
        if self.out or self.waiting:
            return False
        if self.lost_reason is not None:
            self.run.lost(self.key, self.lost_reason)
        else:
            self.run.finished(self.key, [])
        return True


def _next_job(run: _Run, splits: dict[str, _Split], workers: int, can_split: bool, held: Collection[str] = (),
              ) -> tuple[tuple[Any, ...], list[DesignPoint] | None] | None:
    """What an idle worker does next: a share of a split group whose state has come, else the next
    group (split when it is large enough to keep more than one worker busy). ``held``: the groups every
    worker keeps the state of (split without a lead)."""
    for sp in splits.values():
        job = sp.next()
        if job is not None:
            return job
    g = run.take() if run.queue else None
    if g is None:
        return None
    if can_split and workers > 1 and len(g[1]) >= 2 * MIN_SHARE:
        splits[g[0]] = _Split(run, g[0], g[1], workers, held=g[0] in held)
        return splits[g[0]].next()
    return g, None


class WorkerPool:
    """Local worker processes kept across :func:`run_points` calls, for a search that evaluates one
    generation per call: no worker is started per generation, and each keeps the groups it trained
    and traced (hwsim.pipeline caches a group's state by its key), so a generation's points that
    fall in a group a worker has seen are only priced. ``with WorkerPool(2) as pool: run_points(...,
    pool=pool)``.

    :meth:`start` forks the workers from this process once it has loaded and warmed what they need
    (:func:`hwsim.sweep.warm.warm`), so no worker imports torch or pays torch's first trace itself;
    without it (or where forking is not safe), workers are spawned as in a plain run."""

    def __init__(self, workers: int, evaluator: str = DEFAULT_EVALUATOR):
        if workers < 1:
            raise UserError("--workers", "a worker pool needs at least 1 worker")
        self.workers, self.evaluator = workers, evaluator
        self.idle: list[_Worker] = []

    def start(self, prepare: Callable[[], Collection[str]] | None = None) -> bool:
        """Fork every worker now, from this process warmed (:mod:`hwsim.sweep.warm`). Only while this
        process runs one thread (a fork copies no other thread, and a lock one of them held would stay
        held in the child) and where ``fork`` exists; otherwise False, and workers are spawned when
        needed. A worker that dies later is replaced by a spawned one. ``prepare``: called first, when
        the workers will be forked; it returns the keys of the groups whose states this process now
        keeps (:func:`hwsim.pipeline.prepare_groups`): every forked worker holds them, so any idle one
        prices them without tracing."""
        if threading.active_count() > 1 or "fork" not in mp.get_all_start_methods():
            return False
        held: set[str] = set()
        try:   # preparing and warming save work only: a worker traces and loads what it lacks itself
            held = set(prepare()) if prepare is not None else held
            _load_evaluator(self.evaluator)
            from hwsim import trace_cache
            from hwsim.sweep.warm import warm

            # the kept groups' traces all came from the trace cache: the workers need not count
            warm(count=not held or trace_cache.counts.counted > 0)
        except Exception:
            pass
        ctx = mp.get_context("fork")
        while len(self.idle) < self.workers:
            self.idle.append(_Worker(ctx, self.evaluator, keep=True))
            self.idle[-1].held |= held
        return True

    def run(self, run: _Run) -> None:
        _run_pool(run, self.evaluator, self.workers, keep=self)

    def close(self) -> None:
        _stop_workers(self.idle)
        self.idle = []

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stop_workers(pool: list[_Worker]) -> None:
    for w in pool:
        w.stop()
    for w in pool:
        w.proc.join(timeout=2)
        if w.proc.is_alive():
            w.proc.kill()
            w.proc.join(timeout=2)


def _idle_worker(pool: list[_Worker], queue: list[tuple[str, Any]]) -> _Worker | None:
    """An idle kept worker: first one that priced a queued group before, else one that holds (has
    trained and traced, or was forked holding) a queued group."""
    idle = [w for w in pool if w.key is None]
    keys = {g[0] for g in queue}
    return (next((w for w in idle if w.priced & keys), None) or next((w for w in idle if w.held & keys), None)
            or (idle[0] if idle else None))


def _queue_for(w: _Worker | None, pool: list[_Worker], queue: list[tuple[str, Any]]) -> bool:
    """Order the queue for kept worker ``w`` (None: one about to start): the groups it holds first, then
    those no worker holds. False when every queued group is held by another live worker, whose kept
    state prices it without tracing it again. Among groups it holds, those it priced before come first
    and those another worker priced last: when every worker holds every group (forked holding them), a
    group keeps going to the worker that has derived its work items and simulated its layers."""
    mine, priced = (w.held, w.priced) if w is not None else (set(), set())
    live = [o for o in pool if o is not w and o.proc.is_alive()]
    others = set().union(*(o.held for o in live))
    others_priced = set().union(*(o.priced for o in live))
    queue.sort(key=lambda g: (g[0] not in mine, g[0] in others, g[0] not in priced, g[0] in others_priced))
    return bool(queue) and (queue[0][0] in mine or queue[0][0] not in others)


def _run_pool(run: _Run, evaluator: str, workers: int, keep: WorkerPool | None = None) -> None:
    """Groups on ``workers`` spawn processes, longest first (so no long group starts last and runs
    alone). Each worker has its own pipe, so a dead one costs only its own group; a fresh worker
    takes its place while work remains. With ``keep``, its idle workers are used and the live idle
    ones go back to it at the end instead of being stopped."""
    ctx = mp.get_context("spawn")
    pool: list[_Worker] = keep.idle if keep is not None else []
    splits: dict[str, _Split] = {}
    can_split = _takes_share(_load_evaluator(evaluator))
    # the workers the queue keeps busy start now, before its groups are ordered, claimed and sent: their
    # start-up (a new interpreter and its imports) overlaps the parent's cost estimates (a count of each
    # trained network), its claims and each other's
    pool += [_Worker(ctx, evaluator, keep=keep is not None)
             for _ in range(min(workers, _jobs(run.queue, workers, can_split)) - len(pool))]
    try:
        run.queue.sort(key=lambda g: -_cost_estimate(g[1]))
        timeline.mark("parent", "ordered the groups")
        while run.queue or run.flight:
            while run.queue or splits:   # hand work to idle workers, starting new ones up to `workers`
                w = _idle_worker(pool, run.queue) if keep is not None else next(
                    (w for w in pool if w.key is None), None)
                if w is None and len(pool) >= workers:
                    break
                if keep is not None and not splits and not _queue_for(w, pool, run.queue):
                    break   # what is left is held by a busy worker: it waits for that one, not a second trace
                job = _next_job(run, splits, workers, can_split, _held_by_all(pool) if keep is not None else ())
                if job is None:
                    break
                g, share = job
                if w is None:
                    w = _Worker(ctx, evaluator, keep=keep is not None)
                    pool.append(w)
                try:
                    w.conn.send((g[0], [p.wire() for p in g[1]], *g[2:]))
                    timeline.mark("parent", f"sent {len(g[1])} points to worker {w.proc.pid}")
                    w.key, w.share, w.seen, w.stage = g[0], share, time.time(), "starting"
                    w.held.add(g[0])
                    w.priced.add(g[0])
                except OSError:   # it died idle: the group (or share) goes back, unpenalised
                    if share is not None:
                        splits[g[0]].give_back(g)
                    else:
                        run.give_back(g[0])
                    pool.remove(w)
            if len(pool) < workers and any(sp.waiting for sp in splits.values()):
                # a split group's shares wait for its trace: start their worker meanwhile, not after
                pool.append(_Worker(ctx, evaluator, keep=keep is not None))
            if not run.flight:    # every remaining group is held by another live run: wait for it
                run.wait_for_others()
                continue
            run.waiting_since = None
            busy = [w for w in pool if w.key is not None]
            ready = set(mp_wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=0.5))
            now = time.time()
            for w in busy:
                # a worker that died after the wait returned is served too (its pipe reads EOF):
                # dropped unserved, its group would stay in flight and the run would never end
                if w.conn in ready or w.proc.sentinel in ready or not w.proc.is_alive():
                    w.seen = now
                    _serve(run, w, splits)
                elif w.stalled(now):
                    _stop_stalled(run, w, splits)
            pool = [w for w in pool if w.proc.is_alive() or w.key is not None]
    finally:
        if keep is not None:   # idle live workers stay for the next call; busy ones (interrupted) stop
            keep.idle = [w for w in pool if w.key is None and w.proc.is_alive()]
            pool = [w for w in pool if w not in keep.idle]
        _stop_workers(pool)


def _held_by_all(pool: list[_Worker]) -> set[str]:
    """The groups whose states every live kept worker holds."""
    live = [w.held for w in pool if w.proc.is_alive()]
    return set.intersection(*live) if live else set()


def _jobs(queue: list[tuple[str, list[DesignPoint]]], workers: int, can_split: bool) -> int:
    """How many workers the queued groups can keep busy at once: one per group, ``workers`` for a group
    that is split."""
    return sum(workers if can_split and workers > 1 and len(pts) >= 2 * MIN_SHARE else 1 for _, pts in queue)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), or None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _stop_stalled(run: _Run, w: _Worker, splits: dict[str, _Split] | None = None) -> None:
    """Kill a stalled worker; its group's points become failed-for-now with the reason (a rerun redoes
    them), so a hang ends as an error naming the group and where it stood."""
    w.proc.kill()
    w.proc.join(timeout=5)
    key = w.key
    reason = (f"lost: its worker stalled (no progress and no CPU time for {STALL_S:g} s, at {w.stage or 'start'}) "
              f"on {run.labels.get(key, key)}; it was stopped; rerun the sweep to redo it")
    if w.share is not None and splits is not None:   # a share of a split group: only that share goes back
        if splits[key].lost(reason):
            splits.pop(key)
        w.key = w.share = None
        return
    w.key = None
    run.lost(key, reason)


def _serve(run: _Run, w: _Worker, splits: dict[str, _Split] | None = None) -> None:
    """Read what a worker sent; if it died, hand its group back."""
    if w.share is not None and splits is not None:
        _serve_share(run, w, splits)
        return
    while w.key is not None:
        msg = _receive(w)
        if msg is None:
            return
        if msg is _DIED:
            run.lost(w.key, _death(w))
            w.key = None
            return
        kind, key = msg[0], msg[1]
        if kind == "stage":
            w.stage = f"{msg[2]} {msg[3]}/{msg[4]}"
            run.bars.stage(key, *msg[2:])
        elif kind == "points":
            for r in msg[2]:
                run.point(key, r)
            timeline.mark("parent", f"wrote {len(msg[2])} points")
        elif kind == "result":
            run.finished(key, msg[2])
            w.key = None
        elif kind == "error":
            run.failed_group(key, msg[2])
            w.key = None


_DIED = object()   # what _receive gives for a worker whose process ended


def _receive(w: _Worker) -> Any:
    """A worker's next message; None while it is alive and has sent nothing; _DIED once its pipe is
    closed or its process ended with nothing left to read."""
    try:
        if not w.conn.poll():
            return None if w.proc.is_alive() else _DIED
        return w.conn.recv()
    except (EOFError, OSError):
        return _DIED


def _death(w: _Worker) -> str:
    """Why a worker's group (or share) is handed back: how its process ended."""
    w.proc.join(timeout=1)
    code = w.proc.exitcode
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
    return f"lost: its worker process died ({how}; killed, out of memory or a crash); rerun the sweep to redo it"


def _serve_share(run: _Run, w: _Worker, splits: dict[str, _Split]) -> None:
    """:func:`_serve` for a worker holding a share of a split group."""
    while w.key is not None:
        sp = splits[w.key]
        msg = _receive(w)
        if msg is None:
            return
        if msg is _DIED:
            ended = sp.lost(_death(w))
        else:
            kind = msg[0]
            if kind == "stage":
                w.stage = f"{msg[2]} {msg[3]}/{msg[4]}"
                run.bars.stage(w.key, *msg[2:])
                continue
            if kind == "points":
                for r in msg[2]:
                    run.point(w.key, r)
                timeline.mark("parent", f"wrote {len(msg[2])} points")
                continue
            if kind == "shared":
                timeline.mark("parent", f"got the group's state ({len(msg[2]) / 1e6:.1f} MB)")
                sp.shared(msg[2])
                continue
            ended = sp.done(msg[2]) if kind == "result" else sp.failed(w.share or [], msg[2])
        if ended:
            splits.pop(w.key)
        w.key = w.share = None


def _run_ray(run: _Run, evaluator: str, workers: int, address: str | None) -> None:
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
        refs: dict[Any, str] = {}
        while run.queue or refs:
            while run.queue:
                g = run.take()
                if g is None:
                    break
                refs[remote.remote(evaluator, g[0], [p.wire() for p in g[1]])] = g[0]
            if not refs:
                time.sleep(1.0)   # held by another run
                continue
            done, _ = ray.wait(list(refs), num_returns=1, timeout=1.0)
            for r in done:
                key = refs.pop(r)
                try:
                    results = ray.get(r)
                except Exception as e:   # the task's worker died or the task raised
                    run.lost(key, f"lost: its Ray task failed ({type(e).__name__}); rerun the sweep to redo it")
                    continue
                run.finished(key, results)
    finally:
        if own:
            ray.shutdown()


def summary_rows(db: str | Path, ids: list[str]) -> list[DesignPoint]:
    """Rows for the end-of-sweep table: label, status, headline metrics, error."""
    from hwsim import labels

    with Store(db, readonly=True) as s:
        out, configs = [], []
        for pid in ids:
            try:
                d = s.point(pid)
            except UserError:
                continue
            m = d["metrics"]
            configs.append(d["config"])
            out.append({"id": pid, "label": d.get("label") or "", "status": d["status"],
                        "accuracy": m.get("accuracy"), "train_energy_pj_per_step": m.get("train_energy_pj_per_step"),
                        "infer_energy_pj": m.get("infer_energy_pj"), "latency_cycles": m.get("latency_cycles"),
                        "train_memory_bytes": m.get("train_memory_bytes"), "wall_s": d.get("wall_s"),
                        "error": d.get("error")})
        # the readable name of each point, with what varies among these points (hwsim.labels)
        for row, name in zip(out, labels.design_names(configs)):
            row["name"] = name or row["label"]
        return out
