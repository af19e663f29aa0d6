"""Multi-objective search over a sweep's grid with optuna's NSGA-II, instead of running all of it.

Each grid axis with more than one value (models, datasets, schemes after ``vary``, recipes,
tech, accelerators) is one categorical parameter; a single accelerator entry with ``vary`` is
split into one parameter per varied field (``hw.array.rows`` ...), and ``constraints``
(``area_mm2 <= 2``) are feasibility for NSGA-II, not objectives. Trials are asked in batches (a
population for NSGA-II and random search, ``workers`` for TPE);
the distinct new points of a batch are evaluated together (by the sweep runner, so they land
in the store and a rerun resumes), then every trial is told its objective values. A trial that
lands on a point already evaluated is told the stored values and does not count against the
budget; the budget is the number of distinct points evaluated. Failed points are told as
failed trials. ``sampler: random`` is there as a baseline.
"""

from __future__ import annotations

import functools
import gc
import itertools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwsim.store import METRICS, Store
from hwsim.sweep.constraints import Constraint, feasible, parse_constraint, violation

if TYPE_CHECKING:
    from hwsim.sweep.schema import LineMap, SweepFile

Index = dict[str, int]


def factor_axes(sw: Any, ax: dict[str, list[Any]]) -> tuple[dict[str, int], Callable[[Index], Index]]:
    """Search axes with a single varied entry split into its varied fields: a lone accelerator entry with
    ``vary`` becomes one categorical axis per field (``hw.array.rows`` ...) and a lone scheme entry with
    ``vary`` one per parameter (``scheme.weight_bits_by_depth[0]`` ...: a per-layer precision search), so
    the sampler can learn per field; returns (sizes, a map from a search index to the grid index)."""
    sizes = {a: len(v) for a, v in ax.items()}
    splits: list[tuple[str, str, list[str], list[int]]] = []      # (grid axis, prefix, keys, lengths)
    for axis, prefix in (("accelerators", "hw."), ("schemes", "scheme.")):
        entries = getattr(sw, axis, [])
        if len(entries) == 1 and entries[0].vary:
            keys = list(entries[0].vary)
            splits.append((axis, prefix, keys, [len(entries[0].vary[k]) for k in keys]))
    if not splits:
        return sizes, lambda idx: idx
    for axis, prefix, keys, lens in splits:
        del sizes[axis]
        for k, n in zip(keys, lens):
            sizes[f"{prefix}{k}"] = n

    def to_grid(idx: Index) -> Index:
        out = {a: i for a, i in idx.items() if not any(a.startswith(pr) for _, pr, _, _ in splits)}
        for axis, prefix, keys, lens in splits:
            flat = 0
            for k, n in zip(keys, lens):      # itertools.product order: the last key varies fastest
                flat = flat * n + idx[f"{prefix}{k}"]
            out[axis] = flat
        return out

    return sizes, to_grid


@dataclass
class SearchResult:
    evaluated: list[tuple[Index, dict[str, float] | None]] = field(default_factory=list)
    trials: int = 0
    space: int = 0    # points in the space searched: the product of its axes' lengths (none is expanded)

    @property
    def n_evaluated(self) -> int:
        return len(self.evaluated)


def _key(idx: Index) -> tuple:
    return tuple(sorted(idx.items()))


def nsga2_search(sizes: dict[str, int], objectives: list[str], budget: int,
                 evaluate: Callable[[list[Index]], list[dict[str, float] | None]], *,
                 population: int = 8, seed: int = 0, batch: int = 1, sampler: str = "nsga2",
                 max_trials_factor: int = 20, constraints: list[Constraint] | None = None) -> SearchResult:
    """Search the index space ``sizes`` (axis -> number of values); ``evaluate`` maps indices to metrics.

    ``constraints`` (``[("area_mm2", "<=", 2.0)]``) are feasibility, not objectives: NSGA-II ranks
    feasible trials first and infeasible ones by their total violation (optuna's constraints)."""
    constraints = list(constraints or [])
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions = ["maximize" if METRICS[o]["better"] == "max" else "minimize" for o in objectives]
    if sampler == "random":
        smp = optuna.samplers.RandomSampler(seed=seed)
    elif sampler == "tpe":
        smp = optuna.samplers.TPESampler(seed=seed, n_startup_trials=population)
    else:
        kw: dict[str, Any] = {}
        if constraints and not hasattr(optuna.trial.Trial, "set_constraint"):   # optuna < 5
            kw["constraints_func"] = lambda t: t.user_attrs["constraints"]
        smp = optuna.samplers.NSGAIISampler(population_size=population, seed=seed, **kw)
    study = optuna.create_study(directions=directions, sampler=smp)
    budget = min(budget, math.prod(sizes.values()))
    cache: dict[tuple, dict[str, float] | None] = {}
    res = SearchResult(space=math.prod(sizes.values()))
    while len(cache) < budget and res.trials < max_trials_factor * budget:
        asked = []
        new: list[Index] = []
        while len(asked) < max(1, batch) and len(cache) + len(new) < budget:
            t = study.ask()
            idx = {a: (t.suggest_categorical(a, list(range(n))) if n > 1 else 0) for a, n in sizes.items()}
            asked.append((t, idx))
            if _key(idx) not in cache and all(_key(idx) != _key(x) for x in new):
                new.append(idx)
            res.trials += 1
        if new:
            for idx, vals in zip(new, evaluate(new)):
                cache[_key(idx)] = vals
                res.evaluated.append((idx, vals))
        for t, idx in asked:
            vals = cache.get(_key(idx))
            if vals is None or any(vals.get(o) is None for o in objectives):
                study.tell(t, state=optuna.trial.TrialState.FAIL)
            else:
                if constraints:
                    viol = violation(vals, constraints)
                    t.set_user_attr("constraints", viol)
                    if hasattr(t, "set_constraint"):
                        for (name, op, bound), v in zip(constraints, viol):
                            t.set_constraint(f"{name} {op} {bound:g}", v)
                study.tell(t, [float(vals[o]) for o in objectives])
    return res


def autoqkeras_score(accuracy: float, cost: float, ref_cost: float, delta_p: float = 0.08, delta_n: float = 0.08,
                     rate: float = 2.0) -> float:
    """AutoQKeras' single-number score (anchors.md): ``accuracy x (1 + delta)``.

    ``delta = delta_p x ln(ref/trial) / ln(rate)`` when the trial costs less than the reference
    (the float model), ``delta_n x ln(ref/trial) / ln(rate)`` otherwise (then negative). Defaults
    8%, 8%, rate 2: halving the cost is worth 8% of accuracy. A baseline for hwsim's search, which
    keeps the whole front instead of one scalar."""
    d = delta_p if cost < ref_cost else delta_n
    return accuracy * (1.0 + d * math.log(ref_cost / cost) / math.log(rate))


def scalar_search(sizes: dict[str, int], score: Callable[[Index, dict[str, float]], float], budget: int,
                  evaluate: Callable[[list[Index]], list[dict[str, float] | None]], *, seed: int = 0,
                  batch: int = 1, max_trials_factor: int = 20) -> SearchResult:
    """Single-objective search (optuna TPE) maximising ``score(index, metrics)``, same budget rules."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    budget = min(budget, math.prod(sizes.values()))
    cache: dict[tuple, dict[str, float] | None] = {}
    res = SearchResult(space=math.prod(sizes.values()))
    while len(cache) < budget and res.trials < max_trials_factor * budget:
        t = study.ask()
        idx = {a: (t.suggest_categorical(a, list(range(n))) if n > 1 else 0) for a, n in sizes.items()}
        res.trials += 1
        if _key(idx) not in cache:
            vals = evaluate([idx])[0]
            cache[_key(idx)] = vals
            res.evaluated.append((idx, vals))
        vals = cache[_key(idx)]
        if vals is None:
            study.tell(t, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(t, score(idx, vals))
    return res


def run_search(sweep_path: str | Path, db: str | Path, *, workers: int = 2, backend: str = "local",
               address: str | None = None, progress: bool = False, evaluator: str | None = None,
               budget: int | None = None, trust_code: bool = False,
               checked: tuple[SweepFile, LineMap] | None = None) -> tuple[SearchResult, list[str]]:
    """Run the ``search:`` section of a sweep file. Returns the result and the ids evaluated.

    Only the axes are resolved (each model, scheme, accelerator once); a design point is built for
    each index the sampler asks for, never for the whole grid. ``checked``: the file as
    :func:`~hwsim.sweep.schema.load_sweep` gave it already (not read again)."""
    from hwsim import timeline
    from hwsim.sweep.expand import grid_axes, point_from_axes
    from hwsim.sweep.runner import DEFAULT_EVALUATOR, WorkerPool, run_points
    from hwsim.sweep.schema import load_sweep

    timeline.mark("parent", "search: imported")
    p = Path(sweep_path)
    sw, lm = checked or load_sweep(p)
    assert sw.search is not None
    ax = grid_axes(sw, lm, p.resolve().parent, trust_code)
    sizes, to_grid = factor_axes(sw, ax)
    timeline.mark("parent", "search: axes resolved")
    ids: list[str] = []

    def evaluate(batch: list[Index]) -> list[dict[str, float] | None]:
        pts = [point_from_axes(sw, ax, to_grid(i)) for i in batch]
        assert store is not None   # opened before the first generation
        run_points(pts, db, workers=workers, backend=backend, address=address, progress=progress,
                   evaluator=evaluator or DEFAULT_EVALUATOR, sweep=sw.name, pool=pool, store=store)
        out = []
        for pt in pts:
            ids.append(pt.id)
            d = store.point(pt.id)
            out.append(d["metrics"] if d["status"] == "done" else None)
        return out

    sec = sw.search
    # NSGA-II works generation by generation, so a whole population is asked and evaluated together
    # (one runner call, its points in parallel and sharing traces); TPE learns from each batch
    batch = max(1, workers) if sec.sampler == "tpe" else max(1, workers, sec.population)
    # one set of local workers for every generation: none is started, nor a group retraced, per generation;
    # forked from this process once it has loaded what they need and traced the groups (before any
    # thread of a run starts)
    pool = WorkerPool(workers, evaluator or DEFAULT_EVALUATOR) if backend == "local" and workers > 0 else None
    # what lives now (modules, the axes, traces kept for the workers) stays alive for the whole search:
    # the cyclic collector need not walk it again at each collection of a generation's trials and points
    frozen = not gc.get_freeze_count()
    store: Store | None = None
    try:
        if pool is not None:
            pool.start(functools.partial(_prepare_groups, sw, ax) if pool.evaluator == DEFAULT_EVALUATOR else None)
        # one connection for the whole search, opened once the workers are forked (none inherits it): each
        # generation's run writes through it and it reads the generation back (not one opened, checked and
        # closed, with a checkpoint of the write-ahead log, per generation)
        store = Store(db)
        timeline.mark("parent", "search: workers forked")
        if frozen:
            gc.freeze()
        res = nsga2_search(sizes, sec.objectives, budget or sec.budget, evaluate, population=sec.population,
                           seed=sec.seed, batch=batch, sampler=sec.sampler,
                           constraints=[parse_constraint(c) for c in sec.constraints])
        timeline.mark("parent", "search: sampled")
    finally:
        if frozen:
            gc.unfreeze()
        if pool is not None:
            pool.close()
        if store is not None:
            store.close()
    return res, ids


def _prepare_groups(sw: Any, ax: dict[str, list[Any]]) -> list[str]:
    """Trace, in this process, every group of the space when there are few (each model x data set x
    scheme x recipe, none trained), so the workers forked from it trace none
    (:func:`hwsim.pipeline.prepare_groups`); nothing when the sweep trains or has more groups than a
    worker keeps."""
    from hwsim.pipeline import KEEP_GROUPS, prepare_groups
    from hwsim.sweep.expand import point_from_axes

    axes = ("models", "datasets", "schemes", "recipes")
    if sw.accuracy == "train" or math.prod(len(ax[a]) for a in axes) > KEEP_GROUPS:
        return []
    reps = [point_from_axes(sw, ax, dict(zip(axes, i)) | {"tech": 0, "accelerators": 0})
            for i in itertools.product(*(range(len(ax[a])) for a in axes))]
    return prepare_groups(reps)


def store_objectives(db: str | Path, ids: list[str], objectives: list[str],
                     constraints: list[Constraint] | None = None) -> list[list[float]]:
    """The objectives of the points ``ids`` that have them all and meet every constraint."""
    with Store(db, readonly=True) as s:
        rows = []
        for pid in dict.fromkeys(ids):
            m = s.point(pid)["metrics"]
            if all(m.get(o) is not None for o in objectives) and feasible(m, constraints or []):
                rows.append([m[o] for o in objectives])
        return rows


@dataclass(frozen=True)
class SearchSummary:
    """What a search found: points evaluated, those meeting the constraints, and the hypervolume of
    the feasible front (each objective mapped to [0, 1] over the feasible points, reference
    ``reference`` in every axis, hwsim.sweep.pareto)."""

    evaluated: int
    feasible: int
    constraints: list[str]
    hypervolume_of_feasible: float
    reference: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def search_summary(db: str | Path, ids: list[str], objectives: list[str], constraints: list[str]) -> SearchSummary:
    from hwsim.sweep.pareto import REF, normalised_hypervolume, signs

    F = store_objectives(db, ids, objectives, [parse_constraint(c) for c in constraints])
    hv = normalised_hypervolume(np.array(F) * signs(objectives)) if F else 0.0
    return SearchSummary(evaluated=len(set(ids)), feasible=len(F), constraints=list(constraints),
                         hypervolume_of_feasible=float(hv), reference=REF)


def describe(ax: dict[str, list[Any]], idx: Index) -> dict[str, Any]:
    return {a: ax[a][i] for a, i in idx.items()}
