"""Hardware points priced per minute: a sweep that varies only the accelerator, on ResNet-50 ImageNet shapes.

    python benchmarks/hardware_points.py [--model resnet50] [--rows 8 16 32 64] [--workers 2] [--detail summary]
    python benchmarks/hardware_points.py --model resnet18 --ifmap-kb 12288 --clocks 700 --detail full
        (the done-when sweep: tpu_like rows x cols x dataflow, fp32 and BNN, 96 points)

The points share one trace per scheme (model x scheme x recipe), so each hardware point costs only
the accelerator simulation (training step + inference) and pricing, plus its store write. The sweep
runs through the ordinary runner into a fresh store (results stream in as they finish); printed:
points, wall seconds, points per minute (end to end, tracing included) and the rate after the
first point of each group (the per-hardware-point cost). Target: at least 1,000 points per minute.
Wall-clock figures depend on the machine and its load: say which when quoting them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

SWEEP = """\
name: hw_throughput
models: [{model}]
datasets: [imagenet]
schemes: {schemes}
accuracy: none
pricing: {{detail: {detail}, batch: 32}}
accelerators:
  - name: tpu_like
    vary:
      array.rows: {rows}
      array.cols: {rows}
      array.dataflow: [ws, os, is]
      sram.ifmap_kb: {ifmap}
      clock_mhz: {clocks}
"""


def main() -> None:
    from hwsim.store import Store
    from hwsim.sweep.expand import load_points
    from hwsim.sweep.runner import run_points

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--rows", nargs="+", type=int, default=[8, 16, 32, 64], help="rows = cols values")
    ap.add_argument("--ifmap-kb", nargs="+", type=int, default=[256, 4096])
    ap.add_argument("--clocks", nargs="+", type=int, default=[500, 1000])
    ap.add_argument("--schemes", nargs="+", default=["fp32", "bnn"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--detail", default="summary", choices=["summary", "full"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "s.yaml"
        f.write_text(SWEEP.format(model=args.model, schemes=args.schemes, detail=args.detail, rows=args.rows,
                                  ifmap=args.ifmap_kb, clocks=args.clocks))
        sw, pts = load_points(f)
        db = Path(d) / "r.db"
        t0 = time.time()
        s = run_points(pts, db, workers=args.workers, sweep=sw.name, progress="lines")
        wall = time.time() - t0
        with Store(db, readonly=True) as st:
            df = st.points()
        assert s.failed == 0 and (df.status == "done").all() and df.area_mm2.notna().all()
        # per group: the first point carries the trace; the others are hardware-only
        fin = df.sort_values("finished")
        hw_only = fin.groupby("scheme").apply(lambda g: (len(g) - 1, g.finished.max() - g.finished.min()),
                                              include_groups=False)
        n_hw = sum(n for n, _ in hw_only)
        t_hw = max(t for _, t in hw_only)
        print(f"{len(pts)} hardware points ({len(args.schemes)} schemes x {len(pts) // len(args.schemes)} "
              f"accelerators) on {args.model}/imagenet, detail={args.detail}, workers={args.workers}")
        print(f"end to end: {wall:.1f} s = {len(pts) / wall * 60:,.0f} points/min (tracing and start-up included)")
        print(f"after each group's first point: {n_hw} points in {t_hw:.1f} s = {n_hw / t_hw * 60:,.0f} points/min")


if __name__ == "__main__":
    main()
