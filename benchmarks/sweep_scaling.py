"""Speed-up of 2 local sweep workers over 1 on the quickstart sweep (goal: at least 1.8).

    python benchmarks/sweep_scaling.py [--sweep configs/sweeps/quickstart.yaml] [--workers 2]
    python benchmarks/sweep_scaling.py --hardware resnet50 [--clocks 2]
        (a hardware sweep with one scheme: tpu_like rows x cols x dataflow x ifmap buffer x clock,
         96 x clocks points of one group (192 by default); goal: at least 1.8x and 2,000 hardware points
         per minute on 2 cores)

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
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", default="configs/sweeps/quickstart.yaml")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--hardware", metavar="MODEL", default=None,
                    help="instead of --sweep: a one-scheme hardware sweep of MODEL on ImageNet shapes")
    ap.add_argument("--clocks", type=int, default=2,
                    help="with --hardware: clock frequencies from 500 to 1000 MHz (96 points each)")
    args = ap.parse_args()
    if args.hardware:
        n = max(1, args.clocks)
        clocks = ", ".join(f"{500 + 500 * i / max(1, n - 1):g}" for i in range(n))
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "hw.yaml"
            f.write_text(HARDWARE.format(model=args.hardware, clocks=clocks))
            sw, points = load_points(f)
    else:
        sw, points = load_points(args.sweep)
    print(f"sweep {sw.name}: {len(points)} points, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    times, cpus, after = {}, {}, {}
    with tempfile.TemporaryDirectory() as d:
        for n in (1, args.workers):
            db = Path(d) / f"w{n}.db"
            cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            me0 = resource.getrusage(resource.RUSAGE_SELF)
            t0, wall0 = time.perf_counter(), time.time()
            s = run_points(points, db, workers=n, sweep=sw.name)
            times[n] = time.perf_counter() - t0
            cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            me1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
            me = (me1.ru_utime - me0.ru_utime) + (me1.ru_stime - me0.ru_stime)
            first, last = first_written(db)
            cpus[n] = cpu / max(1, s.done)
            after[n] = (s.done - 1) / (last - first) * 60 if s.done > 1 and last > first else float("nan")
            print(f"workers={n}: {times[n]:.1f} s, {s.done / times[n] * 60:.0f} points/min  "
                  f"(done {s.done}, failed {s.failed}); CPU per point: workers {cpus[n] * 1e3:.1f} ms, "
                  f"this process {me / max(1, s.done) * 1e3:.1f} ms; first point written after "
                  f"{first - wall0:.1f} s, then {after[n]:.0f} points/min; workers got "
                  f"{cpu / times[n]:.2f} CPUs on average, this process {me / times[n]:.2f}; "
                  f"load average now {os.getloadavg()[0]:.2f}")
        same = metrics(Path(d) / "w1.db") == metrics(Path(d) / f"w{args.workers}.db")
    w = args.workers
    print(f"identical metrics in both stores: {same}")
    print(f"speed-up of {w} workers over 1: {times[1] / times[w]:.2f} (whole run), "
          f"{after[w] / after[1]:.2f} (after the first point); worker CPU per point "
          f"{cpus[1] * 1e3:.1f} ms (1 worker) vs {cpus[w] * 1e3:.1f} ms ({w} workers)")


if __name__ == "__main__":
    main()
