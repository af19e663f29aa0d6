"""Hypervolume reached by NSGA-II search as a fraction of the full grid's, and the evaluations it used.

    python benchmarks/search_vs_grid.py [--sweep configs/sweeps/quickstart_search.yaml]
                                        [--db results/quickstart.db] [--seeds 10] [--fraction 0.2]

1. Runs every point of the sweep's grid into the store (resumable: points already there, e.g. from
   ``hwsim sweep configs/sweeps/quickstart.yaml``, are not rerun; the ids are config hashes).
2. The grid's hypervolume over the ``search.objectives`` (normalised on the grid's own bounds,
   reference 1.1 per objective, see hwsim/sweep/pareto.py).
3. For each seed, NSGA-II (optuna) with a budget of ``fraction`` x grid points. Its evaluations are
   answered from the store, which holds exactly what the pipeline computes for that point (the
   pipeline is deterministic); the search sees only the points it asks for. Random search with the
   same budget is the baseline, and so is AutoQKeras' scalarised search (``--samplers ... autoqkeras``:
   TPE maximising accuracy x (1 + delta) of the first cost objective against the fp32 point of the
   same model and accelerator, anchors.md). Printed: the mean and worst hypervolume fraction over
   seeds, and the fraction of the grid evaluated. Goal: at least 0.95 at no more than 0.2.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from hwsim.store import Store
from hwsim.sweep.expand import grid_axes, point_from_axes
from hwsim.sweep.pareto import log_costs, normalised_hypervolume, signs
from hwsim.sweep.runner import run_points
from hwsim.sweep.schema import load_sweep
from hwsim.sweep.search import autoqkeras_score, nsga2_search, scalar_search


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", default="configs/sweeps/quickstart_search.yaml")
    ap.add_argument("--db", default=None, help="store (default: the sweep's store:)")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--fraction", type=float, default=0.2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--objectives", nargs="+", default=None, help="override search.objectives")
    ap.add_argument("--log", action="store_true", help="hypervolume on log10 of the costs")
    ap.add_argument("--population", type=int, default=None, help="override search.population")
    ap.add_argument("--samplers", nargs="+", default=["nsga2", "random", "autoqkeras"],
                    help="nsga2 | tpe | random | autoqkeras")
    args = ap.parse_args()

    path = Path(args.sweep)
    sw, lm = load_sweep(path)
    if sw.search is None:
        raise SystemExit(f"{path}: no search: section")
    ax = grid_axes(sw, lm, path.resolve().parent)
    sizes = {a: len(v) for a, v in ax.items()}
    import itertools

    grid_idx = [dict(zip(sizes, c)) for c in itertools.product(*(range(n) for n in sizes.values()))]
    pts = [point_from_axes(sw, ax, i) for i in grid_idx]
    db = Path(args.db or sw.store or f"results/{sw.name}.db")
    s = run_points(pts, db, workers=args.workers, sweep=sw.name)
    print(f"grid: {len(pts)} points in {db} ({s.skipped} already there, {s.done + s.failed} evaluated now)")

    objs = args.objectives or sw.search.objectives
    with Store(db, readonly=True) as st:
        by_key = {}
        for i, p in zip(grid_idx, pts):
            d = st.point(p.id)
            by_key[tuple(sorted(i.items()))] = d["metrics"] if d["status"] == "done" else None

    def F_of(ms: list[dict | None]) -> np.ndarray:
        rows = [[m[o] for o in objs] for m in ms if m and all(m.get(o) is not None for o in objs)]
        F = np.array(rows, dtype=float).reshape(-1, len(objs)) * signs(objs)
        return log_costs(F, objs) if args.log else F

    G = F_of(list(by_key.values()))
    lo, hi = G.min(axis=0), G.max(axis=0)
    hv_grid = normalised_hypervolume(G, lo, hi)
    budget = max(1, math.floor(args.fraction * len(pts)))
    scale = "log10 costs, " if args.log else ""
    print(f"objectives: {', '.join(objs)}; grid hypervolume {hv_grid:.4f} ({scale}normalised, reference 1.1)")
    print(f"budget: {budget} evaluations = {budget / len(pts):.1%} of the grid; {args.seeds} seeds")

    def lookup(batch):
        return [by_key[tuple(sorted(i.items()))] for i in batch]

    results = {}
    # AutoQKeras' reference: the fp32 point of the same model and accelerator (priced, not trained)
    cost = next(o for o in objs if o != "accuracy")
    fp32 = {}
    for i, p in zip(grid_idx, pts):
        if p.to_json()["scheme"]["name"] == "fp32" and by_key[tuple(sorted(i.items()))]:
            fp32[(p.to_json()["model"]["name"], p.to_json()["accelerator"])] = by_key[tuple(sorted(i.items()))][cost]

    def aq_score(idx, m):
        c = point_from_axes(sw, ax, idx).to_json()
        return autoqkeras_score(m["accuracy"], m[cost], fp32[(c["model"]["name"], c["accelerator"])])

    pop = args.population or sw.search.population
    for sampler in args.samplers:
        if sampler == "autoqkeras" and ("accuracy" not in objs or not fp32):
            continue
        fr, used = [], []
        for seed in range(args.seeds):
            if sampler == "autoqkeras":
                res = scalar_search(sizes, aq_score, budget, lookup, seed=seed)
            else:
                res = nsga2_search(sizes, objs, budget, lookup, population=pop, seed=seed,
                                   batch=args.workers, sampler=sampler)
            fr.append(normalised_hypervolume(F_of([v for _, v in res.evaluated]), lo, hi) / hv_grid)
            used.append(res.n_evaluated / len(pts))
        results[sampler] = (np.mean(fr), np.min(fr), np.max(used))
        print(f"{sampler:>10}: hypervolume fraction mean {np.mean(fr):.3f}, worst {np.min(fr):.3f}, best "
              f"{np.max(fr):.3f}; evaluations used {np.max(used):.1%} of the grid")
    first = args.samplers[0]
    m, w, u = results[first]
    print(f"{first} search reached {m:.1%} of the grid's hypervolume (worst seed {w:.1%}) using {u:.1%} of its evaluations")


if __name__ == "__main__":
    main()
