"""Cost reports: the same numbers in all four formats, schema, offline HTML, safe and atomic export."""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import openpyxl
import pytest

from hwsim.cli import main
from hwsim.errors import UserError
from hwsim.reports import SCHEMA_PATH, export
from hwsim.store import PointResult, Store
from tests.conftest import CHROMIUM, requires_chromium
from tests.report_fixtures import make_store


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path / "r.db")


def _store_layers(db, pid):
    with Store(db, readonly=True) as s:
        df = s.layers(pid)
    return {(r.layer, r.phase, r.name): r.value for r in df.itertuples()}


def _num(text):
    text = str(text).replace(",", "").strip()
    return float(text) if text not in ("", "None", "nan") else None


class _Tables(HTMLParser):
    """Collect the cells of <table id=...> elements of an HTML report."""

    def __init__(self):
        super().__init__()
        self.tables, self._cur, self._row, self._cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._cur = self.tables.setdefault(a.get("id", f"t{len(self.tables)}"), [])
        elif tag == "tr" and self._cur is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            # the exact figure (data-v) and the column's name (data-k) the report carries beside the
            # unit-style text a person reads
            self._cell = a.get("data-v") or a.get("data-k") or ""
            self._fixed = "data-v" in a or "data-k" in a

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._cur.append(self._row)
            self._row = None
        elif tag == "table":
            self._cur = None

    def handle_data(self, data):
        if self._cell is not None and not self._fixed:
            self._cell += data


def _rows_from_header(rows):
    head, *body = rows
    return [dict(zip(head, r)) for r in body]


def test_same_numbers_in_all_formats(store, tmp_path):
    db, ids = store
    out = tmp_path / "out"
    paths = {fmt: export(db, ids, fmt, out) for fmt in ("csv", "json", "xlsx", "html")}
    expected = {pid: _store_layers(db, pid) for pid in ids}

    # Each format is read back into {(point, layer, phase, name): value}.
    got: dict[str, dict] = {}
    with open(paths["csv"]) as f:
        got["csv"] = {(r["point"], r["layer"], r["phase"], k): _num(v) for r in csv.DictReader(f)
                      for k, v in r.items() if "." in k or k in ("cycles", "utilization")}
    doc = json.loads(paths["json"].read_text())
    got["json"] = {(p["id"], row["layer"], row["phase"], k): v for p in doc["points"] for row in p["layers"]
                   for k, v in row.items() if k not in ("layer", "phase")}
    ws = openpyxl.load_workbook(paths["xlsx"], read_only=True)["Layers"]
    sheet = [list(r) for r in ws.iter_rows(values_only=True)]
    got["xlsx"] = {(r["point"], r["layer"], r["phase"], k): v for r in _rows_from_header(sheet)
                   for k, v in r.items() if "." in k or k in ("cycles", "utilization")}
    parser = _Tables()
    parser.feed(paths["html"].read_text())
    got["html"] = {(r["point"], r["layer"], r["phase"], k): _num(v) for r in _rows_from_header(parser.tables["layers"])
                   for k, v in r.items() if "." in k or k in ("cycles", "utilization")}

    for fmt, values in got.items():
        n = 0
        for pid in ids:
            for (la, ph, name), v in expected[pid].items():
                assert values[(pid, la, ph, name)] == pytest.approx(v, rel=1e-9), (fmt, pid, la, ph, name)
                n += 1
        # cells of a (layer, phase) without that figure are empty, never invented
        assert sum(v is not None for v in values.values()) == n, fmt

    # Totals agree across formats too.
    with Store(db, readonly=True) as s:
        metrics = {pid: s.point(pid)["metrics"] for pid in ids}
    summary = {r[0]: r for r in openpyxl.load_workbook(paths["xlsx"], read_only=True)["Summary"].iter_rows(values_only=True)}
    head = summary.pop("point")
    html_summary = {r["point"]: r for r in _rows_from_header(parser.tables["summary"])}
    for pid in ids:
        for m, v in metrics[pid].items():
            assert dict(zip(head, summary[pid]))[m] == pytest.approx(v)
            assert next(p for p in doc["points"] if p["id"] == pid)["metrics"][m] == pytest.approx(v)
            assert _num(html_summary[pid][m]) == pytest.approx(v, rel=1e-9)


def test_json_matches_schema_and_schema_can_fail(store, tmp_path):
    db, ids = store
    doc = json.loads(export(db, ids[:1], "json", tmp_path).read_text())
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.validate(doc, schema)
    assert doc["provenance"]["config_hashes"] == ids[:1]
    assert doc["points"][0]["assumptions"]["tech"]["source"] == "Horowitz ISSCC 2014"
    doc2 = json.loads(export(db, ids[1:], "json", tmp_path).read_text())
    assert doc2["points"][0]["assumptions"]["accelerator"] == {"name": "tpu_like", "array": {"rows": 32, "cols": 32}}
    bad = json.loads(json.dumps(doc))
    bad["points"][0]["layers"][0]["phase"] = "sideways"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_xlsx_has_every_sheet(store, tmp_path):
    db, ids = store
    wb = openpyxl.load_workbook(export(db, ids, "xlsx", tmp_path))
    assert wb.sheetnames == ["Summary", "Layers", "MAC types", "Traffic", "Energy", "Cycles", "Hardware", "Assumptions",
                             "Comparison", "Provenance"]
    keys = {r[2] for r in wb["Assumptions"].iter_rows(values_only=True)}
    assert {"tech.fp32_mult_pj", "accelerator.rows", "scheme.name", "recipe.lr"} <= keys
    comp = [list(r) for r in wb["Comparison"].iter_rows(values_only=True)]
    row = next(r for r in comp if r[0] == "model_size_bytes")
    assert row[-1] == pytest.approx(1088 / 34816)


def test_html_is_standalone(store, tmp_path):
    db, ids = store
    text = export(db, ids, "html", tmp_path).read_text()
    # nothing is fetched: no external scripts, stylesheets or images
    assert not re.search(r"<(script|link|img)[^>]+(src|href)\s*=\s*['\"]?(https?:)?//", text, re.I)
    # the plotly.js bundle itself is inlined once, and each figure calls it
    assert len(re.findall(r"\* plotly\.js v\d", text)) == 1
    assert text.count("Plotly.newPlot(") == 8
    assert "Horowitz ISSCC 2014" in text and ids[0] in text
    embedded = re.search(r"<script type='application/json' id='hwsim-report'>(.*?)</script>", text, re.S).group(1)
    assert json.loads(embedded)["points"][1]["id"] == ids[1]


@requires_chromium
def test_html_renders_offline_in_chromium(store, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.conftest import CHROMIUM_FLAGS

    db, ids = store
    path = export(db, ids, "html", tmp_path)
    opts = Options()
    opts.binary_location = CHROMIUM
    for f in CHROMIUM_FLAGS:
        opts.add_argument(f)
    opts.add_argument("--proxy-server=127.0.0.1:9")  # any network fetch would fail
    opts.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    drv = webdriver.Chrome(options=opts)
    try:
        drv.get(path.as_uri())
        n_figs = len(drv.find_elements(By.CSS_SELECTOR, "div.plotly-graph-div"))
        assert n_figs == 8  # energy, MACs, traffic, cycles for each of two points
        WebDriverWait(drv, 30).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "div.plotly-graph-div .main-svg")) >= n_figs)
        bars = drv.find_elements(By.CSS_SELECTOR, "g.trace.bars path")
        assert len(bars) > 10
        art = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
        art.mkdir(parents=True, exist_ok=True)
        assert drv.save_screenshot(str(art / "report_html.png"))
        severe = [e for e in drv.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe
    finally:
        drv.quit()


def test_export_errors_leave_nothing_behind(store, tmp_path, monkeypatch):
    db, ids = store
    out = tmp_path / "out"
    with pytest.raises(UserError, match="outside the export folder"):
        export(db, ids, "csv", out, name="../escape.csv")
    with pytest.raises(UserError, match="relative"):
        export(db, ids, "csv", out, name=str(tmp_path / "abs.csv"))
    (tmp_path / "link").symlink_to(tmp_path)
    out.mkdir()
    (out / "up").symlink_to(tmp_path)
    with pytest.raises(UserError, match="outside"):
        export(db, ids, "csv", out, name="up/x.csv")
    with pytest.raises(UserError, match="no such point"):
        export(db, ["deadbeef"], "csv", out)
    with pytest.raises(UserError, match="unknown report format"):
        export(db, ids, "pdf", out)
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(UserError, match="export folder"):
        export(db, ids, "json", blocker / "sub")

    import hwsim.reports.writers as w

    def broken(doc, path):
        path.write_text("half a report")
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(w.WRITERS._entries, "csv", broken)
    with pytest.raises(UserError, match="No space left"):
        export(db, ids, "csv", out, name="r.csv")
    assert sorted(p.name for p in out.iterdir()) == ["up"]
    assert not (tmp_path / "escape.csv").exists() and not (tmp_path / "abs.csv").exists()


def test_cli_report(store, tmp_path, capsys):
    db, ids = store
    assert main(["report", str(db), "--point", ids[0][:6], "--point", ids[1], "--format", "csv",
                 "--out", str(tmp_path / "x.csv")]) == 0
    assert (tmp_path / "x.csv").exists()
    assert main(["report", str(db), "--point", ids[0], "-f", "json", "--out-dir", str(tmp_path / "d")]) == 0
    assert len(list((tmp_path / "d").glob("*.json"))) == 1
    capsys.readouterr()
    for argv, needle in (
        (["report", str(db), "--point", "zzz", "-f", "csv", "--out-dir", str(tmp_path)], "no such point"),
        (["report", str(tmp_path / "missing.db"), "--point", "a", "-f", "csv"], "not found"),
        (["report", str(db), "--point", ids[0], "-f", "doc", "--out-dir", str(tmp_path)], "unknown report format"),
        (["report", str(db), "--point", ids[0], "-f", "csv", "--out-dir", str(tmp_path), "--name", "../../x.csv"],
         "outside"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and needle in err and "\n" not in err


def test_cli_report_force_names_and_resolved_path(store, tmp_path, capsys, monkeypatch):
    db, ids = store
    monkeypatch.chdir(tmp_path)
    argv = ["report", str(db), "--point", ids[0], "-f", "csv", "--out", "sub/../x.csv"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == str((tmp_path / "x.csv").resolve())
    before = (tmp_path / "x.csv").read_bytes()
    assert main(argv) == 2   # exists: refused, file untouched
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "--force" in err and "\n" not in err
    assert (tmp_path / "x.csv").read_bytes() == before
    assert main(argv + ["--force"]) == 0
    capsys.readouterr()
    for bad in ("a\x1b[2Jb.csv", "a\nb.csv", "a\rb.csv", "a\u202evsc.exe", "a\u2066b.csv"):
        assert main(["report", str(db), "--point", ids[0], "-f", "csv", "--out-dir", str(tmp_path), "--name", bad]) == 2
        err = capsys.readouterr().err
        assert "control character" in err and len(err.strip().splitlines()) == 1 and "\x1b" not in err
        assert "\u202e" not in err and "\u2066" not in err
    assert not any(p.name.startswith("a") for p in tmp_path.iterdir())


def test_force_never_replaces_a_fifo_a_folder_or_a_link_out(store, tmp_path, capsys):
    """--force overwrites a regular report file only: a FIFO (as /dev/full, a device, would be) stays
    what it was, and a link in the export folder pointing outside it is refused."""
    import os
    import stat

    db, ids = store
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.csv").write_text("keep")
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "link.csv").symlink_to(outside / "victim.csv")
    (tmp_path / "exp" / "dir.csv").mkdir()
    for out in (fifo, tmp_path / "exp" / "link.csv", tmp_path / "exp" / "dir.csv"):
        argv = ["report", str(db), "--point", ids[0], "-f", "csv", "--out", str(out), "--force"]
        if out.name == "dir.csv":   # an --out folder: the report goes inside; a --name that is a folder is refused
            argv = ["report", str(db), "--point", ids[0], "-f", "csv", "--out-dir", str(out.parent), "--name",
                    "dir.csv", "--force"]
        assert main(argv) == 2, out
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert (outside / "victim.csv").read_text() == "keep"
    assert (tmp_path / "exp" / "dir.csv").is_dir()


HOSTILE_LABELS = ["=cmd|' calc'!A0", '=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR",
                  "a\x1b]0;TITLE\x07b", "nul\x00x"]


def test_csv_and_xlsx_cells_are_neutralised(tmp_path):
    """OWASP CSV injection: no exported text cell starts a formula; control characters are escaped (an
    XLSX with a raw ESC was an IllegalCharacterError)."""
    with Store(tmp_path / "h.db") as s:
        for i, lab in enumerate(HOSTILE_LABELS):
            s.write(PointResult(id=f"{i:024x}", config={"model": lab}, label=lab,
                                columns={"model": lab, "scheme": lab, "dataset": lab},
                                metrics={"accuracy": 0.5, "infer_energy_pj": -1.0},
                                layers=[(lab, "forward", "macs.fp32", 10.0), (lab, "forward", "cycles", 3.0)]))
    ids = [f"{i:024x}" for i in range(len(HOSTILE_LABELS))]
    csv_path = export(tmp_path / "h.db", ids, "csv", tmp_path / "out")
    cells = [c for row in csv.reader(csv_path.open(newline="")) for c in row]
    assert cells and not [c for c in cells if c[:1] in ("=", "@", "+", "\t", "\r")
                          or (c[:1] == "-" and not _is_number(c))]
    assert not [c for c in cells if any(ord(ch) < 32 for ch in c)]
    assert "'=cmd|' calc'!A0" in cells and "a\\x1b]0;TITLE\\x07b" in cells
    xlsx_path = export(tmp_path / "h.db", ids, "xlsx", tmp_path / "out")
    wb = openpyxl.load_workbook(xlsx_path)
    texts = [c.value for ws in wb for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert texts and not [t for t in texts if t[:1] in ("=", "@", "+", "\t", "\r")
                          or (t[:1] == "-" and not _is_number(t))]
    assert not [c for ws in wb for row in ws.iter_rows() for c in row if c.data_type == "f"]


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def test_comparison_ratios_read_as_ratios_not_si_prefixes():
    """A point's ratio to the first point is a plain number with a times sign (0.761 ×), never 761m."""
    import pandas as pd

    from hwsim.reports.writers import _table

    df = pd.DataFrame([{"metric": "energy_pj.total", "a": 4.689e13, "b": 3.568e13, "b / a": 0.76096}])
    html_text = _table(df, "comparison", row_units=["pJ"], row_unit_columns=2)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html_text)
    assert cells[1:3] == ["46.89 J", "35.68 J"]
    assert cells[3] == "0.761 ×"
