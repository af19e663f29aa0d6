"""Sweep status: live progress while a sweep writes to the store; failed points with reasons.

Refreshes without a reload: the app's ``dcc.Interval`` bumps ``store-version`` when a
writer commits, and this page re-reads the ``points`` table.
"""

from __future__ import annotations

import datetime as dt

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from .. import units
from ..components import grid
from ..data import StoreData

STATUS_COLORS = {"done": "success", "running": "info", "failed": "danger"}


def layout():
    def card(title, body):
        return dbc.Card([dbc.CardHeader(title, class_name="fw-semibold small"), dbc.CardBody(body)],
                        class_name="shadow-sm mb-3")

    return html.Div([
        dcc.Store(id="st-shown"),
        card("Progress", html.Div(id="st-summary")),
        card("Per sweep", grid("st-sweeps", [
            {"field": "sweep", "minWidth": 160}, {"field": "total", "type": "rightAligned"},
            {"field": "done", "type": "rightAligned"}, {"field": "failed", "type": "rightAligned"},
            {"field": "running", "type": "rightAligned"}, {"field": "queued", "type": "rightAligned"},
            {"field": "rate", "headerName": "points / min", "type": "rightAligned"},
            {"field": "eta", "headerName": "ETA"}, {"field": "elapsed", "headerName": "elapsed"},
            {"field": "groups", "type": "rightAligned",
             "headerTooltip": "groups of points trained and traced once, finished so far"},
            {"field": "group_wall", "headerName": "wall per group", "headerTooltip": "mean wall time of a group"}],
            height=180)),
        card("Groups (points trained and traced once; wall time per group)", grid("st-groups", [
            {"field": "sweep", "maxWidth": 160}, {"field": "label", "headerName": "group", "flex": 1, "minWidth": 180},
            {"field": "points", "type": "rightAligned"}, {"field": "done", "type": "rightAligned"},
            {"field": "failed", "type": "rightAligned"}, {"field": "started"}, {"field": "finished"},
            {"field": "wall", "headerName": "wall", "type": "rightAligned"}], height=240)),
        card("Failed points", grid("st-failed", [
            {"field": "id", "maxWidth": 150}, {"field": "label", "headerName": "design point", "minWidth": 180},
            {"field": "sweep", "maxWidth": 160}, {"field": "error", "headerName": "reason", "flex": 1,
                                                  "wrapText": True, "autoHeight": True, "minWidth": 300}],
            height=220)),
        card("Running now", grid("st-running", [
            {"field": "id", "maxWidth": 150}, {"field": "label", "headerName": "design point", "flex": 1},
            {"field": "sweep"}, {"field": "started"}], height=180)),
        card("Latest finished", grid("st-recent", [
            {"field": "id", "maxWidth": 150}, {"field": "label", "headerName": "design point", "flex": 1},
            {"field": "sweep"}, {"field": "finished"},
            {"field": "wall_s", "headerName": "wall (s)", "type": "rightAligned",
             "headerTooltip": "the point's own time; its group's training and tracing are under Groups",
             "valueFormatter": {"function": "params.value == null ? '' : d3.format('.3~f')(params.value)"}}],
            height=260)),
    ])


def _when(t) -> str | None:
    if t is None or t != t:  # NaN
        return None
    return dt.datetime.fromtimestamp(float(t), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _label(r) -> str:
    for k in ("name", "label"):   # the readable name (hwsim.labels), else the sweep's label
        if isinstance(r.get(k), str) and r.get(k):
            return r[k]
    return str(r.get("id"))[:12]


def _duration(s: float | None) -> str:
    if s is None or s != s:
        return ""
    s = int(round(s))
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


NO_SWEEP = "(no sweep)"


def sweep_rows(df, groups=None) -> list[dict]:
    """Per sweep: total (queued included, when the store records them), done, failed, running,
    throughput over the sweep's wall time (first start, of a group or a point, to last finish), the
    ETA at that rate, and how many groups finished with their mean wall time."""
    if df.empty:
        return []
    groups = groups if groups is not None and len(groups) else None
    out = []
    for name, g in df.groupby(df["sweep"].fillna(NO_SWEEP), sort=True):
        c = g["status"].value_counts().to_dict()
        done, failed, running = c.get("done", 0), c.get("failed", 0), c.get("running", 0)
        queued = sum(v for k, v in c.items() if k not in ("done", "failed", "running"))
        finished = g[g["status"].isin(["done", "failed"])]
        mine = groups[groups["sweep"].fillna(NO_SWEEP) == name] if groups is not None else None
        start = min(g["started"].min(), mine["started"].min()) if mine is not None and len(mine) else g["started"].min()
        end = finished["finished"].max() if len(finished) else None
        elapsed = (end - start) if end is not None and start == start and end == end else None
        rate = (done + failed) / elapsed * 60 if elapsed else None
        left = running + queued
        eta = _duration(left / rate * 60) if rate and left else ("finished" if not left else "")
        out.append({"sweep": name, "total": len(g), "done": done, "failed": failed, "running": running,
                    "queued": queued, "rate": units.rate(rate, "").strip() if rate else "", "eta": eta,
                    "elapsed": _duration(elapsed), "groups": len(mine) if mine is not None else 0,
                    "group_wall": _seconds(mine["wall_s"].mean()) if mine is not None and len(mine) else ""})
    return out


def _seconds(s: float | None) -> str:
    """A wall time: ``4.2 s`` below a minute, else ``3m 05s``."""
    if s is None or s != s:
        return ""
    return units.duration(s) if s < 60 else _duration(s)


def group_rows(groups, limit: int = 200) -> list[dict]:
    """The latest finished groups, newest first: each with its points and its wall time."""
    if groups is None or groups.empty:
        return []
    latest = groups.sort_values("finished", ascending=False, kind="stable").head(limit)
    return [{"sweep": r["sweep"] or NO_SWEEP, "label": r["label"] or r["key"], "points": len(r["points"]),
             "done": int(r["done"]), "failed": int(r["failed"]), "started": _when(r["started"]),
             "finished": _when(r["finished"]), "wall": _seconds(r["wall_s"])}
            for r in latest.to_dict("records")]


OUTPUTS = (("st-summary", "children"), ("st-failed", "rowData"), ("st-running", "rowData"),
           ("st-recent", "rowData"), ("st-sweeps", "rowData"), ("st-groups", "rowData"))


def register(app: dash.Dash, data: StoreData) -> None:
    @app.callback(*[Output(i, p) for i, p in OUTPUTS], Output("st-shown", "data"), Input("st-version", "data"),
                  Input("tabs", "active_tab"), State("st-shown", "data"))
    def update(version, tab, shown):
        # Read while the page is shown, once per store version (a sweep's commits), not behind the
        # Explore page a 50,000-point store opens on.
        if tab != "tab-status" or version == shown:
            raise dash.exceptions.PreventUpdate
        groups = data.groups()
        return (*_update(), sweep_rows(data.points(), groups), group_rows(groups), version)

    def _update():
        st = data.state()
        df = data.points()
        counts = st.counts
        total = sum(counts.values())
        finished = counts.get("done", 0) + counts.get("failed", 0)
        badges = [dbc.Badge(f"{n} {s}", color=STATUS_COLORS.get(s, "secondary"), class_name="me-2 fs-6",
                            id=f"st-count-{s}") for s, n in sorted(counts.items())]
        bars = [dbc.Progress(value=100 * counts.get(s, 0) / total, color=STATUS_COLORS[s], bar=True,
                             label=str(counts.get(s, 0)) if counts.get(s) else "")
                for s in ("done", "failed", "running") if total]
        summary = html.Div([
            html.Div(badges or [html.Span(st.message or "The store has no points yet.", className="text-muted")],
                     className="mb-2"),
            *([dbc.Progress(bars, style={"height": "1.4rem"}, class_name="mb-2")] if total else []),
            html.Div(f"{finished} of {total} recorded points finished ({total - finished} running). "
                     "Points appear here when the sweep starts them; this page updates by itself.",
                     className="small text-muted", id="st-text"),
        ])
        if df.empty:
            return summary, [], [], []
        # Only the rows shown are turned into dicts: a 50,000-point store must not be walked row by row.
        cols = [c for c in ("id", "name", "label", "sweep", "fail_reason", "started", "finished", "wall_s")
                if c in df.columns]
        failed = [{"id": r["id"][:12], "label": _label(r), "sweep": r.get("sweep"), "error": r.get("fail_reason")}
                  for r in df.loc[df["status"] == "failed", cols].to_dict("records")]
        running = [{"id": r["id"][:12], "label": _label(r), "sweep": r.get("sweep"), "started": _when(r.get("started"))}
                   for r in df.loc[df["status"] == "running", cols].to_dict("records")]
        done = df.loc[df["status"] == "done", cols]
        done = done.assign(_f=done["finished"].fillna(0)).nlargest(20, "_f", keep="first")
        recent = [{"id": r["id"][:12], "label": _label(r), "sweep": r.get("sweep"), "finished": _when(r.get("finished")),
                   "wall_s": r.get("wall_s") if r.get("wall_s") == r.get("wall_s") else None}
                  for r in done.to_dict("records")]
        return summary, failed, running, recent
