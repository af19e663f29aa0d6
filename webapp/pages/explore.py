"""Explore: accuracy (or error) against a cost axis, Pareto front, filters, points table, export.

Clicking a marker (or a label in the table) opens that point on the Design point page;
ticking rows in the table selects points for Compare and for the report export.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import parse_qs

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, ctx, dcc, html

from hwsim.errors import UserError
from hwsim.store import METRICS

from .. import figures
from ..components import download_bar, dropdown, grid, labelled, metric_column, records
from ..data import INFER_AXES, QUALITY_AXES, TRAIN_AXES, StoreData, metric_label

# (control id, points column, label)
FILTERS = (
    ("ex-f-model", "model", "Model"),
    ("ex-f-dataset", "dataset", "Dataset"),
    ("ex-f-family", "family", "Scheme family"),
    ("ex-f-bits", "bits", "Bits (weights/activations)"),
    ("ex-f-tech", "tech", "Technology"),
    ("ex-f-accel", "accelerator", "Accelerator"),
    ("ex-f-source", "accuracy_source", "Accuracy source"),
)
GROUPINGS = [{"label": c, "value": c} for c in ("scheme", "family", "model", "dataset", "bits", "accelerator",
                                                 "tech", "accuracy_source")]
ID_COLUMNS = ["label", "model", "dataset", "scheme", "family", "bits", "tech", "accelerator", "accuracy_source"]
REPORT_FORMATS = ("csv", "json", "xlsx", "html")


def _axis_options(view: str) -> list[dict]:
    names = TRAIN_AXES if view == "train" else INFER_AXES
    return [{"label": metric_label(n), "value": n} for n in names]


def layout():
    controls = dbc.Card(dbc.CardBody([
        labelled("View", dbc.RadioItems(id="ex-view", options=[{"label": "Training", "value": "train"},
                                                                {"label": "Inference", "value": "inference"}],
                                        value="train", inline=True)),
        labelled("Cost axis (x)", dropdown("ex-x", _axis_options("train"), "train_energy_pj_per_step")),
        labelled("Quality axis (y)", dropdown("ex-y", [{"label": metric_label(n), "value": n} for n in QUALITY_AXES],
                                              "accuracy")),
        dbc.Row([dbc.Col(dbc.Switch(id="ex-logx", label="log x", value=True)),
                 dbc.Col(dbc.Switch(id="ex-logy", label="log y", value=False))], class_name="mb-1"),
        dbc.Switch(id="ex-front-only", label="Pareto front only", value=False, class_name="mb-2"),
        labelled("Colour by", dropdown("ex-color", GROUPINGS, "scheme")),
        labelled("Symbol by", dropdown("ex-symbol", GROUPINGS, "model")),
        labelled("Size by", dropdown("ex-size", [{"label": metric_label(n), "value": n} for n in METRICS],
                                     None, clearable=True, placeholder="(same size)")),
        html.Hr(className="my-2"),
        html.Div("Filters (empty = all)", className="small text-muted mb-1"),
        *[labelled(label, dropdown(cid, [], [], multi=True, clearable=True, placeholder="all"))
          for cid, _, label in FILTERS],
    ]), class_name="shadow-sm")
    plot = dbc.Card([
        dbc.CardHeader(html.Div([html.Span("Pareto explorer", className="fw-semibold"),
                                 html.Span(id="ex-count", className="text-muted small ms-2")])),
        dbc.CardBody(dcc.Loading(dcc.Graph(id="ex-pareto", config={"displaylogo": False, "responsive": True},
                                           figure=figures.empty_figure("Loading..."),
                                           style={"height": "520px"}), delay_show=400)),
        dbc.CardFooter(download_bar("ex-fig", "Figure")),
    ], class_name="shadow-sm mb-3")
    table = dbc.Card([
        dbc.CardHeader(html.Div([
            html.Span("Design points", className="fw-semibold"),
            html.Span(" tick rows (or box-select points on the plot) to compare or export them; click a label to "
                      "open it", className="text-muted small"),
        ])),
        dbc.CardBody(grid("ex-grid", [], height=340, selectable=True, size="autoSize")),
        dbc.CardFooter(html.Div([
            download_bar("ex-report", "Cost report of ticked points", REPORT_FORMATS),
            dbc.Button("Compare ticked points", id="ex-compare-btn", color="primary", size="sm",
                       class_name="mb-2 me-2"),
            html.Span(id="ex-export-msg", className="small text-muted"),
        ])),
    ], class_name="shadow-sm")
    return dbc.Row([dbc.Col(controls, xs=12, lg=3, class_name="mb-3"),
                    dbc.Col([plot, table], xs=12, lg=9)])


def filtered(df: pd.DataFrame, filters: dict[str, list]) -> pd.DataFrame:
    """Keep rows whose column value is in each non-empty filter list."""
    for col, values in filters.items():
        if values:
            df = df[df[col].astype(str).isin([str(v) for v in values])]
    return df


def register(app: dash.Dash, data: StoreData) -> None:
    @app.callback(Output("ex-x", "options"), Output("ex-x", "value"), Input("ex-view", "value"),
                  State("ex-x", "value"))
    def view_axes(view, current):
        opts = _axis_options(view)
        values = [o["value"] for o in opts]
        return opts, current if current in values else values[0]

    @app.callback([Output(cid, "options") for cid, _, _ in FILTERS], Input("store-version", "data"))
    def filter_options(_v):
        df = data.done_points()
        out = []
        for _, col, _ in FILTERS:
            vals = sorted({str(v) for v in df[col].dropna()}) if not df.empty else []
            out.append([{"label": v, "value": v} for v in vals])
        return out

    @app.callback(
        Output("ex-pareto", "figure"), Output("ex-grid", "rowData"), Output("ex-grid", "columnDefs"),
        Output("ex-count", "children"),
        Input("store-version", "data"), Input("ex-x", "value"), Input("ex-y", "value"),
        Input("ex-logx", "value"), Input("ex-logy", "value"), Input("ex-color", "value"),
        Input("ex-symbol", "value"), Input("ex-size", "value"), Input("ex-grid", "selectedRows"),
        Input("ex-front-only", "value"), *[Input(cid, "value") for cid, _, _ in FILTERS],
    )
    def update(_v, x, y, logx, logy, color, symbol, size, selected_rows, front_only, *filter_values):
        df = data.done_points()
        total = len(df)
        if total == 0:
            fig = figures.empty_figure("No finished design points in the store yet.")
            return fig, [], [], ""
        df = filtered(df, {col: vals for (_, col, _), vals in zip(FILTERS, filter_values)})
        front = figures.pareto_mask(df[x], df[y], METRICS[x]["better"], METRICS[y]["better"]) if len(df) else []
        df = df.assign(front=["★" if f else "" for f in front])
        if front_only:
            df = df[df["front"] != ""]
        selected = [r["id"] for r in (selected_rows or [])]
        fig = figures.pareto_figure(df, x, y, color=color, symbol=symbol, size=size, logx=bool(logx),
                                    logy=bool(logy), selected=selected)
        shown = int(df[[x, y]].notna().all(axis=1).sum()) if not df.empty else 0
        on_front = int((df["front"] != "").sum())
        cols = [{"field": "label", "headerName": "Design point", "minWidth": 200,
                 "cellClass": "hwsim-link", "tooltipField": "id"},
                {"field": "front", "headerName": "front", "maxWidth": 90, "headerTooltip": "on the Pareto front"},
                *[{"field": c, "headerName": c.replace("_", " ")} for c in ID_COLUMNS[1:]],
                metric_column(y), metric_column(x),
                *[metric_column(m) for m in METRICS if m not in (x, y) and m in df.columns and df[m].notna().any()],
                {"field": "id", "headerName": "id", "maxWidth": 160}]
        rows = records(df, ["id", "front", *ID_COLUMNS, *[m for m in METRICS if m in df.columns]])
        return fig, rows, cols, f"{shown} of {total} design points shown, {on_front} on the Pareto front"

    # One callback owns the design-point picker (options and value): a value must never
    # arrive before the options that hold it.
    @app.callback(Output("pt-select", "options"), Output("pt-select", "value"), Output("tabs", "active_tab"),
                  Input("store-version", "data"), Input("ex-pareto", "clickData"), Input("ex-grid", "cellClicked"),
                  Input("cmp-open", "n_clicks"), Input("url", "search"), State("cmp-select", "value"),
                  State("pt-select", "value"))
    def open_point(_v, click, cell, _open, search, cmp_values, current):
        from .point import select_options

        options = select_options(data)
        pid, tab = _target(ctx.triggered_id, click, cell, search, cmp_values, current)
        return options, pid, tab

    def _target(trig, click, cell, search, cmp_values, current):
        # The URL counts when it changes, and on the first render (no point picked yet).
        if trig == "url" or (trig in (None, "store-version") and not current):
            # /?point=<id or unique prefix> opens that design point (links from reports, the CLI).
            want = parse_qs((search or "").lstrip("?")).get("point", [""])[0].strip()
            ids = [i for i in data.points()["id"] if isinstance(i, str) and i.startswith(want)] if want else []
            if len(ids) == 1:
                return ids[0], "tab-point"
            return dash.no_update, dash.no_update
        if trig == "ex-pareto" and click and click.get("points"):
            cd = click["points"][0].get("customdata")
            if cd:
                return cd[0], "tab-point"
        if trig == "ex-grid" and cell and cell.get("colId") == "label" and cell.get("rowId"):
            return cell["rowId"], "tab-point"
        if trig == "cmp-open" and cmp_values:
            return cmp_values[0], "tab-point"
        return dash.no_update, dash.no_update

    @app.callback(Output("ex-grid", "selectedRows"), Input("ex-pareto", "selectedData"), State("ex-grid", "rowData"),
                  prevent_initial_call=True)
    def tick_from_plot(sel, rows):
        """Box or lasso select on the plot ticks those points in the table (for Compare and export)."""
        ids = {p["customdata"][0] for p in (sel or {}).get("points", []) if p.get("customdata")}
        if not ids:
            raise dash.exceptions.PreventUpdate  # a redraw clears plotly's selection; keep the ticks
        return [r for r in rows or [] if r.get("id") in ids]

    @app.callback(Output("cmp-select", "value"), Output("tabs", "active_tab", allow_duplicate=True),
                  Input("ex-compare-btn", "n_clicks"), State("ex-grid", "selectedRows"), prevent_initial_call=True)
    def to_compare(_n, rows):
        ids = [r["id"] for r in rows or []]
        if not ids:
            return dash.no_update, dash.no_update
        return ids, "tab-compare"

    @app.callback(Output("ex-report-download", "data"), Output("ex-export-msg", "children"),
                  Input("ex-report-btn", "n_clicks"), State("ex-report-fmt", "value"),
                  State("ex-grid", "selectedRows"), State("ex-grid", "virtualRowData"), prevent_initial_call=True)
    def export_report(_n, fmt, rows, visible):
        ids = [r["id"] for r in rows or []]
        note = ""
        if not ids:
            ids = [r["id"] for r in visible or []]
            note = f"No rows ticked: exported the {len(ids)} points shown. "
        if not ids:
            return dash.no_update, "Nothing to export: no design point matches the filters."
        try:
            sent = report_download(data, ids, fmt)
        except UserError as e:  # e.g. a point vanished from a store that was replaced meanwhile
            return dash.no_update, f"Export failed: {e.where}: {e.what}"
        return sent, note + f"Cost report of {len(ids)} point(s) as {fmt.upper()}."

    @app.callback(Output("ex-fig-download", "data"), Input("ex-fig-btn", "n_clicks"), State("ex-fig-fmt", "value"),
                  State("ex-pareto", "figure"), prevent_initial_call=True)
    def export_figure(_n, fmt, fig):
        return figure_download(fig, fmt, "hwsim-pareto")


def report_download(data: StoreData, ids: list[str], fmt: str) -> dict:
    """Write the cost report with :func:`hwsim.reports.export` into a temporary folder; send its bytes.

    Raises :class:`hwsim.errors.UserError` (unknown point, unknown format) for the caller to show."""
    from hwsim.reports import export

    with tempfile.TemporaryDirectory(prefix="hwsim-report-") as tmp:
        path = export(data.path, ids, fmt, tmp, command="hwsim serve (dashboard export)")
        return dcc.send_bytes(Path(path).read_bytes(), Path(path).name)


def figure_download(fig_json: dict | None, fmt: str, stem: str) -> dict:
    """A figure (as the browser holds it) as PNG/SVG (kaleido + system chromium) or standalone HTML."""
    import plotly.graph_objects as go

    if not fig_json:
        raise dash.exceptions.PreventUpdate
    fig = go.Figure(fig_json)
    return dcc.send_bytes(figures.figure_bytes(fig, fmt), f"{stem}.{fmt}")
