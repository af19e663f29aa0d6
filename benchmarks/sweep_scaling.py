"""Speed-up of 2 local sweep workers over 1 on the quickstart sweep (goal: at least 1.8).

    python benchmarks/sweep_scaling.py [--sweep configs/sweeps/quickstart.yaml] [--workers 2]
    python benchmarks/sweep_scaling.py --hardware resnet50 [--clocks 2]
        (a hardware sweep with one scheme: tpu_like rows x cols x dataflow x ifmap buffer x clock,
         96 x clocks points of one group (192 by default); goal: at least 1.8x and 2,000 hardware points
         per minute on 2 cores)
    ... [--trace-cache cold|warm|both]   (default both)

The trace cache (hwsim.trace_cache) keeps counted traces between runs. ``cold``: every run (1 worker,
then N) starts from its own empty cache, so its workers import torch and count each group's traces,
as on a first run; ``warm``: the cache is filled first (the sweep's groups traced in a separate
process), then both runs read their traces from it and their workers never import torch, as on any
later run of the same workloads under the same code. ``both`` runs cold, then warm, and prints the
figures side by side. Groups that train are counted on their real step after training and are not
cached, so a warm cache changes little for the quickstart (it trains).

With one scheme every point is in one group (one trace): 2 workers help only because the runner
splits a group's hardware points across workers that share its trace (hwsim/sweep/runner.py).

Runs the whole sweep twice into fresh temporary stores, first with 1 worker process, then with
N, side by side in one run, and prints both wall times and their ratio. Both runs use the same
runner (spawn process pool, torch limited to 1 thread per worker), so the ratio measures the
parallel runner, not thread settings. It also checks that both stores hold the same metrics.
Per run it prints the CPU per point (worker processes' CPU seconds over the points, and this process's,
which writes the store), how long the run took to write its first point (start-up: worker
processes, imports, training or tracing) and the throughput after that. CPU per point is what to
compare on a busy machine. The machine's load average and the CPU the workers got (CPU seconds of
the worker processes per wall second) are printed: on a machine other processes keep busy, Linux's autogroup scheduler
gives this command's session one share however many workers it starts, and the ratio says
nothing about the runner; it needs idle cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from hwsim.sweep.expand import load_points
from hwsim.sweep.runner import run_points

# fills the trace cache with the traces of a sweep file's groups (those that train nothing)
FILL = ("import sys; from hwsim.pipeline import prepare_groups; from hwsim.sweep.expand import load_points; "
        "print(len(prepare_groups(load_points(sys.argv[1])[1])))")

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


@contextmanager
def trace_cache_at(folder: Path):
    """The trace cache on, in ``folder``, for this process and the workers it starts."""
    before = {k: os.environ.get(k) for k in ("HWSIM_CACHE_DIR", "HWSIM_TRACE_CACHE")}
    os.environ.update(HWSIM_CACHE_DIR=str(folder), HWSIM_TRACE_CACHE="1")
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def fill_trace_cache(sweep_file: Path, folder: Path) -> int:
    """Trace the sweep's groups into the cache at ``folder``, in a process of their own."""
    with trace_cache_at(folder):
        p = subprocess.run([sys.executable, "-c", FILL, str(sweep_file)], capture_output=True, text=True, check=True)
    return int(p.stdout.split()[-1])


def measure(points: list, sweep: str, workers: int, mode: str, sweep_file: Path, d: Path) -> dict:
    """Both runs (1 worker, then ``workers``) with a cold or a warm trace cache; their figures."""
    times, cpus, after, first_s = {}, {}, {}, {}
    if mode == "warm":
        t0 = time.perf_counter()
        n = fill_trace_cache(sweep_file, d / "cache-warm")
        print(f"[warm] trace cache filled with {n} groups' traces in {time.perf_counter() - t0:.1f} s "
              "(not counted below)")
    for n in (1, workers):
        db = d / f"{mode}-w{n}.db"
        with trace_cache_at(d / ("cache-warm" if mode == "warm" else f"cache-cold-w{n}")):
            cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            me0 = resource.getrusage(resource.RUSAGE_SELF)
            t0, wall0 = time.perf_counter(), time.time()
            s = run_points(points, db, workers=n, sweep=sweep)
            times[n] = time.perf_counter() - t0
            cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            me1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        me = (me1.ru_utime - me0.ru_utime) + (me1.ru_stime - me0.ru_stime)
        first, last = first_written(db)
        first_s[n] = first - wall0
        cpus[n] = cpu / max(1, s.done)
        after[n] = (s.done - 1) / (last - first) * 60 if s.done > 1 and last > first else float("nan")
        print(f"[{mode} trace cache] workers={n}: {times[n]:.1f} s, {s.done / times[n] * 60:.0f} points/min  "
              f"(done {s.done}, failed {s.failed}); CPU per point: workers {cpus[n] * 1e3:.1f} ms, "
              f"this process {me / max(1, s.done) * 1e3:.1f} ms; first point written after "
              f"{first_s[n]:.1f} s, then {after[n]:.0f} points/min; workers got "
              f"{cpu / times[n]:.2f} CPUs on average, this process {me / times[n]:.2f}; "
              f"load average now {os.getloadavg()[0]:.2f}")
    same = metrics(d / f"{mode}-w1.db") == metrics(d / f"{mode}-w{workers}.db")
    print(f"[{mode} trace cache] identical metrics in both stores: {same}")
    return {"times": times, "cpus": cpus, "after": after, "first": first_s, "done": s.done, "same": same}


def side_by_side(res: dict[str, dict], w: int) -> None:
    """The cold and warm figures in two columns."""
    modes = list(res)
    rows = [("wall, 1 worker (s)", lambda r: f"{r['times'][1]:.1f}"),
            (f"wall, {w} workers (s)", lambda r: f"{r['times'][w]:.1f}"),
            (f"points/min, {w} workers", lambda r: f"{r['done'] / r['times'][w] * 60:.0f}"),
            (f"first point after, 1 / {w} workers (s)", lambda r: f"{r['first'][1]:.1f} / {r['first'][w]:.1f}"),
            (f"speed-up {w} over 1, whole run", lambda r: f"{r['times'][1] / r['times'][w]:.2f}"),
            (f"speed-up {w} over 1, after the first point", lambda r: f"{r['after'][w] / r['after'][1]:.2f}"),
            ("worker CPU per point, 1 worker (ms)", lambda r: f"{r['cpus'][1] * 1e3:.1f}"),
            ("identical metrics in both stores", lambda r: str(r["same"]))]
    print(f"{'':44s}" + "".join(f"{m + ' trace cache':>20s}" for m in modes))
    for name, f in rows:
        print(f"{name:44s}" + "".join(f"{f(res[m]):>20s}" for m in modes))
    if "cold" in res and "warm" in res:
        c, wm = res["cold"], res["warm"]
        print(f"identical metrics, cold against warm trace cache: {c['metrics'] == wm['metrics']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", default="configs/sweeps/quickstart.yaml")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--hardware", metavar="MODEL", default=None,
                    help="instead of --sweep: a one-scheme hardware sweep of MODEL on ImageNet shapes")
    ap.add_argument("--clocks", type=int, default=2,
                    help="with --hardware: clock frequencies from 500 to 1000 MHz (96 points each)")
    ap.add_argument("--trace-cache", choices=["cold", "warm", "both"], default="both",
                    help="cold: every run from an empty trace cache; warm: the cache filled first, both runs "
                         "read it; both: cold, then warm, side by side")
    args = ap.parse_args()
    modes = ["cold", "warm"] if args.trace_cache == "both" else [args.trace_cache]
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        if args.hardware:
            n = max(1, args.clocks)
            clocks = ", ".join(f"{500 + 500 * i / max(1, n - 1):g}" for i in range(n))
            f = d / "hw.yaml"
            f.write_text(HARDWARE.format(model=args.hardware, clocks=clocks))
        else:
            f = Path(args.sweep)
        sw, points = load_points(f)
        print(f"sweep {sw.name}: {len(points)} points, {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.2f}; trace cache: {' then '.join(modes)}")
        res = {m: measure(points, sw.name, args.workers, m, f, d) for m in modes}
        if len(modes) == 2:
            res["cold"]["metrics"] = metrics(d / "cold-w1.db")
            res["warm"]["metrics"] = metrics(d / "warm-w1.db")
    w = args.workers
    for m, r in res.items():
        print(f"[{m} trace cache] speed-up of {w} workers over 1: {r['times'][1] / r['times'][w]:.2f} (whole run), "
              f"{r['after'][w] / r['after'][1]:.2f} (after the first point); worker CPU per point "
              f"{r['cpus'][1] * 1e3:.1f} ms (1 worker) vs {r['cpus'][w] * 1e3:.1f} ms ({w} workers)")
    side_by_side(res, w)

if __name__ == "__main__":
    main()
