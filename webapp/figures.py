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

from .data import metric_label

TEMPLATE = "plotly_white"
COLORS = px.colors.qualitative.D3
SYMBOLS = ["circle", "diamond", "square", "triangle-up", "x", "cross", "star", "hexagon", "triangle-down", "pentagon"]
# Fixed order and colours for energy components, so two points read alike.
COMPONENT_ORDER = ("elementwise", "rf", "sram", "dram")
COMPONENT_COLORS = {"elementwise": "#9467bd", "rf": "#2ca02c", "sram": "#ff7f0e", "dram": "#d62728"}


def _layout(fig: go.Figure, title: str | None = None, height: int = 360) -> go.Figure:
    fig.update_layout(template=TEMPLATE, height=height, margin=dict(l=60, r=20, t=40 if title else 20, b=20),
                      title=dict(text=title, x=0.01, font=dict(size=15)) if title else None,
                      legend=dict(orientation="h", yanchor="top", y=-0.14, xanchor="left", x=0, title=None),
                      font=dict(size=12))
    return fig


def empty_figure(message: str, height: int = 300) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=14, color="#666"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, height=height)


# -- Pareto ---------------------------------------------------------------------------------
def pareto_mask(x: Sequence[float], y: Sequence[float], x_better: str = "min", y_better: str = "max") -> np.ndarray:
    """True for points no other point dominates (at least as good on both axes, better on one).

    The same rule as ``hwsim pareto``: :func:`hwsim.sweep.pareto.non_dominated` after turning
    a ``max`` axis into minimisation. Points with a missing coordinate are never on the front.
    """
    from hwsim.sweep.pareto import non_dominated

    xs = np.asarray(x, dtype=float) * (1 if x_better == "min" else -1)
    ys = np.asarray(y, dtype=float) * (1 if y_better == "min" else -1)
    mask = np.zeros(len(xs), dtype=bool)
    ok = ~(np.isnan(xs) | np.isnan(ys))
    if ok.any():
        mask[ok] = non_dominated(np.column_stack([xs[ok], ys[ok]]))
    return mask


def pareto_figure(df: pd.DataFrame, x: str, y: str, color: str | None = "scheme", symbol: str | None = "model",
                  size: str | None = None, logx: bool = True, logy: bool = False, selected: Sequence[str] = (),
                  height: int = 520) -> go.Figure:
    """Quality ``y`` against cost ``x``, one marker per design point, Pareto front as a staircase.

    ``customdata[0]`` of every marker is the point id (clicks open its drill-down).
    """
    d = df.dropna(subset=[x, y]) if not df.empty else df
    if d.empty:
        return empty_figure("No design points match the filters (or none has these metrics).", height)
    d = d.copy()
    hover = {"label": True, "model": True, "dataset": True, "scheme": True, "bits": True, "accelerator": True,
             "tech": True, "accuracy_source": True, "id": False, x: ":.4g", y: ":.4g"}
    kw: dict = {}
    if color and color in d.columns:
        d[color] = d[color].astype(str)
        kw["color"] = color
        kw["category_orders"] = {color: sorted(d[color].unique())}
    if symbol and symbol in d.columns:
        d[symbol] = d[symbol].astype(str)
        kw["symbol"] = symbol
        kw["symbol_sequence"] = SYMBOLS
    if size and size in d.columns and d[size].notna().any():
        s = d[size].astype(float)
        lo, hi = s.min(), s.max()
        # Marker area in 6..30 px from the metric, linear between its min and max.
        d["_size"] = 6 + 24 * ((s - lo) / (hi - lo) if hi > lo else 0.5)
        d["_size"] = d["_size"].fillna(6)
        kw["size"] = "_size"
        kw["size_max"] = 30
        hover[size] = ":.4g"
    fig = px.scatter(d, x=x, y=y, custom_data=["id"], hover_name="label", hover_data=hover,
                     log_x=logx, log_y=logy, color_discrete_sequence=COLORS,
                     labels={x: metric_label(x), y: metric_label(y), **({size: metric_label(size)} if size else {})},
                     **kw)
    if not size:
        fig.update_traces(marker=dict(size=11))
    fig.update_traces(marker=dict(line=dict(width=1, color="white")), selector=dict(mode="markers"))
    xb, yb = METRICS.get(x, {}).get("better", "min"), METRICS.get(y, {}).get("better", "max")
    front = d[pareto_mask(d[x], d[y], xb, yb)].sort_values(x)
    if len(front) >= 1:
        fig.add_trace(go.Scatter(x=front[x], y=front[y], mode="lines", name="Pareto front",
                                 line=dict(color="rgba(40,40,40,0.55)", width=2, dash="dot", shape="hv"),
                                 hoverinfo="skip"))
    if selected:
        sel = d[d["id"].isin(list(selected))]
        if not sel.empty:
            fig.add_trace(go.Scatter(x=sel[x], y=sel[y], mode="markers", name="selected", hoverinfo="skip",
                                     marker=dict(size=20, color="rgba(0,0,0,0)", line=dict(width=2, color="#222"))))
    fig.update_layout(clickmode="event", uirevision=f"{x}|{y}|{logx}|{logy}")
    _layout(fig, height=height)
    # Legend on the right: many scheme x model combinations would crowd the top edge.
    fig.update_layout(legend=dict(orientation="v", yanchor="top", y=1, xanchor="left", x=1.01),
                      margin=dict(r=10, t=30))
    fig.update_xaxes(exponentformat="SI")
    fig.update_yaxes(exponentformat="SI")
    return fig


# -- one design point ---------------------------------------------------------------------------
def component_name(key: str) -> str:
    return f"compute ({key.split('.', 1)[1]})" if key.startswith("compute.") else key


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
        fig.add_trace(go.Bar(x=list(wide.index), y=wide[c], name=name, marker_color=color,
                             hovertemplate=f"{name}<br>%{{x}}: %{{y:.4g}}<extra></extra>"))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title=yaxis, type="log" if log else "linear")
    return _layout(fig, title)


def energy_figure(wide: pd.DataFrame, title: str = "Energy by component per layer") -> go.Figure:
    cols = _ordered_components(list(wide.columns))
    compute_colors = {c: px.colors.sequential.Blues[-1 - (i % 5)] for i, c in enumerate(c for c in cols
                                                                                         if c.startswith("compute."))}
    return stacked_layers_figure(wide, title, "pJ", order=cols, names=component_name,
                                 colors={**COMPONENT_COLORS, **compute_colors})


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
    fig.update_yaxes(title_text="cycles", selector=dict(anchor="x"))
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
    fig.update_layout(xaxis=dict(title="epoch"), yaxis=dict(title="loss"),
                      yaxis2=dict(title="accuracy", overlaying="y", side="right", showgrid=False))
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
    fig.update_layout(xaxis=dict(title="epoch"), yaxis=dict(title="fraction of zeros", range=[0, 1]))
    fig.update_layout(legend=dict(orientation="v", y=1, x=1.02, xanchor="left", yanchor="top"))
    return _layout(fig, title)


# -- comparison -----------------------------------------------------------------------------
def compare_layers_figure(series: dict[str, pd.Series], title: str, yaxis: str, log: bool = False) -> go.Figure:
    """Grouped bars: one group per layer, one bar per design point."""
    if not series or all(s.empty for s in series.values()):
        return empty_figure(f"{title}: no data")
    layers = list(dict.fromkeys(la for s in series.values() for la in s.index))
    fig = go.Figure()
    for i, (name, s) in enumerate(series.items()):
        fig.add_trace(go.Bar(x=layers, y=s.reindex(layers), name=name, marker_color=COLORS[i % len(COLORS)]))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title=yaxis, type="log" if log else "linear")
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
        fig.add_trace(go.Bar(y=names, x=ratios, name=str(r["label"]), orientation="h",
                             marker_color=COLORS[i % len(COLORS)],
                             hovertemplate="%{y}: %{x:.3g}x<extra>" + str(r["label"]) + "</extra>"))
    fig.add_vline(x=1, line=dict(color="#444", width=1, dash="dot"))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title=f"x {base['label']}", type="log")
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
