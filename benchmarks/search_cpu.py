"""CPU seconds per evaluated point: a sweep's search (NSGA-II) against its full grid, side by side.

    python benchmarks/search_cpu.py [--sweep configs/sweeps/hardware_search.yaml] [--workers 2]

Runs the ``search:`` section into a fresh store (``hwsim.sweep.search.run_search``), then every
point of the grid into another (``run_points``), and prints for each the points evaluated, the CPU
seconds of this process and its workers, CPU per point, and the ratio of the two (goal: the
search at most 1.5x the grid). CPU time, not wall time, so the figure holds on a busy machine
better than a wall time would; the load average is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from hwsim.sweep.expand import load_points
from hwsim.sweep.runner import run_points
from hwsim.sweep.search import run_search, search_summary


def cpu_s() -> tuple[float, float]:
    """(this process, its finished workers) CPU seconds so far."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def spent(c0: tuple[float, float]) -> tuple[float, str]:
    c1 = cpu_s()
    me, kids = c1[0] - c0[0], c1[1] - c0[1]
    return me + kids, f"{me + kids:.1f} CPU-s ({me:.1f} this process, {kids:.1f} workers)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", default="configs/sweeps/hardware_search.yaml")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--grid-cpu-per-point", type=float, default=None,
                    help="skip the grid run and compare with this figure (from an earlier run)")
    args = ap.parse_args()
    sw, points = load_points(args.sweep)
    print(f"sweep {sw.name}: grid {len(points)} points, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    per = {}
    with tempfile.TemporaryDirectory() as d:
        c0, t0 = cpu_s(), time.time()
        res, ids = run_search(args.sweep, Path(d) / "search.db", workers=args.workers)
        (cpu, text), n = spent(c0), res.n_evaluated
        per["search"] = cpu / n
        found = search_summary(Path(d) / "search.db", ids, sw.search.objectives, sw.search.constraints)
        print(f"search: {n} points, {text}, {per['search']:.4f} CPU-s/point, wall {time.time() - t0:.1f} s; "
              f"{found.feasible} feasible, hypervolume of the feasible front {found.hypervolume_of_feasible:.3f} "
              f"(reference {found.reference}); load average now {os.getloadavg()[0]:.2f}")
        if args.grid_cpu_per_point is not None:
            per["grid"] = args.grid_cpu_per_point
            print(f"grid: not run; {per['grid']:.4f} CPU-s/point as given")
        else:
            c0, t0 = cpu_s(), time.time()
            s = run_points(points, Path(d) / "grid.db", workers=args.workers, sweep=sw.name)
            cpu, text = spent(c0)
            per["grid"] = cpu / max(1, s.done + s.failed)
            print(f"grid: {s.done + s.failed} points, {text}, {per['grid']:.4f} CPU-s/point, "
                  f"wall {time.time() - t0:.1f} s; load average now {os.getloadavg()[0]:.2f}")
    print(f"search CPU per point / grid CPU per point: {per['search'] / per['grid']:.2f}")


if __name__ == "__main__":
    main()
