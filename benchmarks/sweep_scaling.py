"""Speed-up of 2 local sweep workers over 1 on the quickstart sweep (goal: at least 1.8).

    python benchmarks/sweep_scaling.py [--sweep configs/sweeps/quickstart.yaml] [--workers 2]

Runs the whole sweep twice into fresh temporary stores, first with 1 worker process, then with
N, side by side in one run, and prints both wall times and their ratio. Both runs use the same
runner (spawn process pool, torch limited to 1 thread per worker), so the ratio measures the
parallel runner, not thread settings. It also checks that both stores hold the same metrics.
The machine's load average and the CPU the workers got (CPU seconds of the worker processes per
wall second) are printed: on a machine other processes keep busy, Linux's autogroup scheduler
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


def metrics(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return sorted(con.execute("SELECT point, name, value FROM metrics").fetchall())
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", default="configs/sweeps/quickstart.yaml")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    sw, points = load_points(args.sweep)
    print(f"sweep {sw.name}: {len(points)} points, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    times = {}
    with tempfile.TemporaryDirectory() as d:
        for n in (1, args.workers):
            db = Path(d) / f"w{n}.db"
            cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            me0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            s = run_points(points, db, workers=n, sweep=sw.name)
            times[n] = time.perf_counter() - t0
            cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            me1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
            me = (me1.ru_utime - me0.ru_utime) + (me1.ru_stime - me0.ru_stime)
            print(f"workers={n}: {times[n]:.1f} s  (done {s.done}, failed {s.failed}; workers got "
                  f"{cpu / times[n]:.2f} CPUs on average, this process {me / times[n]:.2f}; "
                  f"load average now {os.getloadavg()[0]:.2f})")
        same = metrics(Path(d) / "w1.db") == metrics(Path(d) / f"w{args.workers}.db")
    print(f"identical metrics in both stores: {same}")
    print(f"speed-up of {args.workers} workers over 1: {times[1] / times[args.workers]:.2f}")


if __name__ == "__main__":
    main()
