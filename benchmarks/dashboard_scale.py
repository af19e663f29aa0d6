"""The dashboard at 100 / 10,000 / 50,000 design points, driven in headless chromium with Playwright.

    python benchmarks/dashboard_scale.py                 # 100, 10000, 50000 points
    python benchmarks/dashboard_scale.py --sizes 10000   # one size
    python benchmarks/dashboard_scale.py --make-only --sizes 100 --out /tmp/stores
    python benchmarks/dashboard_scale.py --sizes 0 --hardware 10000   # a 10,000-point hardware sweep
    python benchmarks/dashboard_scale.py --sizes 50000 --live-only --follow-cost --out DIR   # a sweep's cost
    python benchmarks/dashboard_scale.py --sizes 50000 --live-only --live-timeline --out DIR   # its slowest change

Writes synthetic stores (realistic configs: the quickstart's models and schemes with their
hyper-parameters, accelerators with varied array size / dataflow / clock in a hardware slice,
metrics that move together the way priced points do), serves each with ``hwsim serve`` and
measures, in the browser: navigation to a drawn Explore plot, and to the page loaded whole (its
table filled), an axis change (log x off, once the page has loaded), a filter change (one model),
the bytes each change ships, and the JS heap; and where the
drawn time goes: the server time (request to first byte) of what carried the figure (the page's
layout, when the server had drawn the opening view, else the Pareto callback), when the figure
had arrived, and the main thread's script and layout time (Chromium's Performance metrics,
until drawn). Targets at 50,000:
drawn within 3 s, a change within 1 s, heap under 300 MB. Needs ``pip install playwright`` and
the Debian chromium (/usr/bin/chromium); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim.store import PointResult, Store  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
MODELS = [("lenet300", {}, 0.975, 2.7e5), ({"name": "graham_fc", "args": {"n": 7}}, {}, 0.96, 1.1e5),
          ({"name": "resnet20", "args": {"width": 0.5}}, {}, 0.93, 1.0e7), ("resnet18", {}, 0.70, 1.8e9)]
SCHEMES = [({"name": "fp32"}, "float", 32, 32, 1.0, 0.0), ({"name": "bnn"}, "binary", 1, 1, 0.05, 0.06),
           ({"name": "xnor"}, "binary", 1, 1, 0.06, 0.05), ({"name": "bwn"}, "binary", 1, 32, 0.5, 0.02),
           ({"name": "twn"}, "ternary", 2, 32, 0.45, 0.015), ({"name": "ttq"}, "ternary", 2, 32, 0.47, 0.012),
           ({"name": "lqnets", "weight_bits": 2}, "lq", 2, 32, 0.4, 0.01),
           ({"name": "kbit", "weight_bits": 4, "act_bits": 4}, "kbit", 4, 4, 0.12, 0.008),
           *[({"name": "graham", "quantizer": q}, "graham", 32, 32, f, e)
             for q, f, e in (("L2", 0.8, 0.01), ("L4", 0.85, 0.005), ("U8", 0.9, 0.003), ("O4", 0.86, 0.006))],
           ({"name": "pruning", "sparsity": 0.8}, "pruning", 32, 32, 0.35, 0.004)]
DATAFLOWS = ("ws", "os", "is")


def make_store(path: Path, n: int, seed: int = 0) -> None:
    """``n`` finished points; every 4th varies the accelerator's array, dataflow and clock."""
    rng = np.random.default_rng(seed)
    path.unlink(missing_ok=True)
    with Store(path) as s:
        s.conn.execute("PRAGMA synchronous=OFF")
        for i in range(n):
            model, _, acc0, macs = MODELS[i % len(MODELS)]
            scheme, family, bw, ba, efac, aloss = SCHEMES[(i // len(MODELS)) % len(SCHEMES)]
            rows = int(rng.choice([8, 16, 32, 64, 128]))
            cols = int(rng.choice([8, 16, 32, 64, 128]))
            hw = i % 4 == 0
            accel = ({"name": "tpu_like", "array": {"rows": rows, "cols": cols},
                      "dataflow": str(rng.choice(DATAFLOWS)), "clock_mhz": int(rng.choice([200, 500, 1000]))}
                     if hw else str(rng.choice(["tpu_like", "eyeriss"])))
            recipe = {"epochs": 10, "batch": 64, "lr": float(rng.choice([0.001, 0.005, 0.01])), "seed": i}
            cfg = {"model": model if isinstance(model, dict) else {"name": model, "args": {}}, "dataset": "digits",
                   "scheme": scheme, "accelerator": accel, "tech": "45nm", "recipe": recipe,
                   "accuracy_source": "train"}
            pid = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]
            pes = rows * cols if hw else 256
            e_step = macs * 64 * 3 * 4.6 * efac * rng.lognormal(0, 0.25)
            cycles = macs / pes / max(0.2, rng.uniform(0.3, 0.95))
            acc = float(np.clip(acc0 - aloss - abs(rng.normal(0, 0.02)), 0.05, 0.999))
            metrics = {"accuracy": acc, "error": 1 - acc, "train_energy_pj_per_step": e_step,
                       "train_energy_pj_per_epoch": e_step * 30, "infer_energy_pj": e_step / 64 / 3,
                       "train_memory_bytes": macs * 0.02 * (bw + 32) * rng.lognormal(0, 0.1),
                       "stash_bytes": macs * 0.01 * ba, "model_size_bytes": macs * 0.004 * bw,
                       "latency_cycles": cycles, "train_step_cycles": cycles * 64 * 3,
                       "dram_bytes_per_step": macs * 0.05 * rng.lognormal(0, 0.3),
                       "dram_bytes_infer": macs * 0.001, "macs_train_step": macs * 64 * 3, "macs_infer": macs,
                       "utilization": float(rng.uniform(0.3, 0.95)),
                       # a metric the canonical list does not know: handled generically
                       "area_mm2": 0.002 * pes * (bw + ba) / 8 + 0.5}
            mname = cfg["model"]["name"]
            layers = []
            if n <= 100 or i % 50 == 0:
                for la in ("fc1", "bn1", "relu1", "fc2"):
                    for ph in ("forward", "backward_data", "backward_weight", "update", "inference"):
                        for comp, share in (("compute.fp32", 0.4), ("elementwise", 0.05), ("rf", 0.1),
                                            ("sram", 0.2), ("dram", 0.25)):
                            layers.append((la, ph, f"energy_pj.{comp}", e_step * share / 20))
                        layers.append((la, ph, "macs.fp32", macs * 64 / 20 if la.startswith("fc") else 0.0))
            s.write(PointResult(
                id=pid, config=cfg, sweep=f"scale-{n}" if i % 3 else f"scale-{n}-hw", label=None,
                columns={"model": mname, "dataset": "digits", "scheme": scheme["name"], "family": family,
                         "bits_w": bw, "bits_a": ba, "tech": "45nm",
                         "accelerator": accel if isinstance(accel, str) else accel["name"],
                         "accuracy_source": "train"},
                metrics=metrics, layers=layers, started=1.7e9 + i, finished=1.7e9 + i + 5))


HW_SWEEP = ROOT / "configs" / "sweeps" / "hardware_search.yaml"
# accuracy per scheme (the hardware sweep prices without training): hardware moves cost, not accuracy
HW_ACCURACY = {"fp32": 0.697, "bnn": 0.42, "twn": 0.61, "kbit": 0.66}
HW_ENERGY = {"fp32": 4.6, "bnn": 0.2, "twn": 0.5, "kbit": 0.7}   # pJ per MAC at the PE, by scheme
# the jitter a replica of a swept design gets: (clock factor, filter kB, ofmap kB)
# (the second and third keep the SRAM total: only the buffers tell them apart)
HW_JITTER = ((1.0, None, None), (1.0, 128.0, 384.0), (1.0, 384.0, 128.0), (1.2, 512.0, 512.0))


def make_hardware_store(path: Path, n: int, seed: int = 0) -> None:
    """``n`` finished points of a hardware sweep: the real configs of configs/sweeps/hardware_search.yaml
    (resnet18 on 648 tpu_like variants of array, dataflow, input buffer and clock, for 4 schemes: 2,592
    points), replicated with jitter of the clock and the filter and output buffers until ``n``, with
    metrics that follow the hardware (cycles from the array and dataflow, energy from the scheme and the
    buffers, area from the array and SRAM). Many points share model and scheme; only the accelerator's
    fields tell them apart."""
    from hwsim.sweep.expand import expand_sweep
    from hwsim.sweep.schema import load_sweep

    sw, lm = load_sweep(HW_SWEEP)
    base = [p.to_json() for p in expand_sweep(sw, lm, HW_SWEEP.parent)]
    rng = np.random.default_rng(seed)
    macs = 1.814e9
    path.unlink(missing_ok=True)
    with Store(path) as s:
        s.conn.execute("PRAGMA synchronous=OFF")
        for i in range(n):
            clock_f, filt, ofm = HW_JITTER[(i // len(base)) % len(HW_JITTER)]
            cfg = json.loads(json.dumps(base[i % len(base)]))
            hw = cfg["hardware"]
            hw["clock_mhz"] = round(hw["clock_mhz"] * clock_f)
            hw["sram"]["filter_kb"] = filt or hw["sram"]["filter_kb"]
            hw["sram"]["ofmap_kb"] = ofm or hw["sram"]["ofmap_kb"]
            pid = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]
            scheme = cfg["scheme"]["name"]
            rows, cols, df = hw["array"]["rows"], hw["array"]["cols"], hw["array"]["dataflow"]
            sram_kb = sum(hw["sram"].values())
            util = {"ws": 0.85, "os": 0.75, "is": 0.65}[df] * min(1.0, 16 / min(rows, cols) + 0.3)
            cycles = macs / (rows * cols * util) * rng.lognormal(0, 0.05)
            dram = macs * 0.04 * (64 / hw["sram"]["ifmap_kb"]) ** 0.3 * rng.lognormal(0, 0.1)
            e_inf = macs * HW_ENERGY[scheme] * (1 + 0.05 * np.log2(sram_kb / 576)) + dram * 160
            area = 0.0025 * rows * cols * (8 if scheme == "fp32" else 2) + 0.0046 * sram_kb + 0.5
            acc = HW_ACCURACY[scheme]
            metrics = {"accuracy": acc, "error": 1 - acc, "infer_energy_pj": e_inf,
                       "train_energy_pj_per_step": e_inf * 3 * 32, "latency_cycles": cycles,
                       "latency_us": cycles / hw["clock_mhz"], "train_step_cycles": cycles * 3 * 32,
                       "dram_bytes_infer": dram, "dram_bytes_per_step": dram * 3 * 32, "macs_infer": macs,
                       "macs_train_step": macs * 3 * 32, "area_mm2": area, "utilization": util,
                       "tops_per_w": 2 * macs / e_inf}
            s.write(PointResult(
                id=pid, config=cfg, sweep=sw.name, label=None,
                columns={"model": "resnet18", "dataset": "imagenet", "scheme": scheme,
                         "family": {"fp32": "float", "bnn": "binary", "twn": "ternary", "kbit": "kbit"}[scheme],
                         "bits_w": {"fp32": 32, "bnn": 1, "twn": 2, "kbit": 4}[scheme],
                         "bits_a": {"fp32": 32, "bnn": 1, "twn": 32, "kbit": 4}[scheme], "tech": "45nm",
                         "accelerator": "tpu_like", "accuracy_source": "none"},
                metrics=metrics, layers=[], started=1.7e9 + i, finished=1.7e9 + i + 5))


def names_tell_apart(db: Path) -> dict:
    """Whether every design in the store has its own name (what hover and the table show first): the
    dashboard's names of the done points against their distinct configs, and the fields the names show."""
    from webapp.data import StoreData

    data = StoreData(db)
    df = data.done_points()
    dup = df[df["name"].duplicated(keep=False)].sort_values("name")
    return {"points": len(df), "names": int(df["name"].nunique()), "shared": len(dup),
            "example": df["name"].iloc[0] if len(df) else "",
            "first_shared": dup["name"].iloc[0] if len(dup) else ""}


def _free_port() -> int:
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


class ServerDidNotStart(RuntimeError):
    pass


@contextlib.contextmanager
def served(db: Path, *args: str, wait_s: float = 60.0) -> Iterator[int]:
    """``hwsim serve db *args`` on a free port, in a subprocess running this checkout's code; yields the
    port once the server answers a page request, and stops the server on exit. Waits at most ``wait_s``
    seconds, then raises :class:`ServerDidNotStart` (a server that never answers is a failure, not a
    slow figure). ``served.startup_s`` is how long it took to answer."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    srv = subprocess.Popen([sys.executable, "-m", "hwsim.cli", "serve", str(db), "--port", str(port), *args],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    r.read()
                break
            except OSError:
                if srv.poll() is not None:
                    raise ServerDidNotStart(f"hwsim serve exited with status {srv.returncode}") from None
                if time.perf_counter() - t0 > wait_s:
                    raise ServerDidNotStart(f"hwsim serve did not answer within {wait_s:g} s") from None
                time.sleep(0.05)
        served.startup_s = time.perf_counter() - t0
        served.pid = srv.pid
        yield port
    finally:
        srv.terminate()
        srv.wait(10)


served.startup_s = float("nan")


a_wait_s = 60.0   # how long a server may take to answer before the run counts as failed (--wait-s)
ROW = "#ex-grid .ag-center-cols-container .ag-row"   # a row of the Explore table: the page has loaded whole


def measure(db: Path, n: int, filter_on: tuple[str, str] = ("ex-f-model", "lenet300")) -> dict:
    """Start-up, first draw with every point represented, axis and filter changes (``filter_on``: the
    filter's control and the value typed into it), heap, and whether hover names tell the drawn markers
    apart, in chromium."""
    from playwright.sync_api import sync_playwright

    out: dict = {"points": n}
    with served(db, "--refresh-ms", "60000", wait_s=a_wait_s) as port:
        out["startup_s"] = served.startup_s
        # points the plot represents: markers that carry a point, plus the density layer's counts
        count_js = """() => { const g = document.querySelector('#ex-pareto .js-plotly-plot');
            if (!g || !g.data) return 0;
            let k = g.data.filter(t => t.mode === 'markers' && t.customdata && t.name !== 'compared')
                .reduce((k, t) => k + t.customdata.length, 0);
            for (const t of g.data) if (t.type === 'heatmap' && t.z)
                for (const row of t.z) for (const v of row) k += v || 0;
            return k; }"""
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--enable-precise-memory-info"])
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = ctx.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            sizes: list[int] = []

            def size(r) -> None:
                if "_dash-update-component" in r.url:
                    try:
                        sizes.append(len(r.body()))
                    except Exception:  # a response still in flight when the page closed
                        pass

            page.on("response", size)
            pareto: list[dict] = []   # where the time of the Pareto callback goes: server, transfer
            layout: list[dict] = []   # the page's layout, when it carried the opening figure

            def timing(r) -> None:
                if "_dash-update-component" in r.url and "ex-pareto.figure" in (r.post_data or ""):
                    try:   # a callback that sends no figure (the page holds it) does not count
                        if b'"ex-pareto"' in r.response().body():
                            pareto.append(r.timing)
                    except Exception:  # a response still in flight when the page closed
                        pass
                elif r.url.endswith("_dash-layout"):
                    try:
                        if b"customdata" in r.response().body():
                            layout.append(r.timing)
                    except Exception:
                        pass

            page.on("requestfinished", timing)
            # First visit: the server reads the store, the browser fetches ~5 MB of JS (plotly, AG Grid).
            t0 = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function(f"({count_js})() >= {n}", timeout=180_000)
            out["first_s"] = time.perf_counter() - t0
            # the page loaded whole: its table filled (the plot may come first, drawn by the server ahead)
            page.wait_for_selector(ROW, timeout=180_000)
            out["first_ready_s"] = time.perf_counter() - t0
            # when the first visit's figure had arrived: with the page's layout (drawn by the server as it
            # starts), else by the Pareto callback (after the store's read and the callbacks it waits on)
            first = layout[0] if layout else pareto[0] if pareto else None
            if first is not None:
                out["first_fig_at_s"] = (first["startTime"] + first["responseEnd"]
                                         - page.evaluate("performance.timeOrigin")) / 1e3
                out["first_fig_with"] = "the page" if layout else "its callback"
            pareto.clear()
            layout.clear()
            page.close()
            # Then time a new tab (browser cache and server cache warm: what a user opening a link sees).
            page = ctx.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("response", size)
            page.on("requestfinished", timing)
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            t0 = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function(f"({count_js})() >= {n}", timeout=120_000)
            out["drawn_s"] = time.perf_counter() - t0
            page.wait_for_selector(ROW, timeout=120_000)
            out["ready_s"] = time.perf_counter() - t0
            # The browser's main thread until drawn: scripts (parsing included) and layout/paint.
            perf = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            out["script_s"], out["layout_s"] = perf.get("ScriptDuration", 0.0), perf.get("LayoutDuration", 0.0)
            t = layout[0] if layout else pareto[0] if pareto else None
            if t is not None:
                out["pareto_server_s"] = (t["responseStart"] - t["requestStart"]) / 1e3
                # when the figure had arrived, from navigation start (the rest of "drawn" is the browser's)
                out["pareto_at_s"] = (t["startTime"] + t["responseEnd"] - page.evaluate("performance.timeOrigin")) / 1e3
            out["markers"] = page.evaluate(count_js)
            # hover's first line is customdata[1], the design's name: one name per drawn marker
            names = page.evaluate("""() => { const g = document.querySelector('#ex-pareto .js-plotly-plot');
                const ids = new Set(), names = new Set();
                for (const t of g.data) if (t.mode === 'markers' && t.customdata)
                    for (const c of t.customdata) { ids.add(c[0]); names.add(c[1]); }
                return [ids.size, names.size]; }""")
            out["hover_markers"], out["hover_names"] = names
            page.wait_for_timeout(500)
            # Axis change (log x off), once the page has loaded whole (timed above: ready_s).
            sizes.clear()
            t0 = time.perf_counter()
            page.click("label[for=ex-logx]")
            page.wait_for_function("() => document.querySelector('#ex-pareto .js-plotly-plot')"
                                   "._fullLayout.xaxis.type === 'linear'", timeout=60_000)
            out["axis_s"] = time.perf_counter() - t0
            page.wait_for_timeout(300)
            out["axis_kb"] = sum(sizes) / 1e3
            # Filter change: one model.
            before = page.inner_text("#ex-count")
            sizes.clear()
            t0 = time.perf_counter()
            page.click(f"#{filter_on[0]}")
            page.wait_for_selector("input.dash-dropdown-search")
            page.keyboard.type(filter_on[1])
            page.keyboard.press("Enter")
            page.wait_for_function(f"() => document.querySelector('#ex-count').innerText !== {json.dumps(before)}",
                                   timeout=60_000)
            out["filter_s"] = time.perf_counter() - t0
            page.wait_for_timeout(300)
            out["filter_kb"] = sum(sizes) / 1e3
            cdp = page.context.new_cdp_session(page)
            cdp.send("HeapProfiler.collectGarbage")
            cdp.send("Performance.enable")
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            out["heap_mb"] = metrics.get("JSHeapUsedSize", 0) / 1e6
            out["heap_total_mb"] = metrics.get("JSHeapTotalSize", 0) / 1e6
            out["console_errors"] = len(errors)
            if errors:
                out["first_error"] = errors[0][:300]
            browser.close()
    return out


WRITER = """
import sys, time, json, hashlib
sys.path.insert(0, sys.argv[3])
from hwsim.store import PointResult, Store
n, every = int(sys.argv[2]), 1.0
with Store(sys.argv[1]) as s:
    for k in range(n // 20):
        batch = []
        for j in range(20):
            i = k * 20 + j
            cfg = {"model": {"name": "lenet300", "args": {}}, "scheme": {"name": "live", "step": i},
                   "accelerator": "tpu_like", "dataset": "digits", "tech": "45nm", "accuracy_source": "train"}
            pid = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]
            batch.append(PointResult(id=pid, config=cfg, sweep="live", columns={"model": "lenet300",
                         "scheme": "live", "family": "live", "accelerator": "tpu_like", "dataset": "digits"},
                         metrics={"accuracy": 0.5 + 0.4 * (i % 97) / 97, "train_energy_pj_per_step": 1e9 * (1 + i),
                                  "infer_energy_pj": 1e6 * (1 + i), "latency_cycles": 1e5}))
        for r in batch:
            s.write(r)
        print(time.time(), (k + 1) * 20, flush=True)
        time.sleep(every)
"""


LONG_TASKS = """() => { window.__longTasks = []; new PerformanceObserver(function (list) {
    for (const e of list.getEntries()) window.__longTasks.push([e.startTime, e.duration]); })
    .observe({type: 'longtask'}); }"""


def measure_live(db: Path, n: int, points: int = 200, timeline: bool = False) -> dict:
    """A sweep writing 20 points a second into the served store: axis changes while it writes, how
    long after its commit a point is counted on the page, and what the Pareto plot's answers shipped
    (patches appending a commit's points, whole figures). With ``timeline``, also ``live_timeline``:
    the commits, the browser's callback requests (when sent, the server's time to first byte, what
    they answer) and its main thread's long tasks (over 50 ms) around the slowest axis change."""
    from playwright.sync_api import sync_playwright

    out: dict = {}
    shipped: dict[str, list[int]] = {"patch": [], "whole": []}
    requests: list[tuple[float, str]] = []

    def plot_answer(r) -> None:
        if "_dash-update-component" not in r.url:
            return
        posted = r.request.post_data or ""
        try:
            body = r.body()   # read first: the request's timing is complete once its body is in
        except Exception:  # noqa: BLE001 - a response the page dropped (a newer request replaced it)
            body = None
        if timeline:
            t = r.request.timing
            try:
                what = str(json.loads(posted).get("output", ""))[:70]
            except ValueError:
                what = "?"
            requests.append((t["startTime"] / 1000, f"request, server {t['responseStart'] - t['requestStart']:.0f} "
                                                    f"ms, in by +{max(t['responseEnd'], 0) / 1000:.2f} s"
                                                    f"{'' if body is None else f', {len(body):,} B'}: {what}"))
        if body is None or "ex-pareto.figure" not in posted:
            return
        if b'"ex-pareto"' in body:
            shipped["patch" if b"__dash_patch_update" in body else "whole"].append(len(body))

    with served(db, "--refresh-ms", "1000", wait_s=a_wait_s) as port, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("() => { const e = document.querySelector('#ex-count');"
                               " return e && /of \\d+ design points/.test(e.innerText); }", timeout=180_000)
        # let the page settle (its first callbacks answered, the table filled) before the sweep starts
        page.wait_for_selector(ROW, timeout=120_000)
        page.wait_for_timeout(3000)
        page.on("response", plot_answer)
        if timeline:
            page.evaluate(LONG_TASKS)
        origin = page.evaluate("() => performance.timeOrigin") / 1000   # the page's clock, as epoch seconds
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(points), str(ROOT)],
                                  stdout=subprocess.PIPE, text=True)
        commits: list[tuple[float, int]] = []
        seen: list[tuple[float, int]] = []
        axis: list[float] = []
        clicks: list[float] = []
        log = True
        try:
            t_end = time.time() + points / 20 + 8
            while time.time() < t_end or len(axis) < 8:   # axis changes while the sweep writes, and after
                t0 = time.perf_counter()
                clicks.append(time.time() - origin)
                page.click("label[for=ex-logx]")
                log = not log
                want = "log" if log else "linear"
                page.wait_for_function("() => document.querySelector('#ex-pareto .js-plotly-plot')"
                                       f"._fullLayout.xaxis.type === '{want}'", timeout=60_000)
                axis.append(time.perf_counter() - t0)
                text = page.inner_text("#ex-count")
                total = int(text.split(" of ")[1].split()[0].replace(",", "")) if " of " in text else 0
                seen.append((time.time(), total))
                page.wait_for_timeout(250)
        finally:
            writer.wait(60)
            commits = [(float(t), int(k)) for t, k in (line.split() for line in writer.stdout.read().splitlines())]
            tasks = page.evaluate("() => window.__longTasks || []") if timeline else []
            browser.close()
    if timeline and axis:
        worst = int(np.argmax(axis))
        lo, hi = clicks[worst] - 1.0, clicks[worst] + axis[worst] + 0.3
        events = [(t - origin, f"commit of {k} points") for t, k in commits] + [
            (clicks[worst], f"AXIS CHANGE asked (took {axis[worst]:.2f} s)"),
            *((s_ / 1000, f"main thread long task {d:.0f} ms") for s_, d in tasks),
            *((t - origin, what) for t, what in requests)]
        out["live_timeline"] = [f"{t:7.2f} s  {what}" for t, what in sorted(events) if lo <= t <= hi]
    lag = []
    for t_commit, k in commits:
        shown = [t for t, total in seen if total >= n + k]
        if shown:
            lag.append(shown[0] - t_commit)
    out["live_axis_s_max"] = max(axis) if axis else float("nan")
    out["live_axis_s_median"] = float(np.median(axis)) if axis else float("nan")
    out["live_shown_after_commit_s_max"] = max(lag) if lag else float("nan")
    out["live_commits"] = len(commits)
    out["live_patches"], out["live_wholes"] = shipped["patch"], shipped["whole"]
    return out


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_follow(db: Path, points: int = 200) -> dict:
    """What following a sweep costs with nobody at the page: the server's CPU seconds and the browser's
    main-thread time (Chromium's TaskDuration, and its script, layout and style parts) while a writer
    commits 20 points a second into the served store, until 4 s after its last commit. CPU time, not
    wall time, so it compares across loads better than the timings."""
    from playwright.sync_api import sync_playwright

    with served(db, "--refresh-ms", "1000", wait_s=a_wait_s) as port, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector(ROW, timeout=180_000)
        page.wait_for_timeout(4000)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")

        def browser_s() -> tuple[float, float]:
            m = {x["name"]: x["value"] for x in cdp.send("Performance.getMetrics")["metrics"]}
            return m["TaskDuration"], m["ScriptDuration"] + m["LayoutDuration"] + m["RecalcStyleDuration"]

        c0, (t0, b0) = _cpu_s(served.pid), browser_s()
        subprocess.run([sys.executable, "-c", WRITER, str(db), str(points), str(ROOT)], stdout=subprocess.DEVNULL,
                       check=True)
        page.wait_for_timeout(4000)
        c1, (t1, b1) = _cpu_s(served.pid), browser_s()
        browser.close()
    return {"follow_server_cpu_s": c1 - c0, "follow_browser_task_s": t1 - t0, "follow_browser_script_layout_s": b1 - b0,
            "follow_commits": points // 20}


def main() -> None:
    global a_wait_s
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000, 50_000])
    ap.add_argument("--out", type=Path, default=None, help="folder for the stores (default: a temporary one)")
    ap.add_argument("--make-only", action="store_true")
    ap.add_argument("--wait-s", type=float, default=60.0,
                    help="how long the server may take to answer before the run fails (default 60 s)")
    ap.add_argument("--live", action="store_true", help="also measure a sweep writing into the served store")
    ap.add_argument("--live-only", action="store_true", help="only the live-sweep measurement")
    ap.add_argument("--live-timeline", action="store_true",
                    help="with --live/--live-only: print what happened around the slowest axis change (commits, "
                         "the browser's callback requests and the server's time for each, the main thread's long "
                         "tasks), on the page's clock")
    ap.add_argument("--follow-cost", action="store_true",
                    help="with --live/--live-only: also the server's and browser's CPU time to follow a sweep")
    ap.add_argument("--hardware", type=int, nargs="*", default=[], metavar="N",
                    help="also a hardware-sweep store of N points (configs/sweeps/hardware_search.yaml's designs "
                         "replicated with jitter; --sizes 0 for this case alone)")
    a = ap.parse_args()
    a_wait_s = a.wait_s
    folder = a.out or Path(tempfile.mkdtemp(prefix="hwsim-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}; "
          f"server start-up limit {a.wait_s:g} s", flush=True)
    print("points  write_s  startup_s  first_s  drawn_s  axis_s  axis_kB  filter_s  filter_kB  heap_MB  represented"
          "  errors  | fig_server_s  fig_arrived_s  script_s  layout_s")
    cases = [(n, False) for n in a.sizes if n] + [(n, True) for n in a.hardware]
    for n, hardware in cases:
        db = folder / (f"hw_{n}.db" if hardware else f"scale_{n}.db")
        t0 = time.perf_counter()
        if not db.exists():
            (make_hardware_store if hardware else make_store)(db, n)
        write_s = time.perf_counter() - t0
        if a.make_only:
            print(f"{n:>6}  {write_s:7.1f}  (store at {db})")
            continue
        nt = names_tell_apart(db)
        print(f"{'hardware sweep' if hardware else 'replicated sweep'}, {n} points: {nt['names']} distinct names "
              f"for {nt['points']} designs ({nt['shared']} share a name"
              f"{': ' + nt['first_shared'] if nt['shared'] else ''}); e.g. {nt['example']}", flush=True)
        try:
            filter_on = ("ex-f-scheme", "bnn") if hardware else ("ex-f-model", "lenet300")
            r = measure(db, n, filter_on) if not a.live_only else None
        except ServerDidNotStart as e:
            print(f"{n:>6}  {write_s:7.1f}  FAILED: {e}", flush=True)
            continue
        if r is not None:
            print(f"{n:>6}  {write_s:7.1f}  {r['startup_s']:9.2f}  {r['first_s']:7.2f}  {r['drawn_s']:7.2f}  "
                  f"{r['axis_s']:6.2f}  {r['axis_kb']:7.0f}  "
                  f"{r['filter_s']:8.2f}  {r['filter_kb']:9.0f}  {r['heap_mb']:7.1f}  {r['markers']:11d}  "
                  f"{r['console_errors']:6d}  | {r.get('pareto_server_s', float('nan')):12.2f}  "
                  f"{r.get('pareto_at_s', float('nan')):13.2f}  {r['script_s']:8.2f}  {r['layout_s']:8.2f}",
                  flush=True)
            # a point's id is its config's hash: markers of distinct points have distinct configs
            print(f"   page loaded whole (table filled): first visit {r['first_ready_s']:.2f} s, new tab "
                  f"{r['ready_s']:.2f} s")
            print(f"   first visit's figure arrived at {r.get('first_fig_at_s', float('nan')):.2f} s with "
                  f"{r.get('first_fig_with', '?')}; distinct names on drawn markers: {r['hover_names']} of "
                  f"{r['hover_markers']}")
            if r.get("first_error"):
                print("   first console error:", r["first_error"])
        if a.live or a.live_only:
            live_db = folder / f"live_{db.name}"
            for suffix in ("", "-wal", "-shm"):
                Path(str(live_db) + suffix).unlink(missing_ok=True)
            import shutil

            shutil.copy(db, live_db)
            if a.follow_cost:
                fc = measure_follow(live_db)
                print(f"   following a sweep ({fc['follow_commits']} commits of 20 points, 1 s apart, nobody at the "
                      f"page): server {fc['follow_server_cpu_s']:.2f} CPU-s, browser main thread "
                      f"{fc['follow_browser_task_s']:.2f} s (script, layout and style "
                      f"{fc['follow_browser_script_layout_s']:.2f} s)", flush=True)
                for suffix in ("", "-wal", "-shm"):   # the live measurement starts from the same store
                    Path(str(live_db) + suffix).unlink(missing_ok=True)
                shutil.copy(db, live_db)
            lr = measure_live(live_db, n, timeline=a.live_timeline)
            print(f"   live sweep ({lr['live_commits']} commits of 20 points, 1 s apart): axis change median "
                  f"{lr['live_axis_s_median']:.2f} s, max {lr['live_axis_s_max']:.2f} s; points counted on the "
                  f"page at most {lr['live_shown_after_commit_s_max']:.2f} s after their commit", flush=True)
            patches, wholes = lr["live_patches"], lr["live_wholes"]
            print(f"   the plot's answers while it ran: {len(patches)} patches appending a commit's points"
                  + (f" (median {np.median(patches) / 1000:.1f} kB)" if patches else "")
                  + f", {len(wholes)} whole figures (the axis changes among them)" + (f" (median {np.median(wholes) / 1000:.1f} kB)" if wholes else ""),
                  flush=True)
            if lr.get("live_timeline"):
                print("   around the slowest axis change:", *lr["live_timeline"], sep="\n     ", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
