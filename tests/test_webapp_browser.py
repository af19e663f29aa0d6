"""The dashboard in real headless Chromium (dash_duo + selenium; options from conftest.py).

One server per test; each test walks a user path and writes a screenshot of what it saw to
``artifacts/screenshots/`` (git-ignored; ``docs/img/`` holds a committed copy).
"""

from __future__ import annotations

import csv
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from selenium.common.exceptions import ElementClickInterceptedException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.support.ui import Select

from hwsim.store import Store
from tests.conftest import requires_chromium
from tests.webapp_fixtures import all_points, build_store
from webapp.app import create_app

pytestmark = [pytest.mark.browser, requires_chromium]

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "artifacts" / "screenshots"
# WebGL markers draw on a canvas: count them from the plot's data (every marker trace's ids).
COUNT_JS = """const g = document.querySelector('#ex-pareto .js-plotly-plot');
return g && g.data ? g.data.filter(t => t.mode === 'markers' && t.customdata)
    .reduce((n, t) => n + t.customdata.length, 0) : -1;"""


def shot(dash_duo, name: str) -> Path:
    """Screenshot to artifacts/screenshots/; with HWSIM_DOC_SCREENSHOTS=1 also to docs/img/ (committed)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    drv = dash_duo.driver
    size = drv.get_window_size()
    # Whole page: grow the (headless) window to the document's height, shoot, restore.
    height = drv.execute_script("return document.documentElement.scrollHeight;")
    drv.set_window_size(size["width"], min(max(height + 140, size["height"]), 4000))
    time.sleep(0.8)  # let plotly and AG Grid re-lay out
    drv.save_screenshot(str(path))
    drv.set_window_size(size["width"], size["height"])
    time.sleep(0.3)
    if os.environ.get("HWSIM_DOC_SCREENSHOTS"):
        docs = ROOT / "docs" / "img"
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, docs / f"dashboard_{name}.png")
    return path


def severe(dash_duo) -> list:
    return [e for e in dash_duo.get_logs() if e.get("level") == "SEVERE"]


def wait_points(dash_duo, n: int, timeout: float = 10) -> int:
    """Markers on the Pareto plot once there are ``n`` of them (or whatever there is at the timeout)."""
    t0 = time.time()
    while True:
        k = dash_duo.driver.execute_script(COUNT_JS)
        if k == n or time.time() - t0 > timeout:
            return k
        time.sleep(0.1)


def wait_until(cond, timeout: float = 10, what: str = "condition"):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def click(dash_duo, el) -> None:
    """Scroll an element to the middle of the window, then click it like a user.

    Retried: right after a page switch the layout may still move under the pointer.
    """
    for attempt in range(5):
        dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
        time.sleep(0.2)
        try:
            el.click()
            return
        except ElementClickInterceptedException:
            if attempt == 4:
                raise
            time.sleep(0.3)


def start(dash_duo, db: Path, **kw):
    app = create_app(db, **kw)
    dash_duo.start_server(app)
    # Chromium's new headless mode saves downloads only once told where.
    dash_duo.driver.execute_cdp_cmd("Page.setDownloadBehavior",
                                    {"behavior": "allow", "downloadPath": dash_duo.download_path})
    return app


def test_explore_click_compare_export(dash_duo, tmp_path):
    db = tmp_path / "results.db"
    ids = build_store(db)
    start(dash_duo, db)
    dash_duo.wait_for_element("#ex-pareto .scatterlayer .point")   # SVG markers (no WebGL context)
    # Every finished point is a marker (the failed and the running one are not).
    assert wait_points(dash_duo, len(ids)) == len(ids)
    dash_duo.wait_for_contains_text("#ex-count", f"{len(ids)} of {len(ids)} design points shown")
    dash_duo.wait_for_contains_text("#status-badge", "12 done")
    assert severe(dash_duo) == []
    shot(dash_duo, "explore")

    # A filter changes the plot: only the mlp model's 6 points stay.
    dash_duo.select_dcc_dropdown("#ex-f-model", value="mlp")
    assert wait_points(dash_duo, 6) == 6
    dash_duo.wait_for_contains_text("#ex-count", "6 of 12 design points shown")
    # The table is served by the server in blocks and follows the filter.
    rows = wait_until(lambda: len(dash_duo.find_elements("#ex-grid .ag-center-cols-container .ag-row")) == 6
                      and dash_duo.find_elements("#ex-grid .ag-center-cols-container .ag-row"), what="grid rows")
    assert len(rows) == 6
    # The filter is in the URL, so the view can be shared.
    wait_until(lambda: "f.model=mlp" in dash_duo.driver.current_url, what="filter in the URL")

    # Clicking a point's name opens its drill-down.
    target = wait_until(lambda: dash_duo.find_elements("#ex-grid .ag-center-cols-container .hwsim-link"),
                        what="name cells")[0]
    click(dash_duo, target)
    dash_duo.wait_for_style_to_equal("#page-point", "display", "block")
    # the title is drawn by the page's own callback, which may answer after the page is shown
    title = wait_until(lambda: [e.text for e in dash_duo.find_elements("#pt-title") if e.text], what="drill-down title")[0]
    assert title.startswith("mlp ")
    # Where the energy goes: one stacked bar per phase, totals in engineering units.
    wait_until(lambda: dash_duo.find_elements("#pt-phases .barlayer .trace"), what="phase bars")
    phases = dash_duo.find_element("#pt-phases").text
    assert "forward" in phases and "pJ/MAC" in phases and "pJ pJ" not in phases
    wait_until(lambda: dash_duo.find_elements("#pt-energy .barlayer .trace"), what="energy bars")
    # Stacked energy bars: one trace per component, one bar per layer (mlp has 3 layers).
    bars = dash_duo.find_elements("#pt-energy .barlayer .trace")
    assert len(bars) >= 4
    assert len(dash_duo.find_elements("#pt-energy .barlayer .trace:first-child path")) == 3
    assert "Horowitz" in dash_duo.find_element("#pt-assumptions").text
    assert severe(dash_duo) == []
    shot(dash_duo, "design_point")

    # Back to Explore: tick two rows, compare them.
    click(dash_duo, dash_duo.find_element("#tabs .nav-item:first-child .nav-link"))
    dash_duo.wait_for_style_to_equal("#page-explore", "display", "block")
    boxes = wait_until(lambda: dash_duo.find_elements("#ex-grid .ag-center-cols-container .ag-row") and
                       dash_duo.find_elements("#ex-grid .ag-body .ag-row .ag-selection-checkbox input"),
                       what="row checkboxes")
    click(dash_duo, boxes[0])
    click(dash_duo, boxes[1])
    click(dash_duo, dash_duo.find_element("#ex-compare-btn"))
    dash_duo.wait_for_style_to_equal("#page-compare", "display", "block")
    wait_until(lambda: len(dash_duo.find_elements("#cmp-metrics .ag-center-cols-container .ag-row")) > 5,
               what="compare table")
    header = dash_duo.find_element("#cmp-metrics .ag-header").text
    assert "Δ" in header  # the difference column, short (the full label is its tooltip)
    cells = dash_duo.find_element("#cmp-metrics .ag-body").text
    assert " pp" in cells and "J" in cells and "e+" not in cells  # one unit style, no 1.070e+10
    wait_until(lambda: dash_duo.find_elements("#cmp-layers .barlayer .trace"), what="per-layer bars")
    assert len(dash_duo.find_elements("#cmp-layers .barlayer .trace")) == 2
    assert severe(dash_duo) == []
    shot(dash_duo, "compare")

    # Export the ticked points' cost report as CSV; its numbers are the store's.
    click(dash_duo, dash_duo.find_element("#tabs .nav-item:first-child .nav-link"))
    dash_duo.wait_for_style_to_equal("#page-explore", "display", "block")
    click(dash_duo, dash_duo.find_element("#ex-report-btn"))
    dl = Path(dash_duo.download_path)
    # ... and the Pareto figure as a standalone HTML file (plotly.js inlined).
    Select(dash_duo.find_element("#ex-fig-fmt")).select_by_value("html")
    click(dash_duo, dash_duo.find_element("#ex-fig-btn"))
    page = wait_until(lambda: [p for p in dl.glob("hwsim-pareto.html")], timeout=15, what="figure html")[0]
    wait_until(lambda: "Pareto front" in page.read_text(errors="ignore"), what="complete html")
    files = wait_until(lambda: [p for p in dl.glob("*.csv")], timeout=15, what="downloaded csv")
    with files[0].open() as f:
        table = list(csv.DictReader(f))
    exported = {r["point"] for r in table}
    assert len(exported) == 2
    with Store(db, readonly=True) as s:
        for pid in exported:
            lay = s.layers(pid)
            want = lay[lay["name"] == "energy_pj.dram"].set_index(["layer", "phase"])["value"]
            got = {(r["layer"], r["phase"]): float(r["energy_pj.dram"]) for r in table if r["point"] == pid}
            assert len(got) == len(want)
            for key, v in want.items():
                assert got[key] == pytest.approx(v, rel=1e-9)


def test_status_live_while_sweep_writes(dash_duo, tmp_path):
    """A writer keeps committing points; pages refresh by themselves and callbacks stay quick."""
    db = tmp_path / "live.db"
    build_store(db, n=4)
    start(dash_duo, db, refresh_ms=400)
    dash_duo.wait_for_contains_text("#status-badge", "4 done")
    click(dash_duo, dash_duo.find_element("#tabs .nav-item:last-child .nav-link"))
    dash_duo.wait_for_style_to_equal("#page-status", "display", "block")
    dash_duo.wait_for_text_to_equal("#st-count-done", "4 done")
    dash_duo.wait_for_contains_text("#st-failed", "UserError: scheme lq")

    stop = threading.Event()
    written: list[float] = []

    def writer():
        with Store(db) as s:
            for p in all_points()[4:]:
                if stop.is_set():
                    return
                s.write(p)
                written.append(time.time())
                time.sleep(0.25)

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    try:
        # Progress shows up without a reload, within a bound of the last commit.
        dash_duo.wait_for_text_to_equal("#st-count-done", "12 done", timeout=15)
        # (the wait's own timeout bounds the lag; how fast it catches up is a benchmark's business)
        lag = time.time() - written[-1]
        print(f"status page caught up {lag:.2f}s after the last commit; writer took {written[-1] - written[0]:.2f}s")
    finally:
        stop.set()
        th.join(5)
    assert severe(dash_duo) == []
    shot(dash_duo, "sweep_status")
    click(dash_duo, dash_duo.find_element("#tabs .nav-item:first-child .nav-link"))
    assert wait_points(dash_duo, 12) == 12

    # A link with ?point=<id prefix> opens that design point directly.
    last = all_points()[-1]
    dash_duo.driver.get(f"{dash_duo.server_url}/?point={last.id[:10]}")
    dash_duo.wait_for_style_to_equal("#page-point", "display", "block")
    dash_duo.wait_for_contains_text("#pt-title", last.label.split()[0])
    # A bad ?point= says it was not found.
    dash_duo.driver.get(f"{dash_duo.server_url}/?point=zzzznotapoint")
    dash_duo.wait_for_contains_text("#pt-url-msg", "not found")
    # Axes and filters come back from the URL.
    dash_duo.driver.get(f"{dash_duo.server_url}/?view=inference&x=latency_cycles&y=error&f.model=mlp")
    dash_duo.wait_for_contains_text("#ex-count", "6 of 12 design points shown")
    title = dash_duo.driver.execute_script(
        "return document.querySelector('#ex-pareto .js-plotly-plot').layout.title.text;")
    assert "Error vs Inference latency" in title and "model = mlp" in title
    assert severe(dash_duo) == []


def test_missing_store_shows_how_to_create(dash_duo, tmp_path):
    db = tmp_path / "nothing-here.db"
    start(dash_duo, db)
    dash_duo.wait_for_element("#store-message")
    text = dash_duo.find_element("#store-message").text
    assert "No results store" in text and "hwsim sweep" in text
    assert severe(dash_duo) == []
    shot(dash_duo, "missing_store")


def test_box_select_ticks_the_cheapest_points(dash_duo, tmp_path):
    """Box-selecting the left half of the (log x) Pareto plot ticks exactly the cheaper points."""
    db = tmp_path / "results.db"
    build_store(db)
    start(dash_duo, db)
    assert wait_points(dash_duo, 12) == 12
    drag = dash_duo.find_element("#ex-pareto .nsewdrag")
    # The modebar shows on hover; pick its "Box Select" tool like a user.
    ActionChains(dash_duo.driver).move_to_element(drag).perform()
    button = dash_duo.find_element('#ex-pareto .modebar-btn[data-val="select"]')
    wait_until(lambda: button.is_displayed(), what="modebar")
    button.click()
    wait_until(lambda: "select" in (dash_duo.driver.execute_script(
        "return document.querySelector('#ex-pareto .js-plotly-plot')._fullLayout.dragmode;") or ""),
        what="box-select mode")
    w, h = drag.size["width"], drag.size["height"]
    # From the plot's centre (the same in every selenium version) to its top-left corner, then a box
    # over the left half, full height.
    ActionChains(dash_duo.driver).move_to_element(drag).move_by_offset(-int(w * 0.49), -int(h * 0.49)) \
        .click_and_hold().move_by_offset(int(w * 0.47), int(h * 0.97)).release().perform()
    # Let plotly finish the drag before the first query: a webdriver command issued right on the
    # mouse-up made plotly drop the selection event now and then (seen under pytest -n 2).
    time.sleep(1.0)
    ticked = wait_until(lambda: dash_duo.find_elements("#ex-grid .ag-center-cols-container .ag-row-selected"),
                        what="ticked rows")
    ticked_ids = {r.get_attribute("row-id") for r in ticked}
    with Store(db, readonly=True) as s:
        df = s.points("done").set_index("id")
    energy = df["train_energy_pj_per_step"]
    assert 0 < len(ticked_ids) < 12
    assert energy[list(ticked_ids)].max() < energy.drop(list(ticked_ids)).min()
    assert severe(dash_duo) == []


def test_ten_thousand_points_stay_light(dash_duo, tmp_path):
    """10,000 points: the plot draws the front as SVG markers and the rest as a density layer (every
    point represented), an axis change ships
    one small figure, the table holds one block. Guards the order of magnitude (a whole 10k store
    once shipped 10.5 MB per axis change), by size, not by time."""
    from benchmarks.dashboard_scale import make_store

    db = tmp_path / "scale.db"
    make_store(db, 10_000)
    start(dash_duo, db)
    drv = dash_duo.driver
    n = wait_until(lambda: drv.execute_script(COUNT_JS) > 0 and drv.execute_script(COUNT_JS), timeout=60,
                   what="markers at 10k points")
    dash_duo.wait_for_contains_text("#ex-count", "of 10000 design points shown", timeout=30)
    on_front = int(dash_duo.find_element("#ex-count").text.split(", ")[1].split()[0])
    assert n == on_front   # the front as markers ...
    # ... and every other point counted in the density layer: all 10,000 represented
    counted = drv.execute_script("return document.querySelector('#ex-pareto .js-plotly-plot').data"
                                 ".filter(t => t.type === 'heatmap').reduce((k, t) => k + t.z.flat()"
                                 ".reduce((a, v) => a + (v || 0), 0), 0);")
    assert n + counted == 10_000
    types = drv.execute_script("return document.querySelector('#ex-pareto .js-plotly-plot').data.map(t => t.type);")
    assert set(types) == {"scatter", "heatmap"}   # SVG markers: no WebGL context to start
    size = drv.execute_script("return JSON.stringify(document.querySelector('#ex-pareto .js-plotly-plot').data)"
                              ".length;")
    assert size < 1_000_000, f"Pareto figure data is {size / 1e6:.1f} MB"
    # The table holds a block of rows, not 10,000.
    rows = wait_until(lambda: dash_duo.find_elements("#ex-grid .ag-center-cols-container .ag-row"), what="rows")
    assert 0 < len(rows) <= 100
    # An axis change redraws (log x off).
    click(dash_duo, dash_duo.find_element("label[for=ex-logx]"))
    wait_until(lambda: drv.execute_script(
        "return document.querySelector('#ex-pareto .js-plotly-plot')._fullLayout.xaxis.type") == "linear",
        timeout=30, what="linear x axis")
    # What is not on screen is not drawn: parallel coordinates until opened, the hidden pages' figures.
    pc_js = ("const g = document.querySelector('#ex-parcoords .js-plotly-plot');"
             "return g && g.data ? g.data.filter(t => t.type === 'parcoords').length : -1;")
    assert drv.execute_script(pc_js) == 0
    assert dash_duo.find_element("#pt-summary").text == ""
    click(dash_duo, dash_duo.find_element("label[for=ex-pc-show]"))
    wait_until(lambda: drv.execute_script(pc_js) == 1, timeout=30, what="parallel coordinates drawn once opened")
    assert severe(dash_duo) == []


def _hw_point(rows: int):
    """A finished design point on a tpu_like array of ``rows`` rows (the field a hardware sweep varies)."""
    import hashlib
    import json

    from hwsim.store import PointResult

    cfg = {"model": {"name": "lenet300", "args": {}}, "scheme": {"name": "bnn"}, "dataset": "digits",
           "accelerator": {"name": "tpu_like", "array": {"rows": rows, "cols": 8}}, "tech": "45nm"}
    pid = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]
    return PointResult(id=pid, config=cfg, sweep="hw", columns={
        "model": "lenet300", "scheme": "bnn", "family": "bnn", "accelerator": "tpu_like", "dataset": "digits"},
        metrics={"accuracy": 0.5 + rows / 1000, "train_energy_pj_per_step": 1e9 * rows})


def test_a_commit_keeps_the_config_filter_chosen(dash_duo, tmp_path):
    """A person filters on a config field a sweep varies (array rows); a commit that brings that field a
    new value adds it to the dropdown's options and keeps the choice (the filter still applies)."""
    db = tmp_path / "hw.db"
    with Store(db) as s:
        for rows in (8, 16):
            s.write(_hw_point(rows))
    start(dash_duo, db, refresh_ms=400)
    assert wait_points(dash_duo, 2) == 2
    dropdown = wait_until(lambda: dash_duo.find_elements("#ex-cfg-filters .dash-dropdown"), what="config filter")[0]
    click(dash_duo, dropdown)
    option = wait_until(lambda: [o for o in dash_duo.find_elements(".dash-dropdown-options .dash-dropdown-option")
                                 if o.text == "8"], what="option 8")[0]
    click(dash_duo, option)
    dash_duo.wait_for_contains_text("#ex-count", "1 of 2 design points shown")
    with Store(db) as s:
        s.write(_hw_point(32))
    dash_duo.wait_for_contains_text("#status-badge", "3 done")
    dash_duo.wait_for_contains_text("#ex-count", "1 of 3 design points shown")
    time.sleep(1.0)   # a few more polls: the choice stays
    assert "1 of 3 design points shown" in dash_duo.find_element("#ex-count").text
    # the new value is offered (a multi-select's menu stays open after a choice: opened only if closed)
    if not dash_duo.find_elements(".dash-dropdown-options .dash-dropdown-option"):
        click(dash_duo, dash_duo.find_elements("#ex-cfg-filters .dash-dropdown")[0])
    wait_until(lambda: [o for o in dash_duo.find_elements(".dash-dropdown-options .dash-dropdown-option")
                        if o.text == "32"], what="option 32")
    assert severe(dash_duo) == []
