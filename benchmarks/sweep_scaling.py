"""Speed-up of 2 local sweep workers over 1, on the quickstart or on a one-scheme hardware sweep.

    python benchmarks/sweep_scaling.py [--sweep configs/sweeps/quickstart.yaml] [--workers 2]
    python benchmarks/sweep_scaling.py --hardware resnet50 [--space scaling|search|both] [--clocks 2]
        [--trace-cache cold|warm|both] [--timeline]

Hardware spaces (one scheme, fp32, so every point is in one group; accuracy none):
  scaling  tpu_like rows x cols x dataflow x ifmap buffer x clock: 96 x ``--clocks`` points (192 by default)
  search   configs/sweeps/hardware_search.yaml's 648 accelerators (6 rows x 6 cols x 3 dataflows x 3 ifmap
           buffers x 2 clocks) with one scheme, on MODEL instead of ResNet-18
  both     the two, one after the other (the default with --hardware)
Goal for a hardware sweep: at least 1.8x and 2,000 hardware points per minute on 2 cores.

With one scheme every point is in one group (one trace): 2 workers help only because the runner
splits a group's hardware points across workers that share its trace (hwsim/sweep/runner.py).

Each sweep runs twice into fresh temporary stores, first with 1 worker process, then with N, and
the figures are printed side by side: wall time, points per minute, the speed-up over the whole run
and after the first point, S (the time from the call to the first point written: worker start-up,
imports, tracing), when the first group's traces were done (from the call) and the CPU seconds the
process that traced them had used by then (the serial start's CPU, less noisy than wall time on a busy
machine), the workers' and this process's CPU per point, and the load average before and after. It
also checks that both stores hold the same metrics. CPU per point is what to compare on a busy machine; the ratios need idle cores (on a machine other processes keep busy, Linux's autogroup
scheduler gives this command's session one share however many workers it starts).

``--trace-cache``: cold (the default: what a fresh user's first sweep gets) points ``HWSIM_CACHE_DIR``
at a new empty folder for every run, so each run traces; warm fills one folder first (the sweep's groups
traced in a process of their own, untimed) and runs both sides against it; both runs cold, then warm
(twice the time). Each table says which.

``--timeline``: also records every process's stages (:mod:`hwsim.timeline`) and prints, per run, the
merged timeline; ``--profile`` adds cProfile of the parent and of each worker (their top functions;
the profiler slows the workers, so its runs' times are not the figures).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib.util
import io
import os
import pstats
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from hwsim import timeline
from hwsim.sweep.expand import load_points
from hwsim.sweep.runner import run_points

HARDWARE = """\
name: hw_scaling
models: [{model}]
datasets: [imagenet]
schemes: [fp32]
accuracy: none
pricing: {{detail: summary, batch: 32}}
accelerators:
  - name: tpu_like
    vary:
      array.rows: [8, 16, 32, 64]
      array.cols: [8, 16, 32, 64]
      array.dataflow: [ws, os, is]
      sram.ifmap_kb: [256, 4096]
      clock_mhz: [{clocks}]
"""
# fills the trace cache with the traces of a sweep file's groups (those that train nothing)
FILL = ("import sys; from hwsim.pipeline import prepare_groups; from hwsim.sweep.expand import load_points; "
        "print(len(prepare_groups(load_points(sys.argv[1])[1])))")
SEARCH_FILE = Path(__file__).resolve().parent.parent / "configs" / "sweeps" / "hardware_search.yaml"


@dataclass
class Measured:
    workers: int
    wall_s: float
    done: int
    failed: int
    first_s: float        # S: from the call to the first point written
    after_per_min: float  # points per minute after the first point
    cpu_workers: float    # worker CPU seconds per point
    cpu_parent: float     # this process's CPU seconds per point
    load_after: float
    traced_s: float = float("nan")    # from the call to the group's traces done (counted or read back)
    traced_cpu: float = float("nan")  # the CPU seconds the process that traced had used by then

    @property
    def per_min(self) -> float:
        return self.done / self.wall_s * 60


def metrics(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return sorted(con.execute("SELECT point, name, value FROM metrics").fetchall())
    finally:
        con.close()


def first_written(db: Path) -> tuple[float, float]:
    """(when the first point was written, when the last was) in the store's time.time() clock."""
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT MIN(finished), MAX(finished) FROM points WHERE status = 'done'").fetchone()
    finally:
        con.close()


def search_space(model: str, d: Path) -> Path:
    """hardware_search.yaml's accelerators with one scheme on ``model``, as a grid (no search)."""
    doc = yaml.safe_load(SEARCH_FILE.read_text())
    doc.update(name=f"hw_search_{model}", models=[model], schemes=[doc["schemes"][0]])
    doc.pop("search", None)
    f = d / "search.yaml"
    f.write_text(yaml.safe_dump(doc, sort_keys=False))
    return f


@contextlib.contextmanager
def env(**kv: str | None) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in kv}
    for k, v in kv.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_once(points: list, db: Path, n: int, name: str, trace_dir: Path | None, profile: bool) -> Measured:
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    me0 = resource.getrusage(resource.RUSAGE_SELF)
    prof = cProfile.Profile() if trace_dir is not None and profile else None
    t0, wall0 = time.perf_counter(), time.time()
    if prof is not None:
        s = prof.runcall(run_points, points, db, workers=n, sweep=name)
        prof.dump_stats(str(trace_dir / f"parent-{os.getpid()}.prof"))
    else:
        s = run_points(points, db, workers=n, sweep=name)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    me1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    me = (me1.ru_utime - me0.ru_utime) + (me1.ru_stime - me0.ru_stime)
    first, last = first_written(db)
    after = (s.done - 1) / (last - first) * 60 if s.done > 1 and last > first else float("nan")
    return Measured(n, wall, s.done, s.failed, first - wall0, after, cpu / max(1, s.done), me / max(1, s.done),
                    os.getloadavg()[0])


def traced(path: Path, t0: float) -> tuple[float, float]:
    """(s from the call, CPU-s of its process) when the first group's traces were done: the serial start
    of a one-group sweep, before any point can be priced."""
    ends = [(t, cpu) for t, _, _, cpu, event in timeline.read(str(path)) if event == "trace ends"]
    return (ends[0][0] - t0, ends[0][1]) if ends else (float("nan"), float("nan"))


def show_timeline(trace_dir: Path, t0: float) -> None:
    rows = timeline.read(str(trace_dir / "timeline.txt"))
    names: dict[int, str] = {}
    for _, pid, role, _, _ in rows:
        names.setdefault(pid, role if role == "parent" else f"worker{sum(r != 'parent' for r in names.values()) + 1}")
    print("    timeline (s from the call, the process's CPU-s; events of the same kind in a row folded):")
    last: tuple[int, str] | None = None
    count = 0
    for t, pid, _, cpu, event in rows:
        kind = (pid, event.split(" ")[0])
        if kind == last and kind[1] in ("wrote", "sends"):
            count += 1
            continue
        if count:
            print(f"      {'':>7} {'':>6}  {'':<8} ... and {count} more like it")
        count, last = 0, kind
        print(f"      {t - t0:7.3f} {cpu:6.2f}  {names[pid]:<8} {event}")
    if count:
        print(f"      {'':>7} {'':>6}  {'':<8} ... and {count} more like it")
    for f in sorted(trace_dir.glob("*.prof")):
        pid = int(f.stem.split("-")[1])
        out = io.StringIO()
        st = pstats.Stats(str(f), stream=out)
        print(f"    {names.get(pid, f.stem)} ({f.stem}): {st.total_tt:.2f} CPU-s profiled; top by own time:")
        st.sort_stats("tottime").print_stats(10)
        body = out.getvalue().splitlines()
        start = next((i for i, line in enumerate(body) if line.lstrip().startswith("ncalls")), len(body))
        for line in body[start:start + 11]:
            if line.strip():
                print("      " + line)


def measure(sweep_path: Path, workers: int, cache: str, show: bool, profile: bool) -> list[tuple]:
    """Both runs (1 worker, then ``workers``) with a cold or a warm trace cache; prints their table and
    returns the 1-worker store's metrics."""
    sw, points = load_points(sweep_path)
    print(f"\nsweep {sw.name}: {len(points)} points, trace cache {cache}; load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    runs: dict[int, Measured] = {}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        warm_dir = d / "trace-cache-warm"
        if cache == "warm":
            t0 = time.perf_counter()
            with env(HWSIM_CACHE_DIR=str(warm_dir), HWSIM_TRACE_CACHE="1"):
                subprocess.run([sys.executable, "-c", FILL, str(sweep_path)], capture_output=True, check=True)
            print(f"  trace cache filled in {time.perf_counter() - t0:.1f} s (not counted below)")
        for n in (1, workers):
            cache_dir = warm_dir if cache == "warm" else d / f"trace-cache-cold-{n}"
            trace_dir = d / f"trace-{n}" if show else None
            if trace_dir is not None:
                trace_dir.mkdir()
            # every run keeps a timeline (a line per stage and per batch of points): it gives the serial start
            line_file = trace_dir / "timeline.txt" if trace_dir else d / f"timeline-{cache}-{n}.txt"
            with env(HWSIM_CACHE_DIR=str(cache_dir), HWSIM_TRACE_CACHE="1", HWSIM_TIMELINE=str(line_file),
                     HWSIM_PROFILE=str(trace_dir) if trace_dir and profile else None):
                t0 = time.time()
                runs[n] = run_once(points, d / f"w{n}.db", n, sw.name, trace_dir, profile)
            runs[n].traced_s, runs[n].traced_cpu = traced(line_file, t0)
            if trace_dir is not None:
                print(f"  workers={n}:")
                show_timeline(trace_dir, t0)
        figures = metrics(d / "w1.db")
        same = figures == metrics(d / f"w{workers}.db")
    one, many = runs[1], runs[workers]
    print(f"  {'workers':>7} {'wall s':>7} {'points/min':>10} {'S s':>6} {'traced s':>8} {'its CPU-s':>9} "
          f"{'after S /min':>12} {'CPU/pt workers':>14} {'CPU/pt parent':>13} {'failed':>6} {'load after':>10}")
    for m in (one, many):
        print(f"  {m.workers:>7} {m.wall_s:>7.1f} {m.per_min:>10,.0f} {m.first_s:>6.2f} {m.traced_s:>8.2f} "
              f"{m.traced_cpu:>9.2f} {m.after_per_min:>12,.0f} {m.cpu_workers * 1e3:>11.1f} ms "
              f"{m.cpu_parent * 1e3:>10.1f} ms {m.failed:>6} {m.load_after:>10.2f}")
    print(f"  speed-up of {workers} workers over 1: {one.wall_s / many.wall_s:.2f} (whole run), "
          f"{many.after_per_min / one.after_per_min:.2f} (after the first point); "
          f"identical metrics in both stores: {same}; trace cache: {cache}")
    return figures


def measure_modes(sweep_path: Path, args: argparse.Namespace, modes: list[str]) -> None:
    figures = [measure(sweep_path, args.workers, m, args.timeline or args.profile, args.profile) for m in modes]
    if len(figures) == 2:
        print(f"  identical metrics with a cold and a warm trace cache: {figures[0] == figures[1]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", default="configs/sweeps/quickstart.yaml")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--hardware", metavar="MODEL", default=None,
                    help="instead of --sweep: a one-scheme hardware sweep of MODEL on ImageNet shapes")
    ap.add_argument("--space", choices=("scaling", "search", "both"), default="both",
                    help="with --hardware: scaling (96 x --clocks points), search (hardware_search.yaml's "
                         "648 accelerators), or both")
    ap.add_argument("--clocks", type=int, default=2,
                    help="with --hardware --space scaling: clock frequencies from 500 to 1000 MHz (96 points each)")
    ap.add_argument("--trace-cache", choices=("cold", "warm", "both"), default="cold",
                    help="cold (the default): an empty trace cache for every run; warm: one filled first, "
                         "for both runs; both: cold, then warm")
    ap.add_argument("--timeline", action="store_true", help="print each run's timeline")
    ap.add_argument("--profile", action="store_true",
                    help="with --timeline: also each process's profile (slower runs)")
    args = ap.parse_args()
    has_cache = importlib.util.find_spec("hwsim.trace_cache") is not None
    mode = args.trace_cache
    modes = ["cold", "warm"] if mode == "both" else [mode]
    print(f"{os.cpu_count()} CPUs; trace cache {mode}"
          f"{'' if has_cache else ' (this hwsim has no trace cache: cold and warm are the same)'}")
    with tempfile.TemporaryDirectory() as d:
        if not args.hardware:
            measure_modes(Path(args.sweep), args, modes)
            return
        if args.space in ("scaling", "both"):
            n = max(1, args.clocks)
            clocks = ", ".join(f"{500 + 500 * i / max(1, n - 1):g}" for i in range(n))
            f = Path(d) / "hw.yaml"
            f.write_text(HARDWARE.format(model=args.hardware, clocks=clocks))
            measure_modes(f, args, modes)
        if args.space in ("search", "both"):
            measure_modes(search_space(args.hardware, Path(d)), args, modes)


if __name__ == "__main__":
    main()
