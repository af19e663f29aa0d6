"""The dashboard without a browser: store reading, caching, Pareto fronts, figures, export, serve."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pandas as pd
import pytest

from hwsim.cli import main as cli_main
from hwsim.formats import TRAIN_PHASES
from hwsim.store import Store
from tests.webapp_fixtures import FAILED_ERROR, all_points, build_store
from webapp import figures
from webapp.data import StoreData, per_layer, per_layer_value
from webapp.pages.compare import metrics_table
from webapp.pages.explore import filtered
from webapp.pages.point import point_figures


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "r.db"
    build_store(path)
    return path


# -- Pareto front -----------------------------------------------------------------------------
def brute_front(x, y, xb, yb):
    sx, sy = (1 if xb == "min" else -1), (1 if yb == "min" else -1)
    pts = [(sx * a, sy * b) for a, b in zip(x, y)]
    out = []
    for i, p in enumerate(pts):
        if any(np.isnan(p)):
            out.append(False)
            continue
        dominated = any(q[0] <= p[0] and q[1] <= p[1] and q != p for j, q in enumerate(pts)
                        if j != i and not any(np.isnan(q)))
        out.append(not dominated)
    return out


@pytest.mark.parametrize("seed", range(20))
def test_pareto_mask_matches_brute_force(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 30)
    # Small integer grid: plenty of ties, the hard case.
    x = [float(rng.randint(0, 6)) for _ in range(n)]
    y = [float(rng.randint(0, 6)) if rng.random() > 0.1 else float("nan") for _ in range(n)]
    for xb, yb in itertools.product(("min", "max"), repeat=2):
        got = list(figures.pareto_mask(x, y, xb, yb))
        want = brute_front(x, y, xb, yb)
        # Exact duplicates: the brute force keeps all copies, the sweep keeps the first; compare as sets of points.
        assert {(x[i], y[i]) for i in range(n) if got[i]} == {(x[i], y[i]) for i in range(n) if want[i]}


# -- reading the store ----------------------------------------------------------------------------
def test_state_missing_invalid_empty_ok(tmp_path, db):
    st = StoreData(tmp_path / "nope.db").state()
    assert st.kind == "missing" and "No results store" in st.message and "hwsim sweep" in st.hint
    junk = tmp_path / "junk.db"
    junk.write_text("not sqlite")
    assert StoreData(junk).state().kind == "invalid"
    Store(tmp_path / "empty.db").close()
    st = StoreData(tmp_path / "empty.db").state()
    assert st.kind == "empty" and "is empty" in st.message
    st = StoreData(db).state()
    assert st.ok and st.counts == {"done": 12, "failed": 1, "running": 1}


def test_points_keep_failure_reason_and_error_metric_apart(db):
    df = StoreData(db).points()
    failed = df[df["status"] == "failed"]
    assert list(failed["fail_reason"]) == [FAILED_ERROR]
    done = df[df["status"] == "done"]
    assert len(done) == 12
    assert np.allclose(done["error"], 1 - done["accuracy"])
    assert set(done["bits"]) == {"W32/A32", "W2/A32", "W1/A1"}


def test_cache_follows_writes(tmp_path):
    path = tmp_path / "grow.db"
    build_store(path, n=2)
    data = StoreData(path)
    v0 = data.version()
    assert len(data.done_points()) == 2
    assert data.points() is data.points()  # cached between commits
    with Store(path) as s:
        s.write(all_points()[5])
    assert data.version() != v0
    assert len(data.done_points()) == 3


def test_layers_sum_to_point_metrics(db):
    """Per-layer energy (all components, training phases) adds up to the step energy the store holds."""
    data = StoreData(db)
    for r in data.done_points().itertuples():
        lay = data.layers(r.id)
        train = per_layer(lay, "energy_pj", "train").to_numpy().sum()
        assert train == pytest.approx(r.train_energy_pj_per_step, rel=1e-9)
        cycles = per_layer_value(lay, "cycles", "train").sum()
        assert cycles == pytest.approx(r.train_step_cycles, rel=1e-9)


def test_point_figures_show_the_store_numbers(db):
    data = StoreData(db)
    pid = data.done_points().query("scheme == 'twn' and model == 'lenet5'")["id"].iloc[0]
    figs = point_figures(data, pid, "forward")
    lay = data.layers(pid)
    fwd = lay[(lay["phase"] == "forward") & lay["name"].str.startswith("energy_pj.")]
    e = figs["pt-energy"]
    assert {t.name for t in e.data} == {"compute (ternary)", "elementwise", "rf", "sram", "dram"}
    assert sum(float(np.nansum(t.y)) for t in e.data) == pytest.approx(fwd["value"].sum(), rel=1e-9)
    assert list(e.data[0].x) == ["conv1", "conv2", "fc1", "fc2"]  # network order, not alphabetical
    assert {t.name for t in figs["pt-macs"].data} == {"ternary"}
    assert {t.name for t in figs["pt-traffic"].data} == {"weight", "input", "output", "stash_write"}
    assert len(figs["pt-curve"].data) == 3 and len(figs["pt-sparsity"].data) == 8
    # The "train" view sums the four training phases: backward_weight runs fp32 MACs for TWN.
    assert {t.name for t in point_figures(data, pid, "train")["pt-macs"].data} == {"ternary", "fp32"}
    assert set(TRAIN_PHASES) <= set(lay["phase"])


def test_pareto_figure_markers_and_filters(db):
    df = StoreData(db).done_points()
    fig = figures.pareto_figure(df, "train_energy_pj_per_step", "accuracy")
    markers = [t for t in fig.data if t.mode == "markers"]
    ids = [c[0] for t in markers for c in t.customdata]
    assert sorted(ids) == sorted(df["id"])
    front = [t for t in fig.data if t.name == "Pareto front"][0]
    mask = figures.pareto_mask(df["train_energy_pj_per_step"], df["accuracy"], "min", "max")
    assert len(front.x) == mask.sum() >= 2
    sub = filtered(df, {"model": ["mlp"], "family": [], "bits": ["W1/A1", "W2/A32"]})
    assert set(sub["scheme"]) == {"bnn", "twn"} and set(sub["model"]) == {"mlp"} and len(sub) == 4
    assert figures.pareto_figure(sub.iloc[0:0], "train_energy_pj_per_step", "accuracy").layout.annotations


def test_compare_table_differences(db):
    df = StoreData(db).done_points().iloc[[0, 3]].reset_index(drop=True)
    rows, cols = metrics_table(df)
    acc = next(r for r in rows if r["metric"] == "Accuracy")
    a, b = df["accuracy"]
    assert acc["p1_diff"] == pytest.approx(100 * (b - a) / a)
    assert len(cols) == 2 + 2 + 1


def test_reads_stay_fast_while_a_sweep_writes(tmp_path):
    """WAL: a writer commits points continuously; every dashboard read answers within a bound."""
    path = tmp_path / "busy.db"
    build_store(path, n=1)
    pts = all_points()
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer():
        try:
            with Store(path) as s:
                for i in itertools.count():
                    if stop.is_set():
                        return
                    p = pts[i % len(pts)]
                    p.id = f"{i:04d}" + p.id[4:]
                    s.write(p)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    data = StoreData(path)
    worst = 0.0
    seen = []
    t_end = time.time() + 3
    while time.time() < t_end:
        t0 = time.perf_counter()
        df = data.done_points()
        if len(df):
            point_figures(data, df["id"].iloc[-1], "train")
        data.state()
        worst = max(worst, time.perf_counter() - t0)
        seen.append(len(df))
    stop.set()
    th.join(10)
    assert not errors
    assert seen[-1] > seen[0] + 5, "reader did not see the writer's commits"
    # Not a speed target (those live in benchmarks/): a reader blocked by the writer would wait out
    # SQLite's 30 s busy timeout; a busy CI machine stays far below that.
    assert worst < 15.0, f"a read took {worst:.2f}s while the writer was busy: blocked by the writer?"


# -- export ----------------------------------------------------------------------------------------
def test_figure_export_formats(db):
    df = StoreData(db).done_points()
    fig = figures.pareto_figure(df, "infer_energy_pj", "accuracy")
    html = figures.figure_bytes(fig, "html").decode()
    assert "<html" in html and "plotly" in html and 'src="https://cdn' not in html
    svg = figures.figure_bytes(fig, "svg")
    assert b"<svg" in svg[:2000]
    png = figures.figure_bytes(fig, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_download_matches_store(db, tmp_path):
    import base64
    import json

    from webapp.pages.explore import report_download

    data = StoreData(db)
    ids = list(data.done_points()["id"][:2])
    sent = report_download(data, ids, "json")
    doc = json.loads(base64.b64decode(sent["content"]) if sent.get("base64") else sent["content"])
    got = {p["id"]: p["metrics"]["train_energy_pj_per_step"] for p in doc["points"]}
    df = data.points().set_index("id")
    assert got == {i: pytest.approx(df.loc[i, "train_energy_pj_per_step"]) for i in ids}
    from hwsim.errors import UserError

    with pytest.raises(UserError, match="no such point"):
        report_download(data, ["0000nosuchpoint"], "csv")


# -- hwsim serve -------------------------------------------------------------------------------------
def test_serve_missing_store_is_a_user_error(tmp_path, capsys):
    assert cli_main(["serve", str(tmp_path / "none.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "hwsim sweep" in err and "\n" not in err
    junk = tmp_path / "junk.db"
    junk.write_text("nope")
    assert cli_main(["serve", str(junk)]) == 2
    assert "not a hwsim results store" in capsys.readouterr().err


def test_webapp_and_serve_do_not_import_torch():
    code = ("import sys, hwsim.cli, webapp.app, webapp.figures; webapp.app.create_app('/nonexistent.db'); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_serve_binds_loopback_and_answers(db, free_port):
    proc = subprocess.Popen([sys.executable, "-m", "hwsim.cli", "serve", str(db), "--port", str(free_port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{free_port}/", timeout=2) as r:
                    body = r.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert body and "hwsim dashboard" in body
        # Only loopback: the same port on a non-loopback address of this machine is closed.
        import socket

        ip = socket.gethostbyname(socket.gethostname())
        if not ip.startswith("127."):
            with socket.socket() as s, pytest.raises(OSError):
                s.settimeout(1)
                s.connect((ip, free_port))
    finally:
        proc.terminate()
        proc.wait(10)


def test_per_layer_order_and_empty_phase():
    lay = pd.DataFrame([("b", "forward", "macs.fp32", 2.0), ("a", "forward", "macs.fp32", 3.0),
                        ("b", "forward", "macs.int4x4", 1.0)], columns=["layer", "phase", "name", "value"])
    wide = per_layer(lay, "macs", "forward")
    assert list(wide.index) == ["b", "a"] and wide.loc["b", "int4x4"] == 1.0 and wide.loc["a", "int4x4"] == 0.0
    assert per_layer(lay, "macs", "inference").shape[1] == 0
    assert figures.stacked_layers_figure(per_layer(lay, "macs", "inference"), "x", "y").layout.annotations


# -- callbacks over HTTP (what the browser posts), without a browser --------------------------------
def post_callback(client, outputs: list[tuple[str, str]], inputs: list[tuple[str, str, object]],
                  state: list[tuple[str, str, object]] = (), triggered: str | None = None) -> dict:
    """POST one callback request the way dash-renderer does; return {id: {prop: value}}."""
    out_key = "...".join(f"{i}.{p}" for i, p in outputs)
    payload = {
        "output": f"..{out_key}.." if len(outputs) > 1 else out_key,
        "outputs": [{"id": i, "property": p} for i, p in outputs] if len(outputs) > 1
        else {"id": outputs[0][0], "property": outputs[0][1]},
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
        "changedPropIds": [triggered] if triggered else [],
    }
    r = client.post("/_dash-update-component", json=payload)
    assert r.status_code == 200, r.data[:500]
    return r.get_json()["response"]


def test_callbacks_answer_over_http(db):
    from webapp.app import create_app
    from webapp.pages.explore import FILTERS

    app = create_app(db)
    client = app.server.test_client()
    assert client.get("/").status_code == 200
    # Status page: counts and the failure reason.
    res = post_callback(client, [("st-summary", "children"), ("st-failed", "rowData"), ("st-running", "rowData"),
                                 ("st-recent", "rowData")], [("store-version", "data", "v")])
    assert [r["error"] for r in res["st-failed"]["rowData"]] == [FAILED_ERROR]
    assert res["st-running"]["rowData"][0]["label"] == "mlp/lq"
    assert len(res["st-recent"]["rowData"]) == 12
    # Explore: 12 markers, 6 with the model filter.
    outputs = [("ex-pareto", "figure"), ("ex-grid", "rowData"), ("ex-grid", "columnDefs"), ("ex-count", "children")]
    base = [("store-version", "data", "v"), ("ex-x", "value", "infer_energy_pj"), ("ex-y", "value", "error"),
            ("ex-logx", "value", True), ("ex-logy", "value", False), ("ex-color", "value", "family"),
            ("ex-symbol", "value", "accelerator"), ("ex-size", "value", "model_size_bytes"),
            ("ex-grid", "selectedRows", None), ("ex-front-only", "value", False)]

    def markers(filters: dict) -> int:
        res = post_callback(client, outputs, base + [(cid, "value", filters.get(cid, [])) for cid, _, _ in FILTERS])
        fig = res["ex-pareto"]["figure"]
        return sum(len(t["customdata"]) for t in fig["data"] if t.get("mode") == "markers" and "customdata" in t)

    assert markers({}) == 12
    assert markers({"ex-f-model": ["mlp"]}) == 6
    assert markers({"ex-f-model": ["mlp"], "ex-f-accel": ["tpu_like"], "ex-f-family": ["binary"]}) == 1
    # "Pareto front only" keeps exactly the starred rows.
    base[-1] = ("ex-front-only", "value", True)
    res = post_callback(client, outputs, base + [(cid, "value", []) for cid, _, _ in FILTERS])
    rows = res["ex-grid"]["rowData"]
    df = StoreData(db).done_points()
    want = figures.pareto_mask(df["infer_energy_pj"], df["error"], "min", "min")
    assert sorted(r["id"] for r in rows) == sorted(df["id"][want]) and all(r["front"] for r in rows)
    assert markers({}) == int(want.sum())
    base[-1] = ("ex-front-only", "value", False)
    # Missing store: a message with the command, not an error.
    app2 = create_app(db.parent / "missing.db")
    res = post_callback(app2.server.test_client(), [("status-badge", "children"), ("status-badge", "color"),
                                                     ("store-alert", "children")], [("store-version", "data", "v")])
    assert "hwsim sweep" in str(res["store-alert"]["children"])
    assert res["status-badge"]["children"] == "no store"


def test_small_layers_grouped_as_other_keep_totals(db):
    """A deep net's batch norms/activations go into one "other (n)" bar; every total is unchanged."""
    data = StoreData(db)
    pid = data.done_points()["id"].iloc[0]
    lay = data.layers(pid)
    extra = pd.DataFrame([(f"bn{i}", ph, n, 10.0 * (i + 1)) for i in range(3) for ph in ("forward", "backward_data")
                          for n in ("energy_pj.elementwise", "traffic_bytes.output", "cycles")],
                         columns=["layer", "phase", "name", "value"])
    big = pd.concat([lay, extra], ignore_index=True)
    data.layers = lambda _pid: big  # what a store with these rows would return
    for view, n_bars in (("macs", 5), ("all", 7)):
        figs = point_figures(data, pid, "train", view)
        xs = list(figs["pt-energy"].data[0].x)
        assert len(xs) == n_bars
        assert sum(float(np.nansum(t.y)) for t in figs["pt-energy"].data) == pytest.approx(
            big[big["name"].str.startswith("energy_pj.") & (big["phase"] != "inference")]["value"].sum())
        cyc = [t for t in figs["pt-cycles"].data if t.type == "bar"]
        assert sum(float(np.nansum(t.y)) for t in cyc) == pytest.approx(
            big[(big["name"] == "cycles") & (big["phase"] != "inference")]["value"].sum())
    assert xs[-1] == "bn2" and list(point_figures(data, pid, "train", "macs")["pt-energy"].data[0].x)[-1] == "other (3)"


def test_box_select_on_plot_ticks_rows(db):
    from webapp.app import create_app

    client = create_app(db).server.test_client()
    df = StoreData(db).done_points()
    rows = [{"id": i, "label": lab} for i, lab in zip(df["id"], df["label"])]
    picked = list(df["id"][[1, 4]])
    sel = {"points": [{"customdata": [i], "x": 1, "y": 2} for i in picked]}
    res = post_callback(client, [("ex-grid", "selectedRows")], [("ex-pareto", "selectedData", sel)],
                        [("ex-grid", "rowData", rows)], triggered="ex-pareto.selectedData")
    assert [r["id"] for r in res["ex-grid"]["selectedRows"]] == picked
