"""Constraints on store metrics (``"area_mm2 <= 2"``): parsed by the sweep schema, applied by the search."""

from __future__ import annotations

from hwsim.store import METRICS

Constraint = tuple[str, str, float]          # (metric, "<=" | ">=", bound)
_OPS = ("<=", ">=")


def parse_constraint(text: str) -> Constraint:
    """``"area_mm2 <= 2"`` -> ``("area_mm2", "<=", 2.0)``; a ValueError names what is wrong."""
    for op in _OPS:
        if op in text:
            name, _, raw = (x.strip() for x in text.partition(op))
            break
    else:
        raise ValueError(f"constraint {text!r}: expected METRIC <= VALUE or METRIC >= VALUE")
    if name not in METRICS:
        raise ValueError(f"constraint {text!r}: unknown metric {name!r}; expected one of {', '.join(METRICS)}")
    try:
        bound = float(raw)
    except ValueError:
        raise ValueError(f"constraint {text!r}: {raw!r} is not a number") from None
    return name, op, bound


def violation(metrics: dict[str, float] | None, constraints: list[Constraint]) -> list[float]:
    """optuna's convention: one value per constraint, <= 0 when it holds (a missing metric violates)."""
    out = []
    for name, op, bound in constraints:
        v = (metrics or {}).get(name)
        if v is None:
            out.append(1.0)
        else:
            out.append(float(v) - bound if op == "<=" else bound - float(v))
    return out


def feasible(metrics: dict[str, float] | None, constraints: list[Constraint]) -> bool:
    return all(v <= 0 for v in violation(metrics, constraints))
