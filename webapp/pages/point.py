"""Design point: one point's per-layer energy, MAC mix, traffic, cycles, curves, assumptions."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, ctx, dcc, html

from hwsim.errors import UserError
from hwsim.formats import PHASES
from hwsim.store import METRICS

from .. import figures, units
from ..components import download_bar, dropdown, grid, metric_column
from ..data import PointRecord, StoreData, per_layer, per_layer_value
from .export import figure_download, report_download

PHASE_OPTIONS = [{"label": "Training step (all phases)", "value": "train"}] + [
    {"label": p.replace("_", " "), "value": p} for p in PHASES]
GRAPHS = (
    ("pt-phases", "Energy by phase and component"),
    ("pt-energy", "Energy by component per layer"),
    ("pt-macs", "MAC-type mix"),
    ("pt-traffic", "Traffic by tensor class"),
    ("pt-cycles", "Cycles and utilization"),
    ("pt-curve", "Training curve"),
    ("pt-sparsity", "Sparsity"),
)


def _graph(gid: str, fig=None) -> html.Div:
    """A figure's box. The graph itself is made when the page is first drawn: a plotly graph mounted
    into the hidden page would cost the Explore plot the page opens on its time."""
    if fig is None:
        return html.Div(html.Div("Pick a design point", className="text-muted small p-3"), id=f"{gid}-box",
                        style={"minHeight": "360px"})
    return dcc.Graph(id=gid, config={"displaylogo": False, "responsive": True}, style={"height": "360px"},
                     figure=fig)


def layout():
    head = dbc.Card(dbc.CardBody(dbc.Row([
        dbc.Col([dbc.Label("Design point", class_name="small fw-semibold mb-1"),
                 dropdown("pt-select", [], None, placeholder="click a point on Explore, or pick one here")],
                xs=12, md=6),
        dbc.Col([dbc.Label("Phase", class_name="small fw-semibold mb-1"),
                 dropdown("pt-phase", PHASE_OPTIONS, "train")], xs=12, md=2),
        dbc.Col([dbc.Label("Layers", class_name="small fw-semibold mb-1"),
                 dropdown("pt-layer-view", LAYER_VIEWS, "macs")], xs=12, md=2),
        dbc.Col(html.Div([download_bar("pt-report", "Report", ("csv", "json", "xlsx", "html"))],
                         className="pt-4"), xs=12, md=2),
    ])), class_name="shadow-sm mb-3")

    def card(gid, title):
        return dbc.Col(dbc.Card([dbc.CardHeader(title, class_name="fw-semibold small"),
                                 dbc.CardBody(_graph(gid), class_name="p-1")], class_name="shadow-sm mb-3"),
                       xs=12, xl=6)

    return html.Div([
        head,
        html.Div(id="pt-url-msg"),
        dcc.Store(id="pt-shown"),
        html.Div(id="pt-summary"),
        dbc.Row([card(g, t) for g, t in GRAPHS]),
        html.Div(download_bar("pt-fig", "Figure", ("png", "svg", "html")), className="mb-2"),
        dbc.Row([dbc.Col(dropdown("pt-fig-which", [{"label": t, "value": g} for g, t in GRAPHS], "pt-energy"),
                         xs=12, md=4)], class_name="mb-3"),
        dbc.Row([
            dbc.Col(dbc.Card([dbc.CardHeader("Assumptions", class_name="fw-semibold small"),
                              dbc.CardBody(grid("pt-assumptions", [{"field": "key", "minWidth": 220},
                                                                   {"field": "value", "flex": 1, "wrapText": True,
                                                                    "autoHeight": True, "cellDataType": False}], height=320))],
                             class_name="shadow-sm mb-3"), xs=12, xl=6),
            dbc.Col(dbc.Card([dbc.CardHeader("Per-layer figures (this phase)", class_name="fw-semibold small"),
                              dbc.CardBody(grid("pt-layers", [], height=320, size=None))], class_name="shadow-sm mb-3"),
                    xs=12, xl=6),
        ]),
        dbc.Card([dbc.CardHeader("Resolved configuration", class_name="fw-semibold small"),
                  dbc.CardBody(html.Pre(id="pt-config", className="small mb-0", style={"maxHeight": "300px"}))],
                 class_name="shadow-sm mb-3"),
    ])


def flatten(d, prefix: str = "") -> dict:
    """Nested dicts -> {"a.b": value}; lists of scalars are shown as JSON."""
    out: dict = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(d, list) and d and all(isinstance(x, dict) for x in d):
        for i, v in enumerate(d):
            out.update(flatten(v, f"{prefix}{i}."))
    else:
        out[prefix[:-1] or "value"] = d if isinstance(d, (str, int, float, bool)) or d is None else json.dumps(d)
    return out


def design_name(data: StoreData, p: PointRecord) -> str:
    """The point's name as Explore's hover and Compare write it (:func:`hwsim.labels.design_name`, with
    what varies among the store's points), else its label."""
    df = data.points()
    hit = df["name"][df["id"].to_numpy() == p.id] if "name" in df.columns else pd.Series(dtype=object)
    return str(hit.iloc[0]) if len(hit) and isinstance(hit.iloc[0], str) and hit.iloc[0] else (p.label or p.id[:12])


def summary(p: PointRecord, name: str = "") -> dbc.Card:
    cols = [html.Span([html.Span(f"{c.replace('_', ' ')}: ", className="text-muted"), html.B(str(v))],
                      className="me-3") for c, v in p.columns.items()]
    tiles = []
    for m in ("accuracy", "train_energy_pj_per_step", "infer_energy_pj", "train_memory_bytes", "model_size_bytes",
              "latency_cycles", "dram_bytes_per_step"):
        if p.metrics.get(m) is not None:
            tiles.append(dbc.Col(html.Div([html.Div(METRICS[m]["label"], className="small text-muted"),
                                           html.Div(units.fmt(p.metrics[m], METRICS[m]["unit"]),
                                                    className="fs-5 fw-semibold")],
                                          className="hwsim-tile"), xs=6, md=3, lg=True))
    return dbc.Card(dbc.CardBody([
        html.H5([name or p.label or p.id[:12], dbc.Badge(p.status, color="success" if p.status == "done" else "danger",
                                                 class_name="ms-2 align-middle")], id="pt-title"),
        html.Div([html.Span("id ", className="text-muted"), html.Code(p.id)], className="small mb-1"),
        html.Div(cols, className="small mb-2"),
        *([dbc.Alert(p.error, color="danger", class_name="py-2")] if p.error else []),
        dbc.Row(tiles, class_name="g-2"),
    ]), class_name="shadow-sm mb-3")


LAYER_VIEWS = [{"label": "With MACs + other", "value": "macs"},
               {"label": "Top 15 by energy + other", "value": "top15"},
               {"label": "All layers", "value": "all"}]


def keep_layers(lay, phase: str, view: str) -> list[str] | None:
    """Layers drawn one bar each; ``None`` = all. The others are summed into one "other" bar,
    so every figure's total stays the point's total (deep nets have ~100 small layers:
    batch norms, activations, quantizers)."""
    if view == "all":
        return None
    if view == "top15":
        e = per_layer(lay, "energy_pj", phase)
        if e.shape[0] <= 16:
            return None
        return list(e.sum(axis=1).sort_values(ascending=False).index[:15])
    sub = lay[lay["name"].str.startswith("macs.") & (lay["value"] > 0)]
    keep = list(dict.fromkeys(sub["layer"]))
    if not keep or len(keep) >= lay["layer"].nunique():
        return None
    # Never hide the largest contributor in an "other" bar.
    e = per_layer(lay, "energy_pj", phase)
    if not e.empty:
        top = e.sum(axis=1).idxmax()
        if top not in keep:
            keep.append(top)
    return keep


def layer_kind(name: str) -> str:
    """A layer without MACs by what it does, from its name: batch-norm, activation, quantizer, other."""
    n = str(name).lower()
    if any(k in n for k in ("bn", "norm")):
        return "batch-norm"
    if any(k in n for k in ("quant", "binar", "sign", "ternar")):
        return "quantizer"
    if any(k in n for k in ("relu", "act", "tanh", "sigmoid", "gelu", "hardtanh", "silu")):
        return "activation"
    if "pool" in n:
        return "pooling"
    return "other"


def group_other(obj, keep: list[str] | None):
    """Rows of ``obj`` (DataFrame or Series indexed by layer) not in ``keep`` summed into "other (n)"."""
    if keep is None or obj is None or len(obj) == 0:
        return obj
    rest = [la for la in obj.index if la not in keep]
    kept = obj.loc[[la for la in obj.index if la in keep]]
    if not rest:
        return kept
    # "other" split by layer kind (batch-norm, activation, quantizer, ...), each with its count.
    kinds: dict[str, list] = {}
    for la in rest:
        kinds.setdefault(layer_kind(la), []).append(la)
    parts = [kept]
    for kind, names in kinds.items():
        label = f"{kind} ({len(names)})"
        total = obj.loc[names].sum()
        parts.append(total.to_frame(label).T if isinstance(obj, pd.DataFrame) else pd.Series({label: total}))
    return pd.concat(parts)


def point_figures(data: StoreData, pid: str, phase: str, view: str = "macs") -> dict[str, object]:
    """All drill-down figures of one point for one phase (``train`` = the four training phases summed)."""
    lay = data.layers(pid)
    cur = data.curves(pid)
    where = "training step" if phase == "train" else phase.replace("_", " ")
    keep = keep_layers(lay, phase, view)
    energy = group_other(per_layer(lay, "energy_pj", phase), keep)
    macs = group_other(per_layer(lay, "macs", phase), keep)
    traffic = group_other(per_layer(lay, "traffic_bytes", phase), keep)
    cyc = per_layer_value(lay, "cycles", phase)
    stall = per_layer_value(lay, "stall_cycles", phase)
    # Utilization over several phases: the cycle-weighted mean, so long phases count more.
    u = lay[lay["name"] == "utilization"].merge(lay[lay["name"] == "cycles"], on=["layer", "phase"],
                                                 suffixes=("_u", "_c"))
    u = u[u["phase"] != "inference"] if phase == "train" else u[u["phase"] == phase]
    if keep is not None:
        u = u.assign(layer=[la if la in keep else "other" for la in u["layer"]])
    util = (u.assign(w=u["value_u"] * u["value_c"]).groupby("layer")[["w", "value_c"]].sum()
            .pipe(lambda t: t["w"] / t["value_c"].where(t["value_c"] > 0)))
    cyc, stall = group_other(cyc, keep), group_other(stall, keep)
    util = util.reindex([la for la in cyc.index if la in util.index])
    return {
        "pt-phases": figures.phase_energy_figure({"": lay}, f"Energy per phase by component ({where} view)"),
        "pt-energy": figures.energy_figure(energy, f"Energy by component per layer, {where}"),
        "pt-macs": figures.stacked_layers_figure(macs, f"MACs by MAC type per layer, {where}", "MACs"),
        "pt-traffic": figures.stacked_layers_figure(traffic, f"Traffic by tensor class per layer, {where}", "bytes"),
        "pt-cycles": figures.cycles_figure(cyc, util, stall if not stall.empty else None,
                                           f"Cycles and utilization per layer, {where}"),
        "pt-curve": figures.curves_figure(cur),
        "pt-sparsity": figures.sparsity_figure(cur),
    }


def layer_table(data: StoreData, pid: str, phase: str) -> tuple[list[dict], list[dict]]:
    """Per-layer figures of one phase as grid rows: layer, then every ``layers.name`` but shapes."""
    lay = data.layers(pid)
    sub = lay if phase == "train" else lay[lay["phase"] == phase]
    if phase == "train":
        sub = sub[sub["phase"] != "inference"]
    sub = sub[~sub["name"].str.startswith("shape.")]
    if sub.empty:
        return [], [{"field": "layer"}]
    # Ratios are averaged over phases, counts summed.
    means = {"utilization", "mapping_efficiency"}
    wide = sub.pivot_table(index="layer", columns="name", values="value", aggfunc="sum")
    for m in means & set(wide.columns):
        wide[m] = sub[sub["name"] == m].groupby("layer")["value"].mean()
    order = [la for la in dict.fromkeys(lay["layer"]) if la in wide.index]
    wide = wide.reindex(order)
    energy_cols = [c for c in wide.columns if c.startswith("energy_pj.")]
    if energy_cols:
        wide.insert(0, "energy_pj.total", wide[energy_cols].sum(axis=1))
    cols = [{"field": "layer", "pinned": "left"}] + [metric_column(c, values=wide[c].dropna().tolist())
                                                     for c in wide.columns]
    rows = [{"layer": la, **{c: (None if pd.isna(v) else float(v)) for c, v in r.items()}}
            for la, r in wide.iterrows()]
    return rows, cols


def select_options(data: StoreData, search: str = "", keep=(), limit: int = 50) -> list[dict]:
    """The design-point picker's options: points matching ``search`` (name, label or id prefix), at most
    ``limit`` of them, plus the ``keep`` ids; finished and failed points (a failed one says so)."""
    df = data.points()
    if df.empty:
        return []
    df = df[df["status"].isin(["done", "failed"])]
    keep = [k for k in (keep if isinstance(keep, (list, tuple)) else [keep]) if k]
    if search:
        words = str(search).lower().split()
        text = (df["name"].astype(str) + " " + df["label"].astype(str) + " " + df["id"]).str.lower()
        hit = pd.Series(True, index=df.index)
        for w in words:
            hit &= text.str.contains(w, regex=False)
        pick = df[hit].head(limit)
    else:
        pick = df.head(limit)
    pick = pd.concat([df[df["id"].isin(keep)], pick[~pick["id"].isin(keep)]])
    return [{"label": f"{r.name}  ({r.id[:8]})" + ("  [failed]" if r.status == "failed" else ""), "value": r.id}
            for r in pick.itertuples()]


def find_point(data: StoreData, want: str) -> str | None:
    ids = [i for i in data.points()["id"] if isinstance(i, str) and i.startswith(want)] if want else []
    return ids[0] if len(ids) == 1 else None


def register(app: dash.Dash, data: StoreData) -> None:
    _register_picker(app, data)
    _register_view(app, data)
    _register_exports(app, data)


def _register_picker(app: dash.Dash, data: StoreData) -> None:
    # One callback owns the picker (options and value): a value must never arrive before the
    # options that hold it. The options are a search, never one entry per point.
    @app.callback(Output("pt-select", "options"), Output("pt-select", "value"), Output("tabs", "active_tab"),
                  Output("pt-url-msg", "children"),
                  Input("pt-version", "data"), Input("ex-pareto", "clickData"), Input("ex-grid", "cellClicked"),
                  Input("cmp-open", "n_clicks"), Input("url", "search"), Input("pt-select", "search_value"),
                  State("cmp-select", "value"), State("pt-select", "value"))
    def open_point(_v, click, cell, _open, search, typed, cmp_values, current):
        trig = ctx.triggered_id
        if trig == "pt-select":
            if not typed:
                raise dash.exceptions.PreventUpdate
            return select_options(data, typed, current), dash.no_update, dash.no_update, dash.no_update
        pid, tab, msg = dash.no_update, dash.no_update, dash.no_update
        if trig == "url" or (trig in (None, "pt-version") and not current):
            # /?point=<id or unique prefix> opens that design point (links from reports, the CLI).
            want = parse_qs((search or "").lstrip("?")).get("point", [""])[0].strip()
            if want and not (current and current.startswith(want)):
                found = find_point(data, want)
                if found:
                    pid, tab, msg = found, "tab-point", None
                else:
                    msg = dbc.Alert(f"Design point {want!r} was not found in this store.", color="warning",
                                    id="pt-notfound", class_name="py-2")
                    tab = "tab-point"
        elif trig == "ex-pareto" and click and click.get("points"):
            cd = click["points"][0].get("customdata")
            if cd:
                pid, tab, msg = cd[0], "tab-point", None
        elif trig == "ex-grid" and cell and cell.get("colId") == "name" and cell.get("rowId"):
            pid, tab, msg = cell["rowId"], "tab-point", None
        elif trig == "cmp-open" and cmp_values:
            pid, tab, msg = cmp_values[0], "tab-point", None
        if trig == "pt-version" and pid is dash.no_update and msg is dash.no_update:
            # a commit: the picker is a search (typing asks again); its list is not sent anew per commit
            raise dash.exceptions.PreventUpdate
        keep = pid if isinstance(pid, str) else current
        return select_options(data, "", keep), pid, tab, msg


def _register_view(app: dash.Dash, data: StoreData) -> None:
    @app.callback(Output("pt-summary", "children"), *[Output(f"{g}-box", "children") for g, _ in GRAPHS],
                  Output("pt-assumptions", "rowData"), Output("pt-layers", "rowData"), Output("pt-layers", "columnDefs"),
                  Output("pt-config", "children"), Output("pt-shown", "data"),
                  Input("pt-select", "value"), Input("pt-phase", "value"), Input("pt-layer-view", "value"),
                  Input("pt-version", "data"), Input("tabs", "active_tab"), State("pt-shown", "data"))
    def show(pid, phase, view, version, tab, shown):
        # Drawn when the page is shown, once per (point, phase, view, store version): seven figures
        # plotted into a hidden page would hold up the Explore plot the page opens on.
        key = repr((pid, phase, view, version))
        if tab != "tab-point" or key == shown:
            raise dash.exceptions.PreventUpdate
        return (*_show(pid, phase, view), key)

    def _show(pid, phase, view):
        p = data.point(pid) if pid else None
        if not p:
            msg = "Pick a design point: click one on Explore, or choose it above."
            empty = figures.empty_figure(msg, 360)
            return (dbc.Alert(msg, color="info"), *[_graph(g, empty) for g, _ in GRAPHS], [], [], [{"field": "layer"}],
                    "")
        figs = point_figures(data, pid, phase, view)
        assumptions = data.blob(pid, "assumptions")
        arows = [{"key": k, "value": f"{v:.6g}" if isinstance(v, float) else str(v)}
                 for k, v in flatten(assumptions).items()] if assumptions is not None else [
            {"key": "(none)", "value": "this point stored no assumptions blob"}]
        lrows, lcols = layer_table(data, pid, phase)
        return (summary(p, design_name(data, p)), *[_graph(g, figs[g]) for g, _ in GRAPHS], arows, lrows, lcols,
                json.dumps(p.config, indent=2, sort_keys=True))


def _register_exports(app: dash.Dash, data: StoreData) -> None:
    @app.callback(Output("pt-fig-download", "data"), Input("pt-fig-btn", "n_clicks"), State("pt-fig-fmt", "value"),
                  State("pt-fig-which", "value"), State("pt-select", "value"), State("pt-phase", "value"),
                  State("pt-layer-view", "value"), prevent_initial_call=True)
    def export_figure(_n, fmt, which, pid, phase, view):
        # Rebuilt from the store: the browser's copy of the figure is never rendered.
        if not pid or not data.point(pid) or which not in dict(GRAPHS):
            raise dash.exceptions.PreventUpdate
        fig = point_figures(data, pid, phase or "train", view or "macs")[which]
        p = data.point(pid)
        fig.update_layout(title=dict(text=f"{design_name(data, p)}: {fig.layout.title.text or ''}"))
        return figure_download(fig, fmt, f"hwsim-{which.removeprefix('pt-')}")

    @app.callback(Output("pt-report-download", "data"), Input("pt-report-btn", "n_clicks"),
                  State("pt-report-fmt", "value"), State("pt-select", "value"), prevent_initial_call=True)
    def export_report(_n, fmt, pid):
        if not pid:
            raise dash.exceptions.PreventUpdate
        try:
            return report_download(data, [pid], fmt)
        except UserError as e:
            raise dash.exceptions.PreventUpdate from e
