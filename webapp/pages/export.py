"""Downloads shared by the pages: cost reports and figures, both built on the server from the store.

A figure export never renders a figure the browser sent: a client-supplied figure could carry
``layout.images`` pointing at any URL or local file, which the renderer would fetch and embed.
The callbacks pass the page's control values and the server rebuilds the figure.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import dash
import plotly.graph_objects as go
from dash import dcc

from .. import figures
from ..data import StoreData

FIGURE_FORMATS = ("png", "svg", "html")


def report_download(data: StoreData, ids: list[str], fmt: str) -> dict:
    """Write the cost report with :func:`hwsim.reports.export` into a temporary folder; send its bytes.

    Raises :class:`hwsim.errors.UserError` (unknown point, unknown format) for the caller to show."""
    from hwsim.reports import export

    with tempfile.TemporaryDirectory(prefix="hwsim-report-") as tmp:
        path = export(data.path, ids, fmt, tmp, command="hwsim serve (dashboard export)")
        return dcc.send_bytes(Path(path).read_bytes(), Path(path).name)


def figure_download(fig: go.Figure | None, fmt: str, stem: str) -> dict:
    """A server-built figure as PNG/SVG (kaleido + system chromium) or standalone HTML."""
    if not isinstance(fig, go.Figure):  # never a dict from the browser
        raise dash.exceptions.PreventUpdate
    if fmt not in FIGURE_FORMATS:
        raise dash.exceptions.PreventUpdate
    fig = go.Figure(fig)
    fig.layout.images = ()  # the server's figures have none; nothing may make the renderer fetch
    return dcc.send_bytes(figures.figure_bytes(fig, fmt), f"{stem}.{fmt}")
