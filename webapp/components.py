"""Small UI pieces shared by the pages: AG Grid tables, labelled controls, figure downloads."""

from __future__ import annotations

import math
from typing import Any, TypedDict

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

# Numbers in grids: 4 significant digits, thousands separators for big ones (JS, runs in AG Grid).
NUMBER_FORMAT = {"function": "params.value == null ? '' : (Math.abs(params.value) >= 1e4 || "
                             "(Math.abs(params.value) < 1e-3 && params.value != 0) ? "
                             "d3.format('.4~s')(params.value) : d3.format(',.4~g')(params.value))"}


class GridOptions(TypedDict, total=False):
    """The AG Grid options (``dashGridOptions``) the dashboard's tables set."""

    animateRows: bool
    enableCellTextSelection: bool
    ensureDomOrder: bool
    suppressFieldDotNotation: bool
    tooltipShowDelay: int
    suppressColumnVirtualisation: bool
    rowSelection: dict[str, str | bool]
    cacheBlockSize: int
    maxBlocksInCache: int
    infiniteInitialRowCount: int


def grid(grid_id: str, column_defs: list[dict], row_data: list[dict] | None = None, height: int = 360,
         selectable: bool = False, size: str = "responsiveSizeToFit", **kw: Any) -> dag.AgGrid:
    """A sortable, filterable AG Grid; ``selectable`` adds row checkboxes (multi-row selection)."""
    # Fields such as "energy_pj.dram" are names, not paths into nested objects.
    options = GridOptions(animateRows=False, enableCellTextSelection=True, ensureDomOrder=True,
                          suppressFieldDotNotation=True, tooltipShowDelay=300, suppressColumnVirtualisation=True)
    if selectable:
        # The infinite row model cannot tick "all" (most rows are not in the browser).
        options["rowSelection"] = {"mode": "multiRow", "checkboxes": True,
                                   "headerCheckbox": kw.get("rowModelType") != "infinite",
                                   "enableClickSelection": False}
    if kw.get("rowModelType") == "infinite":
        options.update(cacheBlockSize=100, maxBlocksInCache=20, infiniteInitialRowCount=1)
    return dag.AgGrid(
        id=grid_id, columnDefs=column_defs, columnSize=size,
        **({} if kw.get("rowModelType") == "infinite" else {"rowData": row_data or []}),
        defaultColDef={"sortable": True, "filter": True, "resizable": True, "floatingFilter": False,
                       "minWidth": 80, "wrapHeaderText": True, "autoHeaderHeight": True},
        dashGridOptions=options, style={"height": f"{height}px", "width": "100%"},
        getRowId="params.data.id" if selectable else None, **kw,
    )


def metric_column(name: str, header: str | None = None, values=None) -> dict:
    """A numeric column in the one unit style (hwsim/units.py): mJ, kB, M cycles, %. With ``values``, one
    prefix for the whole column (``4.43 mJ`` over ``0.51 mJ``)."""
    from . import units

    label = header or units.label_of(name)
    return {"field": name, "headerName": label, "type": "rightAligned", "minWidth": 120,
            "filter": "agNumberColumnFilter", "valueFormatter": units.js_format(name, values),
            "headerTooltip": f"{units.label_of(name)} ({name})"}


def records(df, columns: list[str], digits: int | None = None) -> list[dict]:
    """DataFrame rows as JSON-safe dicts (NaN -> None); floats to ``digits`` significant digits
    when given (what a grid shows, at a third of the bytes of full precision)."""
    def num(v: float) -> float | None:
        if math.isnan(v):
            return None
        return float(f"{v:.{digits}g}") if digits else v

    return [{k: (num(v) if isinstance(v, float) else v) for k, v in row.items()}
            for row in df[[c for c in columns if c in df.columns]].to_dict("records")]


def labelled(label: str, control, help_text: str | None = None) -> html.Div:
    return html.Div([dbc.Label(label, class_name="small fw-semibold mb-1"), control,
                     *([dbc.FormText(help_text)] if help_text else [])], className="mb-2")


def dropdown(id_: str, options: list, value=None, multi: bool = False, clearable: bool = False,
             placeholder: str | None = None) -> dcc.Dropdown:
    return dcc.Dropdown(id=id_, options=options, value=value, multi=multi, clearable=clearable,
                        placeholder=placeholder, className="hwsim-dropdown")


def download_bar(prefix: str, what: str, formats=("png", "svg", "html")) -> html.Div:
    """Format picker + button + dcc.Download; ids ``{prefix}-fmt``, ``{prefix}-btn``, ``{prefix}-download``."""
    return html.Div([
        dbc.InputGroup([
            dbc.InputGroupText(what),
            dbc.Select(id=f"{prefix}-fmt", options=[{"label": f.upper(), "value": f} for f in formats],
                       value=formats[0], style={"maxWidth": "6rem"}),
            dbc.Button("Download", id=f"{prefix}-btn", color="primary", outline=True),
        ], size="sm"),
        dcc.Download(id=f"{prefix}-download"),
    ], className="d-inline-block me-2 mb-2")
