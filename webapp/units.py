"""One engineering-unit style for every number the dashboard shows.

Energy in joules with SI prefixes (the store keeps pJ), bytes as B / kB / MB / GB, cycles and MACs
with k / M / G, fractions as %, differences of fractions in percentage points (pp). The same rules
exist three times, because three renderers draw numbers: :func:`fmt` (Python: tiles, titles,
exports), :func:`axis` (plotly axes and hover, d3 formats) and :data:`JS_FORMAT` (AG Grid cells,
``assets/dashAgGridFunctions.js`` implements ``hwsimUnit``).
"""

from __future__ import annotations

import math
from typing import Any

from hwsim.store import METRICS

# unit in the store -> (factor to the displayed base unit, displayed symbol)
DISPLAY: dict[str, tuple[float, str]] = {
    "pJ": (1e-12, "J"),
    "bytes": (1.0, "B"),
    "cycles": (1.0, " cycles"),
    "MACs": (1.0, " MACs"),
    "mm2": (1.0, " mm²"),
    "pJ s": (1e-12, "J·s"),
    "us": (1e-6, "s"),
    "flag": (1.0, ""),
    "TOPS": (1.0, " TOPS"),
    "TOPS/W": (1.0, " TOPS/W"),
    "TOPS/mm2": (1.0, " TOPS/mm²"),
    "W": (1.0, "W"),
    "s": (1.0, "s"),
}
NO_PREFIX = ("mm2", "TOPS", "TOPS/W", "TOPS/mm2", "flag")  # already scaled units: 3.2 mm², 12.5 TOPS/W
_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"),
             (1e-12, "p"), (1e-15, "f"))


def unit_of(metric: str) -> str:
    """The store's unit of a metric; unknown metrics (added by newer sweeps) guess from the name."""
    m = METRICS.get(metric)
    if m:
        return m["unit"]
    for suffix, unit in (("_pj", "pJ"), ("_bytes", "bytes"), ("_cycles", "cycles"), ("_mm2", "mm2"),
                         ("_w", "W"), ("_s", "s")):
        if metric.endswith(suffix) or f"{suffix}_" in metric:
            return unit
    return "fraction" if metric in ("accuracy", "error", "utilization") else ""


def better_of(metric: str) -> str:
    m = METRICS.get(metric)
    if m:
        return m["better"]
    return "max" if metric.startswith(("accuracy", "tops", "utilization")) else "min"


def label_of(metric: str) -> str:
    m = METRICS.get(metric)
    return m["label"] if m else metric.replace("_", " ")


def fmt(v: Any, unit: str, digits: int = 3) -> str:
    """``1.07e10`` pJ -> ``10.7 mJ``; ``2130`` bytes -> ``2.13 kB``; ``0.9123`` fraction -> ``91.2 %``."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    v = float(v)
    if unit == "fraction":
        return f"{100 * v:.1f} %"
    if unit == "pp":  # a difference of two fractions
        return f"{100 * v:+.1f} pp"
    factor, sym = DISPLAY.get(unit, (1.0, f" {unit}" if unit else ""))
    x = v * factor
    def g(val: float) -> str:  # never 5e+02: at least the integer digits
        return f"{val:.{max(digits, len(str(int(abs(val)))))}g}"

    num, prefix = g(x), ""
    if x != 0 and unit not in NO_PREFIX:
        for step, p in _PREFIXES:
            if abs(x) >= step * 0.9995:
                num, prefix = g(x / step), p
                break
    if sym.startswith(" "):  # a counted unit: 1.5M cycles
        return f"{num}{prefix}{sym}"
    return f"{num} {prefix}{sym}".rstrip()


def metric_fmt(v: Any, metric: str) -> str:
    return fmt(v, unit_of(metric))


def scale(metric: str) -> float:
    """Factor from the store's value to what axes plot (pJ are drawn in J)."""
    return DISPLAY.get(unit_of(metric), (1.0, ""))[0]


def axis(metric: str) -> dict:
    """Plotly axis settings (title, d3 tick format, suffix) for values already multiplied by :func:`scale`."""
    unit = unit_of(metric)
    title = label_of(metric)
    if unit == "fraction":
        return {"title": {"text": title}, "tickformat": ".0%", "hoverformat": ".1%"}
    sym = DISPLAY.get(unit, (1.0, f" {unit}" if unit else ""))[1]
    if unit in NO_PREFIX:
        return {"title": {"text": title}, "tickformat": "~g", "hoverformat": ".3~g", "ticksuffix": sym}
    return {"title": {"text": title}, "tickformat": "~s", "hoverformat": ".3~s", "ticksuffix": sym,
            "minor": {"showgrid": False, "ticks": ""}}


def hover(metric: str, ref: str) -> str:
    """A hovertemplate piece for one metric: ``Training energy per step: %{x:.3~s}J``."""
    unit = unit_of(metric)
    if unit == "fraction":
        return f"{label_of(metric)}: %{{{ref}:.1%}}"
    sym = DISPLAY.get(unit, (1.0, f" {unit}" if unit else ""))[1]
    return f"{label_of(metric)}: %{{{ref}:{'.3~g' if unit in NO_PREFIX else '.3~s'}}}{sym}"


def js_format(metric: str) -> dict:
    """AG Grid ``valueFormatter`` drawing this metric's unit (see ``assets/dashAgGridFunctions.js``)."""
    return {"function": f"hwsimUnit(params.value, '{unit_of(metric)}')"}
