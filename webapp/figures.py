"""Plotly figure builders for the dashboard: pure functions of DataFrames, no Dash, no store.

Every figure used on a page is built here, so ``hwsim``'s tests (and a notebook user) can
build the same figures without a browser and export them (PNG/SVG via kaleido, HTML).
"""

from __future__ import annotations

import atexit
import threading
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from hwsim.store import METRICS

from . import units

TEMPLATE = "plotly_white"
COLORS = px.colors.qualitative.D3
# distinct shapes, filled first, then open ones: 20 values before a symbol repeats
SYMBOLS = ["circle", "diamond", "square", "triangle-up", "x", "cross", "star", "hexagon", "triangle-down", "pentagon",
           "circle-open", "diamond-open", "square-open", "triangle-up-open", "star-open", "hexagon-open",
           "triangle-down-open", "pentagon-open", "hourglass", "bowtie"]
# Fixed order and colours for energy components, so two points read alike.
COMPONENT_ORDER = ("elementwise", "rf", "sram", "dram", "static.logic", "static.sram")
COMPONENT_COLORS = {"elementwise": "#9467bd", "rf": "#2ca02c", "sram": "#ff7f0e", "dram": "#d62728",
                    "static.logic": "#7f7f7f", "static.sram": "#bcbd22"}


def _layout(fig: go.Figure, title: str | None = None, height: int = 360) -> go.Figure:
    fig.update_layout(template=TEMPLATE, height=height, margin=dict(l=60, r=20, t=40 if title else 20, b=20),
                      title=dict(text=title, x=0.01, font=dict(size=15)) if title else None,
                      legend=dict(orientation="h", yanchor="top", y=-0.14, xanchor="left", x=0, title=None),
                      font=dict(size=12))
    return fig


def empty_figure(message: str, height: int = 300) -> go.Figure:
    """A message where a figure will be. No template: it has no axes to style, and the full
    plotly_white template would add ~8 kB to every placeholder the page ships."""
    return go.Figure(layout=dict(
        template="none", height=height, margin=dict(l=60, r=20, t=20, b=20), font=dict(size=12),
        xaxis=dict(visible=False), yaxis=dict(visible=False),
        annotations=[dict(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                          font=dict(size=14, color="#666"))]))


# -- Pareto ---------------------------------------------------------------------------------
def pareto_mask(x: Sequence[float], y: Sequence[float], x_better: str = "min", y_better: str = "max") -> np.ndarray:
    """True for points no other point dominates (at least as good on both axes, better on one).

    The rule of ``hwsim pareto`` (:func:`hwsim.sweep.pareto.non_dominated`), in O(n log n) for two
    axes so 50,000 points take milliseconds. Points with a missing coordinate are never on the front.
    """
    xs = np.asarray(x, dtype=float) * (1 if x_better == "min" else -1)
    ys = np.asarray(y, dtype=float) * (1 if y_better == "min" else -1)
    mask = np.zeros(len(xs), dtype=bool)
    ok = np.flatnonzero(~(np.isnan(xs) | np.isnan(ys)))
    if not len(ok):
        return mask
    order = ok[np.lexsort((ys[ok], xs[ok]))]  # by x, then y
    xo, yo = xs[order], ys[order]
    # Groups of equal x: the first of each group has its least y (sorted by y within x).
    starts = np.flatnonzero(np.r_[True, xo[1:] != xo[:-1]])
    gmin = yo[starts]
    # Best y among all strictly smaller x: the running minimum up to the previous group.
    before = np.r_[np.inf, np.minimum.accumulate(gmin)[:-1]]
    group_of = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(xo)]))
    on = (yo == gmin[group_of]) & (gmin[group_of] < before[group_of])  # duplicates of a front point stay on it
    mask[order[on]] = True
    return mask


def front_mask(d: pd.DataFrame, objectives: Sequence[str]) -> np.ndarray:
    """The Pareto front of ``d`` over two or more objectives (each in its better direction): the
    two-objective rule of :func:`pareto_mask`, or for three and more a block-wise skyline (points sorted
    by the first objective are checked against the front so far, a block of 1,000 at a time), so
    50,000 points take well under a second. Points missing an objective are never on the front."""
    objectives = [o for o in objectives if o]
    if len(objectives) == 2:
        return pareto_mask(d[objectives[0]], d[objectives[1]], units.better_of(objectives[0]),
                           units.better_of(objectives[1]))
    F = np.column_stack([d[o].to_numpy(dtype=float) * (1 if units.better_of(o) == "min" else -1)
                         for o in objectives])
    mask = np.zeros(len(F), dtype=bool)
    ok = np.flatnonzero(~np.isnan(F).any(axis=1))
    order = ok[np.lexsort(F[ok].T[::-1])]
    front = np.empty((0, F.shape[1]))
    for start in range(0, len(order), 1000):
        idx = order[start:start + 1000]
        B = F[idx]
        if len(front):
            le = (front[None, :, :] <= B[:, None, :]).all(axis=2)
            lt = (front[None, :, :] < B[:, None, :]).any(axis=2)
            alive = ~(le & lt).any(axis=1)
            idx, B = idx[alive], B[alive]
        le = (B[None, :, :] <= B[:, None, :]).all(axis=2)
        lt = (B[None, :, :] < B[:, None, :]).any(axis=2)
        alive = ~(le & lt).any(axis=1)
        mask[idx[alive]] = True
        front = np.vstack([front, B[alive]])
    return mask


def knee(d: pd.DataFrame, objectives: Sequence[str], front: np.ndarray) -> int | None:
    """Position (in ``d``) of the front's knee: the front point nearest the ideal point once every
    objective is scaled to [0, 1] over the front (log10 first for a cost spanning decades)."""
    idx = np.flatnonzero(front)
    if len(idx) < 3:
        return None
    cols = []
    for o in objectives:
        v = d[o].to_numpy(dtype=float)[idx]
        if units.better_of(o) == "max":
            v = -v
        if (v > 0).all() and v.max() / v.min() > 100:
            v = np.log10(v)
        lo, hi = v.min(), v.max()
        cols.append((v - lo) / (hi - lo) if hi > lo else np.zeros_like(v))
    dist = np.sqrt(np.sum(np.column_stack(cols) ** 2, axis=1))
    return int(idx[int(np.argmin(dist))])


# what the values of a grouping past the palette's size share: one grey colour, one symbol, one legend entry
OTHER_COLOR, OTHER_SYMBOL = "#9e9e9e", "asterisk-open"


def _capped(values: pd.Series, front: np.ndarray, limit: int) -> tuple[pd.Series, str | None]:
    """``values`` (a grouping's, one per point) with at most ``limit`` distinct: past that, the ``limit - 1``
    values with most points on the front (then most points, then by name) keep theirs and the rest become
    one ``"N other values"``, returned second (None when nothing was merged). More values than colours or
    symbols would repeat them, and a legend of hundreds of entries (a sweep over a scheme's parameter) is
    read by no one while it costs the browser a trace to draw on every redraw; hover still names each point."""
    distinct = values.unique()
    if len(distinct) <= limit:
        return values, None
    on_front, overall = values[front].value_counts(), values.value_counts()
    ranked = sorted(distinct, key=lambda v: (-on_front.get(v, 0), -overall[v], v))
    kept = ranked[:limit - 1]
    other = f"{len(distinct) - len(kept):,} other values"
    return values.where(values.isin(kept), other), other


def _legend_map(values: pd.Series, other: str | None, styles: Sequence[str], other_style: str) -> dict[str, str]:
    """Each value's colour or symbol, in legend order (sorted; the merged ``other`` last, in its own style)."""
    order = sorted(v for v in values.unique() if v != other)
    return {**{v: styles[i % len(styles)] for i, v in enumerate(order)}, **({other: other_style} if other else {})}


def thin(df: pd.DataFrame, front: np.ndarray, keep: Sequence[str] = (), max_dominated: int = 3000,
         seed: int = 0) -> tuple[pd.DataFrame, int]:
    """Every front point and every ``keep`` id, plus at most ``max_dominated`` dominated points (a
    reproducible sample). Returns the rows and how many dominated points were left out."""
    dominated = ~front & ~df["id"].isin(list(keep)).to_numpy()
    n = int(dominated.sum())
    if n <= max_dominated:
        return df, 0
    idx = np.flatnonzero(dominated)
    drop = np.random.default_rng(seed).choice(idx, n - max_dominated, replace=False)
    mask = np.ones(len(df), dtype=bool)
    mask[drop] = False
    return df[mask], n - max_dominated


def density(xs: np.ndarray, ys: np.ndarray, logx: bool, logy: bool, bins: tuple[int, int] = (90, 60),
            x_range: Sequence[float] | None = None, y_range: Sequence[float] | None = None):
    """Counts of points per cell of a grid over the drawn range (log-spaced on log axes): the edges and
    the counts (rows = y), zero cells as None so they stay transparent."""
    def edges(v: np.ndarray, log: bool, n: int, rng) -> np.ndarray:
        lo, hi = (float(rng[0]), float(rng[1])) if rng is not None else (float(np.nanmin(v)), float(np.nanmax(v)))
        if log:
            lo = lo if lo > 0 else float(np.nanmin(v[v > 0])) if (v > 0).any() else 1e-30
            hi = max(hi, lo * 1.0001)
            e = np.logspace(np.log10(lo), np.log10(hi), n + 1)
            e[0], e[-1] = lo, hi   # exactly: 10**log10(v) may round past the smallest or largest point
            return e
        hi = hi if hi > lo else lo + (abs(lo) or 1.0) * 1e-3
        return np.linspace(lo, hi, n + 1)

    ex, ey = edges(xs, logx, bins[0], x_range), edges(ys, logy, bins[1], y_range)
    counts, _, _ = np.histogram2d(xs, ys, bins=[ex, ey])
    z = counts.T.astype(object)
    z[counts.T == 0] = None
    return ex, ey, z


def _marker_sizes(d: pd.DataFrame, size: str | None) -> np.ndarray:
    """Marker sizes 6-24 px by the ``size`` column (8 px each without one)."""
    if size and size in d.columns and d[size].notna().any():
        s = d[size].astype(float)
        lo, hi = s.min(), s.max()
        return (6 + 18 * ((s - lo) / (hi - lo) if hi > lo else s * 0 + 0.5)).fillna(6).to_numpy()
    return np.full(len(d), 8.0)


def _hover(d: pd.DataFrame, x: str, y: str, size: str | None, hover_extra: Sequence[tuple[str, str, str]],
           name_col: str) -> tuple[list[str], str, list[tuple[str, str]]]:
    """(customdata columns, hover template, text columns): id, name and ``size`` as they are, then as text
    written by :mod:`hwsim.units` (``474 µJ``, ``0.46 pJ/MAC``, ``4.3 TOPS/W``, not d3's) the two coordinates
    and each present ``hover_extra`` (column, label, unit)."""
    extras = [(c, lab, u) for c, lab, u in hover_extra if c in d.columns and d[c].notna().any()]
    custom_cols = ["id", name_col] + ([size] if size and size in d.columns else [])
    text_cols = [(y, units.unit_of(y)), (x, units.unit_of(x)), *((c, u) for c, _, u in extras)]
    n = len(custom_cols)
    hover_lines = [f"{units.label_of(y)}: %{{customdata[{n}]}}", f"{units.label_of(x)}: %{{customdata[{n + 1}]}}"]
    if size and size in d.columns:
        hover_lines.append(units.hover(size, "customdata[2]"))
    hover_lines += [f"{lab}: %{{customdata[{n + 2 + i}]}}" for i, (_, lab, _) in enumerate(extras)]
    return custom_cols, "<b>%{customdata[1]}</b><br>" + "<br>".join(hover_lines) + "<extra></extra>", text_cols


APPENDED = 0   # the index of a Pareto figure's trace of points committed since it was drawn
APPENDED_MARKER = dict(color="rgba(0,0,0,0)", size=9, symbol="circle-open", line=dict(width=1.5, color="#e6550d"))


def appended_name(n: int) -> str:
    """The legend entry of the points committed since a Pareto figure was drawn: how it shows them."""
    return f"{n:,} new since drawn (front and density as drawn)"


def appended_points(df: pd.DataFrame, x: str, y: str, hover_extra: Sequence[tuple[str, str, str]] = ()) -> dict:
    """What a Pareto figure's appended trace (:data:`APPENDED`) gets for the points ``df`` a sweep
    committed after the figure was drawn: their coordinates (display units) and ``customdata`` of id,
    name and hover lines, each point's own (the drawn traces' hover columns depend on the points they
    hold), so a page is sent only these points and the drawn front and density stay as they are."""
    d = df.dropna(subset=[x, y]) if not df.empty else df
    name_col = "name" if "name" in d.columns else "label"
    extras = [(c, lab, u) for c, lab, u in hover_extra if c in d.columns]
    lines = [(y, units.label_of(y), units.unit_of(y)), (x, units.label_of(x), units.unit_of(x)), *extras]
    custom = [[pid, name, "<br>".join(f"{lab}: {units.fmt(v, u)}" for (_, lab, u), v in zip(lines, vals)
                                      if units.fmt(v, u))]
              for pid, name, *vals in zip(d["id"], d[name_col], *(d[c] for c, _, _ in lines))]
    return {"x": list(d[x] * units.scale(x)), "y": list(d[y] * units.scale(y)), "customdata": custom}


def _in_view(d: pd.DataFrame, x: str, y: str, x_range: Sequence[float] | None,
             y_range: Sequence[float] | None) -> np.ndarray:
    """Which points lie in the drawn ranges (store units); all without a range."""
    in_view = np.ones(len(d), dtype=bool)
    if x_range is not None:
        in_view &= (d[x].to_numpy() >= x_range[0]) & (d[x].to_numpy() <= x_range[1])
    if y_range is not None:
        in_view &= (d[y].to_numpy() >= y_range[0]) & (d[y].to_numpy() <= y_range[1])
    return in_view


def _density_layer(xs: np.ndarray, ys: np.ndarray, logx: bool, logy: bool, x_range: list[float] | None,
                   y_range: list[float] | None) -> go.Heatmap:
    """The points off the front as points per cell (display units)."""
    ex, ey, cells = density(xs, ys, logx, logy, x_range=x_range, y_range=y_range)
    return go.Heatmap(
        x=ex, y=ey, z=cells, name="other points", zsmooth=False, hoverongaps=False,
        colorscale=[[0, "rgba(150,160,190,0.35)"], [0.3, "rgba(90,100,150,0.6)"], [1, "rgba(20,30,80,0.9)"]],
        colorbar=dict(title=dict(text="points<br>per cell", side="top"), thickness=10, len=0.45, y=0.02,
                      yanchor="bottom", x=1.01, tickformat=",~r"),
        hovertemplate="%{z:,} design points in this cell<extra>zoom in to see them</extra>")


def _axis(values: pd.Series, metric: str, scale: float, log: bool, rng: Sequence[float] | None) -> dict:
    """One axis's type, title and ticks for the ``values`` in view, and its range when zoomed (store units)."""
    shown = values * scale
    out = dict(type="log" if log else "linear", **units.axis(metric),
               **(_log_ticks(shown, metric) if log else units.linear_ticks(shown, metric)))
    if rng is not None:
        out["range"] = [np.log10(v * scale) if log and v > 0 else v * scale for v in rng[:2]]
    return out


def pareto_figure(df: pd.DataFrame, x: str, y: str, color: str | None = "family", symbol: str | None = "scheme_name",
                  size: str | None = None, logx: bool = True, logy: bool = False, selected: Sequence[str] = (),
                  height: int = 560, title: str | None = None, max_dominated: int = 3000,
                  x_range: Sequence[float] | None = None, y_range: Sequence[float] | None = None,
                  hover_extra: Sequence[tuple[str, str, str]] = (), z: str | None = None) -> go.Figure:
    """Quality ``y`` against cost ``x``: the front as large outlined SVG markers (a staircase through
    it), colour by ``color``, symbol by ``symbol``; every other point represented: as faded markers up to
    ``max_dominated`` of them in the drawn range, else as a density layer (points per cell) that is
    computed again for a zoomed range (``x_range``/``y_range``, store units), so zooming in turns a
    region's points into markers. The figure says which. Compared points are ringed.

    ``customdata[0]`` of every marker is the point id (clicks open its drill-down). Hover names the
    design (``name``), its two coordinates, ``size`` and each ``hover_extra`` (column, label, unit).
    Values are drawn in display units (pJ as J) with tick labels written by :mod:`hwsim.units`.

    SVG ``scatter``, not WebGL ``scattergl``: at most ``max_dominated`` plus the front are ever drawn as
    markers, and at that size SVG draws in a third of WebGL's time (a WebGL context costs about a second
    of a software renderer's time, as in a headless or remote browser)."""
    z = z if z and z in df.columns and z not in (x, y) else None
    d = df.dropna(subset=[x, y, *([z] if z else [])]) if not df.empty else df
    if d.empty:
        return empty_figure("No design points match the filters (or none has these metrics).", height)
    d = d.reset_index(drop=True)
    objectives = [x, y, *([z] if z else [])]
    front = front_mask(d, objectives)
    knee_at = knee(d, objectives, front)
    sx, sy = units.scale(x), units.scale(y)
    name_col = "name" if "name" in d.columns else "label"
    def groups(col: str | None) -> pd.Series:   # a point without the grouping's value is "(none)"
        if not col or col not in d.columns:
            return pd.Series("all", index=d.index)
        col_values = d[col]
        return col_values.astype(object).where(col_values.notna(), "(none)").astype(str)

    cvals, cother = _capped(groups(color), front, len(COLORS))
    svals, sother = _capped(groups(symbol), front, len(SYMBOLS))
    cmap = _legend_map(cvals, cother, COLORS, OTHER_COLOR)
    smap = _legend_map(svals, sother, SYMBOLS, OTHER_SYMBOL)
    sizes = _marker_sizes(d, size)
    custom_cols, hovertemplate, text_cols = _hover(d, x, y, size, hover_extra, name_col)
    group_label = color.replace("cfg:", "").replace("_name", "") if color else ""

    def custom(rows: pd.DataFrame):
        base = rows[[c for c in custom_cols if c in rows.columns]].to_numpy(dtype=object)
        text = np.array([[units.fmt(v, u) for v in rows[c]] for c, u in text_cols], dtype=object).T.reshape(
            len(rows), len(text_cols))
        return np.concatenate([base, text], axis=1) if len(rows) else base

    keep = d["id"].isin(list(selected)).to_numpy()
    in_view = _in_view(d, x, y, x_range, y_range)
    dom = ~front & ~keep & in_view
    n_dom = int(dom.sum())
    as_markers = n_dom <= max_dominated
    fig = go.Figure()
    # first (APPENDED), empty: the points a sweep commits after this figure is drawn, sent alone (appended
    # to this trace) until the figure is drawn again; shown once it has some (an empty trace shown breaks
    # plotly's box select)
    fig.add_trace(go.Scatter(x=[], y=[], mode="markers", name=appended_name(0), visible=False, legendrank=2000,
                             customdata=[], marker=APPENDED_MARKER,
                             hovertemplate="<b>%{customdata[1]}</b><br>%{customdata[2]}<extra>new since drawn</extra>"))
    if as_markers:
        for cv in cmap:  # faded dominated points, one trace (legend entry) per colour value
            m = (dom | (keep & ~front)) & (cvals == cv).to_numpy()
            rows = d[m]
            fig.add_trace(go.Scatter(
                x=rows[x] * sx, y=rows[y] * sy, mode="markers", name=cv, legendgroup=cv, customdata=custom(rows),
                legendgrouptitle=dict(text=group_label) if cv == next(iter(cmap)) else None,
                hovertemplate=hovertemplate,
                marker=dict(color=cmap[cv], opacity=0.35, size=sizes[m], symbol=[smap[v] for v in svals[m]],
                            line=dict(width=0))))
    else:
        fig.add_trace(_density_layer(d[x].to_numpy()[dom] * sx, d[y].to_numpy()[dom] * sy, logx, logy,
                                     [v * sx for v in x_range] if x_range is not None else None,
                                     [v * sy for v in y_range] if y_range is not None else None))
        for i, cv in enumerate(cmap):   # the colour legend, for the front's markers
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=cv, legendgroup=cv,
                                       legendgrouptitle=dict(text=group_label) if i == 0 else None,
                                       marker=dict(color=cmap[cv], size=9), hoverinfo="skip"))
        extra = d[keep & ~front]
        if not extra.empty:
            fig.add_trace(go.Scatter(x=extra[x] * sx, y=extra[y] * sy, mode="markers", name="compared",
                                       customdata=custom(extra), hovertemplate=hovertemplate, showlegend=False,
                                       marker=dict(color=[cmap[v] for v in cvals[keep & ~front]], size=9)))
    rows = d[front]
    fig.add_trace(go.Scatter(
        x=rows[x] * sx, y=rows[y] * sy, mode="markers", name="Pareto front", customdata=custom(rows),
        hovertemplate=hovertemplate, legendgroup="front",
        marker=dict(color=[cmap[v] for v in cvals[front]], size=sizes[front] + 6, opacity=1.0,
                    symbol=[smap[v] for v in svals[front]], line=dict(width=1.5, color="#222"))))
    if not z:   # a staircase joins a two-objective front; a three-objective one has no such order
        fr = rows.sort_values(x)
        fig.add_trace(go.Scatter(x=fr[x] * sx, y=fr[y] * sy, mode="lines", name="front line", showlegend=False,
                                   line=dict(color="rgba(40,40,40,0.55)", width=2, dash="dot", shape="hv"),
                                   hoverinfo="skip"))
    if knee_at is not None:
        k = d.iloc[knee_at]
        fig.add_trace(go.Scatter(x=[k[x] * sx], y=[k[y] * sy], mode="markers+text", name="knee",
                                   text=["knee"], textposition="top center", hoverinfo="skip",
                                   marker=dict(symbol="star", size=20, color="rgba(0,0,0,0)",
                                               line=dict(width=2, color="#e6550d"))))
    if len(smap) > 1:  # a short symbol legend: one grey marker per symbol value
        for i, (sv, sym) in enumerate(smap.items()):
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=sv, legendgroup="symbol",
                                       legendgrouptitle=dict(text=symbol.replace("cfg:", "").replace("_name", ""))
                                       if i == 0 else None,
                                       marker=dict(symbol=sym, color="#777", size=9), hoverinfo="skip"))
    if selected:
        sel = d[keep]
        if not sel.empty:
            fig.add_trace(go.Scatter(x=sel[x] * sx, y=sel[y] * sy, mode="markers", name="compared",
                                       hoverinfo="skip",
                                       marker=dict(size=22, color="rgba(0,0,0,0)", line=dict(width=2.5,
                                                                                             color="#e31a1c"))))
    fig.update_layout(clickmode="event", dragmode="zoom", uirevision=f"{x}|{y}|{logx}|{logy}")
    _layout(fig, title=title, height=height)
    # Legends on the right, in a narrow column, so the plot keeps its height and width.
    fig.update_layout(legend=dict(orientation="v", yanchor="top", y=1, xanchor="left", x=1.02,
                                  groupclick="toggleitem", font=dict(size=10), itemsizing="constant",
                                  tracegroupgap=6),
                      margin=dict(l=70, r=10, t=40 if title else 20, b=50), height=height)
    fig.update_xaxes(**_axis(d[x][in_view] if in_view.any() else d[x], x, sx, logx, x_range))
    fig.update_yaxes(**_axis(d[y][in_view] if in_view.any() else d[y], y, sy, logy, y_range))
    n_front = int(front.sum())
    over = f" (front over {units.label_of(x)}, {units.label_of(y)} and {units.label_of(z)})" if z else ""
    how = (f"all {len(d):,} points as markers ({n_front:,} on the Pareto front)" if as_markers and x_range is None
           and y_range is None else
           f"{n_front:,} front points as markers; the {n_dom:,} other points in view as markers" if as_markers else
           f"{n_front:,} front points as markers; the {n_dom:,} other points in view as a density "
           "(points per cell); zoom in to see them as markers")
    fig.add_annotation(text=how + over, x=0, y=1.0, xref="paper", yref="paper", xanchor="left", yanchor="bottom",
                       showarrow=False, font=dict(size=10, color="#666"), name="how-drawn")
    return fig


def _log_ticks(values: pd.Series, metric: str) -> dict:
    """Ticks at 1, 2, 5 x 10^k labelled in full units (``2 mJ``, not a bare ``2``) on a log axis."""
    v = values[values > 0]
    if v.empty:
        return {}
    lo, hi = float(v.min()), float(v.max())
    ticks = [m * 10.0 ** e for e in range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1)
             for m in (1, 2, 5) if lo / 1.6 <= m * 10.0 ** e <= hi * 1.6]
    if len(ticks) > 10:
        ticks = [t for t in ticks if f"{t:.0e}".startswith("1")]
    if len([t for t in ticks if lo <= t <= hi]) < 3:   # a range under a decade (a front): evenly spaced ticks
        return units.linear_ticks([lo, hi], metric, n=5)
    unit, k = units.unit_of(metric), units.scale(metric)
    return {"tickvals": ticks, "ticktext": [units.fmt(t / k, unit, digits=2) for t in ticks]}


def _dimension_ticks(values: pd.Series, metric: str) -> tuple[np.ndarray, list[float], list[str], str]:
    """Values to draw on one parallel-coordinates axis, its tick positions and labels (the one unit style),
    and the unit for its title. A metric spanning more than two decades is drawn on log10 positions."""
    unit = units.unit_of(metric)
    v = values.astype(float).to_numpy()
    fin = v[np.isfinite(v)]
    if unit == "fraction":
        ticks = list(np.linspace(float(np.nanmin(fin)), float(np.nanmax(fin)), 5)) if len(fin) else []
        return v, ticks, [units.fmt(t, unit) for t in ticks], "%"
    pos = fin[fin > 0]
    if len(pos) == len(fin) and len(pos) and pos.max() / pos.min() > 100:
        lo, hi = float(pos.min()), float(pos.max())
        ticks = [m * 10.0 ** e for e in range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
                 for m in (1, 2, 5) if lo <= m * 10.0 ** e <= hi]
        if len(ticks) > 8:
            ticks = [t for t in ticks if f"{t:.0e}".startswith("1")]
        ticks = ticks or [lo, hi]
        return (np.log10(np.where(v > 0, v, np.nan)), [float(np.log10(t)) for t in ticks],
                [units.fmt(t, unit, 2) for t in ticks], "log")
    k = units.scale(metric)
    lin = units.linear_ticks(fin * k, metric, n=5) if len(fin) else {}
    ticks = [t / k for t in lin.get("tickvals", [])]
    keep = [i for i, t in enumerate(ticks) if len(fin) and fin.min() - 1e-12 <= t <= fin.max() + 1e-12] or \
        list(range(len(ticks)))
    sc = units.column_scale(fin, unit)
    return v, [ticks[i] for i in keep], [units.fmt(ticks[i], unit, 3, scale=sc) for i in keep], sc.unit_text


def parcoords_figure(df: pd.DataFrame, dims: Sequence[str], color: str | None = None, max_rows: int = 3000,
                     height: int = 420) -> go.Figure:
    """Parallel coordinates over metrics and varied config fields (numbers, or categories as codes), every
    axis labelled in the one unit style (its unit in its title), a colour bar for ``color``.

    Each dimension's ``name`` is its column, so brushing (``constraintrange``) maps back to the
    store (log axes: see :func:`dimension_value`). Above ``max_rows`` lines, a reproducible sample keeps
    the view light (the title says so)."""
    d = df.dropna(subset=[c for c in dims if c in df.columns], how="all") if not df.empty else df
    total = len(d)
    if len(d) > max_rows:
        d = d.sample(max_rows, random_state=0)
    out = []
    for c in dims:
        if c not in d.columns or d[c].notna().sum() == 0:
            continue
        s = d[c]
        name = units.label_of(c.removeprefix("cfg:"))
        if pd.api.types.is_numeric_dtype(s):
            if s.nunique() < 2 and c not in (color,):
                continue
            vals, tickvals, ticktext, unit = _dimension_ticks(s, c)
            title = f"{name} ({'log, ' if unit == 'log' else ''}{units.unit_of(c) if unit == 'log' else unit})" \
                if unit else name
            title = title.replace("(log, pJ)", "(log)").replace("(log, bytes)", "(log)")
            dim = dict(label=_wrap(title), values=vals, name=c + ("|log" if unit == "log" else ""),
                       tickvals=tickvals, ticktext=ticktext)
        else:
            cats = sorted(s.dropna().astype(str).unique())
            if len(cats) < 2:
                continue
            code = {v: i for i, v in enumerate(cats)}
            dim = dict(label=_wrap(name), values=s.astype(str).map(code), name=c,
                       tickvals=list(range(len(cats))), ticktext=[_short(v, 18) for v in cats])
        out.append(dim)
    if len(out) < 2:
        return empty_figure("Parallel coordinates need two or more dimensions that vary.", height)
    cvals = d[color].astype(float) * units.scale(color) if color in d.columns else None
    bar = None
    if cvals is not None:
        ax = units.axis(color)
        bar = dict(title=dict(text=_wrap(units.label_of(color), 14), side="right"), thickness=12,
                   **{k: v for k, v in ax.items() if k in ("tickformat", "ticksuffix", "exponentformat")})
    line = dict(color=cvals, colorscale="Viridis", showscale=cvals is not None, colorbar=bar)
    fig = go.Figure(go.Parcoords(dimensions=out, line=line, labelangle=0, labelside="top",
                                 labelfont=dict(size=11), tickfont=dict(size=10)))
    _layout(fig, height=height)
    note = f"{len(d):,} of {total:,} points (a fixed sample)" if total > len(d) else f"{total:,} points"
    fig.update_layout(margin=dict(l=70, r=90, t=80, b=30),
                      annotations=[dict(text=note, x=1, y=-0.06, xref="paper", yref="paper", showarrow=False,
                                        xanchor="right", font=dict(size=10, color="#777"))])
    return fig


def dimension_value(name: str, value: float) -> tuple[str, float]:
    """A brushed parallel-coordinates value back to its column and the store's units."""
    if name.endswith("|log"):
        return name[:-4], 10.0 ** value
    return name, value


def _wrap(text: str, width: int = 16) -> str:
    """An axis title on lines of about ``width`` characters (parcoords titles otherwise overlap)."""
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    lines.append(cur)
    return "<br>".join(lines)


# -- one design point ---------------------------------------------------------------------------
def component_name(key: str) -> str:
    if key.startswith(("compute.", "static.")):
        head, tail = key.split(".", 1)
        return f"{head} ({'SRAM' if tail == 'sram' else tail})"
    return key


def _ordered_components(cols: Sequence[str]) -> list[str]:
    compute = sorted(c for c in cols if c.startswith("compute."))
    rest = [c for c in COMPONENT_ORDER if c in cols]
    other = sorted(c for c in cols if c not in compute and c not in rest)
    return compute + rest + other


def stacked_layers_figure(wide: pd.DataFrame, title: str, yaxis: str, order: Sequence[str] | None = None,
                          names=None, colors: dict | None = None, log: bool = False) -> go.Figure:
    """One stacked bar per layer; one colour per column of ``wide`` (index = layer)."""
    if wide.empty or wide.shape[1] == 0 or not np.nansum(wide.to_numpy(dtype=float)):
        return empty_figure(f"{title}: no data for this phase")
    cols = list(order) if order else list(wide.columns)
    fig = go.Figure()
    for i, c in enumerate(cols):
        name = names(c) if names else c
        color = (colors or {}).get(c) or COLORS[i % len(COLORS)]
        k = 1e-12 if yaxis == "pJ" else 1.0
        sym = {"pJ": "J", "bytes": "B", "MACs": " MACs"}.get(yaxis, "")
        fig.add_trace(go.Bar(x=[_short(la) for la in wide.index], y=wide[c] * k, name=name, marker_color=color,
                             hovertemplate=f"{name}<br>%{{x}}: %{{y:.3~s}}{sym}<extra></extra>"))
    fig.update_layout(barmode="stack")
    sym = {"pJ": "J", "bytes": "B", "MACs": " MACs"}.get(yaxis, "")
    fig.update_yaxes(title={"pJ": "energy", "bytes": "bytes"}.get(yaxis, yaxis), type="log" if log else "linear",
                     tickformat="~s", ticksuffix=sym)
    fig.update_xaxes(tickangle=-40, automargin=True)
    return _layout(fig, title)


def _short(layer: str, width: int = 22) -> str:
    """Readable layer labels: ``layer3.1.conv2`` stays, very long dotted paths keep their tail."""
    s = str(layer)
    return s if len(s) <= width else "…" + s[-(width - 1):]


def energy_figure(wide: pd.DataFrame, title: str = "Energy by component per layer") -> go.Figure:
    cols = _ordered_components(list(wide.columns))
    compute_colors = {c: px.colors.sequential.Blues[-1 - (i % 5)] for i, c in enumerate(c for c in cols
                                                                                         if c.startswith("compute."))}
    return stacked_layers_figure(wide, title, "pJ", order=cols, names=component_name,
                                 colors={**COMPONENT_COLORS, **compute_colors})


def phase_energy_figure(lays: dict[str, pd.DataFrame], title: str = "Energy per phase by component") -> go.Figure:
    """One stacked bar per phase (and per point, when several): compute by MAC type, element-wise,
    RF, SRAM, DRAM; hover gives each part's share, the label above each bar its total and pJ per MAC."""
    from hwsim.formats import PHASES

    bars: list[tuple[str, str, dict[str, float], float]] = []
    for label, lay in lays.items():
        if lay is None or lay.empty:
            continue
        e = lay[lay["name"].str.startswith("energy_pj.")]
        m = lay[lay["name"].str.startswith("macs.")]
        for ph in PHASES:
            sub = e[e["phase"] == ph]
            if sub.empty or not sub["value"].sum():
                continue
            comp = sub.groupby(sub["name"].str.slice(len("energy_pj.")))["value"].sum().to_dict()
            bars.append((label, ph, comp, float(m[m["phase"] == ph]["value"].sum())))
    if not bars:
        return empty_figure(f"{title}: no per-layer energy stored for this point")
    comps = _ordered_components(sorted({c for _, _, comp, _ in bars for c in comp}))
    compute_colors = {c: px.colors.sequential.Blues[-1 - (i % 5)] for i, c in enumerate(
        c for c in comps if c.startswith("compute."))}
    colors = {**COMPONENT_COLORS, **compute_colors}
    several = len(lays) > 1
    xs = [[lab for lab, _, _, _ in bars], [ph.replace("_", " ") for _, ph, _, _ in bars]] if several else [
        ph.replace("_", " ") for _, ph, _, _ in bars]
    totals = [sum(comp.values()) for _, _, comp, _ in bars]
    fig = go.Figure()
    for i, c in enumerate(comps):
        vals = [comp.get(c, 0.0) * 1e-12 for _, _, comp, _ in bars]
        share = [100 * comp.get(c, 0.0) / t if t else 0 for (_, _, comp, _), t in zip(bars, totals)]
        fig.add_trace(go.Bar(x=xs, y=vals, name=component_name(c), marker_color=colors.get(c) or COLORS[i % 10],
                             customdata=share, hovertemplate=f"{component_name(c)}: %{{y:.3~s}}J "
                             "(%{customdata:.1f} %)<extra></extra>"))
    labels = [f"{units.fmt(t, 'pJ')}" + (f"<br>{t / macs:.3g} pJ/MAC" if macs else "")
              for t, (_, _, _, macs) in zip(totals, bars)]
    fig.add_trace(go.Scatter(x=xs, y=[t * 1e-12 for t in totals], mode="text", text=labels,
                             textposition="top center", showlegend=False, hoverinfo="skip",
                             textfont=dict(size=10)))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(**units.axis("train_energy_pj_per_step"))
    fig.update_yaxes(title_text="energy", range=[0, max(totals) * 1e-12 * 1.25])
    return _layout(fig, title, height=360 if not several else 420)


def cycles_figure(cycles: pd.Series, util: pd.Series, stall: pd.Series | None = None,
                  title: str = "Cycles and utilization per layer") -> go.Figure:
    if cycles.empty:
        return empty_figure(f"{title}: no data for this phase")
    fig = go.Figure()
    if stall is not None and not stall.empty:
        compute = (cycles - stall.reindex(cycles.index).fillna(0)).clip(lower=0)
        fig.add_trace(go.Bar(x=list(cycles.index), y=compute, name="compute cycles", marker_color=COLORS[0]))
        fig.add_trace(go.Bar(x=list(cycles.index), y=stall.reindex(cycles.index).fillna(0), name="stall cycles",
                             marker_color=COLORS[3]))
        fig.update_layout(barmode="stack")
    else:
        fig.add_trace(go.Bar(x=list(cycles.index), y=cycles, name="cycles", marker_color=COLORS[0]))
    if util is not None and not util.empty:
        fig.add_trace(go.Scatter(x=list(util.index), y=util, name="utilization", yaxis="y2", mode="lines+markers",
                                 marker_color=COLORS[2]))
        fig.update_layout(yaxis2=dict(title="utilization", overlaying="y", side="right", range=[0, 1.05],
                                      tickformat=".0%", showgrid=False))
    fig.update_yaxes(title_text="cycles", tickformat="~s", ticksuffix=" cycles", exponentformat="SI",
                     selector=dict(anchor="x"))
    fig.update_layout(yaxis=dict(title="cycles", tickformat="~s", ticksuffix=" cycles", exponentformat="SI"))
    return _layout(fig, title)


def curves_figure(curves: pd.DataFrame, title: str = "Training curve") -> go.Figure:
    """Loss on the left axis, accuracies on the right; anything not sparsity.* is drawn."""
    c = curves[~curves["metric"].str.startswith("sparsity.")] if not curves.empty else curves
    if c.empty:
        return empty_figure(f"{title}: this point has no training curve (literature accuracy or not trained)")
    fig = go.Figure()
    for i, (m, g) in enumerate(c.groupby("metric", sort=True)):
        # Losses on the left axis, accuracies on the right; anything else (learning rate, ...)
        # is listed in the legend but hidden until clicked, since it has neither axis's unit.
        is_loss, is_acc = "loss" in m, "acc" in m
        fig.add_trace(go.Scatter(x=g["epoch"], y=g["value"], name=m, mode="lines+markers",
                                 yaxis="y" if is_loss else "y2", marker_color=COLORS[i % len(COLORS)],
                                 line=dict(dash="dash" if is_loss else "solid"),
                                 visible=True if (is_loss or is_acc) else "legendonly"))
    fig.update_layout(xaxis=dict(title="epoch", tickformat=",~r"), yaxis=dict(title="loss", tickformat=",.3~r"),
                      yaxis2=dict(title="accuracy", overlaying="y", side="right", showgrid=False, tickformat=".0%"))
    return _layout(fig, title)


def sparsity_figure(curves: pd.DataFrame, title: str = "Sparsity over training") -> go.Figure:
    c = curves[curves["metric"].str.startswith("sparsity.")] if not curves.empty else curves
    if c.empty:
        return empty_figure(f"{title}: no sparsity recorded for this point")
    fig = go.Figure()
    for i, (m, g) in enumerate(c.groupby("metric", sort=True)):
        name = m[len("sparsity."):]
        fig.add_trace(go.Scatter(x=g["epoch"], y=g["value"], name=name, mode="lines",
                                 line=dict(color=COLORS[i // 2 % len(COLORS)],
                                           dash="solid" if name.endswith(".weight") else "dot")))
    fig.update_layout(xaxis=dict(title="epoch", tickformat=",~r"),
                      yaxis=dict(title="fraction of zeros", range=[0, 1], tickformat=".0%"))
    fig.update_layout(legend=dict(orientation="v", y=1, x=1.02, xanchor="left", yanchor="top"))
    return _layout(fig, title)


# -- comparison -----------------------------------------------------------------------------
def compare_layers_figure(series: dict[str, pd.Series], title: str, yaxis: str, log: bool = False,
                          unit: str = "") -> go.Figure:
    """Grouped bars: one group per layer, one bar per design point; values in the store's ``unit``."""
    if not series or all(s.empty for s in series.values()):
        return empty_figure(f"{title}: no data")
    layers = list(dict.fromkeys(la for s in series.values() for la in s.index))
    fig = go.Figure()
    k, sym = units.DISPLAY.get(unit, (1.0, f" {unit}" if unit else ""))
    for i, (name, s) in enumerate(series.items()):
        fig.add_trace(go.Bar(x=layers, y=s.reindex(layers) * k, name=name, marker_color=COLORS[i % len(COLORS)],
                             hovertemplate=f"{name}<br>%{{x}}: %{{y:.3~s}}{sym}<extra></extra>"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title=yaxis, type="log" if log else "linear", tickformat="~s", ticksuffix=sym,
                     exponentformat="SI")
    return _layout(fig, title, height=400)


def compare_metrics_figure(df: pd.DataFrame, metrics: Sequence[str], title: str = "Relative to the first point"):
    """Each metric of each later point divided by the first point's (1.0 = same), as horizontal bars."""
    if df.empty or len(df) < 2:
        return empty_figure("Pick two or more design points to compare")
    base = df.iloc[0]
    fig = go.Figure()
    names = [METRICS.get(m, {}).get("label", m) for m in metrics]
    for i, (_, r) in enumerate(df.iloc[1:].iterrows(), start=1):
        ratios = [(r[m] / base[m]) if pd.notna(r[m]) and pd.notna(base[m]) and base[m] else None for m in metrics]
        # bars grow from 1 (same as the baseline), left for less, right for more: on a log axis a bar
        # from the axis' edge would say nothing
        fig.add_trace(go.Bar(y=names, x=[(q - 1) if q is not None else None for q in ratios], base=1,
                             customdata=ratios, name=str(r.get("name", r["label"])), orientation="h",
                             marker_color=COLORS[i % len(COLORS)],
                             hovertemplate="%{y}: %{customdata:.3~r}x<extra>" + str(r.get("name", r["label"]))
                             + "</extra>"))
    fig.add_vline(x=1, line=dict(color="#444", width=1, dash="dot"))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title=f"x {base.get('name', base['label'])}", type="log", tickformat=",.3~r",
                     ticksuffix="x")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, height=430)


_KALEIDO_LOCK = threading.Lock()
_kaleido_started = False


def _kaleido_server() -> None:
    """Keep one headless chromium for static exports: ~0.2 s per image instead of ~4 s."""
    global _kaleido_started
    if _kaleido_started:
        return
    import kaleido

    kaleido.start_sync_server(silence_warnings=True)
    atexit.register(kaleido.stop_sync_server, silence_warnings=True)
    _kaleido_started = True


def figure_bytes(fig: go.Figure, fmt: str) -> bytes:
    """A figure as ``png`` / ``svg`` (kaleido drives the system chromium) or self-contained ``html``."""
    if fmt == "html":
        return fig.to_html(include_plotlyjs=True, full_html=True).encode()
    if fmt in ("png", "svg"):
        with _KALEIDO_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "kopts ignored when using a server"
            try:
                _kaleido_server()
            except Exception:  # no persistent server: plotly starts a browser per image
                pass
            return fig.to_image(format=fmt, width=1200, height=fig.layout.height or 600,
                                scale=1 if fmt == "svg" else 2)
    raise ValueError(f"unknown figure format {fmt!r}")
