"""CPU seconds per evaluated point: a sweep's search (NSGA-II) against its full grid, side by side.

    python benchmarks/search_cpu.py [--sweep configs/sweeps/hardware_search.yaml] [--workers 2]
                                    [--trace-cache cold|warm|both]   (default both)
                                    [--search-runs 3]

Each side runs in a fresh Python process of its own, from the sweep file to a fresh store, with the
same number of workers and the same command, the one a person runs:
  search  ``hwsim sweep FILE --workers N --json`` (reads and checks the file, runs its ``search:``
          section, prints its summary with every point it evaluated);
  grid    the same ``hwsim sweep FILE --workers N --json`` with the file's ``search:`` section dropped
          as it is read (so it expands every point of the grid, runs them all and prints its summary
          with every point).
Both cover the same space: the search's ``grid_points`` (the product of its axes' lengths) is the
number of points the grid expands to.
A side's CPU is that process's user + system time from interpreter start to exit plus that of every
process it started and waited for (its workers), as ``getrusage(RUSAGE_CHILDREN)`` of this process
counts it once the side has exited. So both sides pay their start-up (imports, reading the file,
starting and warming workers, tracing each model x scheme group): the grid spreads it over every
point of the space, the search over the points it evaluates. CPU per point = that CPU / points
evaluated; the figure printed last is the search's over the grid's (goal: at most 1.5).
CPU time, not wall time, so the figure holds on a busy machine better than a wall time would; the
load average is printed beside it. A busy machine still slows CPU time itself (shared caches and
cores), and a search runs for seconds while the grid runs for minutes, so the search side runs
``--search-runs`` times (default 3: once before the grid and the others after it), each from a fresh
store (and, cold, a fresh trace cache), and its median counts.

The trace cache (hwsim.trace_cache) keeps counted traces between runs. ``cold``: each side starts from
an empty cache of its own and counts every group's traces, as on a first run; ``warm``: the cache is
filled first (the file's groups traced in a separate process, not counted), then both sides read their
traces from it, as on any later run of the same workloads under the same code. ``both`` measures cold,
then warm, and prints the ratios side by side, and each side's cold CPU less its warm CPU: what tracing
cost it (importing torch in each process that traces, and counting each group's traces once), a fixed
cost both sides pay, which the search spreads over far fewer points: the cold ratio is bounded below
by it, and the benchmark prints that bound (1 + the search's tracing CPU per point evaluated / the
grid's cold CPU per point).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _without_search() -> None:
    """The grid side: every read of a sweep file in this process drops its ``search:`` section, so
    ``hwsim sweep`` runs the file's whole grid."""
    from hwsim.sweep import schema

    read = schema.load_sweep

    def load_sweep(*a, **k):
        sw, lm = read(*a, **k)
        return sw.model_copy(update={"search": None}), lm

    schema.load_sweep = load_sweep


def side(kind: str, sweep: str, workers: int, db: Path) -> dict:
    """One side, in this (fresh) process: what it evaluated and how its CPU divides."""
    from hwsim.cli import main

    if kind == "grid":
        _without_search()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["sweep", sweep, "--db", str(db), "--workers", str(workers), "--json", "--no-progress"])
    if rc:
        sys.exit(f"hwsim sweep {sweep} exited {rc}")
    found = json.loads(buf.getvalue())
    if kind == "search":
        out = {"points": found["evaluated"], "space": found["grid_points"], "feasible": found["feasible"],
               "constraints": found["constraints"], "hypervolume_of_feasible": found["hypervolume_of_feasible"],
               "reference": found["reference"]}
    else:
        out = {"points": found["done"] + found["failed"], "space": found["total"]}
    return out | {"self_s": _cpu(resource.RUSAGE_SELF), "workers_s": _cpu(resource.RUSAGE_CHILDREN)}


# fills the trace cache with the traces of a sweep file's groups (those that train nothing)
FILL = ("import sys; from hwsim.pipeline import prepare_groups; from hwsim.sweep.expand import load_points; "
        "print(len(prepare_groups(load_points(sys.argv[1])[1])))")


def uncompiled() -> bool:
    """Whether each side's process compiles the project's modules from source: no cached bytecode next
    to them, and a Python told to write none (``PYTHONDONTWRITEBYTECODE``, as an editable install under
    such a setting runs). A fixed cost of each process, which the search spreads over far fewer points."""
    import hwsim

    cache = Path(hwsim.__file__).parent / "__pycache__"
    return sys.dont_write_bytecode and not any(cache.glob("cli.*.pyc"))


def cache_env(folder: Path) -> dict[str, str]:
    return dict(os.environ, HWSIM_CACHE_DIR=str(folder), HWSIM_TRACE_CACHE="1")


def run_side(kind: str, args: argparse.Namespace, d: str, cache: Path, run: int = 0) -> dict:
    c0, t0 = _cpu(resource.RUSAGE_CHILDREN), time.time()
    p = subprocess.run([sys.executable, __file__, "--side", kind, "--sweep", args.sweep, "--workers",
                        str(args.workers), "--db", str(Path(d) / f"{kind}-{run}.db")],
                       capture_output=True, text=True, check=False, env=cache_env(cache))
    if p.returncode:
        sys.exit(f"{kind} side failed (exit {p.returncode}):\n{p.stderr[-2000:]}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["cpu_s"], out["wall_s"] = _cpu(resource.RUSAGE_CHILDREN) - c0, time.time() - t0
    return out


def compare(args: argparse.Namespace, mode: str, cpu: dict[tuple[str, str], float],
            per_point: dict[tuple[str, str], float]) -> float:
    """Both sides with a cold or a warm trace cache; the search's CPU per point over the grid's. Each
    side's CPU goes into ``cpu`` and its CPU per point into ``per_point``, by (mode, side); the search's
    points evaluated into ``per_point[(mode, "points")]``."""
    per = {}
    with tempfile.TemporaryDirectory() as d:
        warm = Path(d) / "cache-warm"
        if mode == "warm":
            c0, t0 = _cpu(resource.RUSAGE_CHILDREN), time.time()
            out = subprocess.run([sys.executable, "-c", FILL, args.sweep], capture_output=True, text=True,
                                 check=True, env=cache_env(warm)).stdout.split()[-1]
            print(f"[warm] trace cache filled with {out} groups' traces: {_cpu(resource.RUSAGE_CHILDREN) - c0:.1f} "
                  f"CPU-s, wall {time.time() - t0:.1f} s (not counted below)")

        def search(i: int) -> dict:
            s = run_side("search", args, d, warm if mode == "warm" else Path(d) / f"cache-search-{i}", i)
            print(f"[{mode} trace cache] search run {i + 1}: {s['points']} points, {s['cpu_s']:.2f} CPU-s "
                  f"({s['self_s']:.2f} its process, {s['workers_s']:.2f} workers), wall {s['wall_s']:.1f} s; "
                  f"{s['feasible']} feasible ({'; '.join(s['constraints']) or 'no constraints'}), hypervolume of "
                  f"the feasible front {s['hypervolume_of_feasible']:.3f} (reference {s['reference']}); "
                  f"load average now {os.getloadavg()[0]:.2f}")
            return s

        # a search is short and the grid long, so a burst of load on the machine can fall on one and not
        # the other: the search runs before the grid and again after it, and its median counts
        runs = [search(0)]
        if args.grid_cpu_per_point is not None:
            per["grid"] = args.grid_cpu_per_point
            print(f"[{mode} trace cache] grid: not run; {per['grid']:.4f} CPU-s/point as given")
        else:
            g = run_side("grid", args, d, warm if mode == "warm" else Path(d) / "cache-grid")
            per["grid"] = g["cpu_s"] / max(1, g["points"])
            cpu[(mode, "grid")] = g["cpu_s"]
            print(f"[{mode} trace cache] grid: {g['points']} points, {g['cpu_s']:.1f} CPU-s ({g['self_s']:.1f} its "
                  f"process, {g['workers_s']:.1f} workers), {per['grid']:.4f} CPU-s/point, wall {g['wall_s']:.1f} s; "
                  f"load average now {os.getloadavg()[0]:.2f}")
        runs += [search(i) for i in range(1, args.search_runs)]
        s = sorted(runs, key=lambda r: r["cpu_s"])[(len(runs) - 1) // 2]
        per["search"] = s["cpu_s"] / s["points"]
        cpu[(mode, "search")] = s["cpu_s"]
        per_point.update({(mode, k): v for k, v in per.items()} | {(mode, "points"): s["points"]})
        print(f"[{mode} trace cache] search, median of {len(runs)} runs: {s['cpu_s']:.2f} CPU-s, "
              f"{per['search']:.4f} CPU-s/point")
    print(f"[{mode} trace cache] search CPU per point / grid CPU per point: {per['search'] / per['grid']:.2f}")
    return per["search"] / per["grid"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", default="configs/sweeps/hardware_search.yaml")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--grid-cpu-per-point", type=float, default=None,
                    help="skip the grid run and compare with this figure (from an earlier run)")
    ap.add_argument("--trace-cache", choices=["cold", "warm", "both"], default="both",
                    help="cold: each side from an empty trace cache; warm: the cache filled first, both sides "
                         "read it; both: cold, then warm, side by side")
    ap.add_argument("--search-runs", type=int, default=3,
                    help="runs of the search side (one before the grid, the others after it); its median counts")
    ap.add_argument("--side", choices=["search", "grid"], help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        print(json.dumps(side(args.side, args.sweep, args.workers, Path(args.db))))
        return
    modes = ["cold", "warm"] if args.trace_cache == "both" else [args.trace_cache]
    print(f"sweep {args.sweep}, {args.workers} workers, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
          "each side runs `hwsim sweep FILE --json` (the grid's with `search:` dropped) in a fresh process; "
          "CPU per point = that process's CPU with its workers', from start to exit, / points evaluated; "
          "with a cold trace cache each side's CPU includes importing torch and tracing the file's groups, "
          f"once per side, spread over the points it evaluates; trace cache: {' then '.join(modes)}")
    if uncompiled():
        print("note: the project's modules have no cached bytecode and this Python writes none "
              "(PYTHONDONTWRITEBYTECODE): each side's process compiles them from source; "
              "`python -m compileall -q hwsim accel_models` first measures them as an installed package runs")
    cpu: dict[tuple[str, str], float] = {}
    per_point: dict[tuple[str, str], float] = {}
    ratio = {m: compare(args, m, cpu, per_point) for m in modes}
    if len(modes) == 2:
        print("what tracing cost each side (its cold CPU - its warm CPU: importing torch, in each process that "
              "traces, and counting the file's groups' traces once): "
              + ", ".join(f"{k} {cpu[('cold', k)] - cpu[('warm', k)]:.1f} CPU-s"
                          for k in ("search", "grid") if ("cold", k) in cpu and ("warm", k) in cpu))
        if ("cold", "grid") in cpu:
            traced, n, g = cpu[("cold", "search")] - cpu[("warm", "search")], per_point[("cold", "points")], \
                per_point[("cold", "grid")]
            print(f"what bounds the cold ratio: the search's tracing ({traced:.1f} CPU-s, paid once, by its own "
                  f"process) spread over its {n:.0f} points adds {traced / n:.4f} CPU-s per point, "
                  f"{traced / n / g:.2f} times the grid's cold CPU per point ({g:.4f}): even a search whose every "
                  f"other CPU-s cost what the grid's do per point would have a cold ratio of "
                  f"{1 + traced / n / g:.2f}")
    print("search CPU per point / grid CPU per point: "
          + ", ".join(f"{r:.2f} with a {m} trace cache" for m, r in ratio.items()))

if __name__ == "__main__":
    main()
