"""Explore: accuracy (or error) against a cost axis, Pareto front, filters, points table, export.

Clicking a marker (or a label in the table) opens that point on the Design point page;
ticking rows in the table selects points for Compare and for the report export. The table
is served page by page (AG Grid's infinite row model), so 50,000 points never travel whole;
the plot draws the front as markers and the other points as markers or, above a few thousand
in view, as a density layer.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

import dash
import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from dash import ALL, Input, Output, State, dcc, html

from hwsim.errors import UserError

from .. import figures, units
from ..components import download_bar, dropdown, grid, labelled, metric_column, records
from ..data import CFG, INFER_AXES, QUALITY_AXES, TRAIN_AXES, StoreData, texts_of
from .export import figure_download, report_download

# (control id, points column, label)
FILTERS = (
    ("ex-f-model", "model", "Model"),
    ("ex-f-dataset", "dataset", "Dataset"),
    ("ex-f-family", "family", "Scheme family"),
    ("ex-f-scheme", "scheme_name", "Scheme"),
    ("ex-f-bits", "bits", "Bits (weights/activations)"),
    ("ex-f-tech", "tech", "Technology"),
    ("ex-f-accel", "accelerator", "Accelerator"),
    ("ex-f-source", "accuracy_source", "Accuracy source"),
)
GROUPINGS = ("family", "scheme_name", "scheme", "model", "dataset", "bits", "accelerator", "tech", "accuracy_source")
ID_COLUMNS = ["name", "model", "dataset", "scheme_name", "family", "bits", "tech", "accelerator", "accuracy_source"]
REPORT_FORMATS = ("csv", "json", "xlsx", "html")
# The controls that make a view, in URL order: (component id, property, URL key).
VIEW = (("ex-view", "value", "view"), ("ex-x", "value", "x"), ("ex-y", "value", "y"), ("ex-logx", "value", "logx"),
        ("ex-logy", "value", "logy"), ("ex-front-only", "value", "front"), ("ex-color", "value", "color"),
        ("ex-symbol", "value", "symbol"), ("ex-size", "value", "size"), ("ex-c-metric", "value", "cmetric"),
        ("ex-c-max", "value", "cmax"), ("ex-z", "value", "z"))
# The view a page opens with (the controls' initial values), keyed as in VIEW.
DEFAULT_VIEW = {"view": "train", "x": "train_energy_pj_per_step", "y": "accuracy", "logx": True, "logy": False,
                "front": False, "color": "family", "symbol": "scheme_name", "size": None, "cmetric": None,
                "cmax": None, "z": None}
MAX_DOMINATED = 2000    # other points drawn as markers up to this many in view, else as a density
PLOT_HEIGHT = 640
PARCOORDS_ROWS = 1500
# Objectives shown in parallel coordinates, when the store has them; then any further metric
# (area, TOPS/W, ...), then the config fields that vary.
PARCOORDS_METRICS = ("accuracy", "train_energy_pj_per_step", "infer_energy_pj", "train_memory_bytes",
                     "model_size_bytes", "latency_cycles", "dram_bytes_per_step", "area_mm2")


def parcoords_dims(data: StoreData, df: pd.DataFrame, y: str, limit: int = 14) -> list[str]:
    """The quality axis, the objectives, the config fields a sweep varies, then metrics the
    canonical list does not know; at most ``limit`` axes that vary."""
    extra = [m for m in data.metric_names() if m not in units.METRICS]
    dims = [y, *[m for m in PARCOORDS_METRICS if m != y], *data.config_fields(), *extra]
    dims = [c for c in dict.fromkeys(dims) if c in df.columns and df[c].notna().any() and df[c].nunique() > 1
            and not _restates(df, c, dims)]
    return dims[:limit]


def _restates(df: pd.DataFrame, col: str, dims: list[str]) -> bool:
    """A text field that says nothing another axis does not (an accelerator's description beside its
    name, a name beside the fields that make it): one axis per field that varies."""
    if not col.startswith(CFG) or pd.api.types.is_numeric_dtype(df[col]):
        return False
    if col.endswith(("description", "desc", "notes", "citation", "source")):
        return True
    if df[col].nunique() > 12:
        return True
    others = [c for c in dims if c != col and c.startswith(col + ".")]   # accelerator vs accelerator.array.rows
    return bool(others)


def _grouping_options(fields: list[str]) -> list[dict]:
    return [{"label": c.replace("_name", "").replace("_", " "), "value": c} for c in GROUPINGS] + [
        {"label": _field_label(f), "value": f} for f in fields]


def _axis_options(view: str, metrics: list[str] | None = None) -> list[dict]:
    """The cost axes of a view that the store has (``metrics``: the metrics some finished point has; None
    before the store is read), then any further metric a sweep stored (area, EDP, TOPS/W, ...)."""
    names = [m for m in (TRAIN_AXES if view == "train" else INFER_AXES) if metrics is None or m in metrics]
    names += [m for m in (metrics or []) if m not in TRAIN_AXES + INFER_AXES + QUALITY_AXES
              and m not in ("utilization", "scheme_noop")]
    return [{"label": _metric_label(n), "value": n} for n in dict.fromkeys(names)]


def _swept_options(data: StoreData, done: pd.DataFrame) -> list[dict]:
    """Numeric config fields a sweep varies, as x axes: one metric against one swept parameter (fix the
    others with the filters)."""
    return [{"label": f"swept: {_field_label(f)}", "value": f} for f in data.config_fields()
            if f in done.columns and pd.api.types.is_numeric_dtype(done[f]) and done[f].nunique() > 1]


def _metric_label(m: str) -> str:
    """A metric's name with its unit, so two metrics of one name (latency in cycles, in time) differ."""
    unit = units.unit_of(m)
    sym = {"fraction": "%", "us": "time", "pJ": "energy", "bytes": "bytes", "cycles": "cycles", "MACs": "MACs",
           "mm2": "mm²"}.get(unit, unit)
    return f"{units.label_of(m)} ({sym})" if sym else units.label_of(m)


def _field_label(f: str) -> str:
    """``cfg:accelerator.array.rows`` -> ``accelerator array rows``."""
    return units.label_of(f).replace(".", " ").replace("_", " ")


def layout(opening: OpeningView | None = None):
    """The controls without options: the store is read by the callbacks that fill them (on the first
    request), never while the page is built. ``opening`` (:func:`opening`), when the server has drawn
    the opening view already, is the plot the page opens with: drawn as the page arrives, not after the
    callbacks that fill the controls."""
    controls = dbc.Card(dbc.CardBody([
        labelled("View", dbc.RadioItems(id="ex-view", options=[{"label": "Training", "value": "train"},
                                                                {"label": "Inference", "value": "inference"}],
                                        value=DEFAULT_VIEW["view"], inline=True)),
        labelled("Cost axis (x)", dropdown("ex-x", _axis_options("train"), DEFAULT_VIEW["x"])),
        labelled("Quality axis (y)", dropdown("ex-y", [{"label": units.label_of(n), "value": n}
                                                       for n in QUALITY_AXES], "accuracy")),
        dbc.Row([dbc.Col(dbc.Switch(id="ex-logx", label="log x", value=DEFAULT_VIEW["logx"])),
                 dbc.Col(dbc.Switch(id="ex-logy", label="log y", value=DEFAULT_VIEW["logy"]))], class_name="mb-1"),
        dbc.Switch(id="ex-front-only", label="Pareto front only", value=DEFAULT_VIEW["front"], class_name="mb-2"),
        labelled("Third objective (front over three)", dropdown("ex-z", [], None, clearable=True,
                                                                 placeholder="none: accuracy and cost")),
        labelled("Colour by", dropdown("ex-color", _grouping_options([]), DEFAULT_VIEW["color"])),
        labelled("Symbol by", dropdown("ex-symbol", _grouping_options([]), DEFAULT_VIEW["symbol"])),
        labelled("Size by", dropdown("ex-size", [], None, clearable=True, placeholder="(same size)")),
        html.Hr(className="my-2"),
        html.Div("Constraint (feasible points only)", className="small text-muted mb-1"),
        dbc.Row([dbc.Col(dropdown("ex-c-metric", [], None, clearable=True, placeholder="none"), width=7),
                 dbc.Col(dbc.Input(id="ex-c-max", type="number", placeholder="max", size="sm", debounce=True),
                         width=5)], class_name="g-1 mb-1"),
        dcc.Slider(id="ex-c-slider", min=0, max=100, value=100, step=1, marks=None,
                   tooltip={"placement": "bottom"}),
        html.Div(id="ex-c-text", className="small text-muted mb-2"),
        html.Hr(className="my-2"),
        html.Div("Filters (empty = all)", className="small text-muted mb-1"),
        *[labelled(label, dropdown(cid, [], [], multi=True, clearable=True, placeholder="all"))
          for cid, _, label in FILTERS],
        html.Div([], id="ex-cfg-filters"),
    ]), class_name="shadow-sm")
    plot = dbc.Card([
        dbc.CardHeader(html.Div([html.Span("Pareto explorer", className="fw-semibold"),
                                 html.Span(opening.count if opening else "", id="ex-count",
                                           className="text-muted small ms-2")])),
        dbc.CardBody(dcc.Graph(id="ex-pareto", config={"displaylogo": False, "responsive": True},
                               figure=opening.figure if opening else figures.empty_figure("Loading..."),
                               style={"height": f"{PLOT_HEIGHT}px"})),
        dbc.CardFooter(download_bar("ex-fig", "Figure")),
    ], class_name="shadow-sm mb-3")
    # Drawn only once opened: parcoords is three WebGL layers, about a second of a software renderer's
    # time, which would otherwise hold up the Pareto plot on every load and every filter change.
    parcoords = dbc.Card([
        dbc.CardHeader(html.Div([
            dbc.Switch(id="ex-pc-show", value=False, label="Parallel coordinates",
                       class_name="fw-semibold mb-0 me-2", label_class_name="fw-semibold"),
            html.Span("drag along an axis to brush; the table keeps the brushed points",
                      className="text-muted small")], className="d-flex align-items-center")),
        dbc.Collapse(dbc.CardBody(dcc.Graph(id="ex-parcoords", config={"displaylogo": False, "responsive": True},
                                            figure=figures.empty_figure("Loading...", 380),
                                            style={"height": "380px"})),
                     id="ex-pc-collapse", is_open=False),
    ], class_name="shadow-sm mb-3")
    table = dbc.Card([
        dbc.CardHeader(html.Div([
            html.Span("Design points", className="fw-semibold"),
            html.Span(" tick rows (or box-select points on the plot) to compare or export them; click a name to "
                      "open it", className="text-muted small"),
        ])),
        dbc.CardBody(grid("ex-grid", [], height=340, selectable=True, size="autoSize",
                          rowModelType="infinite")),
        dbc.CardFooter(html.Div([
            download_bar("ex-report", "Cost report of ticked points", REPORT_FORMATS),
            dbc.Button("Compare ticked points", id="ex-compare-btn", color="primary", size="sm",
                       class_name="mb-2 me-2"),
            html.Span(id="ex-export-progress", className="small text-primary me-2"),
            html.Span(id="ex-export-msg", className="small text-muted"),
            dcc.ConfirmDialog(id="ex-export-confirm"), dcc.Store(id="ex-export-go"),
        ])),
    ], class_name="shadow-sm")
    return dbc.Row([dbc.Col(controls, xs=12, lg=3, class_name="mb-3"),
                    dbc.Col([plot, parcoords, table], xs=12, lg=9),
                    dcc.Store(id="ex-brush", data={}),
                    dcc.Store(id="ex-table-key", data=opening.table if opening else None),
                    dcc.Store(id="ex-pc-drawn"),
                    dcc.Store(id="ex-zoom", data={}),
                    # which figure the plot holds (version and view): the same figure is never sent twice
                    dcc.Store(id="ex-fig-key", data=opening.key if opening else None),
                    # what the page was last sent (a digest): a commit that changes no option sends nothing
                    dcc.Store(id="ex-options-key"), dcc.Store(id="ex-cfg-key"), dcc.Store(id="ex-axes-key"),
                    dcc.Store(id="ex-columns-key")])


# -- the view: one function of the control values, used by the plot, the table and the exports ----------
def filtered(df: pd.DataFrame, filters: dict[str, list]) -> pd.DataFrame:
    """Keep rows whose column value is in each non-empty filter list."""
    for col, values in filters.items():
        if values and col in df.columns:
            df = df[np.isin(texts_of(df[col]), [str(v) for v in values])]
    return df


class _Snapshot:
    """The done points of one store version and their columns as text (filled as filters ask),
    read together: a commit between two reads must not pair one version's rows with another's."""

    def __init__(self, df: pd.DataFrame):
        self.df = df
        self._text: dict[str, np.ndarray] = {}

    def text(self, col: str) -> np.ndarray:
        if col not in self._text:
            self._text[col] = texts_of(self.df[col])
        return self._text[col]


def _snapshot(data: StoreData) -> _Snapshot:
    return data.memo("explore-snapshot", lambda: _Snapshot(data.done_points()))


def view_rows(snap: _Snapshot, v: dict, filters: dict[str, list]) -> np.ndarray:
    """Positions (in ``snap.df``) of the points the filters and the constraint keep: numpy over
    columns cached per store version, so a change at 50,000 points costs milliseconds."""
    df = snap.df
    keep = np.ones(len(df), dtype=bool)
    for col, values in filters.items():
        if values and col in df.columns:
            keep &= np.isin(snap.text(col), [str(x) for x in values])
    cm, cmax = v.get("cmetric"), v.get("cmax")
    if cm and cmax not in (None, "") and cm in df.columns:
        with np.errstate(invalid="ignore"):
            keep &= df[cm].to_numpy(dtype=float) <= float(cmax) / units.scale(cm)
    return np.flatnonzero(keep)


def view_frame(data: StoreData, v: dict, filters: dict[str, list], brush: dict | None = None,
               columns: list[str] | None = None) -> pd.DataFrame:
    """The done points the controls select, with a ``front`` column (★ on the x/y Pareto front);
    only ``columns`` (and ``front``) when given, which spares copying every column of 50,000 rows."""
    snap = _snapshot(data)
    df = snap.df
    idx = view_rows(snap, v, filters)
    cols = [c for c in dict.fromkeys(columns) if c in df.columns] if columns is not None else list(df.columns)
    x, y = v["x"], v["y"]
    if x not in df.columns or y not in df.columns:
        return df[cols].iloc[idx].assign(front="")
    z = v.get("z") if v.get("z") in df.columns and v.get("z") not in (x, y) else None
    front = figures.front_mask(df[[c for c in (x, y, z) if c]].iloc[idx], [x, y, *([z] if z else [])])
    if v.get("front"):
        idx, front = idx[front], front[front]
    for col, rng in (brush or {}).items():
        if col in df.columns and rng:
            lo, hi = rng
            s = df[col].iloc[idx]
            m = ((s >= lo) & (s <= hi)).to_numpy()
            idx, front = idx[m], front[m]
    out = df[cols].iloc[idx]
    out.insert(len(out.columns), "front", np.where(front, "★", ""))
    return out


def title_of(v: dict, filters: dict[str, list]) -> str:
    """Exported figures say what they show: the axes and every active filter."""
    active = [f"{c.removeprefix(CFG).replace('_name', '')} = {', '.join(map(str, vals))}"
              for c, vals in filters.items() if vals]
    if v.get("cmetric") and v.get("cmax") not in (None, ""):
        active.append(f"{units.label_of(v['cmetric'])} ≤ {units.fmt(float(v['cmax']) / units.scale(v['cmetric']), units.unit_of(v['cmetric']))}")
    what = "Pareto front only" if v.get("front") else "all points"
    return f"{units.label_of(v['y'])} vs {units.label_of(v['x'])}" + (
        f" ({what}; {'; '.join(active)})" if active else f" ({what})")


class _Recent:
    """The last few Pareto figures of one store version: a shared link, a second tab or an axis
    switched back is served without rebuilding the figure. A figure being built is built once: a second
    request for it (the first page's callback while the server's start-up warm builds it) waits for it."""

    def __init__(self, size: int = 8):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()
        self.building: dict[str, threading.Event] = {}

    def get(self, key: str, make):
        while True:
            with self.lock:
                if key in self.items:
                    self.items.move_to_end(key)
                    return self.items[key]
                done = self.building.get(key)
                if done is None:
                    done = self.building[key] = threading.Event()
                    break
            done.wait()   # built by another request; if it failed, build it here
        try:
            val = make()
            with self.lock:
                self.items[key] = val
                while len(self.items) > self.size:
                    self.items.popitem(last=False)
            return val
        finally:
            with self.lock:
                del self.building[key]
            done.set()


# what hover adds to a design's name and coordinates: energy per MAC and efficiency, where stored
HOVER_EXTRA = {"train": [("_pj_per_mac", "energy per MAC", "pJ/MAC"), ("_tops_per_w", "efficiency", "TOPS/W")],
               "inference": [("_pj_per_mac", "energy per MAC", "pJ/MAC"), ("_tops_per_w", "efficiency", "TOPS/W")]}
_PER_MAC = {"train": ("train_energy_pj_per_step", "macs_train_step"), "inference": ("infer_energy_pj", "macs_infer")}


def pareto_for(data: StoreData, v: dict, filters: dict[str, list], selected=(), zoom: dict | None = None):
    """The view's points (with ``front``) and its Pareto figure, built once per view, zoomed range and
    store version. Callers must not change either: copy the figure (``go.Figure(fig)``) to restyle it."""
    key, filters, zoom = figure_key(v, filters, selected, zoom)

    def make():
        return _figure_of(view_frame(data, v, filters, columns=_figure_columns(v)), v, filters, selected, zoom)

    return data.memo("pareto-figures", _Recent).get(key, make)


def _figure_columns(v: dict) -> list[str]:
    """The columns a view's Pareto figure reads."""
    energy, macs = _PER_MAC.get(v.get("view") or "train", _PER_MAC["train"])
    return [c for c in dict.fromkeys(["id", "name", "label", v["x"], v["y"], v.get("color"), v.get("symbol"),
                                      v.get("size"), energy, macs, "tops_per_w", v.get("z")]) if c]


def _figure_of(df: pd.DataFrame, v: dict, filters: dict[str, list], selected, zoom: dict):
    """A view's points (with ``front``) and its Pareto figure, from the view's rows."""
    view = v.get("view") or "train"
    df = _per_mac(df, view)
    fig = figures.pareto_figure(df, v["x"], v["y"], color=v.get("color"), symbol=v.get("symbol"),
                                size=v.get("size"), logx=bool(v.get("logx")), logy=bool(v.get("logy")),
                                selected=list(selected), title=title_of(v, filters),
                                max_dominated=MAX_DOMINATED, height=PLOT_HEIGHT,
                                x_range=zoom.get("x"), y_range=zoom.get("y"),
                                hover_extra=HOVER_EXTRA.get(view, []), z=v.get("z"))
    return df, fig


def _per_mac(df: pd.DataFrame, view: str) -> pd.DataFrame:
    """``df`` with hover's energy per MAC and efficiency (``_pj_per_mac``, ``_tops_per_w``) of the view."""
    energy, macs = _PER_MAC.get(view, _PER_MAC["train"])
    if energy in df.columns and macs in df.columns:
        with np.errstate(invalid="ignore", divide="ignore"):
            df = df.assign(_pj_per_mac=df[energy] / df[macs].where(df[macs] > 0))
            # the stored efficiency, else the view's: 2 operations per MAC, so TOPS/W = 2 / (pJ per MAC)
            derived = 2.0 / df["_pj_per_mac"].where(df["_pj_per_mac"] > 0)
            df = df.assign(_tops_per_w=df["tops_per_w"].fillna(derived) if "tops_per_w" in df.columns
                           else derived)
    return df


def figure_key(v: dict, filters: dict[str, list], selected=(), zoom: dict | None = None) -> tuple[str, dict, dict]:
    """What a Pareto figure depends on besides the store version, as text, with the filters and zoom
    that count: a filter with nothing chosen keeps every point (one figure whether the page lists it or
    not yet: the config-field filters join the inputs after the first render); a zoom of other axes is
    none."""
    filters = {col: vals for col, vals in filters.items() if vals}
    zoom = zoom if zoom and zoom.get("axes") == [v["x"], v["y"]] else {}
    key = repr((sorted(v.items(), key=str), sorted(filters.items(), key=str), sorted(selected or ()),
                sorted(zoom.items(), key=str)))
    return key, filters, zoom


def held_key(version: str, v: dict, filters: dict[str, list], selected=(), zoom: dict | None = None) -> str:
    """The key of the figure a plot holds (``ex-fig-key``): the store version and the view it draws."""
    return repr((version, figure_key(v, filters, selected, zoom)[0]))


def shown_counts(df: pd.DataFrame, v: dict) -> tuple[int, int]:
    """How many of a view's points (with ``front``) the plot draws, and how many are on the front."""
    if df.empty:
        return 0, 0
    return int(df[[v["x"], v["y"]]].notna().all(axis=1).sum()), int((df["front"] != "").sum())


def count_text(df: pd.DataFrame, v: dict, total: int) -> str:
    """``shown of total design points shown, n on the Pareto front``: what the plot's header says."""
    shown, on_front = shown_counts(df, v)
    return f"{shown} of {total} design points shown, {on_front} on the Pareto front"


APPEND_MAX = 1000   # points a sweep's commits append to a drawn Pareto figure before it is drawn whole again


@dataclass(frozen=True)
class Held:
    """The figure a plot holds (``ex-fig-key``): its key (:func:`held_key`), and, once it was drawn by
    the plot's callback, how many points it draws and has on its front and how many commits appended to
    it since (:func:`appended_update`). The opening view's key is the key alone."""

    key: str
    shown: int | None = None
    front: int | None = None
    added: int = 0

    @classmethod
    def of(cls, held) -> Held | None:
        if isinstance(held, str):
            return cls(held)
        if isinstance(held, dict) and isinstance(held.get("key"), str):
            return cls(held["key"], held.get("shown"), held.get("front"), int(held.get("added") or 0))
        return None

    def data(self) -> dict:
        return {"key": self.key, "shown": self.shown, "front": self.front, "added": self.added}

    def version_and_view(self) -> tuple[str, str] | None:
        """The store version and the view (:func:`figure_key`) of a key :func:`held_key` wrote."""
        try:
            version, view = ast.literal_eval(self.key)
        except (ValueError, SyntaxError, TypeError):
            return None
        return (version, view) if isinstance(version, str) and isinstance(view, str) else None


def appended_update(data: StoreData, held: Held, version: str, v: dict, filters: dict[str, list], selected,
                    zoom: dict | None) -> tuple[dash.Patch | dict, str, Held] | None:
    """A commit's update of a plot drawn at an older store version: the points committed since, in the
    figure's trace of new points (:data:`figures.APPENDED`), the plot's header and the new key; the
    front and the density stay as drawn at that version. For the view the plot holds, a patch that
    appends only those points; for another view (the person changed it while the commit came), that
    view's figure at the plot's version (the one the change itself builds, built once) with those
    points in it. None when the figure must be drawn whole: a front-only view (a new point may join
    the front), a version whose appended points are not known (:meth:`StoreData.appended`: a point
    drawn changed or was renamed), or more than APPEND_MAX points appended since it was drawn."""
    at = held.version_and_view()
    view_key, filters, zoom = figure_key(v, filters, selected, zoom)
    if at is None or at[0] == version or v.get("front"):
        return None
    new = data.appended(at[0], version)
    if new is None:
        return None
    same = at[1] == view_key
    shown, front, before, fig = held.shown, held.front, held.added if same else 0, None
    if not same or shown is None or front is None:   # the figure (or counts) of the view at the plot's version
        if not data.holds(at[0]):
            return None
        with data.at_version(at[0]):
            df, fig = pareto_for(data, v, filters, selected, zoom)
        shown, front = shown_counts(df, v)
    new = filtered(new, filters)
    cm, cmax = v.get("cmetric"), v.get("cmax")
    if cm and cmax not in (None, "") and cm in new.columns:
        new = new[new[cm].to_numpy(dtype=float) <= float(cmax) / units.scale(cm)]
    view = v.get("view") or "train"
    points = figures.appended_points(_per_mac(new, view), v["x"], v["y"], HOVER_EXTRA.get(view, []))
    added = before + len(points["x"])
    if added > APPEND_MAX:
        return None
    name = {"name": figures.appended_name(added), "visible": True} if added else {}
    if same:
        update = dash.Patch()
        trace = update["data"][figures.APPENDED]
        if points["x"]:
            for col in ("x", "y", "customdata"):
                trace[col].extend(points[col])
            for k, val in name.items():
                trace[k] = val
    else:   # the cached figure is shared: a new top-level dict and trace, nothing of it changed
        whole = fig.to_plotly_json()
        update = {"data": [{**whole["data"][figures.APPENDED], **points, **name},
                           *whole["data"][figures.APPENDED + 1:]], "layout": whole["layout"]}
    with data.at_version(version):
        total = len(data.done_points())
    count = (f"{shown + added} of {total} design points shown, {front} on the Pareto front as drawn"
             + (f" ({added} new since)" if added else ""))
    return update, count, Held(held_key(version, v, filters, selected, zoom), shown, front, added)


TABLE_FOLLOW_S = 10.0   # a sweep's commits refresh the table at most this often (a new view at once)


def table_view(v: dict, filters: dict[str, list]) -> str:
    """What the table's rows depend on: the axes (the front), the filters with something chosen (a config
    field's dropdown joining the page is no new view) and the constraint; not log switches, colours or
    sizes, whose changes then cost no new block of rows."""
    table = {k: v.get(k) for k in ("x", "y", "front", "cmetric", "cmax")}
    return repr((sorted(table.items(), key=str), sorted(((c, f) for c, f in filters.items() if f), key=str)))


def table_key(held: dict | None, version: str, view: str, now: float) -> dict | None:
    """The table's new key, or None to keep ``held``: the view its rows follow (axes, filters,
    constraint), the store version they were read at and when (server time). A new view refreshes the
    table at once; a commit only TABLE_FOLLOW_S after the table last refreshed (the poll catches up
    once a sweep stops committing): a sweep committing every second would otherwise have the page fetch
    and lay out a block of rows beside every redraw of the plot, on the cores a user's change needs, and
    move the rows under the reader's eyes."""
    if isinstance(held, dict) and held.get("view") == view and (
            held.get("version") == version or now - float(held.get("at") or 0.0) < TABLE_FOLLOW_S):
        return None
    return {"view": view, "version": version, "at": now}


OPENING_WAIT_S = 3.0   # how long a page load waits for the opening view the server is drawing as it starts


@dataclass(frozen=True)
class OpeningView:
    """The opening view's figure, drawn by the server as it starts (:func:`warm`), for the page's layout:
    the store version it shows, the figure, the plot's header and the figure's key (version and view)."""

    version: str
    figure: go.Figure
    count: str
    key: str

    @property
    def table(self) -> dict:
        """The table's key for the opening view at this version: the page's first block of rows is its
        rows, and the plot's first callback does not have the table fetch them again."""
        return {"view": table_view(DEFAULT_VIEW, {}), "version": self.version, "at": time.time()}


class _Warming:
    """The server's start-up drawing of the opening view: whether it was started, the quick figure drawn
    before the whole read (:func:`quick_opening`), and events for "a figure is ready" and "the whole read
    and its figure are done"."""

    def __init__(self) -> None:
        self.started = False
        self.quick: OpeningView | None = None
        self.same: tuple[str, str] | None = None   # (quick key, whole read's key) of one and the same figure
        self.ready = threading.Event()
        self.done = threading.Event()


_WARMING: weakref.WeakKeyDictionary[StoreData, _Warming] = weakref.WeakKeyDictionary()


def opening(data: StoreData, wait_s: float = OPENING_WAIT_S) -> OpeningView | None:
    """The opening view (the controls' initial values, no filter) of the newest store version read, once
    :func:`warm` has drawn it, waiting at most ``wait_s`` for it; until the whole read is done, the quick
    figure drawn before it (:func:`quick_opening`); None when the server does not draw it ahead, when it
    is not drawn in time (the page's callbacks then draw it), or without finished points. Sent with the
    page, it is drawn without the round trips of the callbacks that fill the controls and on which the
    plot's callback waits."""
    warming = _WARMING.get(data)
    if warming is None or not warming.started or not warming.ready.wait(wait_s):
        return None
    if not warming.done.is_set():
        return warming.quick
    version = data.read_version()
    if version is None:
        return None
    with data.at_version(version):
        total = len(data.done_points())
        if not total:
            return None
        df, fig = pareto_for(data, DEFAULT_VIEW, {})
    return OpeningView(version, fig, count_text(df, DEFAULT_VIEW, total), held_key(version, DEFAULT_VIEW, {}))


def _values(args) -> tuple[dict, dict[str, list]]:
    """Positional callback values (VIEW controls, FILTERS, config-field filters) -> view, filters."""
    n = len(VIEW)
    v = {key: a for (_, _, key), a in zip(VIEW, args[:n])}
    fixed = args[n:n + len(FILTERS)]
    cfg_values, cfg_ids = args[n + len(FILTERS)], args[n + len(FILTERS) + 1]
    filters = {col: vals for (_, col, _), vals in zip(FILTERS, fixed)}
    filters.update({i["field"]: vals for i, vals in zip(cfg_ids or [], cfg_values or [])})
    return v, filters


VIEW_INPUTS = [Input(cid, prop) for cid, prop, _ in VIEW] + [Input(cid, "value") for cid, _, _ in FILTERS] + [
    Input({"type": "ex-cfg", "field": ALL}, "value"), State({"type": "ex-cfg", "field": ALL}, "id")]
VIEW_STATES = [State(cid, prop) for cid, prop, _ in VIEW] + [State(cid, "value") for cid, _, _ in FILTERS] + [
    State({"type": "ex-cfg", "field": ALL}, "value"), State({"type": "ex-cfg", "field": ALL}, "id")]


def warm(data: StoreData) -> None:
    """What a first page asks for, computed before it asks (the server calls this in the background as
    it starts): the points, the opening view's figure (one figure before and after the config-field
    filters join its inputs: empty filters do not count; sent with the page, :func:`opening`), the
    options and the table's columns."""
    warming = _WARMING.setdefault(data, _Warming())
    warming.started = True
    try:
        try:
            warming.quick = quick_opening(data)
        except Exception:   # noqa: BLE001 - only a head start: the whole read below draws the same
            warming.quick = None
        if warming.quick is not None:
            warming.ready.set()
        if data.done_points().empty:
            return
        fig = pareto_for(data, DEFAULT_VIEW, {})[1]   # first: a page load waits for it (opening)
        quick, version = warming.quick, data.read_version()
        if quick is not None and quick.version == version and pio.to_json(quick.figure) == pio.to_json(fig):
            # a page that opened with the quick figure holds this one: its first callback sends nothing
            warming.same = (quick.key, held_key(version, DEFAULT_VIEW, {}))
    finally:
        warming.done.set()
        warming.ready.set()
    _options(data)
    _row_columns(data)


def quick_opening(data: StoreData) -> OpeningView | None:
    """The opening view's figure from the few columns it draws (:meth:`StoreData.quick_points`: the two
    axes, energy per MAC's, the colour and symbol, names for the points drawn as markers), ahead of the
    whole read: what a first visit's page opens with when it comes before the whole read is done. Its key
    is its own: the plot's first callback sends the whole read's figure of the view (the same points,
    names and counts)."""
    v = DEFAULT_VIEW
    x, y = v["x"], v["y"]
    # the figure's columns the quick read takes off point_metrics (those it has); the others it derives
    metrics = [c for c in _figure_columns(v) if c not in ("id", "name", "label", "family", "scheme_name")]

    def on_axes(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The points with both coordinates, and those of them on the Pareto front."""
        ok = df[[x, y]].notna().all(axis=1).to_numpy()
        front = np.zeros(len(df), dtype=bool)
        front[ok] = figures.front_mask(df[ok], [x, y])
        return ok, front

    def named(df: pd.DataFrame) -> np.ndarray:
        """The points drawn as markers: the front, and every point when the others are few enough."""
        if x not in df.columns or y not in df.columns:
            return np.zeros(len(df), dtype=bool)
        ok, front = on_axes(df)
        return ok if int(ok.sum() - front.sum()) <= MAX_DOMINATED else front

    read = data.quick_points(metrics, named)
    if read is None:
        return None
    version, df = read
    if df.empty or x not in df.columns or y not in df.columns:
        return None
    df = df.assign(front=np.where(on_axes(df)[1], "★", ""))
    view_df, fig = _figure_of(df, v, {}, [], {})
    return OpeningView(version, fig, count_text(view_df, v, len(df)), repr(("quick", version)))


def register(app: dash.Dash, data: StoreData) -> None:
    data.after_read(lambda: _per_version(data))
    _register_controls(app, data)
    _register_plot(app, data)
    _register_table(app, data)
    _register_url(app, data)
    _register_exports(app, data)


def digest(*parts) -> str:
    """A short digest of what a callback would send: equal digests, nothing new to send."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class FilterOptions:
    """The Explore filters' options at one store version: ``options`` in the order filter_options sends
    them (each fixed filter's, the config-field dropdowns, the colour and symbol groupings), their digest
    ``key``, and each config field with a dropdown and its values."""

    options: list
    key: str
    cfg_values: dict[str, list[str]]

    @property
    def fields(self) -> str:
        """A digest of which config fields have a dropdown."""
        return digest(list(self.cfg_values))

    @functools.cached_property
    def values(self) -> str:
        """A digest of the config fields' values: their dropdowns' options change only with it."""
        return digest(self.cfg_values)

    @functools.cached_property
    def parts(self) -> list[str]:
        """A digest of each output filter_options sends, in its order (for the config-field dropdowns,
        which fields have one)."""
        *fixed, _cfg, color, symbol = self.options
        return [*(digest(o) for o in fixed), self.fields, digest(color), digest(symbol)]


def _options(data: StoreData) -> FilterOptions:
    """Options of every filter, the config-field filters (fields a sweep varies: array size, dataflow,
    clock, ...) and the colour/symbol groupings, from the store (once per store version)."""
    return data.memo("explore-options", lambda: _compute_options(data))


def _compute_options(data: StoreData) -> FilterOptions:
    # distinct values kept up to date per commit (StoreData.distinct), never a scan of every point
    out = [_choices(data.distinct(col)) for _, col, _ in FILTERS]
    fixed = {col for _, col, _ in FILTERS}
    # a config field that restates a fixed filter (the accelerator's name) is not a second filter
    values = {f: data.distinct(f) for f in data.config_fields() if f.removeprefix(CFG) not in fixed}
    values = {f: vals for f, vals in values.items() if len(vals) > 1}
    cfg = [labelled(_field_label(f), dcc.Dropdown(
        id={"type": "ex-cfg", "field": f}, multi=True, clearable=True, placeholder="all",
        options=_choices(vals), value=[], className="hwsim-dropdown"))
        for f, vals in values.items()]
    groups = _grouping_options(list(values))
    return FilterOptions([*out, cfg, groups, groups], digest(out, values), values)


def _choices(values: list[str]) -> list[dict]:
    return [{"label": v, "value": v} for v in values]


def _present_metrics(data: StoreData) -> list[str]:
    """The metrics some finished point has (once per store version)."""
    def load() -> list[str]:
        done = data.done_points()
        return [m for m in data.metric_names() if m in done.columns and done[m].notna().any()]

    return data.memo("present-metrics", load)


def _swept(data: StoreData) -> list[dict]:
    """The swept-parameter x axes (once per store version)."""
    return data.memo("swept-options", lambda: _swept_options(data, data.done_points()))


def _per_version(data: StoreData) -> None:
    """What a commit's new version fires on the Explore page, computed as the version is read
    (:meth:`StoreData.after_read`): the page's callbacks at that version then find it computed."""
    _options(data)
    _present_metrics(data)
    _swept(data)


def _register_controls(app: dash.Dash, data: StoreData) -> None:
    @app.callback(Output("ex-x", "options"), Output("ex-x", "value"), Output("ex-size", "options"),
                  Output("ex-c-metric", "options"), Output("ex-z", "options"), Output("ex-axes-key", "data"),
                  Input("ex-view", "value"), Input("store-version", "data"),
                  State("ex-x", "value"), State("url", "search"), State("ex-axes-key", "data"))
    def view_axes(view, version, current, search, sent):
        """The axis lists, sent only when they differ from what the page has (most commits add points,
        not metrics)."""
        with data.at_version(version):   # computed as the version was read (_per_version)
            metrics, swept = _present_metrics(data), _swept(data)
        current_value = current
        opts = _axis_options(view, metrics)
        values = [o["value"] for o in opts]
        linked = parse_search(search)[0].get("x")  # a shared link's axis wins over the view's default
        if linked in values:
            current = linked
        every = [{"label": _metric_label(m), "value": m} for m in metrics]
        # the same value is not written again: that would draw the plot a second time
        value = dash.no_update if (current in values and current == current_value) or not values else (
            current if current in values else values[0])
        objectives = [o for o in every if o["value"] not in QUALITY_AXES + ("scheme_noop", "utilization")]
        opts = opts + swept
        key = digest(opts, every)
        if key == sent and value is dash.no_update:
            raise dash.exceptions.PreventUpdate
        return opts, value, every, every, objectives, key

    @app.callback([Output(cid, "options") for cid, _, _ in FILTERS] + [
        Output("ex-cfg-filters", "children"), Output("ex-color", "options"), Output("ex-symbol", "options"),
        Output("ex-options-key", "data"), Output("ex-cfg-key", "data")], Input("store-version", "data"),
        State("ex-options-key", "data"))
    def filter_options(version, sent):
        """Sent only when an option changed. The config-field dropdowns are made anew only when the fields
        that vary change: a new dropdown clears its choice and fires every callback that reads it (the
        plot, the table) a second time. A commit that only brings new values to the same fields updates
        their options (cfg_options)."""
        with data.at_version(version):
            opts = _options(data)
        sent = sent if isinstance(sent, dict) else {}
        if opts.key == sent.get("options"):
            raise dash.exceptions.PreventUpdate
        # only the outputs that changed: an options prop written again, even unchanged, fires what reads
        # it (the URL's restore reads the model filter's), and the plot waits on those before an axis change
        before = sent.get("parts") or []
        return [dash.no_update if i < len(before) and before[i] == part else out
                for i, (out, part) in enumerate(zip(opts.options, opts.parts))] + [
                {"options": opts.key, "parts": opts.parts, "cfg": opts.values},
                dash.no_update if opts.values == sent.get("cfg") else {"values": opts.values, "version": version}]

    @app.callback(Output({"type": "ex-cfg", "field": ALL}, "options"), Input("ex-cfg-key", "data"),
                  State({"type": "ex-cfg", "field": ALL}, "id"), prevent_initial_call=True)
    def cfg_options(sent, ids):
        """The config-field dropdowns' options at the version whose config values filter_options last sent
        (only when they changed), their choices kept."""
        if not ids or not isinstance(sent, dict):
            raise dash.exceptions.PreventUpdate
        with data.at_version(sent.get("version")):
            values = _options(data).cfg_values
        return [_choices(values.get(i["field"], [])) for i in ids]

    @app.callback(Output("ex-c-slider", "min"), Output("ex-c-slider", "max"), Output("ex-c-slider", "step"),
                  Output("ex-c-slider", "value"), Input("ex-c-metric", "value"), State("ex-c-max", "value"),
                  prevent_initial_call=True)
    def slider_range(metric, cmax):
        df = data.done_points()
        if not metric or metric not in df.columns or df[metric].dropna().empty:
            return 0, 1, 0.01, 1
        s = df[metric].dropna() * units.scale(metric)
        lo, hi = float(s.min()), float(s.max())
        step = (hi - lo) / 200 or 1.0
        return lo, hi, step, min(hi, float(cmax)) if cmax not in (None, "") else hi

    @app.callback(Output("ex-c-max", "value"), Output("ex-c-text", "children"), Input("ex-c-slider", "value"),
                  State("ex-c-metric", "value"), prevent_initial_call=True)
    def slider_moved(value, metric):
        if not metric:
            return None, ""
        return value, f"{units.label_of(metric)} ≤ {units.fmt(value / units.scale(metric), units.unit_of(metric))}"


def plot_update(data: StoreData, triggered: set[str], version: str, settled: str | None, compared, zoom, *args):
    """The Pareto plot callback's outputs (figure or patch, header, table key, held figure) for the inputs
    that ``triggered`` it."""
    *args, current_key, held = args
    v, filters = _values(args)
    held = Held.of(held)
    fig_key = held_key(version, v, filters, compared or [], zoom)
    # the store settled and the plot holds this view drawn whole: nothing to send. Only then: this request
    # may replace one for a view change still in flight (the browser drops that one's answer), and must
    # answer for the view it carries
    if triggered == {"store-settled.data"} and held is not None and not held.added and held.key == fig_key:
        raise dash.exceptions.PreventUpdate
    key = table_key(current_key, version, table_view(v, filters), time.time())
    key = dash.no_update if key is None else key   # the same key written again would refetch
    if "store-version.data" in triggered and held is not None:
        appended = appended_update(data, held, version, v, filters, compared or [], zoom)
        if appended is not None:
            patch, count, now = appended
            return patch, count, key, now.data()
    with data.at_version(version):   # the points the page shows, even while a newer commit is read
        total = len(data.done_points())
        if total == 0:
            return (figures.empty_figure("No finished design points in the store yet."), "", version, None)
        df, fig = pareto_for(data, v, filters, compared or [], zoom)
    warming = _WARMING.get(data)
    holds = held is not None and not held.added and (
        fig_key == held.key or (warming is not None and warming.same == (held.key, fig_key)))
    shown, front = shown_counts(df, v)
    return (dash.no_update if holds else fig, count_text(df, v, total), key,
            dash.no_update if holds else Held(fig_key, shown, front).data())


def _register_plot(app: dash.Dash, data: StoreData) -> None:
    @app.callback(Output("ex-pareto", "figure"), Output("ex-count", "children"),
                  Output("ex-table-key", "data"), Output("ex-fig-key", "data"), Input("store-version", "data"),
                  Input("store-settled", "data"), Input("cmp-select", "value"), Input("ex-zoom", "data"),
                  *VIEW_INPUTS, State("ex-table-key", "data"), State("ex-fig-key", "data"))
    def update(version, settled, compared, zoom, *args):
        """Only the Pareto figure travels on an axis change (the table is paged, parcoords has its own),
        and only when the plot does not hold it already (the page's opening figure). A sweep's commit
        sends only its points, appended to the figure drawn (:func:`appended_update`); the figure is drawn
        whole on a view change, past APPEND_MAX appended points, and once the store settles."""
        return plot_update(data, set(dash.callback_context.triggered_prop_ids), version, settled, compared, zoom,
                           *args)

    @app.callback(Output("ex-zoom", "data"), Input("ex-pareto", "relayoutData"), State("ex-zoom", "data"),
                  State("ex-x", "value"), State("ex-y", "value"), State("ex-logx", "value"),
                  State("ex-logy", "value"), prevent_initial_call=True)
    def zoomed(relayout, current, x, y, logx, logy):
        """A zoom or pan on the plot: the range in store units, so the figure is drawn again for it
        (the points in a small enough range come back as markers); a reset (autorange) drops it."""
        zoom = _zoom_of(relayout or {}, current or {}, x, y, bool(logx), bool(logy))
        if zoom == (current or {}):
            raise dash.exceptions.PreventUpdate
        return zoom

    @app.callback(Output("ex-pc-collapse", "is_open"), Input("ex-pc-show", "value"))
    def parcoords_open(show):
        return bool(show)

    @app.callback(Output("ex-parcoords", "figure"), Output("ex-pc-drawn", "data"), Input("ex-pc-show", "value"),
                  Input("ex-pc-version", "data"), Input("ex-y", "value"),
                  Input("ex-front-only", "value"), Input("ex-c-max", "value"), State("ex-c-metric", "value"),
                  *[Input(cid, "value") for cid, _, _ in FILTERS],
                  Input({"type": "ex-cfg", "field": ALL}, "value"), State({"type": "ex-cfg", "field": ALL}, "id"),
                  State("ex-pc-drawn", "data"))
    def parcoords(show, version, y, front_only, cmax, cmetric, *rest):
        """Objectives and the config fields a sweep varies, one axis each; drawn while the card is open
        and only when what it shows changed (not on x-axis changes)."""
        *rest, drawn = rest
        key = repr((version, y, front_only, cmax, cmetric, rest))
        if not show or key == drawn:
            raise dash.exceptions.PreventUpdate
        return _parcoords(y, front_only, cmax, cmetric, *rest), key

    def _parcoords(y, front_only, cmax, cmetric, *rest):
        *fixed, cfg_values, cfg_ids = rest
        filters = {col: vals for (_, col, _), vals in zip(FILTERS, fixed)}
        filters.update({i["field"]: vals for i, vals in zip(cfg_ids or [], cfg_values or [])})
        df = filtered(data.done_points(), filters)
        if cmetric and cmax not in (None, "") and cmetric in df.columns:
            df = df[df[cmetric] <= float(cmax) / units.scale(cmetric)]
        if df.empty:
            return figures.empty_figure("No design points match the filters.", 380)
        return figures.parcoords_figure(df, parcoords_dims(data, df, y), color=y, max_rows=PARCOORDS_ROWS)

    @app.callback(Output("ex-brush", "data"), Input("ex-parcoords", "restyleData"), State("ex-brush", "data"),
                  State("ex-parcoords", "figure"), prevent_initial_call=True)
    def brushed(restyle, brush, fig):
        """Parallel-coordinates brushing: keep each axis' range (in store units) for the table."""
        if not restyle or not fig or not fig.get("data"):
            raise dash.exceptions.PreventUpdate
        return _brush_of(restyle[0] or {}, dict(brush or {}), fig["data"][0].get("dimensions", []))

    @app.callback(Output("ex-grid", "selectedRows"), Input("ex-pareto", "selectedData"), prevent_initial_call=True)
    def tick_from_plot(sel):
        """Box or lasso select on the plot ticks those points in the table (for Compare and export)."""
        ids = [p["customdata"][0] for p in (sel or {}).get("points", []) if p.get("customdata")]
        if not ids:
            raise dash.exceptions.PreventUpdate  # a redraw clears plotly's selection; keep the ticks
        return {"ids": ids}


def _brush_of(change: dict, brush: dict, dims: list) -> dict:
    """``brush`` with each axis range that a parallel-coordinates restyle ``change`` sets or clears,
    in store units."""
    for key, val in change.items():
        if not key.startswith("dimensions[") or "constraintrange" not in key:
            continue
        i = int(key[len("dimensions["):key.index("]")])
        if i >= len(dims):
            continue
        name = dims[i].get("name") or ""
        col = figures.dimension_value(name, 0.0)[0]
        rng = val[0] if isinstance(val, list) and val and isinstance(val[0], list) else val
        if rng and isinstance(rng[0], list):
            rng = [min(r[0] for r in rng), max(r[1] for r in rng)]
        if rng:   # axes carry store units (or their log10): back to store units
            brush[col] = [figures.dimension_value(name, rng[0])[1], figures.dimension_value(name, rng[1])[1]]
        else:
            brush.pop(col, None)
    return brush


def _zoom_of(relayout: dict, current: dict, x: str, y: str, logx: bool, logy: bool) -> dict:
    """The zoomed range of plotly's ``relayoutData`` in store units (log axes report log10 values)."""
    zoom = dict(current) if current.get("axes") == [x, y] else {"axes": [x, y]}
    for ax, metric, log in (("x", x, logx), ("y", y, logy)):
        if relayout.get(f"{ax}axis.autorange"):
            zoom.pop(ax, None)
            continue
        lo, hi = relayout.get(f"{ax}axis.range[0]"), relayout.get(f"{ax}axis.range[1]")
        if lo is None and isinstance(relayout.get(f"{ax}axis.range"), list):
            lo, hi = relayout[f"{ax}axis.range"][:2]
        if lo is None or hi is None:
            continue
        try:
            lo, hi = sorted((float(lo), float(hi)))
        except (TypeError, ValueError):
            continue
        k = units.scale(metric)
        zoom[ax] = [(10 ** lo if log else lo) / k, (10 ** hi if log else hi) / k]
    return zoom if len(zoom) > 1 else {}


def _grid_columns(df: pd.DataFrame, data: StoreData, x: str, y: str) -> list[dict]:
    return [{"field": "name", "headerName": "Design point", "minWidth": 240, "cellClass": "hwsim-link",
             "tooltipField": "id"},
            {"field": "front", "headerName": "front", "maxWidth": 90, "headerTooltip": "on the Pareto front"},
            *[{"field": c, "headerName": c.replace("_name", "").replace("_", " ")} for c in ID_COLUMNS[1:]],
            *[metric_column(m) for m in (y, x) if m],
            *[metric_column(m) for m in data.metric_names() if m not in (x, y) and m in df.columns
              and df[m].notna().any()],
            *[{"field": f, "headerName": f.removeprefix(CFG)} for f in data.config_fields()],
            {"field": "id", "headerName": "id", "maxWidth": 160}]


def _sort_and_filter(df: pd.DataFrame, req: dict) -> pd.DataFrame:
    """AG Grid's column filters and sort, applied on the server (text contains, number compare)."""
    for col, f in (req.get("filterModel") or {}).items():
        if col not in df.columns:
            continue
        kind, val = f.get("type"), f.get("filter")
        if f.get("filterType") == "number" and val is not None:
            s = df[col].astype(float)
            ops = {"equals": s == val, "notEqual": s != val, "lessThan": s < val, "lessThanOrEqual": s <= val,
                   "greaterThan": s > val, "greaterThanOrEqual": s >= val,
                   "inRange": (s >= val) & (s <= (f.get("filterTo") if f.get("filterTo") is not None else val))}
            df = df[ops.get(kind, s == s)]
        elif val not in (None, ""):
            s = df[col].astype(str).str.lower()
            v = str(val).lower()
            ops = {"contains": s.str.contains(v, regex=False), "notContains": ~s.str.contains(v, regex=False),
                   "equals": s == v, "notEqual": s != v, "startsWith": s.str.startswith(v),
                   "endsWith": s.str.endswith(v)}
            df = df[ops.get(kind, s.str.contains(v, regex=False))]
    sort = req.get("sortModel") or []
    if sort:
        cols = [s["colId"] for s in sort if s["colId"] in df.columns]
        df = df.sort_values(cols, ascending=[s["sort"] == "asc" for s in sort if s["colId"] in df.columns],
                            kind="stable")
    return df


def _row_columns(data: StoreData) -> list[str]:
    """The columns a row of the table carries: metrics no point has (a transformer's decode figures in
    a store of CNNs) are left out (once per store version)."""
    def load() -> list[str]:
        df = data.done_points()
        return [c for c in dict.fromkeys(["id", "front", *ID_COLUMNS, *data.metric_names(), *data.config_fields()])
                if c == "front" or (c in df.columns and df[c].notna().any())]

    return data.memo("grid-row-columns", load)


def _register_table(app: dash.Dash, data: StoreData) -> None:
    @app.callback(Output("ex-grid", "columnDefs"), Output("ex-columns-key", "data"), Input("ex-x", "value"),
                  Input("ex-y", "value"), Input("store-version", "data"), State("ex-columns-key", "data"))
    def columns(x, y, version, sent):
        with data.at_version(version):
            cols = data.memo(f"grid-columns:{x}:{y}", lambda: _grid_columns(data.done_points(), data, x, y))
        key = digest(cols)
        if key == sent:
            raise dash.exceptions.PreventUpdate
        return cols, key

    @app.callback(Output("ex-grid", "getRowsResponse"), Input("ex-grid", "getRowsRequest"),
                  State("ex-brush", "data"), *VIEW_STATES)
    def rows(req, brush, *args):
        """One block of rows (AG Grid's infinite row model): 50,000 points never travel whole."""
        if not req:
            raise dash.exceptions.PreventUpdate
        v, filters = _values(args)
        df = _sort_and_filter(view_frame(data, v, filters, brush), req)
        start, end = int(req.get("startRow", 0)), int(req.get("endRow", 100))
        return {"rowData": records(df.iloc[start:end], _row_columns(data), digits=6), "rowCount": len(df)}

    # A new view (axes, filters, brush, store version) drops the grid's cached blocks.
    app.clientside_callback(
        """function (key, brush) {
            if (window.dash_ag_grid && dash_ag_grid.getApiAsync) {
                dash_ag_grid.getApiAsync("ex-grid").then(function (api) { api.purgeInfiniteCache(); });
            }
            return window.dash_clientside.no_update;
        }""",
        Output("ex-grid", "id"), Input("ex-table-key", "data"), Input("ex-brush", "data"),
        prevent_initial_call=True)

    @app.callback(Output("cmp-select", "value"), Output("tabs", "active_tab", allow_duplicate=True),
                  Input("ex-compare-btn", "n_clicks"), State("ex-grid", "selectedRows"), prevent_initial_call=True)
    def to_compare(_n, rows):
        ids = [r["id"] for r in rows or [] if isinstance(r, dict)]
        if not ids:
            return dash.no_update, dash.no_update
        return ids, "tab-compare"


def view_search(values: dict, filters: dict[str, list], point: str | None = None, compared=(),
                tab: str | None = None) -> str:
    """The URL query string of a view: axes, switches, filters, the open point, the compared points and
    the page shown (when not Explore)."""
    q: dict[str, str] = {}
    for _, _, key in VIEW:
        val = values.get(key)
        if val in (None, "", [], False):
            continue
        q[key] = "1" if val is True else str(val)
    for col, vals in filters.items():
        if vals:
            q[f"f.{col}"] = ",".join(map(str, vals))
    if point:
        q["point"] = point
    if compared:
        q["cmp"] = ",".join(map(str, compared))
    if tab and tab != "tab-explore":
        q["tab"] = tab.removeprefix("tab-")
    return "?" + urlencode(q) if q else ""


def parse_search(search: str | None) -> tuple[dict, dict[str, list]]:
    qs = parse_qs((search or "").lstrip("?"))
    values = {key: qs[key][0] for _, _, key in VIEW if key in qs}
    for key in ("logx", "logy", "front"):
        if key in values:
            values[key] = values[key] in ("1", "true", "True")
    filters = {k[2:]: v[0].split(",") for k, v in qs.items() if k.startswith("f.")}
    return values, filters


def parse_compare(search: str | None) -> tuple[list[str], str | None]:
    """The compared points and the page of a shared link."""
    qs = parse_qs((search or "").lstrip("?"))
    ids = [i for i in qs.get("cmp", [""])[0].split(",") if i]
    tab = qs.get("tab", [None])[0]
    return ids, (f"tab-{tab}" if tab in ("explore", "point", "compare", "status") else None)


def _register_url(app: dash.Dash, data: StoreData) -> None:
    """Axes, filters and the selection live in the URL: a view can be shared as a link."""

    @app.callback(Output("url-out", "search"), Input("pt-select", "value"), Input("cmp-select", "value"),
                  Input("tabs", "active_tab"), *VIEW_INPUTS, State("url", "search"), prevent_initial_call=True)
    def write(point, compared, tab, *args):
        *args, current = args
        v, filters = _values(args)
        search = view_search(v, filters, point, compared or [], tab)
        return dash.no_update if search == (current or "") else search

    @app.callback(Output("cmp-select", "value", allow_duplicate=True),
                  Output("tabs", "active_tab", allow_duplicate=True), Input("url", "search"),
                  State("cmp-select", "value"), State("tabs", "active_tab"), prevent_initial_call="initial_duplicate")
    def restore_compare(search, current, tab):
        """A shared link opens the same comparison on the same page."""
        ids, want_tab = parse_compare(search)
        out_ids = ids if ids and ids != (current or []) else dash.no_update
        out_tab = want_tab if want_tab and want_tab != tab else dash.no_update
        if out_ids is dash.no_update and out_tab is dash.no_update:
            raise dash.exceptions.PreventUpdate
        return out_ids, out_tab

    @app.callback([Output(cid, prop, allow_duplicate=True) for cid, prop, _ in VIEW]
                  + [Output(cid, "value", allow_duplicate=True) for cid, _, _ in FILTERS],
                  Input("url", "search"), Input("ex-f-model", "options"), *VIEW_STATES,
                  prevent_initial_call="initial_duplicate")
    def restore(search, _options, *args):
        # Runs again once the filters' options arrive: a value must not precede its options.
        v, filters = _values(args)
        want_v, want_f = parse_search(search)
        if not want_v and not want_f:
            raise dash.exceptions.PreventUpdate
        out = []
        for _, _, key in VIEW:
            out.append(want_v[key] if key in want_v and want_v[key] != v.get(key) else dash.no_update)
        for _, col, _ in FILTERS:
            want = want_f.get(col, [])
            out.append(want if sorted(map(str, want)) != sorted(map(str, filters.get(col) or [])) else dash.no_update)
        if all(o is dash.no_update for o in out):
            raise dash.exceptions.PreventUpdate
        return out


EXPORT_ASK_ABOVE = 1000   # a report of more points than this is confirmed first (it takes a while)


def _export_ids(data: StoreData, rows, brush, args) -> tuple[list[str], str]:
    ids = [r["id"] for r in rows or [] if isinstance(r, dict)]
    if ids:
        return ids, ""
    v, filters = _values(args)
    ids = list(view_frame(data, v, filters, brush, columns=["id"])["id"])
    return ids, f"No rows ticked: the {units.count(len(ids))} points shown. "


def _register_exports(app: dash.Dash, data: StoreData) -> None:
    @app.callback(Output("ex-export-confirm", "displayed"), Output("ex-export-confirm", "message"),
                  Output("ex-export-go", "data"), Input("ex-report-btn", "n_clicks"),
                  State("ex-report-fmt", "value"), State("ex-grid", "selectedRows"), State("ex-brush", "data"),
                  *VIEW_STATES, prevent_initial_call=True)
    def ask_export(n, fmt, rows, brush, *args):
        """Up to EXPORT_ASK_ABOVE points export at once; more are confirmed first (nothing ticked means
        every point shown, which at 50,000 points is minutes of work)."""
        ids, note = _export_ids(data, rows, brush, args)
        if len(ids) > EXPORT_ASK_ABOVE:
            return True, (f"{note}Export the cost report of {units.count(len(ids))} design points as "
                          f"{str(fmt).upper()}? Each point's per-layer figures are written: this takes about "
                          f"{units.duration(len(ids) * 0.005 + 1)} or more. Tick rows in the table to export fewer."), \
                dash.no_update
        return False, "", {"n": n}

    @app.callback(Output("ex-export-go", "data", allow_duplicate=True), Input("ex-export-confirm", "submit_n_clicks"),
                  prevent_initial_call=True)
    def confirmed(n):
        return {"n": n, "confirmed": True}

    @app.callback(Output("ex-report-download", "data"), Output("ex-export-msg", "children"),
                  Input("ex-export-go", "data"), State("ex-report-fmt", "value"),
                  State("ex-grid", "selectedRows"), State("ex-brush", "data"), *VIEW_STATES,
                  running=[(Output("ex-report-btn", "disabled"), True, False),
                           (Output("ex-export-progress", "children"), "Writing the cost report…", "")],
                  prevent_initial_call=True)
    def export_report(go_, fmt, rows, brush, *args):
        if not go_:
            raise dash.exceptions.PreventUpdate
        ids, note = _export_ids(data, rows, brush, args)
        if not ids:
            return dash.no_update, "Nothing to export: no design point matches the filters."
        try:
            sent = report_download(data, ids, fmt)
        except UserError as e:  # e.g. a point vanished from a store that was replaced meanwhile
            return dash.no_update, f"Export failed: {e.where}: {e.what}"
        return sent, note + f"Cost report of {units.count(len(ids))} point(s) as {fmt.upper()}."

    @app.callback(Output("ex-fig-download", "data"), Input("ex-fig-btn", "n_clicks"), State("ex-fig-fmt", "value"),
                  State("cmp-select", "value"), *VIEW_STATES, prevent_initial_call=True)
    def export_figure(_n, fmt, compared, *args):
        # Rebuilt here from the store and the control values: never the figure the browser holds.
        v, filters = _values(args)
        fig = go.Figure(pareto_for(data, v, filters, compared or [])[1])   # a copy: the view's is cached
        fig.update_layout(height=700, width=1200, margin=dict(b=90))
        fig.add_annotation(text=provenance(data, v, filters), x=0, y=-0.13, xref="paper", yref="paper",
                           xanchor="left", yanchor="top", showarrow=False, align="left",
                           font=dict(size=9, color="#666"))
        return figure_download(fig, fmt, "hwsim-pareto")


def provenance(data: StoreData, v: dict, filters: dict[str, list]) -> str:
    """What an exported figure shows and where from: store, sweeps, filters, hwsim version, time."""
    import datetime as dt

    from hwsim import __version__

    df = data.done_points()
    sweeps = sorted({str(s) for s in df["sweep"].dropna().unique()}) if "sweep" in df.columns else []
    active = [f"{c.removeprefix(CFG)} = {', '.join(map(str, vals))}" for c, vals in filters.items() if vals]
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sw = ", ".join(sweeps[:6]) + (f" and {len(sweeps) - 6} more" if len(sweeps) > 6 else "")
    return (f"store {data.path.name} ({units.count(len(df))} finished points; sweeps: {sw or 'none'})<br>"
            f"filters: {'; '.join(active) or 'none'}{'; Pareto front only' if v.get('front') else ''} · "
            f"hwsim {__version__} · {when}")
