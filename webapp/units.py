"""The dashboard's side of the one unit style (:mod:`hwsim.units`): plotly axes and hover, AG Grid cells.

Python text (tiles, titles, tables, exports) goes through :func:`hwsim.units.fmt`; plotly axes get
tick values and labels computed here with the same function, so an axis reads ``2 mJ`` like a
table; hover uses d3 formats with the axis' prefix; AG Grid cells use ``hwsimUnit`` in
``assets/dashAgGridFunctions.js`` (the same rules in JS, with the column's prefix).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from hwsim.store import METRICS
from hwsim.units import (
    DISPLAY,
    NO_PREFIX,
    Scale,
    better_of,
    column_scale,
    count,
    duration,
    fmt,
    header,
    label_of,
    metric_fmt,
    rate,
    scale_for,
    unit_of,
)

__all__ = ["DISPLAY", "METRICS", "NO_PREFIX", "Scale", "axis", "better_of", "column_scale", "count", "duration",
           "fmt", "header", "hover", "js_format", "label_of", "linear_ticks", "metric_fmt", "rate", "scale",
           "scale_for", "unit_of"]


def scale(metric: str) -> float:
    """Factor from the store's value to what axes plot: the base unit (pJ are drawn in J)."""
    return DISPLAY.get(unit_of(metric), (1.0, ""))[0]


def axis(metric: str) -> dict:
    """Plotly axis settings (title with its unit, tick format) for values already multiplied by :func:`scale`."""
    unit = unit_of(metric)
    title = label_of(metric)
    if unit == "fraction":
        return {"title": {"text": f"{title} (%)"}, "tickformat": ".0%", "hoverformat": ".1%"}
    sym = DISPLAY.get(unit, (1.0, f" {unit}" if unit else ""))[1]
    if unit in NO_PREFIX:
        return {"title": {"text": f"{title} ({sym.strip()})" if sym.strip() else title}, "tickformat": ",~r",
                "hoverformat": ",.3~r", "ticksuffix": sym}
    return {"title": {"text": title}, "tickformat": "~s", "hoverformat": ".3~s", "ticksuffix": sym,
            "exponentformat": "SI", "minor": {"showgrid": False, "ticks": ""}}


def hover(metric: str, ref: str) -> str:
    """A hovertemplate piece for one metric: ``Training energy per step: %{x:.3~s}J``."""
    unit = unit_of(metric)
    if unit == "fraction":
        return f"{label_of(metric)}: %{{{ref}:.1%}}"
    sym = DISPLAY.get(unit, (1.0, f" {unit}" if unit else ""))[1]
    return f"{label_of(metric)}: %{{{ref}:{',.3~r' if unit in NO_PREFIX else '.3~s'}}}{sym}"


def linear_ticks(values: Iterable[Any], metric: str, n: int = 6) -> dict:
    """Tick values and labels of a linear axis (values in display units), written by :func:`fmt` with one
    prefix for the axis: ``0``, ``0.5 mJ``, ``1 mJ`` (d3's ``~s`` would print ``0J``, ``500µJ``, ``1mJ``)."""
    # a column of 50,000 points: its bounds in numpy, not a Python loop (None reads as NaN)
    vals = np.asarray(values if isinstance(values, np.ndarray | pd.Series) else list(values), dtype=float)
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return {}
    lo, hi = float(vals.min()), float(vals.max())
    if hi == lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks = [first + i * step for i in range(int(math.ceil((hi - first) / step)) + 1)]
    unit, k = unit_of(metric), scale(metric)
    if unit == "fraction":
        return {}
    s = column_scale([t / k for t in ticks], unit)
    return {"tickvals": ticks, "ticktext": [fmt(t / k, unit, 3, scale=s) if abs(t) > step * 1e-9 else "0"
                                            for t in ticks]}


def js_format(metric: str, values: Iterable[Any] | None = None) -> dict:
    """AG Grid ``valueFormatter`` drawing this metric's unit (see ``assets/dashAgGridFunctions.js``); with
    ``values``, one prefix for the whole column (the column's typical magnitude)."""
    unit = unit_of(metric)
    if values is None:
        return {"function": f"hwsimUnit(params.value, '{unit}')"}
    s = column_scale(values, unit)
    return {"function": f"hwsimUnit(params.value, '{unit}', {s.factor!r}, '{s.suffix}')"}
