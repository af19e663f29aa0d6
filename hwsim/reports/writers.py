"""One writer per export format, registered by name; each renders a ReportDocument.

csv   one row per (point, layer, phase)
json  the whole document, versioned (report.schema.json)
xlsx  sheets: Summary, Layers, MAC types, Traffic, Energy, Cycles, Assumptions, Comparison, Provenance
html  one standalone file: plotly.js inlined (works offline), charts, tables, assumptions, provenance
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwsim import units
from hwsim.registry import Registry
from hwsim.reports.cells import safe_frame
from hwsim.reports.document import GROUPS, ReportDocument

if TYPE_CHECKING:
    from hwsim.jsondoc import Json

Writer = Callable[[ReportDocument, Path], None]
WRITERS: Registry[Writer] = Registry("report format")
EXTENSIONS = {"csv": ".csv", "json": ".json", "xlsx": ".xlsx", "html": ".html"}

POINT_ID_COLUMNS = ("point", "label", "model", "dataset", "scheme", "tech", "accelerator")


def flatten(d: Json, prefix: str = "") -> dict[str, Json]:
    """A document's nested dicts/lists -> {"a.b.0.c": value} (lists of scalars as JSON text); used for the
    Assumptions sheet and table."""
    out: dict[str, Json] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(d, list) and d and all(isinstance(x, (dict, list)) for x in d):
        for i, v in enumerate(d):
            out.update(flatten(v, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = json.dumps(d) if isinstance(d, list) else d
    return out


def layer_frame(doc: ReportDocument):
    """All per-layer rows of all points as one DataFrame, identifying columns first."""
    import pandas as pd

    cols = doc.layer_columns
    recs = []
    for p in doc.points:
        ident = {"point": p.id, "label": p.label, **{k: p.columns.get(k) for k in POINT_ID_COLUMNS[2:]}}
        for row in p.layers:
            recs.append({**ident, "layer": row.layer, "phase": row.phase, **{c: row.figures.get(c) for c in cols}})
    return pd.DataFrame(recs, columns=[*POINT_ID_COLUMNS, "layer", "phase", *cols])


def summary_frame(doc: ReportDocument):
    import pandas as pd

    recs = []
    for p in doc.points:
        recs.append({"point": p.id, "label": p.label, "status": p.status, **p.columns,
                     **{m: p.metrics.get(m) for m in doc.metric_names}})
    return pd.DataFrame(recs)


def comparison_frame(doc: ReportDocument):
    """Metrics side by side, and each point's ratio to the first point."""
    import pandas as pd

    base = doc.points[0]
    recs = []
    for m in doc.metric_names:
        row: dict[str, str | float | None] = {"metric": m}
        for p in doc.points:
            row[p.label if p.label not in row else p.id[:12]] = p.metrics.get(m)
        b = base.metrics.get(m)
        for p in doc.points[1:]:
            v = p.metrics.get(m)
            row[f"{p.id[:8]} / {base.id[:8]}"] = (v / b) if (v is not None and b) else None
        recs.append(row)
    return pd.DataFrame(recs)


def assumptions_frame(doc: ReportDocument):
    import pandas as pd

    recs = []
    for p in doc.points:
        for section, value in (("config", p.config), ("assumptions", p.assumptions), ("versions", p.versions)):
            for k, v in flatten(value).items():
                recs.append({"point": p.id, "section": section, "key": k, "value": v})
    return pd.DataFrame(recs, columns=["point", "section", "key", "value"])


def hardware_frame(doc: ReportDocument):
    """The resolved accelerator (every field) and its area breakdown, one row per item and point:
    section ``hardware`` (field, value) or ``area`` (component, mm2, the rule that made it)."""
    import pandas as pd

    recs = []
    for p in doc.points:
        hw = p.assumptions.get("accelerator") or {}
        for k, v in flatten({k: v for k, v in hw.items() if k != "trace"}).items():
            recs.append({"point": p.id, "section": "hardware", "item": k, "value": v, "rule": ""})
        area = p.assumptions.get("area") or {}
        rules = area.get("rules", {})
        for comp, mm2 in (area.get("breakdown_mm2") or {}).items():
            rule = rules.get(comp) or rules.get(comp.split("_")[0] if comp.startswith("sram") else comp, "")
            recs.append({"point": p.id, "section": "area", "item": f"{comp}_mm2", "value": mm2, "rule": rule})
        if area:
            recs.append({"point": p.id, "section": "area", "item": "total_mm2", "value": area.get("total_mm2"),
                         "rule": f"at {area.get('node_nm'):g} nm; {rules.get('node', '')}"})
    return pd.DataFrame(recs, columns=["point", "section", "item", "value", "rule"])


@WRITERS.register("csv")
def write_csv(doc: ReportDocument, path: Path) -> None:
    safe_frame(layer_frame(doc)).to_csv(path, index=False)


@WRITERS.register("json")
def write_json(doc: ReportDocument, path: Path) -> None:
    path.write_text(json.dumps(doc.to_dict(), indent=2, sort_keys=False, default=str))


@WRITERS.register("xlsx")
def write_xlsx(doc: ReportDocument, path: Path) -> None:
    import pandas as pd

    layers = layer_frame(doc)
    ident = [*POINT_ID_COLUMNS, "layer", "phase"]

    def pick(*prefixes: str, names: tuple[str, ...] = ()):
        cols = [c for c in layers.columns if c.startswith(prefixes) or c in names]
        return layers[ident + cols]

    provenance = pd.DataFrame(
        [{"key": k, "value": json.dumps(v) if isinstance(v, list) else v} for k, v in doc.provenance.items()]
    )
    sheets = {
        "Summary": summary_frame(doc),
        "Layers": layers,
        "MAC types": pick(GROUPS["macs"], GROUPS["effectual_macs"]),
        "Traffic": pick(GROUPS["traffic"]),
        "Energy": pick(GROUPS["energy"]),
        "Cycles": pick(GROUPS["sram"], GROUPS["dram"],
                       names=("cycles", "compute_cycles", "stall_cycles", "utilization", "mapping_efficiency")),
        "Hardware": hardware_frame(doc),
        "Assumptions": assumptions_frame(doc),
        "Comparison": comparison_frame(doc),
        "Provenance": provenance,
    }
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, df in sheets.items():
            safe_frame(df).to_excel(xw, sheet_name=name, index=False)
            ws = xw.sheets[name]
            ws.freeze_panes = "A2"
            for j, col in enumerate(ws.columns):
                fmt = excel_format(str(df.columns[j]), df.iloc[:, j]) if j < len(df.columns) else None
                if fmt:   # the cells keep the store's value; the display is in the unit style
                    for c in col[1:]:
                        c.number_format = fmt
                # readable widths when opened in a spreadsheet program
                width = max(len(str(c.value)) if c.value is not None else 0 for c in col[:200])
                ws.column_dimensions[col[0].column_letter].width = min(max(10, width + 2), 60 if not fmt else 18)


def excel_format(column: str, values) -> str | None:
    """A spreadsheet display format in the one unit style for a column of store values: Excel divides by
    1000 per trailing comma, so a pJ column shows ``12.35 mJ`` while its cell keeps the pJ figure."""
    unit = units.unit_of(column)
    nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not nums:
        return None
    if unit == "fraction":
        return "0.0%"
    if unit not in units.DISPLAY or unit in units.NO_PREFIX or not unit:
        return "#,##0.####" if any(abs(v) >= 1e4 for v in nums) else None
    sc = units.column_scale(nums, unit)
    # store value -> shown number is a division by 1000**k (pJ -> mJ: 1e9, k = 3)
    k = round(-math.log10(sc.factor) / 3) if sc.factor > 0 else 0
    if k < 0 or not math.isclose(sc.factor, 1000.0 ** -k, rel_tol=1e-9):
        return "#,##0.###"
    suffix = sc.suffix.replace('"', "")
    return f'#,##0.00{"," * k}" {suffix.strip()}"'


# -- HTML ------------------------------------------------------------------------------------

def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return units.fmt(v, "", 6)
    return str(v)


def _table(df, table_id: str | None = None, unit_of=units.unit_of, row_units: list[str] | None = None,
           row_unit_columns: int = 0) -> str:
    """An HTML table; numeric columns in the unit style, one prefix per column (its unit in the header),
    or with ``row_units`` one unit per row for the ``row_unit_columns`` after the first (a comparison)."""
    scales: dict[int, units.Scale] = {}
    heads = []
    for j, c in enumerate(df.columns):
        unit = unit_of(str(c)) if row_units is None else ""
        nums = [v for v in df.iloc[:, j] if isinstance(v, (int, float)) and not isinstance(v, bool) and not _isnan(v)]
        if unit and nums and unit in units.DISPLAY or unit == "fraction" and nums:
            scales[j] = units.column_scale(nums, unit)
            name = units.label_of(str(c))   # energy_pj.dram -> energy: DRAM (the store's name is data-k)
            heads.append(f"{name} ({scales[j].unit_text})" if scales[j].unit_text else name)
        else:
            heads.append(str(c))
    # data-k / data-v keep the column's name and each figure's exact value for programs reading the file
    head = "".join(f'<th data-k="{html.escape(str(c))}">{html.escape(h)}</th>' for c, h in zip(df.columns, heads))
    body = []
    for i, row in enumerate(df.itertuples(index=False)):
        cells = []
        for j, v in enumerate(row):
            v = None if _isnan(v) else (v.item() if hasattr(v, "item") else v)
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            cls = ' class="num"' if num else ""
            if num and j in scales:
                text = units.fmt(v, scales[j].unit, 4, scale=scales[j], unit_text=False)
            elif num and row_units is not None and 0 < j <= row_unit_columns and row_units[i]:
                text = units.fmt(v, row_units[i], 4)
            elif num and row_units is not None and j > row_unit_columns:   # x first point: 0.761×, not 761m
                text = units.fmt(v, "ratio", 4)
            else:
                text = _fmt(v)
            exact = f' data-v="{v!r}"' if num else ""
            cells.append(f"<td{cls}{exact}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    tid = f' id="{html.escape(table_id)}"' if table_id else ""
    return f'<div class="tw"><table{tid}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and v != v


def _figures(doc: ReportDocument) -> list[tuple[str, Any]]:
    """Per point: energy by component per layer, MAC-type mix, traffic by tensor class, cycles."""
    import plotly.graph_objects as go

    figs = []
    for p in doc.points:
        for prefix, title, unit in (
            (GROUPS["energy"], "Energy by component", "pJ"),
            (GROUPS["macs"], "MACs by MAC type", "MACs"),
            (GROUPS["traffic"], "Traffic by tensor class", "bytes"),
        ):
            agg: dict[str, dict[str, float]] = {}
            layers: list[str] = []
            for row in p.layers:
                if row.layer not in layers:
                    layers.append(row.layer)
                for k, v in row.figures.items():
                    if k.startswith(prefix) and isinstance(v, (int, float)):
                        agg.setdefault(k[len(prefix):], {}).setdefault(row.layer, 0.0)
                        agg[k[len(prefix):]][row.layer] += v
            if not agg:
                continue
            factor, sym = units.DISPLAY[unit]   # drawn in the base unit (J, B) with SI ticks
            fig = go.Figure([go.Bar(name=comp, x=layers, y=[vals.get(la, 0.0) * factor for la in layers],
                                    hovertemplate=f"{comp}<br>%{{x}}: %{{y:.3~s}}{sym}<extra></extra>")
                             for comp, vals in sorted(agg.items())])
            fig.update_layout(barmode="stack", title=f"{p.label}: {title} per layer (all phases)",
                              height=420, margin=dict(l=60, r=20, t=50, b=120),
                              legend=dict(orientation="h", y=-0.35))
            fig.update_yaxes(title=title.split(" by ")[0], tickformat="~s", ticksuffix=sym, exponentformat="SI")
            figs.append((f"{p.id}-{prefix.rstrip('._')}", fig))
        cyc = [(r.layer, r.phase, r.figures["cycles"]) for r in p.layers if r.figures.get("cycles") is not None]
        if cyc:
            phases = sorted({c[1] for c in cyc})
            layers = list(dict.fromkeys(c[0] for c in cyc))
            fig = go.Figure([
                go.Bar(name=ph, x=layers, y=[sum(c[2] for c in cyc if c[0] == la and c[1] == ph) for la in layers])
                for ph in phases
            ])
            fig.update_layout(barmode="stack", title=f"{p.label}: cycles per layer by phase", yaxis_title="cycles",
                              height=420, margin=dict(l=60, r=20, t=50, b=120), legend=dict(orientation="h", y=-0.35))
            fig.update_yaxes(tickformat="~s", ticksuffix=" cycles", exponentformat="SI")
            figs.append((f"{p.id}-cycles", fig))
    return figs


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222;max-width:1400px}
h1{font-size:1.6rem} h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd} h3{font-size:1.05rem}
table{border-collapse:collapse;font-size:.8rem} th,td{border:1px solid #ddd;padding:2px 6px}
th{background:#f3f5f7;position:sticky;top:0} td.num{text-align:right;font-variant-numeric:tabular-nums}
.tw{max-height:480px;overflow:auto;margin:.5rem 0} .meta{color:#555;font-size:.85rem}
"""


@WRITERS.register("html")
def write_html(doc: ReportDocument, path: Path) -> None:
    import plotly.io as pio

    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>hwsim cost report: {html.escape(', '.join(p.label for p in doc.points))}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>hwsim cost report</h1>",
        "<p class='meta'>" + "<br>".join(
            f"<b>{html.escape(str(k))}</b>: {html.escape(json.dumps(v) if isinstance(v, list) else str(v))}"
            for k, v in doc.provenance.items()) + "</p>",
        "<h2>Summary</h2>", _table(summary_frame(doc), "summary"),
    ]
    if len(doc.points) > 1:
        cmp = comparison_frame(doc)
        # one metric per row: the points' values in its unit; the ratio columns (x first point) stay numbers
        parts += ["<h2>Comparison</h2>", _table(cmp, "comparison", row_units=[units.unit_of(m) for m in cmp["metric"]],
                                                row_unit_columns=len(doc.points))]
    first = True
    parts.append("<h2>Charts</h2>")
    for fid, fig in _figures(doc):
        # plotly.js is inlined once, so the file works offline with no network at all.
        parts.append(pio.to_html(fig, full_html=False, include_plotlyjs=True if first else False,
                                 div_id=f"fig-{fid}", config={"displaylogo": False}))
        first = False
    hw = hardware_frame(doc)
    if len(hw):
        parts += ["<h2>Hardware and area</h2>", _table(hw, "hardware")]
    parts += ["<h2>Per-layer figures</h2>", _table(layer_frame(doc), "layers")]
    parts += ["<h2>Assumptions</h2>", _table(assumptions_frame(doc), "assumptions")]
    parts.append(
        "<script type='application/json' id='hwsim-report'>"
        + json.dumps(doc.to_dict(), default=str).replace("</", "<\\/")
        + "</script>"
    )
    parts.append("</body></html>")
    path.write_text("".join(parts), encoding="utf-8")
