"""Non-dominated sets and hypervolume, in numpy (torch-free).

Definitions (every objective first turned into one to minimise: a metric whose
``METRICS[name]["better"]`` is ``max`` is negated):
  * ``a`` dominates ``b`` when ``a_i <= b_i`` for every objective and ``a_j < b_j`` for one.
  * The Pareto front of a set is its non-dominated subset.
  * The hypervolume of a set with respect to a reference point ``r`` is the Lebesgue measure
    of the region dominated by the set and bounded by ``r``: vol(U_p [p_1, r_1] x ... x [p_d, r_d]).
  * hwsim reports it *normalised*: each objective is mapped to [0, 1] by ``(v - lo) / (hi - lo)``
    (with ``log=True``, costs, i.e. metrics whose unit is not a fraction, are first replaced by
    log10 of their value, since energies and bytes span orders of magnitude)
    with ``lo, hi`` the best and worst values over the reference set (by default the points
    given; a search is scored on its grid's bounds), and ``r = (1.1, ..., 1.1)``. The
    hypervolume of a single ideal point is then 1.1^d; of the worst corner, 0.1^d.
Exact algorithm: a sweep in 2-D; above, slicing along the last objective (HSO), which is
exponential in d but exact and quick for the few hundred points of a sweep.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hwsim.errors import UserError
from hwsim.store import METRICS

# Short names accepted on the command line.
ALIASES = {
    "energy": "train_energy_pj_per_step",
    "train_energy": "train_energy_pj_per_step",
    "step_energy": "train_energy_pj_per_step",
    "epoch_energy": "train_energy_pj_per_epoch",
    "infer_energy": "infer_energy_pj",
    "inference_energy": "infer_energy_pj",
    "memory": "train_memory_bytes",
    "stash": "stash_bytes",
    "size": "model_size_bytes",
    "model_size": "model_size_bytes",
    "latency": "latency_cycles",
    "cycles": "train_step_cycles",
    "dram": "dram_bytes_per_step",
    "acc": "accuracy",
}

REF = 1.1


def metric_name(name: str, where: str = "objective") -> str:
    n = ALIASES.get(name, name)
    if n not in METRICS:
        known = sorted(set(METRICS) | set(ALIASES))
        raise UserError(where, f"unknown objective {name!r}; expected one of {', '.join(known)}")
    return n


def signs(objectives: Sequence[str]) -> np.ndarray:
    """+1 for metrics to minimise, -1 for those to maximise."""
    return np.array([-1.0 if METRICS[o]["better"] == "max" else 1.0 for o in objectives])


def non_dominated(F: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``F`` (all objectives minimised).

    Duplicated rows are all kept (none dominates the other)."""
    F = np.asarray(F, dtype=float)
    n = len(F)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        if not mask[i]:
            continue
        le = np.all(F <= F[i], axis=1)
        lt = np.any(F < F[i], axis=1)
        if np.any(le & lt):
            mask[i] = False
            continue
        # i dominates these
        dom = np.all(F[i] <= F, axis=1) & np.any(F[i] < F, axis=1)
        mask &= ~dom
    return mask


def hypervolume(F: np.ndarray, ref: Sequence[float]) -> float:
    """Exact hypervolume of points ``F`` (minimised) bounded by ``ref``; points not below ref ignored."""
    F = np.asarray(F, dtype=float)
    ref = np.asarray(ref, dtype=float)
    if F.ndim != 2 or F.shape[1] != len(ref):
        raise ValueError("F must be (n, d) with d == len(ref)")
    F = F[np.all(F < ref, axis=1)]
    if len(F) == 0:
        return 0.0
    F = F[non_dominated(F)]
    return float(_hv(np.unique(F, axis=0), ref))


def _hv(F: np.ndarray, ref: np.ndarray) -> float:
    d = F.shape[1]
    if d == 1:
        return float(ref[0] - F[:, 0].min())
    if d == 2:
        P = F[np.argsort(F[:, 0])]
        vol, best_y = 0.0, ref[1]
        for x, y in P:
            if y < best_y:
                vol += (ref[0] - x) * (best_y - y)
                best_y = y
        return vol
    # slice along the last objective: between consecutive values, the (d-1)-D front of the points below
    order = np.argsort(F[:, -1])
    P = F[order]
    vol = 0.0
    for i in range(len(P)):
        upper = P[i + 1, -1] if i + 1 < len(P) else ref[-1]
        h = upper - P[i, -1]
        if h <= 0:
            continue
        sub = P[: i + 1, :-1]
        sub = sub[non_dominated(sub)]
        vol += h * _hv(sub, ref[:-1])
    return vol


def log_costs(F: np.ndarray, objectives: Sequence[str]) -> np.ndarray:
    """log10 of the cost columns (units other than fraction) of a minimisation matrix (costs > 0)."""
    F = np.array(F, dtype=float)
    for j, o in enumerate(objectives):
        if METRICS[o]["unit"] != "fraction":
            F[:, j] = np.log10(np.maximum(F[:, j], 1e-300))
    return F


def normalise(F: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    span = np.where(hi > lo, hi - lo, 1.0)
    return (F - lo) / span


def bounds(F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return F.min(axis=0), F.max(axis=0)


def normalised_hypervolume(F: np.ndarray, lo: np.ndarray | None = None, hi: np.ndarray | None = None,
                           ref: float = REF) -> float:
    """Hypervolume after mapping each objective to [0, 1] on (lo, hi), reference ``ref`` in every axis."""
    F = np.asarray(F, dtype=float)
    if len(F) == 0:
        return 0.0
    if lo is None or hi is None:
        lo, hi = bounds(F)
    return hypervolume(normalise(F, lo, hi), [ref] * F.shape[1])


def objective_matrix(df, objectives: Sequence[str]) -> tuple[np.ndarray, object]:
    """Rows of ``df`` (a Store.points() frame) that have every objective, as a minimisation matrix."""
    missing = [o for o in objectives if o not in df.columns]
    if missing:
        raise UserError("objectives", f"no finished point in the store has {', '.join(missing)}")
    sub = df.dropna(subset=list(objectives))
    F = sub[list(objectives)].to_numpy(dtype=float) * signs(objectives)
    return F, sub


def front(df, objectives: Sequence[str], log: bool = False):
    """(front rows sorted by the first objective, normalised hypervolume of the set, number of candidates)."""
    F, sub = objective_matrix(df, objectives)
    if len(F) == 0:
        return sub, 0.0, 0
    mask = non_dominated(F)
    hv = normalised_hypervolume(log_costs(F, objectives) if log else F)
    fr = sub[mask].sort_values(list(objectives)[0])
    return fr, hv, len(F)
