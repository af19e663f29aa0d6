"""Compare: two or more design points side by side, totals and layer by layer, with differences."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, ctx, dcc, html

from hwsim.store import METRICS

from .. import figures, units
from ..components import NUMBER_FORMAT, dropdown, grid
from ..data import StoreData, per_layer, per_layer_value

QUANTITIES = {
    "energy_pj": ("Energy", "prefix"),
    "macs": ("MACs", "prefix"),
    "traffic_bytes": ("Traffic", "prefix"),
    "cycles": ("Cycles", "value"),
}
PHASE_OPTIONS = [{"label": "Training step", "value": "train"}, {"label": "Inference", "value": "inference"},
                 {"label": "forward", "value": "forward"}, {"label": "backward data", "value": "backward_data"},
                 {"label": "backward weight", "value": "backward_weight"}, {"label": "update", "value": "update"}]


def _box(gid: str, fig=None):
    """A figure's box; the graph is made when the page is first drawn (not mounted into a hidden page)."""
    if fig is None:
        return html.Div(html.Div("Pick two or more points", className="text-muted small p-3"), id=f"{gid}-box")
    return dcc.Graph(id=gid, config={"displaylogo": False}, figure=fig)


def layout():
    return html.Div([
        dbc.Card(dbc.CardBody(dbc.Row([
            dbc.Col([dbc.Label("Design points (the first is the baseline)", class_name="small fw-semibold mb-1"),
                     dropdown("cmp-select", [], [], multi=True, clearable=True,
                              placeholder="pick two or more, or tick rows on Explore")], xs=12, lg=6),
            dbc.Col([dbc.Label("Per-layer quantity", class_name="small fw-semibold mb-1"),
                     dropdown("cmp-quantity", [{"label": v[0], "value": k} for k, v in QUANTITIES.items()],
                              "energy_pj")], xs=6, lg=2),
            dbc.Col([dbc.Label("Phase", class_name="small fw-semibold mb-1"),
                     dropdown("cmp-phase", PHASE_OPTIONS, "train")], xs=6, lg=2),
            dbc.Col(dbc.Button("Open first in drill-down", id="cmp-open", color="secondary", outline=True,
                               size="sm", class_name="mt-4"), xs=12, lg=2),
        ])), class_name="shadow-sm mb-3"),
        dbc.Row([
            dbc.Col(dbc.Card([dbc.CardHeader("Totals side by side", class_name="fw-semibold small"),
                              dbc.CardBody(grid("cmp-metrics", [], height=430))], class_name="shadow-sm mb-3"),
                    xs=12, xl=6),
            dbc.Col(dbc.Card([dbc.CardHeader("Ratio to the baseline", class_name="fw-semibold small"),
                              dbc.CardBody(_box("cmp-ratio"),
                                           class_name="p-1")], class_name="shadow-sm mb-3"), xs=12, xl=6),
        ]),
        dbc.Card([dbc.CardHeader("Where the energy goes: per phase and component (DRAM vs compute)",
                                 class_name="fw-semibold small"),
                  dbc.CardBody(_box("cmp-phases"), class_name="p-1")],
                 class_name="shadow-sm mb-3"),
        dbc.Card([dbc.CardHeader("Layer by layer", class_name="fw-semibold small"),
                  dbc.CardBody([_box("cmp-layers"),
                                grid("cmp-layer-grid", [], height=300)])], class_name="shadow-sm mb-3"),
        dcc.Store(id="cmp-shown"),
    ])


# energy per MAC: what a design spends on each multiply-accumulate, comparable across model sizes
PER_MAC = (("train_energy_pj_per_step", "macs_train_step", "Training energy per MAC"),
           ("infer_energy_pj", "macs_infer", "Inference energy per MAC"))


def differing_fields(df: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """The design fields (scheme, model, accelerator and every config field) whose value differs between
    the compared points, with each point's value, as text."""
    fields = ["model", "scheme_name", "bits", "accelerator", "dataset", "tech",
              *[c for c in df.columns if c.startswith("cfg:")]]
    out = []
    for f in fields:
        if f not in df.columns:
            continue
        vals = ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in df[f]]
        if len(set(vals)) > 1:
            out.append((units.label_of(f).replace("scheme name", "scheme").replace(".", " "), vals))
    return out


def column_headers(df: pd.DataFrame) -> list[str]:
    """Column headers that tell the points apart: each point's values of the fields that differ (two
    points of one model and scheme on two accelerators are headed by their accelerators)."""
    diff = differing_fields(df)
    if not diff:
        return [f"{n} ({pid[:6]})" for n, pid in zip(df.get("name", df["label"]), df["id"])]
    return [" · ".join(vals[i] for _, vals in diff[:3] if vals[i]) or str(df["id"].iloc[i])[:8]
            for i in range(len(df))]


def metrics_table(df: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    """Rows: the fields that differ, then the metrics, then energy per MAC; one column per point (cells in
    the unit style, each row its own unit), then each later point's difference to the first, in % (pp for
    fractions)."""
    keys = [f"p{i}" for i in range(len(df))]
    rows = []
    for name, vals in differing_fields(df):
        rows.append({"metric": name, "unit": "text", "better": "", "kind": "differs",
                     **dict(zip(keys, vals))})
    per_mac = {}
    for e, m, label in PER_MAC:
        if e in df.columns and m in df.columns:
            per_mac[label] = [(r[e] / r[m]) if pd.notna(r.get(e)) and pd.notna(r.get(m)) and r[m] else None
                              for _, r in df.iterrows()]
    metric_rows = [(meta["label"], meta["unit"], meta["better"], [r.get(m) for _, r in df.iterrows()])
                   for m, meta in METRICS.items()]
    metric_rows += [(label, "pJ/MAC", "min", vals) for label, vals in per_mac.items()]
    for label, unit, better, vals in metric_rows:
        if all(v is None or pd.isna(v) for v in vals):
            continue
        row = {"metric": label, "unit": unit, "better": better, "kind": "metric"}
        for k, v in zip(keys, vals):
            row[k] = None if v is None or pd.isna(v) else float(v)
        base = row[keys[0]]
        for k in keys[1:]:
            if unit == "fraction":  # differences of fractions in percentage points
                row[f"{k}_diff"] = (row[k] - base) if row[k] is not None and base is not None else None
            else:
                row[f"{k}_diff"] = (100.0 * (row[k] - base) / abs(base)) if row[k] is not None and base else None
        rows.append(row)
    labels = column_headers(df)
    full = list(df["name"] if "name" in df.columns else df["label"])
    pct = {"function": "params.value == null ? '' : (params.data.unit == 'fraction' ? hwsimUnit(params.value, 'pp')"
                       " : (Math.abs(params.value) >= 1000 ? d3.format('+,.0f')(params.value) : "
                       "d3.format('+.3~r')(params.value)) + ' %')"}
    cols = [{"field": "metric", "headerName": "", "pinned": "left", "minWidth": 200,
             "cellClassRules": {"fw-semibold": "params.data.kind == 'differs'"}}]
    unit_fmt = {"function": "params.data.unit == 'text' ? params.value : hwsimUnit(params.value, params.data.unit)"}
    cols += [{"field": k, "headerName": lab, "headerTooltip": f"{name} ({pid})", "valueFormatter": unit_fmt,
              "type": "rightAligned", "minWidth": 110, "wrapText": True, "autoHeight": True}
             for k, lab, name, pid in zip(keys, labels, full, df["id"])]
    cols += [{"field": f"{k}_diff", "headerName": f"Δ {lab}", "headerTooltip": f"{name} vs {full[0]}",
              "valueFormatter": pct, "minWidth": 110,
              "type": "rightAligned", "cellClassRules": {"text-success": "params.value < 0 && params.data.better == 'min'"
                                                         " || params.value > 0 && params.data.better == 'max'",
                                                         "text-danger": "params.value > 0 && params.data.better == 'min'"
                                                         " || params.value < 0 && params.data.better == 'max'"}}
             for k, lab, name in zip(keys[1:], labels[1:], full[1:])]
    return rows, cols


def short(label: str, width: int = 18) -> str:
    """Short column headers (the full label is the header's tooltip)."""
    s = str(label)
    return s if len(s) <= width else s[:width - 1] + "…"


def layer_series(data: StoreData, pid: str, quantity: str, phase: str) -> pd.Series:
    lay = data.layers(pid)
    if QUANTITIES[quantity][1] == "prefix":
        wide = per_layer(lay, quantity, phase)
        return wide.sum(axis=1) if wide.shape[1] else pd.Series(dtype=float)
    return per_layer_value(lay, quantity, phase)


def register(app: dash.Dash, data: StoreData) -> None:
    @app.callback(Output("cmp-select", "options"), Input("cmp-version", "data"), Input("cmp-select", "search_value"),
                  Input("cmp-select", "value"))
    def options(_v, typed, current):
        """A search, not one option per point: matches of what is typed plus the points already picked."""
        from .point import select_options

        if ctx.triggered_id == "cmp-version" and ctx.triggered and len(ctx.triggered) == 1:
            raise dash.exceptions.PreventUpdate   # a commit: the list is a search, asked again by typing
        return select_options(data, typed or "", list(current or []))

    @app.callback(Output("cmp-metrics", "rowData"), Output("cmp-metrics", "columnDefs"),
                  Output("cmp-ratio-box", "children"), Output("cmp-layers-box", "children"),
                  Output("cmp-layer-grid", "rowData"), Output("cmp-layer-grid", "columnDefs"),
                  Output("cmp-phases-box", "children"),
                  Output("cmp-shown", "data"),
                  Input("cmp-select", "value"), Input("cmp-quantity", "value"), Input("cmp-phase", "value"),
                  Input("cmp-version", "data"), Input("tabs", "active_tab"), State("cmp-shown", "data"))
    def update(ids, quantity, phase, version, tab, shown):
        # Drawn when the page is shown (once per selection and store version), not into a hidden page.
        key = repr((ids, quantity, phase, version))
        if tab != "tab-compare" or key == shown:
            raise dash.exceptions.PreventUpdate
        rows, cols, ratio, layers, lrows, lcols, phases = _update(ids, quantity, phase)
        return rows, cols, _box("cmp-ratio", ratio), _box("cmp-layers", layers), lrows, lcols, \
            _box("cmp-phases", phases), key

    def _update(ids, quantity, phase):
        ids = list(ids or [])
        df = data.done_points()
        df = df.set_index("id").reindex([i for i in ids if i in set(df["id"])]).reset_index() if not df.empty else df
        if len(df) < 1:
            empty = figures.empty_figure("Pick two or more design points to compare")
            return [], [], empty, empty, [], [], empty
        rows, cols = metrics_table(df)
        ratio = figures.compare_metrics_figure(df, [m for m in METRICS if df[m].notna().all()])
        labels = [f"{n} ({pid[:6]})" for n, pid in zip(df.get("name", df["label"]), df["id"])]
        series = {lab: layer_series(data, pid, quantity, phase) for lab, pid in zip(labels, df["id"])}
        qlabel = QUANTITIES[quantity][0]
        where = "training step" if phase == "train" else phase.replace("_", " ")
        qunit = {"energy_pj": "pJ", "macs": "MACs", "traffic_bytes": "bytes", "cycles": "cycles"}.get(quantity, "")
        lfig = figures.compare_layers_figure(series, f"{qlabel} per layer, {where}", qlabel, unit=qunit)
        table = pd.DataFrame(series)
        lrows, lcols = [], [{"field": "layer", "pinned": "left"}]
        if not table.empty:
            keys = [f"p{i}" for i in range(len(labels))]
            for layer, r in table.iterrows():
                row = {"layer": layer, **{k: (None if pd.isna(v) else float(v)) for k, v in zip(keys, r)}}
                for k in keys[1:]:
                    b = row[keys[0]]
                    row[f"{k}_diff"] = (row[k] - b) if row[k] is not None and b is not None else None
                lrows.append(row)
            lcols += [{"field": k, "headerName": lab, "valueFormatter": NUMBER_FORMAT, "type": "rightAligned"}
                      for k, lab in zip(keys, labels)]
            lcols += [{"field": f"{k}_diff", "headerName": f"{lab} minus baseline", "valueFormatter": NUMBER_FORMAT,
                       "type": "rightAligned"} for k, lab in zip(keys[1:], labels[1:])]
        names = [f"{n} ({pid[:6]})" for n, pid in zip(df["name"], df["id"])]
        phases = figures.phase_energy_figure({n: data.layers(pid) for n, pid in zip(names, df["id"])},
                                             "Energy per phase by component")
        return rows, cols, ratio, lfig, lrows, lcols, phases
