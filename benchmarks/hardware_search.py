"""Hardware x scheme co-search with a constraint: NSGA-II vs random search vs the full grid.

    python benchmarks/hardware_search.py [--sweep configs/sweeps/hardware_search.yaml] [--seeds 10]
                                         [--fraction 0.05] [--db results/hardware_search.db]

1. Runs every point of the sweep's grid (2,592 hardware x scheme points by default; resumable).
2. The grid's hypervolume over ``search.objectives`` (log10 costs, normalised on the feasible grid's
   bounds, reference 1.1 each) among the points that satisfy ``search.constraints`` (feasibility,
   e.g. area_mm2 <= 20, not an objective).
3. Per seed, NSGA-II (optuna, constraints_func) with a budget of ``fraction`` x grid points over the
   factorised axes (scheme, and each varied accelerator field); random search with the same budget
   beside it. Evaluations are answered from the store (the pipeline is deterministic). Printed: mean,
   worst and best hypervolume fraction of the feasible points each search found, over the seeds.
   Goal: NSGA-II at least 0.95 with at most 5% of the grid's evaluations.
"""

from __future__ import annotations

import argparse
import itertools
import math
from pathlib import Path

import numpy as np

from hwsim.store import Store
from hwsim.sweep.constraints import feasible, parse_constraint
from hwsim.sweep.expand import grid_axes, point_from_axes
from hwsim.sweep.pareto import log_costs, normalised_hypervolume, signs
from hwsim.sweep.runner import run_points
from hwsim.sweep.schema import load_sweep
from hwsim.sweep.search import factor_axes, nsga2_search


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", default="configs/sweeps/hardware_search.yaml")
    ap.add_argument("--db", default="results/hardware_search.db")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--fraction", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--population", type=int, default=None)
    args = ap.parse_args()

    path = Path(args.sweep)
    sw, lm = load_sweep(path)
    assert sw.search is not None, f"{path}: no search: section"
    ax = grid_axes(sw, lm, path.resolve().parent)
    grid_sizes = {a: len(v) for a, v in ax.items()}
    grid_idx = [dict(zip(grid_sizes, c)) for c in itertools.product(*(range(n) for n in grid_sizes.values()))]
    pts = [point_from_axes(sw, ax, i) for i in grid_idx]
    db = Path(args.db)
    s = run_points(pts, db, workers=args.workers, sweep=sw.name, progress="lines")
    print(f"grid: {len(pts)} points in {db} ({s.skipped} already there, {s.done + s.failed} evaluated now, "
          f"{s.wall_s:.0f} s)")
    objs = sw.search.objectives
    cons = [parse_constraint(c) for c in sw.search.constraints]
    with Store(db, readonly=True) as st:
        by_key = {}
        for i, p in zip(grid_idx, pts):
            d = st.point(p.id)
            by_key[tuple(sorted(i.items()))] = d["metrics"] if d["status"] == "done" else None

    def F_of(ms: list[dict | None]) -> np.ndarray:
        rows = [[m[o] for o in objs] for m in ms
                if m and all(m.get(o) is not None for o in objs) and feasible(m, cons)]
        return log_costs(np.array(rows, dtype=float).reshape(-1, len(objs)) * signs(objs), objs)

    G = F_of(list(by_key.values()))
    lo, hi = G.min(axis=0), G.max(axis=0)
    hv_grid = normalised_hypervolume(G, lo, hi)
    budget = max(1, math.floor(args.fraction * len(pts)))
    print(f"objectives: {', '.join(objs)}; constraints: {', '.join(sw.search.constraints) or 'none'}; "
          f"{len(G)} of {len(pts)} grid points feasible; feasible grid hypervolume {hv_grid:.4f} "
          f"(log10 costs, normalised, reference 1.1)")
    print(f"budget: {budget} evaluations = {budget / len(pts):.1%} of the grid; {args.seeds} seeds")
    sizes, to_grid = factor_axes(sw, ax)
    print("search axes: " + ", ".join(f"{a} ({n})" for a, n in sizes.items()))

    def lookup(batch):
        return [by_key[tuple(sorted(to_grid(i).items()))] for i in batch]

    pop = args.population or sw.search.population
    for sampler in ("nsga2", "random"):
        fr, used = [], []
        for seed in range(args.seeds):
            res = nsga2_search(sizes, objs, budget, lookup, population=pop, seed=seed, batch=args.workers,
                               sampler=sampler, constraints=cons)
            found = F_of([v for _, v in res.evaluated])
            fr.append(normalised_hypervolume(found, lo, hi) / hv_grid if len(found) else 0.0)
            used.append(res.n_evaluated / len(pts))
        print(f"{sampler:>7}: hypervolume fraction mean {np.mean(fr):.3f}, worst {np.min(fr):.3f}, best "
              f"{np.max(fr):.3f}; evaluations used {np.max(used):.1%} of the grid")


if __name__ == "__main__":
    main()
