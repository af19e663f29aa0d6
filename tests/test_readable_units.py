"""One unit style everywhere a person reads a figure: the dashboard's pages, the CLI's tables, the reports.

Every page (Explore plot, table and controls; Design point; Compare; Sweep status) is asked for what it
shows through the callbacks the browser calls, every CLI verb with a table is run, every report format
written; none may show scientific notation (``6.822e+08``), a bare picojoule count above 10^4
(``3655000 pJ``), a store field name as a header (``energy_pj.total``) or a Python repr as a name.
"""

from __future__ import annotations

import re
import zipfile
from html.parser import HTMLParser

import pytest

from hwsim import labels, units
from hwsim.store import PointResult, Store

SCI = re.compile(r"(?<![#\w.])\d+(?:\.\d+)?[eE][+-]?\d+(?!\w)")   # 6.822e+08, 1e-05 (not #8e0152)
BARE_PJ = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*pJ(?!/)")  # 3,714,419 pJ (pJ/MAC is a small figure)
REPR = re.compile(r"\{'|\['|': ")                        # {'name': ...} or ['twn', ...]
RAW_FIELD = re.compile(r"\b\w+_pj\b|energy_pj\.")       # a store name as a header

# keys whose strings are data or code, not text a person reads
_SKIP_KEYS = {"bdata", "dtype", "id", "field", "colId", "customdata", "uirevision", "valueFormatter", "function",
              "getRowId", "className", "class_name", "style", "type", "namespace", "href", "data", "src",
              "tooltipField", "cellClass", "legendgroup", "xaxis", "yaxis", "key", "value", "template", "color",
              "colorscale", "bgcolor", "bordercolor", "fillcolor"}


def readable(obj, key: str | None = None, out: list[str] | None = None) -> list[str]:
    """Every string in a callback response a person reads (titles, ticks, hover templates, cells, names)."""
    out = [] if out is None else out
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in _SKIP_KEYS and not (k == "value" and key == "rowData"):
                continue
            readable(v, k, out)
    elif isinstance(obj, list):
        for v in obj:
            readable(v, key, out)
    elif isinstance(obj, str):
        out.append(obj)
    return out


def check_text(texts: list[str], where: str, headers: list[str] = ()) -> None:
    for t in texts:
        assert not SCI.search(t), f"{where}: scientific notation in {t[:200]!r}"
        for m in BARE_PJ.finditer(t):
            assert float(m.group(1).replace(",", "")) <= 1e4, f"{where}: a bare pJ count in {t[:200]!r}"
        assert not REPR.search(t), f"{where}: a Python repr in {t[:200]!r}"
    for h in headers:
        assert not RAW_FIELD.search(h), f"{where}: a store field name as a header: {h!r}"


# -- the formatter itself --------------------------------------------------------------------------------
@pytest.mark.parametrize("v,unit,want", [
    (3.714419111e13, "pJ", "37.1 J"), (6.822e8, "pJ", "682 µJ"), (3655, "pJ", "3.66 nJ"), (12, "pJ", "12 pJ"),
    (67889.5, "us", "67.9 ms"), (1.52e3, "s", "1.52 ks"), (2130, "bytes", "2.13 kB"), (4.428e9, "MACs", "4.43G MACs"),
    (1234, "cycles", "1,234 cycles"), (0.9123, "fraction", "91.2 %"), (5e-6, "mm2", "0.000005 mm²"),
    (59700, "", "59.7k"), (1e21, "TOPS/W", "1,000,000,000,000,000,000,000 TOPS/W"),
])
def test_fmt(v, unit, want):
    assert units.fmt(v, unit) == want


def test_one_prefix_per_column_and_no_exponent_anywhere():
    texts, sc = units.column([4.4e11, 1.2e12, 9.9e13, 3e8, None], "pJ")
    assert sc.unit_text == "J" and texts == ["0.44", "1.2", "99", "0.0003", ""]
    assert units.header("train_energy_pj_per_step", sc) == "Training energy per step (J)"
    for exp in range(-15, 25):
        for unit in ("pJ", "bytes", "cycles", "MACs", "us", "mm2", "TOPS/W", "", "W"):
            text = units.fmt(1.234 * 10.0 ** exp, unit)
            assert not SCI.search(text), (exp, unit, text)
    assert units.duration(1520) == "25 min 20 s" and units.rate(59700, "points/min") == "59,700 points/min"


def test_names_are_readable_and_tell_hardware_apart():
    mixed = {"name": "mixed", "compose": ["twn", {"name": "graham", "quantizer": "L4"}], "overrides": []}
    assert labels.scheme_name(mixed) == "twn+graham L4"
    assert labels.value_text(mixed["compose"]) == "twn+graham L4"
    hw = [{"array": {"rows": r, "cols": 16, "dataflow": df}, "clock_mhz": 500, "pe": {"kind": "int8"}}
          for r in (8, 32) for df in ("ws", "os")]
    cfgs = [{"model": {"name": "lenet300", "args": {}}, "scheme": {"name": "bnn"}, "accelerator": "tpu_like",
             "hardware": h} for h in hw]
    names = labels.design_names(cfgs)
    assert len(set(names)) == 4, names
    assert names[0] == "lenet300 · bnn · tpu_like 8x16 ws"      # only what varies: not the clock or PE


def test_names_tell_apart_sram_buffers_with_one_total():
    """A sweep that trades filter against output buffer keeps the SRAM total: the names show the buffers
    that vary (as the benchmark's 10,000-point hardware store does), whether read at once or point by point."""
    def cfg(filt, ofm, ifm=64.0):
        return {"model": {"name": "resnet18", "args": {}}, "scheme": {"name": "bnn"}, "accelerator": "tpu_like",
                "hardware": {"array": {"rows": 8, "cols": 8, "dataflow": "ws"}, "clock_mhz": 500,
                             "sram": {"ifmap_kb": ifm, "filter_kb": filt, "ofmap_kb": ofm}}}

    cfgs = [cfg(256.0, 256.0), cfg(128.0, 384.0), cfg(384.0, 128.0)]
    names = labels.design_names(cfgs)
    assert len(set(names)) == 3, names
    assert names[1] == "resnet18 · bnn · tpu_like filter 128 kB ofmap 384 kB"
    v = labels.Variation()
    for c in cfgs:
        v.add(c)
    assert v.hardware_fields == ["sram.filter_kb", "sram.ofmap_kb"]
    # one buffer varying with the total: that buffer, not the total
    assert labels.design_names([cfg(256.0, 256.0), cfg(256.0, 256.0, ifm=512.0)])[1].endswith("tpu_like ifmap 512 kB")


# -- the dashboard ---------------------------------------------------------------------------------------
def _post(client, outputs, inputs, state=(), triggered=None) -> dict:
    out_key = "...".join(f"{i}.{p}" for i, p in outputs)
    payload = {"output": f"..{out_key}.." if len(outputs) > 1 else out_key,
               "outputs": [{"id": i, "property": p} for i, p in outputs] if len(outputs) > 1
               else {"id": outputs[0][0], "property": outputs[0][1]},
               "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
               "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
               "changedPropIds": [triggered] if triggered else []}
    r = client.post("/_dash-update-component", json=payload)
    assert r.status_code in (200, 204), r.data[:500]
    return r.get_json()["response"] if r.status_code == 200 else {}


def _figures(obj):
    if isinstance(obj, dict):
        if "data" in obj and "layout" in obj and isinstance(obj["data"], list):
            yield obj
        for v in obj.values():
            yield from _figures(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _figures(v)


def _numeric(values) -> bool:
    if isinstance(values, dict):
        return "bdata" in values
    return isinstance(values, list) and any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def check_axes(res, where: str) -> None:
    """Every axis that carries numbers is labelled by the unit style: tick labels written on the server,
    or a d3 format (SI prefixes on the unit as suffix); never plotly's default (``4B``, ``2e+09``)."""
    for fig in _figures(res):
        lay = fig["layout"]
        for tr in fig["data"]:
            if tr.get("type") not in ("bar", "scatter", "scattergl", None) or tr.get("mode") == "text":
                continue
            for coord in ("x", "y"):
                if not _numeric(tr.get(coord)) or (tr.get("hoverinfo") == "skip" and tr.get("mode") == "lines"):
                    continue
                ref = tr.get(f"{coord}axis", coord)
                ax = lay.get(ref.replace("x", "xaxis", 1).replace("y", "yaxis", 1), {})
                assert ax.get("ticktext") or ax.get("tickformat"), f"{where}: {ref} of {tr.get('name')!r}: {ax}"


def _headers(res) -> list[str]:
    return [c.get("headerName", "") for v in res.values() for cols in [v.get("columnDefs") or []] for c in cols
            if isinstance(c, dict)]


def _grid_numbers_have_units(res) -> None:
    """A grid's numeric cells are drawn by the unit formatter (hwsimUnit), never raw."""
    for v in res.values():
        for c in v.get("columnDefs") or []:
            if isinstance(c, dict) and c.get("type") == "rightAligned" and c.get("field") not in ("points", "done",
                                                                                                  "failed", "total",
                                                                                                  "running", "queued",
                                                                                                  "groups"):
                assert "valueFormatter" in c, c


@pytest.fixture
def big_store(tmp_path):
    """The dashboard's synthetic store, with energies scaled to a large network's (tens of joules)."""
    from tests.webapp_fixtures import build_store

    db = tmp_path / "r.db"
    build_store(db)
    with Store(db) as s:
        s.conn.execute("UPDATE metrics SET value = value * 1e6 WHERE name LIKE '%energy_pj%'")
        s.conn.execute("UPDATE layers SET value = value * 1e6 WHERE name LIKE 'energy_pj.%'")
        s.conn.commit()
    return db


def test_every_dashboard_page_reads_in_one_unit_style(big_store):
    from webapp.app import create_app
    from webapp.data import StoreData
    from webapp.pages.explore import FILTERS, VIEW
    from webapp.pages.status import OUTPUTS

    app = create_app(big_store)
    client = app.server.test_client()
    ids = list(StoreData(big_store).done_points()["id"])
    texts: list[str] = []
    headers: list[str] = []

    def take(res, where):
        t = readable(res)
        check_text(t, where, _headers(res))
        check_axes(res, where)
        _grid_numbers_have_units(res)
        texts.extend(t)
        headers.extend(_headers(res))

    for x, y, logx, front in (("infer_energy_pj", "error", True, False), ("train_energy_pj_per_step", "accuracy",
                                                                           False, False),
                              ("train_energy_pj_per_step", "accuracy", True, True)):
        view = {"view": "train", "x": x, "y": y, "logx": logx, "logy": False, "front": front, "color": "family",
                "symbol": "scheme_name", "size": "model_size_bytes", "cmetric": None, "cmax": None, "z": None}
        vals = [(cid, prop, view[key]) for cid, prop, key in VIEW] + [(cid, "value", []) for cid, _, _ in FILTERS]
        res = _post(client, [("ex-pareto", "figure"), ("ex-count", "children"), ("ex-table-key", "data"),
                             ("ex-fig-key", "data")],
                    [("store-version", "data", "v"), ("store-settled", "data", "v"), ("cmp-select", "value", ids[:2]),
                     ("ex-zoom", "data", {}), *vals,
                     ({"type": "ex-cfg", "field": "ALL"}, "value", [])],
                    [({"type": "ex-cfg", "field": "ALL"}, "id", []), ("ex-table-key", "data", None),
                     ("ex-fig-key", "data", None)])
        take(res, f"Explore plot {x} vs {y}")
        fig = res["ex-pareto"]["figure"]
        assert fig["layout"]["xaxis"].get("ticktext") or fig["layout"]["xaxis"].get("ticksuffix")
        res = _post(client, [("ex-grid", "columnDefs"), ("ex-columns-key", "data")],
                    [("ex-x", "value", x), ("ex-y", "value", y), ("store-version", "data", "v")],
                    [("ex-columns-key", "data", None)])
        take(res, "Explore table columns")
        req = {"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}}
        res = _post(client, [("ex-grid", "getRowsResponse")], [("ex-grid", "getRowsRequest", req)],
                    [("ex-brush", "data", {}), *vals, ({"type": "ex-cfg", "field": "ALL"}, "value", []),
                     ({"type": "ex-cfg", "field": "ALL"}, "id", [])])
        rows = res["ex-grid"]["getRowsResponse"]["rowData"]
        check_text([r["name"] for r in rows], "Explore table names")
    res = _post(client, [("ex-x", "options"), ("ex-x", "value"), ("ex-size", "options"), ("ex-c-metric", "options"),
                         ("ex-z", "options"), ("ex-axes-key", "data")],
                [("ex-view", "value", "train"), ("store-version", "data", "v")],
                [("ex-x", "value", None), ("url", "search", ""), ("ex-axes-key", "data", None)])
    take(res, "Explore axis lists")
    # Parallel coordinates: ticks in units, titles with units
    res = _post(client, [("ex-parcoords", "figure"), ("ex-pc-drawn", "data")],
                [("ex-pc-show", "value", True), ("ex-pc-version", "data", "v"), ("ex-y", "value", "accuracy"),
                 ("ex-front-only", "value", False), ("ex-c-max", "value", None),
                 *[(cid, "value", []) for cid, _, _ in FILTERS], ({"type": "ex-cfg", "field": "ALL"}, "value", [])],
                [("ex-c-metric", "value", None), ({"type": "ex-cfg", "field": "ALL"}, "id", []),
                 ("ex-pc-drawn", "data", None)])
    take(res, "Parallel coordinates")
    for dim in res["ex-parcoords"]["figure"]["data"][0]["dimensions"]:
        assert dim.get("ticktext"), dim["label"]      # every axis labelled by the formatter
    # Design point page, both phases
    for phase in ("train", "inference"):
        res = _post(client, [("pt-summary", "children"), *[(f"{g}-box", "children") for g in
                                                           _point_graphs()],
                             ("pt-assumptions", "rowData"), ("pt-layers", "rowData"), ("pt-layers", "columnDefs"),
                             ("pt-config", "children"), ("pt-shown", "data")],
                    [("pt-select", "value", ids[0]), ("pt-phase", "value", phase), ("pt-layer-view", "value", "all"),
                     ("pt-version", "data", "v"), ("tabs", "active_tab", "tab-point")], [("pt-shown", "data", None)])
        res.pop("pt-config", None)   # the config as JSON, for copying: not a figure
        res.pop("pt-assumptions", None)
        take(res, f"Design point ({phase})")
    # Compare
    for quantity in ("energy_pj", "macs", "traffic_bytes", "cycles"):
        res = _post(client, [("cmp-metrics", "rowData"), ("cmp-metrics", "columnDefs"), ("cmp-ratio-box", "children"),
                             ("cmp-layers-box", "children"), ("cmp-layer-grid", "rowData"),
                             ("cmp-layer-grid", "columnDefs"), ("cmp-phases-box", "children"), ("cmp-shown", "data")],
                    [("cmp-select", "value", ids[:3]), ("cmp-quantity", "value", quantity),
                     ("cmp-phase", "value", "train"), ("cmp-version", "data", "v"),
                     ("tabs", "active_tab", "tab-compare")], [("cmp-shown", "data", None)])
        take(res, f"Compare ({quantity})")
    # Sweep status
    res = _post(client, [*OUTPUTS, ("st-shown", "data")],
                [("st-version", "data", "v"), ("tabs", "active_tab", "tab-status")], [("st-shown", "data", None)])
    take(res, "Sweep status")
    assert any("J" in t for t in texts)     # the pages did show energies


def _point_graphs() -> list[str]:
    from webapp.pages.point import GRAPHS

    return [g for g, _ in GRAPHS]


# -- the CLI and the reports ----------------------------------------------------------------------------------
def big_evaluate(points, key="", progress=None):
    """A stand-in for the pipeline with a large network's figures (tens of joules per step)."""
    out = []
    for i, p in enumerate(points):
        c = p.to_json()
        e = 3.714419111e13 * (1 + i)
        out.append(PointResult(
            id=p.id, config=c, sweep=p.sweep, label=p.label,
            columns={"model": c["model"]["name"], "scheme": c["scheme"]["name"]},
            metrics={"accuracy": 0.9 - 0.01 * i, "train_energy_pj_per_step": e, "infer_energy_pj": e / 3e3,
                     "latency_cycles": 6.822e8 / (1 + i), "train_memory_bytes": 4.2e9, "latency_us": 67889.5},
            layers=[("fc1", "forward", "energy_pj.dram", e / 2), ("fc1", "forward", "macs.fp32", 4.428e9),
                    ("fc1", "forward", "cycles", 6.822e8), ("fc1", "forward", "traffic_bytes.weight", 2.1e7)],
            blobs={"config": c}, versions={"hwsim": "test"}, started=1.7e9, finished=1.7e9 + 1520))
    return out


@pytest.fixture
def swept(tmp_path, capsys):
    from hwsim.cli import main

    f = tmp_path / "s.yaml"
    f.write_text("""\
name: big
models: [lenet300]
datasets: [digits]
schemes:
  - fp32
  - {name: mixed, compose: [twn, {name: graham, quantizer: L4}]}
  - {name: kbit, vary: {weight_bits: [2, 4]}}
recipes: [{epochs: 1, batch: 32}]
accelerators: [tpu_like]
""")
    db = tmp_path / "big.db"
    rc = main(["sweep", str(f), "--db", str(db), "--workers", "0", "--no-progress",
               "--evaluator", "test_readable_units:big_evaluate"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err[-1000:]
    return db, cap.out


def test_cli_tables_read_in_one_unit_style(swept, capsys, tmp_path):
    from hwsim.cli import main

    db, out = swept
    check_text(out.splitlines(), "hwsim sweep")
    assert "twn+graham L4" in out
    assert " J" in out or "(J)" in out
    for args in (["pareto", str(db), "--x", "energy", "--y", "accuracy", "--also", "latency"],
                 ["schemes"], ["cost", "lenet300", "--phase", "infer", "-b", "1", "--layers"],
                 ["count", "lenet300", "-b", "256"],
                 ["simulate", "lenet300", "--accelerator", "tpu_like", "-b", "64"]):
        rc = main(args)
        text = capsys.readouterr().out
        assert rc in (0, None), (args, text[-500:])
        check_text(text.splitlines(), "hwsim " + args[0])


class _Text(HTMLParser):
    """The text of an HTML report a person reads: tables and headings, not scripts or attributes."""

    def __init__(self):
        super().__init__()
        self.text, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style")

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.text.append(data)


def test_reports_read_in_one_unit_style(swept, tmp_path, capsys):
    from hwsim.cli import main
    from hwsim.reports.writers import excel_format

    db, _ = swept
    with Store(db, readonly=True) as s:
        ids = s.point_ids()
    paths = {}
    for fmt in ("html", "csv", "xlsx"):
        paths[fmt] = tmp_path / f"r.{fmt}"
        args = ["report", str(db), "--format", fmt, "--out", str(paths[fmt])]
        for i in ids:
            args += ["--point", i]
        assert main(args) in (0, None)
    capsys.readouterr()
    p = _Text()
    p.feed(paths["html"].read_text())
    check_text(p.text, "HTML report")
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", paths["html"].read_text())
    check_text([], "HTML report headers", [h for h in heads if "(" in h])   # unit columns: readable names
    assert any(t.strip().endswith("(J)") or " J" in t for t in p.text)
    # charts in the HTML: SI ticks on a base unit, never the "B" of billions
    page = paths["html"].read_text()
    n_figs = page.count('class="plotly-graph-div"')
    assert n_figs and page.count('"exponentformat":"SI"') >= n_figs
    # CSV: machine-readable figures, the unit in each header's store name
    head = paths["csv"].read_text().splitlines()[0].split(",")
    assert "energy_pj.dram" in head
    # xlsx: every big figure shows in the unit style (a display format), its cell keeps the store value
    with zipfile.ZipFile(paths["xlsx"]) as z:
        styles = z.read("xl/styles.xml").decode()
    assert '" J"' in styles.replace("&quot;", '"') or '" mJ"' in styles.replace("&quot;", '"')
    assert excel_format("energy_pj.dram", [3.7e13, 1.1e14]) == '#,##0.00,,,," J"'
    assert excel_format("train_memory_bytes", [4.2e9]) == '#,##0.00,,," GB"'


def test_decoder_cost_labels_the_prefill(capsys):
    """With --new-tokens, the priced inference pass is the prompt's prefill, and the totals say so."""
    from hwsim.cli import main

    rc = main(["cost", "gpt2_small", "--phase", "infer", "-b", "1", "--input", "tokens:8", "--new-tokens", "2"])
    out = capsys.readouterr().out
    assert rc in (0, None), out[-500:]
    assert "prefill per sequence (8 tokens)" in out and "inference per sample" not in out
    check_text(out.splitlines(), "hwsim cost --new-tokens")


def test_sweep_progress_line_reads_without_scientific_notation(capsys):
    """`hwsim sweep`'s progress lines (logs, no terminal): the rate goes through the unit formatter."""
    from hwsim.sweep.runner import _Bars

    bars = _Bars("off", total=3000, title="big")
    bars.done, bars.t0 = 2600, bars.t0 - 60.0   # about 2,600 points in a minute
    bars.line()
    err = capsys.readouterr().err
    assert "points/min" in err and "e+" not in err, err


# -- the benchmarks whose tables docs/ quote ------------------------------------------------------------
def _bench(name: str):
    """A benchmark script as a module (``benchmarks.NAME``, as tests/test_vs_zigzag.py imports it)."""
    import importlib

    return importlib.import_module(f"benchmarks.{name}")


RATIO = re.compile(r"(?<![\w.])\d+(?:\.\d+)?x\b")   # 5.11x: a ratio the formatter writes as 5.11 × (not int8x8)


@pytest.mark.parametrize("energy_pj", [3.3e14, 5.4539e10, 2.463e7, 181.27])
def test_han_pricing_rows_read_in_one_unit_style(energy_pj):
    han = _bench("han_pricing")
    rows = [han.storage_row("csr", 114_620, 1_064_800),
            han.network_row("alexnet", 60_965_224, 6_806_759.0, 32.97e6, 7.4, "skipping", energy_pj, 74_859_575)]
    check_text(rows, "benchmarks/han_pricing.py")
    assert "115 kB" in rows[0] and "9.29 ×" in rows[0]
    assert "60,965,224" in rows[1] and "8.96 ×" in rows[1] and "33 MB" in rows[1] and "74.86M cycles" in rows[1]
    assert re.search(r" \d[\d.]* [kMGTmµnp]?J ", rows[1]), rows[1]     # energy with its SI prefix on J
    assert not RATIO.search(" ".join(rows))


def test_energy_compare_tables_read_in_one_unit_style():
    ec = _bench("energy_compare")
    rows = [{"scheme": s, "pj_per_mac": {"fp32": 4.6, "xnor_popcount": (0.00709, 0.00738)},
             "forward_compute_pj": f, "step_compute_pj": 3 * f, "step_memory_pj": 3.06e11,
             "step_elementwise_pj": 5.133e8, "train_step_pj": 3.785e11 * k, "infer_pj_per_sample": 1.03e9}
            for s, f, k in (("fp32", 2.403e10, 1), ("bnn", 8.888e7, 1e4))]
    for r in rows:
        for key in ("forward_compute_pj", "step_compute_pj", "train_step_pj"):
            r[key.replace("_pj", "_ratio")] = rows[0][key] / r[key]
    text = ec.to_markdown(rows)
    check_text(text.splitlines(), "benchmarks/energy_compare.py")
    assert "| 24.03 mJ | 1 × |" in text and "| 88.88 µJ | 270.4 × |" not in text and "| 270 × |" in text
    assert "3.785 kJ" in text and "xnor_popcount 0.00709-0.00738" in text
    macs = ec.mac_table()
    check_text(macs.splitlines(), "benchmarks/energy_compare.py macs")
    assert "| 4.6 | 1 × |" in macs and not RATIO.search(text + macs)


def test_dram_vs_sram_rows_read_in_one_unit_style():
    rows = _bench("dram_vs_sram").row_cells([14_407.84e6, 5_116.6e6, 2_036.82e6, 921.63e6])
    assert rows == ["14.41 GB", "5.117 GB", "2.037 GB", "0.9216 GB"]   # one prefix for the row, four digits


def test_vs_eyeriss_prints_in_one_unit_style(capsys, monkeypatch):
    import sys

    monkeypatch.setattr(sys, "argv", ["vs_eyeriss.py"])
    _bench("vs_eyeriss").main()
    out = capsys.readouterr().out
    check_text(out.splitlines(), "benchmarks/vs_eyeriss.py")
    assert not RATIO.search(out)
    body = [ln for ln in out.splitlines() if ln.startswith(("CONV", "total"))]
    assert len(body) == 17      # 6 + 6 lines with totals, 5 of loop orders
    for ln in body:   # every figure of a layer's line carries its unit (MB, ms, mW, MACs, ×): none bare
        cells = [c for c in re.split(r"\s{2,}|(?<=[B×s]) ", ln.split(None, 1)[1]) if c.strip()]
        bare = [c for c in cells if re.fullmatch(r"[\d.,]+", c.strip())]
        assert not bare, (ln, bare)


def test_vs_zigzag_prints_energies_in_one_unit_style(capsys):
    """The layer sets' table, gap notes and per-layer tables (docs/validation.md quotes them): energies with
    an SI prefix on J, never a bare picojoule count; the ResNet-18 summary's energy figures alike."""
    vz = _bench("vs_zigzag")
    vz.print_sets(["all"], as_json=False, per_layer=True)
    out = capsys.readouterr().out
    check_text(out.splitlines(), "benchmarks/vs_zigzag.py --set all --layers")
    assert "µJ" in out and "partial sums read back" in out
    assert vz._figure("energy_sram", 465_971_272) == "465.97 µJ"
    assert vz._figure("dram_read", 13_739_776) == "13,739,776"     # counts the comparison needs exact
