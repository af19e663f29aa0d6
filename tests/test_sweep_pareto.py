"""Pareto fronts and hypervolume: brute-force and optuna cross-checks; search on a synthetic space."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from hwsim.sweep.pareto import hypervolume, non_dominated, normalised_hypervolume
from hwsim.sweep.search import nsga2_search


def brute_front(F):
    return np.array([not any(np.all(g <= f) and np.any(g < f) for g in F) for f in F])


def mc_hypervolume(F, ref, n=200_000, seed=0):
    rng = np.random.default_rng(seed)
    lo = F.min(axis=0)
    X = rng.uniform(lo, ref, size=(n, len(ref)))
    dom = np.zeros(n, bool)
    for f in F:
        dom |= np.all(X >= f, axis=1)
    return dom.mean() * np.prod(np.asarray(ref) - lo)


@pytest.mark.parametrize("d", [2, 3, 4])
def test_front_matches_brute_force(d):
    rng = np.random.default_rng(d)
    for _ in range(5):
        F = rng.integers(0, 6, size=(40, d)).astype(float)   # ties and duplicates on purpose
        assert np.array_equal(non_dominated(F), brute_front(F))


@pytest.mark.parametrize("d", [2, 3, 4])
def test_hypervolume_matches_optuna(d):
    from optuna._hypervolume import compute_hypervolume

    rng = np.random.default_rng(10 + d)
    for _ in range(4):
        F = rng.random((25, d))
        ref = np.full(d, 1.1)
        ours = hypervolume(F, ref)
        theirs = compute_hypervolume(F, ref)
        assert ours == pytest.approx(theirs, rel=1e-9)


def test_hypervolume_known_values():
    assert hypervolume(np.array([[0.0, 0.0]]), [1, 1]) == 1.0
    assert hypervolume(np.array([[0.5, 0.0], [0.0, 0.5]]), [1, 1]) == pytest.approx(0.75)
    assert hypervolume(np.array([[2.0, 0.0]]), [1, 1]) == 0.0          # outside the reference box
    F = np.array([[0.2, 0.3, 0.5], [0.4, 0.1, 0.6], [0.6, 0.6, 0.1]])
    assert hypervolume(F, [1, 1, 1]) == pytest.approx(mc_hypervolume(F, [1, 1, 1]), rel=0.02)
    # normalised: a single ideal point out of a set scores 1.1^d
    F = np.array([[0.0, 0.0], [1.0, 5.0], [3.0, 1.0]])
    assert normalised_hypervolume(F) == pytest.approx(1.1 ** 2)


def test_nsga2_beats_random_on_synthetic_space():
    """A 6x6x6 space with a known front; NSGA-II at 20% of the evaluations gets close to the grid's HV."""
    sizes = {"a": 6, "b": 6, "c": 6}

    def metrics(i):
        x = np.array([i["a"], i["b"], i["c"]]) / 5.0
        return {"train_energy_pj_per_step": 1 + 3 * x[0] + x[1] ** 2 + 0.5 * x[2],
                "accuracy": 0.5 + 0.3 * x[0] ** 0.5 - 0.1 * (x[1] - 0.6) ** 2 - 0.2 * x[2]}

    def objs(ms):
        return np.array([[m["train_energy_pj_per_step"], -m["accuracy"]] for m in ms])

    grid = [dict(zip(sizes, c)) for c in itertools.product(*(range(n) for n in sizes.values()))]
    G = objs([metrics(i) for i in grid])
    lo, hi = G.min(axis=0), G.max(axis=0)
    hv_grid = normalised_hypervolume(G, lo, hi)
    budget = int(0.2 * len(grid))
    fr = []
    for seed in range(3):
        res = nsga2_search(sizes, ["train_energy_pj_per_step", "accuracy"], budget,
                           lambda b: [metrics(i) for i in b], population=8, seed=seed, batch=2)
        assert res.n_evaluated == budget
        fr.append(normalised_hypervolume(objs([v for _, v in res.evaluated]), lo, hi) / hv_grid)
    assert np.mean(fr) > 0.9


def test_pareto_verb_does_not_import_torch(tmp_path):
    from hwsim.store import PointResult, Store

    db = tmp_path / "p.db"
    with Store(db) as s:
        for i, (e, a) in enumerate([(1.0, 0.5), (2.0, 0.7), (3.0, 0.6)]):
            s.write(PointResult(id=f"p{i}", config={}, metrics={"train_energy_pj_per_step": e, "accuracy": a}))
    code = (f"import sys; from hwsim.cli import main; rc = main(['pareto', {str(db)!r}, '--json']); "
            "assert rc == 0; assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "ok" in r.stdout, r.stderr


def test_autoqkeras_score():
    from hwsim.sweep.search import autoqkeras_score

    assert autoqkeras_score(0.9, 50.0, 100.0) == pytest.approx(0.9 * 1.08)      # half the cost: +8%
    assert autoqkeras_score(0.9, 25.0, 100.0) == pytest.approx(0.9 * 1.16)      # a quarter: +16%
    assert autoqkeras_score(0.9, 200.0, 100.0, delta_n=0.1) == pytest.approx(0.9 * 0.9)
    assert autoqkeras_score(0.9, 100.0, 100.0) == pytest.approx(0.9)


def test_search_summary_counts_feasible_points_and_their_front_only(tmp_path):
    from hwsim.store import PointResult, Store
    from hwsim.sweep.search import search_summary

    # (energy, area): the two small-energy points break "area_mm2 <= 20"
    pts = {"a": (1.0, 30.0), "b": (2.0, 25.0), "c": (3.0, 10.0), "d": (4.0, 5.0), "e": (5.0, 6.0)}
    db = tmp_path / "r.db"
    with Store(db) as s:
        for pid, (e, a) in pts.items():
            s.write(PointResult(id=pid, config={}, metrics={"infer_energy_pj": e, "area_mm2": a}))
    objs = ["infer_energy_pj", "area_mm2"]
    got = search_summary(db, list(pts) + ["c"], objs, ["area_mm2 <= 20"])
    assert (got.evaluated, got.feasible, got.reference) == (5, 3, 1.1)
    ok = np.array([v for v in pts.values() if v[1] <= 20])
    assert got.hypervolume_of_feasible == pytest.approx(normalised_hypervolume(ok))
    assert search_summary(db, list(pts), objs, []).feasible == 5
