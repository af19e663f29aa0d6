"""Store metrics stay identical: every built-in network x schemes x shipped accelerators x memory pricing,
recomputed through the sweep pipeline and compared with tests/golden/metrics.json (made by
tests/golden/make_golden.py). Integral figures must match exactly, others to a relative 1e-9; a metric
missing or extra on either side fails."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN_DIR))
import make_golden  # noqa: E402

GOLDEN = json.loads(make_golden.GOLDEN.read_text())


def _same(want: float, got: float) -> bool:
    if isinstance(want, int):
        return isinstance(got, int) and want == got
    if math.isnan(want):
        return math.isnan(got)
    return math.isclose(want, got, rel_tol=1e-9, abs_tol=0.0)


def diff(want: dict, got: dict) -> list[str]:
    """One line per difference between two {point: {status, error, metrics}} maps."""
    out = [f"point {k}: {'missing' if k in want else 'extra'}" for k in sorted(set(want) ^ set(got))]
    for k in sorted(set(want) & set(got)):
        w, g = want[k], got[k]
        for f in ("status", "error"):
            if w[f] != g[f]:
                out.append(f"{k}: {f} {w[f]!r} -> {g[f]!r}")
        wm, gm = w["metrics"], g["metrics"]
        out += [f"{k}: metric {m} {'missing' if m in wm else 'extra'}" for m in sorted(set(wm) ^ set(gm))]
        out += [f"{k}: {m} {wm[m]!r} -> {gm[m]!r}" for m in sorted(set(wm) & set(gm)) if not _same(wm[m], gm[m])]
    return out


@pytest.mark.parametrize("model,dataset", make_golden.models())
def test_store_metrics_match_golden(model: str, dataset: str) -> None:
    assert model in GOLDEN, f"{model} has no golden figures: run python tests/golden/make_golden.py"
    got = make_golden.compute(model, dataset)
    problems = diff(GOLDEN[model], got)
    assert not problems, f"{len(problems)} differences, first ones:\n" + "\n".join(problems[:20])


def test_every_network_in_golden_is_built_in() -> None:
    assert sorted(GOLDEN) == sorted(m for m, _ in make_golden.models())


def test_diff_catches_changes() -> None:
    w = {"p": {"status": "done", "error": None, "metrics": {"cycles": 10, "energy": 1.0}}}
    assert not diff(w, json.loads(json.dumps(w)))
    assert diff(w, {"p": {"status": "done", "error": None, "metrics": {"cycles": 11, "energy": 1.0}}})
    assert diff(w, {"p": {"status": "done", "error": None, "metrics": {"cycles": 10.0, "energy": 1.0}}})
    assert diff(w, {"p": {"status": "done", "error": None, "metrics": {"cycles": 10, "energy": 1.0 + 1e-8}}})
    assert diff(w, {"p": {"status": "done", "error": None, "metrics": {"cycles": 10}}})
    assert diff(w, {})
