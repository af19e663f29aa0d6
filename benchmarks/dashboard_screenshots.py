"""Screenshots of the dashboard on a real store (docs/img/dashboard_*.png), with Playwright.

    hwsim sweep configs/sweeps/quickstart.yaml --db results/quickstart.db --workers 1
    python benchmarks/dashboard_screenshots.py results/quickstart.db --out docs/img

Serves the store with ``hwsim serve``, opens Explore, a front point's drill-down, Compare of the
cheapest and the most accurate front points, the parallel coordinates and Sweep status, and
saves one full-page PNG of each. Uses the Debian chromium (/usr/bin/chromium); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.dashboard_scale import CHROMIUM, served  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from webapp.data import StoreData
    from webapp.figures import pareto_mask

    df = StoreData(a.db).done_points()
    front = df[pareto_mask(df["train_energy_pj_per_step"], df["accuracy"], "min", "max")]
    cheap = front.sort_values("train_energy_pj_per_step")["id"].iloc[0]
    best = front.sort_values("accuracy")["id"].iloc[-1]
    a.out.mkdir(parents=True, exist_ok=True)
    with served(a.db, wait_s=30.0) as port:
        base = f"http://127.0.0.1:{port}/"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(base)
            page.wait_for_function("() => { const g = document.querySelector('#ex-pareto .js-plotly-plot');"
                                   " return g && g.data && g.data.length > 1; }", timeout=120_000)
            page.wait_for_timeout(2500)
            page.screenshot(path=str(a.out / "dashboard_quickstart.png"), full_page=True)
            page.screenshot(path=str(a.out / "dashboard_explore.png"), full_page=False)
            page.click("label[for=ex-pc-show]")   # parallel coordinates are drawn once opened
            page.wait_for_selector("#ex-parcoords .parcoords", timeout=60_000)
            page.wait_for_timeout(1500)
            page.locator("#ex-parcoords").screenshot(path=str(a.out / "dashboard_parcoords.png"))
            page.goto(base + f"?point={cheap}")
            page.wait_for_selector("#pt-phases .barlayer .trace", timeout=60_000)
            page.wait_for_timeout(2000)
            page.screenshot(path=str(a.out / "dashboard_design_point.png"), full_page=True)
            page.goto(base)
            page.wait_for_selector("#ex-pareto .js-plotly-plot", timeout=60_000)
            page.click("#tabs .nav-item:nth-child(3) .nav-link")
            for pid in (cheap, best):
                page.click("#cmp-select")
                page.keyboard.type(pid[:10])
                page.wait_for_timeout(1500)
                page.keyboard.press("Enter")
                page.keyboard.press("Escape")
            page.wait_for_selector("#cmp-phases .barlayer .trace", timeout=60_000)
            page.wait_for_timeout(2000)
            page.screenshot(path=str(a.out / "dashboard_compare.png"), full_page=True)
            page.click("#tabs .nav-item:last-child .nav-link")
            page.wait_for_timeout(2500)
            page.screenshot(path=str(a.out / "dashboard_sweep_status.png"), full_page=True)
            browser.close()
    print(f"screenshots of {a.db} in {a.out}")


if __name__ == "__main__":
    main()
