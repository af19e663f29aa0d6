"""One unit style for every figure a person reads: the dashboard, the CLI tables, the reports.

Values keep the store's units (pJ, bytes, cycles, MACs, us, ...); what is shown is a base unit with
an SI prefix: ``1.07e10`` pJ -> ``10.7 mJ``, ``2130`` bytes -> ``2.13 kB``, ``67889.5`` us ->
``67.9 ms``, ``4.4e9`` MACs -> ``4.4G MACs``; fractions as ``%``, differences of fractions in
percentage points (``pp``). A column or an axis uses one prefix for all its values
(:func:`column_scale`), so figures in a column line up and compare by eye. Never scientific
notation. Torch-free, pandas-free: the CLI imports it in every verb.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hwsim.store import METRICS

# unit in the store -> (factor to the displayed base unit, displayed symbol); a symbol with a leading
# space is a counted unit (1.5M cycles), otherwise the prefix joins the symbol (10.7 mJ)
DISPLAY: dict[str, tuple[float, str]] = {
    "pJ": (1e-12, "J"),
    "J": (1.0, "J"),
    "bytes": (1.0, "B"),
    "B": (1.0, "B"),
    "bits": (1.0, " bit"),
    "cycles": (1.0, " cycles"),
    "MACs": (1.0, " MACs"),
    "ops": (1.0, " ops"),
    "points": (1.0, " points"),
    "mm2": (1.0, " mm²"),
    "pJ s": (1e-12, "J·s"),
    "us": (1e-6, "s"),
    "ms": (1e-3, "s"),
    "flag": (1.0, ""),
    "TOPS": (1.0, " TOPS"),
    "TOPS/W": (1.0, " TOPS/W"),
    "TOPS/mm2": (1.0, " TOPS/mm²"),
    "pJ/MAC": (1.0, " pJ/MAC"),
    "pJ/bit": (1.0, " pJ/bit"),
    "W": (1.0, "W"),
    "mW": (1e-3, "W"),
    "s": (1.0, "s"),
    "Hz": (1.0, "Hz"),
    "MHz": (1e6, "Hz"),
    "kB": (1e3, "B"),
    "ratio": (1.0, "×"),
    "": (1.0, ""),
}
# already-scaled units: 3.2 mm², 12.5 TOPS/W, 0.46 pJ/MAC keep their number as it is
NO_PREFIX = ("mm2", "TOPS", "TOPS/W", "TOPS/mm2", "flag", "pJ/MAC", "pJ/bit", "ratio")
PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"),
            (1e-12, "p"), (1e-15, "f"))
# units with no fractional part worth showing (a count): 1,234 cycles, not 1.23k cycles below 10^4
COUNTED = ("cycles", "MACs", "ops", "points", "bits")


def unit_of(metric: str) -> str:
    """The store's unit of a metric; unknown metrics (a newer sweep's) guess from the name."""
    m = METRICS.get(metric)
    if m:
        return m["unit"]
    name = metric.removeprefix("cfg:")
    for suffix, unit in (("_pj", "pJ"), ("_bytes", "bytes"), ("_cycles", "cycles"), ("_mm2", "mm2"),
                         ("_us", "us"), ("_w", "W"), ("_s", "s"), ("_mhz", "MHz"), ("_kb", "kB")):
        if name.endswith(suffix) or f"{suffix}_" in name or f"{suffix}." in name:
            return unit
    # per-layer figures of the store (hwsim.store: layers.name)
    if name.startswith("energy_pj"):
        return "pJ"
    if name.startswith(("macs", "effectual_macs")):
        return "MACs"
    if name.startswith(("traffic_bytes", "sram_reads", "sram_writes", "dram_reads", "dram_writes", "sram_read_",
                        "sram_write_", "dram_read_", "dram_write_")):
        return "bytes"
    if name in ("cycles", "compute_cycles", "stall_cycles", "total_cycles"):
        return "cycles"
    if name.startswith("elementwise."):
        return "ops"
    if name in ("mapping_efficiency",):
        return "fraction"
    return "fraction" if name in ("accuracy", "error", "utilization") else ""


def better_of(metric: str) -> str:
    m = METRICS.get(metric)
    if m:
        return m["better"]
    return "max" if metric.startswith(("accuracy", "tops", "utilization")) else "min"


def label_of(metric: str) -> str:
    """``train_energy_pj_per_step`` -> ``Training energy per step``; other names made readable."""
    m = METRICS.get(metric)
    if m:
        return m["label"]
    name = metric.removeprefix("cfg:")
    head, dot, rest = name.partition(".")
    if dot and head in _LAYER_GROUPS:   # a per-layer figure of the store: energy_pj.dram -> energy: DRAM
        return f"{_LAYER_GROUPS[head]}: {_PART_NAMES.get(rest, rest.replace('_', ' '))}"
    return {"hardware.clock_mhz": "clock", "clock_mhz": "clock", "sram_kb": "SRAM", "dram_bw": "DRAM bandwidth",
            "array_rows": "array rows", "array_cols": "array cols"}.get(name, name.replace("_", " "))


# groups of per-layer figures (hwsim.store, layers.name) and their parts, as a person names them
_LAYER_GROUPS = {"energy_pj": "energy", "macs": "MACs", "effectual_macs": "effectual MACs",
                 "traffic_bytes": "traffic", "elementwise": "element-wise ops", "sram_reads": "SRAM reads",
                 "sram_writes": "SRAM writes", "dram_reads": "DRAM reads", "dram_writes": "DRAM writes",
                 "shape": "shape"}
_PART_NAMES = {"dram": "DRAM", "sram": "SRAM", "rf": "RF", "total": "total", "elementwise": "element-wise"}


@dataclass(frozen=True)
class Scale:
    """How one column or axis shows its values: multiply by ``factor``, write ``prefix`` + ``symbol``."""

    unit: str
    factor: float        # store value -> shown number
    prefix: str
    symbol: str          # " cycles" (counted) or "J" (joined)

    @property
    def suffix(self) -> str:
        """What follows the number: ``" mJ"``, ``"M cycles"``, ``" %"``."""
        if self.unit == "fraction":
            return " %"
        if self.symbol.startswith(" ") or not self.symbol:   # 1.5M cycles, 59.7k
            return f"{self.prefix}{self.symbol}"
        return f" {self.prefix}{self.symbol}"

    @property
    def unit_text(self) -> str:
        """For a header: ``mJ``, ``M cycles``, ``%``."""
        return self.suffix.strip()


def _num(x: float, digits: int, grouped: bool = False) -> str:
    """``digits`` significant digits, never an exponent, all integer digits kept (``12,345``)."""
    if x == 0:
        return "0"
    ax = abs(x)
    int_digits = int(math.floor(math.log10(ax))) + 1 if ax >= 1 else 0
    if int_digits >= digits:
        decimals = 0
    elif ax >= 1:
        decimals = digits - int_digits
    else:   # 0.00123: as many decimals as its significant digits need
        decimals = digits - int(math.floor(math.log10(ax))) - 1
    decimals = min(decimals, 12)
    if isinstance(x, int) and decimals == 0:   # every digit of an integer (a float keeps 53 bits)
        return f"{x:,}" if grouped or int_digits > 4 else str(x)
    text = f"{x:,.{decimals}f}" if grouped or int_digits > 4 else f"{x:.{decimals}f}"
    if "." in text:   # trailing zeros of the rounding say nothing
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _prefix(x: float) -> tuple[float, str]:
    ax = abs(x)
    for step, p in PREFIXES:
        if ax >= step * 0.9995:
            return step, p
    return PREFIXES[-1]


def scale_for(unit: str, value: float | None = None) -> Scale:
    """The prefix that suits ``value`` (in store units); ``None``: the bare base unit."""
    factor, sym = DISPLAY.get(unit, (1.0, f" {unit}" if unit else ""))
    if unit in ("fraction", "pp"):
        return Scale(unit, 100.0, "", "")
    if value is None or unit in NO_PREFIX or not math.isfinite(value) or value == 0:
        return Scale(unit, factor, "", sym)
    x = value * factor
    if unit in COUNTED and abs(x) < 1e4:
        return Scale(unit, factor, "", sym)
    step, p = _prefix(x)
    return Scale(unit, factor / step, p, sym)


def column_scale(values: Iterable[Any], unit: str) -> Scale:
    """One prefix for a whole column or axis: the one that suits its typical (median) magnitude,
    so the values line up (``12.3 mJ``, ``4.5 mJ``, ``0.91 mJ``)."""
    xs = sorted(abs(float(v)) for v in values if _finite(v) and float(v) != 0)
    return scale_for(unit, xs[len(xs) // 2] if xs else None)


def _finite(v: Any) -> bool:
    try:
        return v is not None and not isinstance(v, (str, bool)) and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def fmt(v: Any, unit: str, digits: int = 3, scale: Scale | None = None, unit_text: bool = True) -> str:
    """``1.07e10`` pJ -> ``10.7 mJ``; ``2130`` bytes -> ``2.13 kB``; ``0.9123`` fraction -> ``91.2 %``.
    With ``scale`` (a column's), that prefix; ``unit_text=False`` leaves the unit to the header."""
    if not _finite(v):
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    v = float(v)
    if unit == "fraction":
        return f"{100 * v:.1f}" + (" %" if unit_text else "")
    if unit == "pp":
        return f"{100 * v:+.1f}" + (" pp" if unit_text else "")
    s = scale or scale_for(unit, v)
    x = v * s.factor
    grouped = unit in COUNTED and not s.prefix
    num = _num(round(x) if grouped and abs(x) >= 1 and float(x).is_integer() else x,
               max(digits, 1) if not grouped else max(digits, len(str(int(abs(x))))), grouped=grouped)
    return num + (s.suffix if unit_text else "")


def metric_fmt(v: Any, metric: str, digits: int = 3) -> str:
    return fmt(v, unit_of(metric), digits)


def count(n: Any) -> str:
    """A plain count of things (points, layers): ``12,345``; large ones with a prefix (``1.2M``)."""
    if not _finite(n):
        return ""
    n = float(n)
    if abs(n) < 1e6:
        return f"{n:,.0f}" if n.is_integer() else _num(n, 3)
    step, p = _prefix(n)
    return _num(n / step, 3) + p


def rate(v: Any, per: str, digits: int = 3) -> str:
    """``997.5`` per minute -> ``998 points/min``; ``59700`` -> ``59.7k points/min``."""
    return f"{count(v) if abs(float(v or 0)) >= 1e4 else _num(float(v or 0), digits)} {per}"


def duration(seconds: Any) -> str:
    """Wall time: ``1.52 ks`` would be unreadable, so ``25 min 20 s``, ``3.4 s``, ``120 ms``."""
    if not _finite(seconds):
        return ""
    s = float(seconds)
    if s < 60:
        return fmt(s, "s")
    if s < 3600:
        return f"{int(s // 60)} min {s % 60:.0f} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"


def header(metric: str, scale: Scale | None = None) -> str:
    """A column header: ``Training energy per step (mJ)``; ``Accuracy (%)``."""
    unit = unit_of(metric)
    s = scale or scale_for(unit)
    return f"{label_of(metric)} ({s.unit_text})" if s.unit_text else label_of(metric)


def column(values: Iterable[Any], unit: str, digits: int = 3) -> tuple[list[str], Scale]:
    """A whole column in one prefix: the texts (numbers only) and the scale for its header."""
    vals = list(values)
    s = column_scale(vals, unit)
    return [fmt(v, unit, digits, scale=s, unit_text=False) for v in vals], s


def number(v: Any) -> str:
    """A parameter's value as a person reads it and no two values read alike: integers in full
    (``3``, ``12,345``), others with up to 6 significant digits (``0.001``, ``0.0000001``, ``700``);
    never an exponent, never an SI prefix (a learning rate is not ``1m``)."""
    if isinstance(v, bool) or not _finite(v):
        return str(v)
    if isinstance(v, int) or float(v).is_integer() and abs(float(v)) < 1e15:
        return _num(int(v), 6)
    return _num(float(v), 6)
