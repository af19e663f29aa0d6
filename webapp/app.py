"""The hwsim dashboard: ``create_app(db_path) -> dash.Dash``.

Four pages behind one navbar: Explore (Pareto explorer, points table, export), Design point
(per-layer drill-down), Compare (two or more points side by side) and Sweep status (live
progress). Every page stays in the layout and tabs only show or hide them, so control
values survive switching pages. A ``dcc.Interval`` polls the store's version (two file
stats); pages re-read only when a writer has committed. Never trains, never imports torch.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from hwsim import __version__

from . import guard
from .data import StoreData
from .pages import compare, explore, point, status

ASSETS = Path(__file__).with_name("assets")
# plotly.js with only the traces the pages draw (scatter, bar, heatmap, parcoords): 1.4 MB against the full
# bundle's 4.8 MB, which a first visit would otherwise parse. Built by webapp/plotly/build.js.
PLOTLY_JS = Path(__file__).with_name("plotly") / "plotly-hwsim.min.js"
# the pages follow a writing sweep at most this often: every other poll at a 1 s refresh, a little under
# 2 s so that a poll that comes a few ms early does not put the commit off by a whole further poll
MIN_REDRAW_S = 1.8
SETTLE_S = 3.0       # a store that has not moved for this long has settled: appended figures are drawn whole
# the store version of each part that draws only while shown: (store id, the tab it shows on)
PAGE_VERSIONS = {"pt-version": "tab-point", "cmp-version": "tab-compare", "st-version": "tab-status",
                 "ex-pc-version": "tab-explore"}
PAGES = (
    ("explore", "Explore", explore),
    ("point", "Design point", point),
    ("compare", "Compare", compare),
    ("status", "Sweep status", status),
)


def create_app(db_path: str | Path, refresh_ms: int = 2000, host: str = "127.0.0.1") -> dash.Dash:
    """Build the dashboard for the results store at ``db_path`` (which may not exist yet), guarded
    (:mod:`webapp.guard`) for a server bound to ``host``."""
    data = StoreData(db_path)
    app = dash.Dash(
        __name__,
        title="hwsim dashboard",
        assets_folder=str(ASSETS),
        # Bootstrap (Bootswatch Flatly) is served from assets/: no CDN, works offline.
        external_stylesheets=[],
        serve_locally=True,
        update_title=None,
    )
    # A function (every page load gets the store's current version) that reads no point: Dash evaluates
    # the layout when it is assigned, and neither the server's start nor a page load may wait on 50,000
    # points. Every control is filled by its callback on the first request.
    app.layout = lambda: _layout(data, refresh_ms)
    _register(app, data)
    for _, _, page in PAGES:
        page.register(app, data)
    _serve_plotly(app)
    app.hwsim_data = data  # for tests and the serve verb
    guard.install(app, host)
    return app


def _serve_plotly(app: dash.Dash) -> None:
    """Answer dcc.Graph's request for plotly.js with the dashboard's partial bundle. When serving locally,
    dash-renderer points dcc.Graph at this fixed URL (``window._dashPlotlyJSURL``) and loads it after the
    layout, beside the first callbacks; a more specific Flask rule than Dash's component-suite route wins.
    The ETag lets a second visit revalidate (304) and reuse the browser's cached, compiled script."""
    from flask import send_file

    url = f"{app.config.routes_pathname_prefix}_dash-component-suites/plotly/package_data/plotly.min.js"
    # Also named by the page itself, deferred: fetched with the other scripts and compiled while the page
    # waits for its layout (the opening figure, explore.opening), not after it; dcc.Graph then finds
    # window.Plotly and loads nothing.
    app.config.external_scripts.append({"src": url, "defer": "defer"})
    # dcc.Graph's own code is a webpack chunk loaded on first use: named in the page too, it registers
    # itself as loaded, and a plot sent with the layout is drawn without a request that would queue
    # behind the page's first callbacks (a browser opens 6 connections to a host; those callbacks hold
    # them while the server reads the store)
    app.config.external_scripts.append(
        {"src": f"{app.config.routes_pathname_prefix}_dash-component-suites/dash/dcc/async-graph.js",
         "defer": "defer"})
    app.server.add_url_rule(url, "hwsim_plotly_js", lambda: send_file(
        PLOTLY_JS, mimetype="application/javascript", max_age=0, conditional=True, etag=True))


def warm(app: dash.Dash) -> None:
    """Read the store and compute what a first page asks for (run in the background as the server
    starts). Only a head start: a store it cannot read is reported by the pages, not here."""
    try:
        explore.warm(app.hwsim_data)
    except Exception:   # noqa: BLE001 - the callbacks compute the same on demand and show any error
        pass


def _layout(data: StoreData, refresh_ms: int):
    active = "tab-explore"
    navbar = dbc.Navbar(
        dbc.Container([
            dbc.NavbarBrand([html.Span("hwsim", className="fw-bold"), html.Span(" dashboard", className="fw-light")],
                            className="me-3"),
            dbc.Tabs([dbc.Tab(label=label, tab_id=f"tab-{key}") for key, label, _ in PAGES],
                     id="tabs", active_tab=active, class_name="hwsim-tabs border-0 flex-grow-1"),
            html.Div([
                html.Span(str(data.path), id="store-path", className="text-white-50 small me-2 d-none d-lg-inline",
                          title="results store"),
                dbc.Badge("...", id="status-badge", color="light", pill=True, class_name="fs-6"),
            ], className="d-flex align-items-center"),
        ], fluid=True),
        color="primary", dark=True, sticky="top", class_name="mb-3 py-1",
    )
    # the opening view, when the server has drawn it (or does so within explore.OPENING_WAIT_S): the page
    # then arrives with its plot and the version that plot shows; never for Dash's own check of the
    # layout on the server's first request
    opening = explore.opening(data) if _page_load() else None
    pages = [html.Div(page.layout(opening) if page is explore else page.layout(), id=f"page-{key}",
                      style={"display": "block" if active == f"tab-{key}" else "none"})
             for key, _, page in PAGES]
    return html.Div([
        dcc.Location(id="url", refresh=False),
        # Written by the view (axes, filters, point); a second Location so the dependency graph
        # has no cycle (url -> controls -> url), while the browser's address follows the view.
        dcc.Location(id="url-out", refresh=False),
        dcc.Interval(id="interval", interval=refresh_ms, n_intervals=0),
        dcc.Store(id="store-version", data=opening.version if opening else repr(data.version())),
        # the version once the store has not moved for SETTLE_S: a figure a sweep's commits appended to is
        # then drawn whole (its front and density brought up to date) once, not on every commit
        dcc.Store(id="store-settled", data=opening.version if opening else repr(data.version())),
        # the version as each hidden-until-opened part sees it: moved on only while that part shows
        # (_register's fan-out), so a commit fires no request for a page nobody looks at
        *[dcc.Store(id=store, data=opening.version if opening else repr(data.version())) for store in PAGE_VERSIONS],
        navbar,
        dbc.Container([html.Div(id="store-alert"), *pages,
                       html.Footer(f"hwsim {__version__}: results store {data.path}",
                                   className="text-muted small mt-4 mb-2")],
                      fluid=True, class_name="px-4"),
    ])


def _page_load() -> bool:
    """Whether the layout is asked for by a page (``_dash-layout``), not by Dash's first-request check."""
    from flask import has_request_context, request

    return has_request_context() and request.path.endswith("_dash-layout")


def _register(app: dash.Dash, data: StoreData) -> None:
    # Not called on load: the layout carries the version, so the pages' first render waits on nothing.
    # A sweep committing every second would have every page redraw every second; the pages move on at
    # most every MIN_REDRAW_S, so a user's own changes (an axis, a filter) keep their turn. A page is
    # sent only a version whose points are read (read ahead in the background, so the poll answers at
    # once): the page's callbacks then find its points read, and a change the user makes meanwhile is
    # answered from the version the page still shows.
    last = {"t": 0.0, "seen": None, "moved": 0.0}

    @app.callback(Output("store-version", "data"), Output("ex-table-key", "data", allow_duplicate=True),
                  Output("store-settled", "data"), Input("interval", "n_intervals"), State("store-version", "data"),
                  State("ex-table-key", "data"), State("store-settled", "data"), prevent_initial_call=True)
    def poll(n, current, table, settled):
        # the table follows the version the page shows, once explore.TABLE_FOLLOW_S has passed since it last
        # did (commits in between left it as it was)
        caught = explore.table_key(table, current, table.get("view"), time.time()) if isinstance(table, dict) \
            else None
        caught = dash.no_update if caught is None else caught
        now = time.monotonic()
        version = repr(data.version())
        if version != last["seen"]:
            last["seen"], last["moved"] = version, now
        if n and version == current:
            quiet = now - last["moved"] >= SETTLE_S and settled != current
            return dash.no_update, caught, current if quiet else dash.no_update
        read = data.read_ahead()
        if read is None or read == current or now - last["t"] < MIN_REDRAW_S:
            return dash.no_update, caught, dash.no_update
        last["t"] = now
        return read, caught, dash.no_update

    # In the browser, no request: a new version reaches a page's callbacks only while it shows (and the
    # parallel coordinates only while open); opening one brings it the version it missed.
    app.clientside_callback(
        """function (version, tab, pcOpen) {
            const keep = window.dash_clientside.no_update;
            return TABS.map(function (t, i) { return t === tab && (i !== PC || pcOpen) ? version : keep; });
        }""".replace("TABS", json.dumps(list(PAGE_VERSIONS.values())))
        .replace("PC", str(list(PAGE_VERSIONS).index("ex-pc-version"))),
        [Output(store, "data") for store in PAGE_VERSIONS], Input("store-version", "data"),
        Input("tabs", "active_tab"), Input("ex-pc-show", "value"))

    @app.callback(Output("status-badge", "children"), Output("status-badge", "color"),
                  Output("store-alert", "children"), Input("store-version", "data"))
    def store_state(version):
        with data.at_version(version):   # filed under the version as it was read (StoreData.refresh)
            st = data.state()
        if not st.ok:
            alert = dbc.Alert([
                html.H5("No results to show yet" if st.kind != "invalid" else "Cannot read the results store",
                        className="alert-heading"),
                html.P(st.message),
                *([html.P(["Create results with ", html.Code(st.hint, id="create-hint"),
                           " (the quickstart sweep). This page refreshes by itself "
                           "while the sweep writes."], className="mb-0")] if st.hint else []),
            ], color="warning" if st.kind != "invalid" else "danger", id="store-message")
        else:
            alert = None
        c = st.counts
        if st.kind in ("missing", "invalid"):
            return ("no store" if st.kind == "missing" else "unreadable store"), "secondary", alert
        text = f"{c.get('done', 0)} done" + (f", {c['running']} running" if c.get("running") else "") + (
            f", {c['failed']} failed" if c.get("failed") else "")
        color = "danger" if c.get("failed") else ("info" if c.get("running") else "success")
        return text, color, alert

    @app.callback([Output(f"page-{key}", "style") for key, _, _ in PAGES], Input("tabs", "active_tab"))
    def show_page(active):
        return [{"display": "block" if active == f"tab-{key}" else "none"} for key, _, _ in PAGES]
