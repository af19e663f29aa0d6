"""The dashboard at 100 / 10,000 / 50,000 design points, driven in headless chromium with Playwright.

    python benchmarks/dashboard_scale.py                 # 100, 10000, 50000 points
    python benchmarks/dashboard_scale.py --sizes 10000   # one size
    python benchmarks/dashboard_scale.py --make-only --sizes 100 --out /tmp/stores

Writes synthetic stores (realistic configs: the quickstart's models and schemes with their
hyper-parameters, accelerators with varied array size / dataflow / clock in a hardware slice,
metrics that move together the way priced points do), serves each with ``hwsim serve`` and
measures, in the browser: navigation to a drawn Explore plot, an axis change (log x off),
a filter change (one model), the bytes each change ships, and the JS heap; and where the
drawn time goes: the Pareto callback's server time (request to first byte), when its figure
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
        yield port
    finally:
        srv.terminate()
        srv.wait(10)


served.startup_s = float("nan")


a_wait_s = 60.0   # how long a server may take to answer before the run counts as failed (--wait-s)


def measure(db: Path, n: int) -> dict:
    """Start-up, first draw with every point represented, axis and filter changes, heap, in chromium."""
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
            # First visit: the server reads the store, the browser fetches ~9 MB of JS (plotly, AG Grid).
            t0 = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function(f"({count_js})() >= {n}", timeout=180_000)
            out["first_s"] = time.perf_counter() - t0
            page.close()
            # Then time a new tab (browser cache and server cache warm: what a user opening a link sees).
            page = ctx.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("response", size)
            pareto: list[dict] = []   # where the time of the Pareto callback goes: server, transfer

            def timing(r) -> None:
                if "_dash-update-component" in r.url and "ex-pareto.figure" in (r.post_data or ""):
                    pareto.append(r.timing)

            page.on("requestfinished", timing)
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            t0 = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function(f"({count_js})() >= {n}", timeout=120_000)
            out["drawn_s"] = time.perf_counter() - t0
            # The browser's main thread until drawn: scripts (parsing included) and layout/paint.
            perf = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            out["script_s"], out["layout_s"] = perf.get("ScriptDuration", 0.0), perf.get("LayoutDuration", 0.0)
            if pareto:
                t = pareto[0]
                out["pareto_server_s"] = (t["responseStart"] - t["requestStart"]) / 1e3
                # when the figure had arrived, from navigation start (the rest of "drawn" is the browser's)
                out["pareto_at_s"] = (t["startTime"] + t["responseEnd"] - page.evaluate("performance.timeOrigin")) / 1e3
            out["markers"] = page.evaluate(count_js)
            page.wait_for_timeout(500)
            # Axis change: log x off.
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
            page.click("#ex-f-model")
            page.wait_for_selector("input.dash-dropdown-search")
            page.keyboard.type("lenet300")
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


def measure_live(db: Path, n: int, points: int = 200) -> dict:
    """A sweep writing 20 points a second into the served store: axis changes while it writes, and how
    long after its commit a point is counted on the page."""
    from playwright.sync_api import sync_playwright

    out: dict = {}
    with served(db, "--refresh-ms", "1000", wait_s=a_wait_s) as port, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("() => { const e = document.querySelector('#ex-count');"
                               " return e && /of \\d+ design points/.test(e.innerText); }", timeout=180_000)
        # let the page settle (its first callbacks answered, the table filled) before the sweep starts
        page.wait_for_selector("#ex-grid .ag-center-cols-container .ag-row", timeout=120_000)
        page.wait_for_timeout(3000)
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(points), str(ROOT)],
                                  stdout=subprocess.PIPE, text=True)
        commits: list[tuple[float, int]] = []
        seen: list[tuple[float, int]] = []
        axis: list[float] = []
        log = True
        try:
            t_end = time.time() + points / 20 + 8
            while time.time() < t_end or len(axis) < 8:   # axis changes while the sweep writes, and after
                t0 = time.perf_counter()
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
            browser.close()
    lag = []
    for t_commit, k in commits:
        shown = [t for t, total in seen if total >= n + k]
        if shown:
            lag.append(shown[0] - t_commit)
    out["live_axis_s_max"] = max(axis) if axis else float("nan")
    out["live_axis_s_median"] = float(np.median(axis)) if axis else float("nan")
    out["live_shown_after_commit_s_max"] = max(lag) if lag else float("nan")
    out["live_commits"] = len(commits)
    return out


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
    a = ap.parse_args()
    a_wait_s = a.wait_s
    folder = a.out or Path(tempfile.mkdtemp(prefix="hwsim-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}; "
          f"server start-up limit {a.wait_s:g} s", flush=True)
    print("points  write_s  startup_s  first_s  drawn_s  axis_s  axis_kB  filter_s  filter_kB  heap_MB  represented"
          "  errors  | fig_server_s  fig_arrived_s  script_s  layout_s")
    for n in a.sizes:
        db = folder / f"scale_{n}.db"
        t0 = time.perf_counter()
        if not db.exists():
            make_store(db, n)
        write_s = time.perf_counter() - t0
        if a.make_only:
            print(f"{n:>6}  {write_s:7.1f}  (store at {db})")
            continue
        try:
            r = measure(db, n) if not a.live_only else None
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
            if r.get("first_error"):
                print("   first console error:", r["first_error"])
        if a.live or a.live_only:
            live_db = folder / f"live_{n}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(str(live_db) + suffix).unlink(missing_ok=True)
            import shutil

            shutil.copy(db, live_db)
            lr = measure_live(live_db, n)
            print(f"   live sweep ({lr['live_commits']} commits of 20 points, 1 s apart): axis change median "
                  f"{lr['live_axis_s_median']:.2f} s, max {lr['live_axis_s_max']:.2f} s; points counted on the "
                  f"page at most {lr['live_shown_after_commit_s_max']:.2f} s after their commit", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
