"""Wall time of SCALE-Sim v3 vs hwsim's accel_models on the same ResNet-18 run, side by side.

    python benchmarks/vs_scalesim.py                      # runs SCALE-Sim live (minutes, ~6 GB)
    python benchmarks/vs_scalesim.py --layers 3           # only the first 3 layers (quicker live run)
    python benchmarks/vs_scalesim.py --cached             # SCALE-Sim time from the cached fixture run

Both run the 21 conv/fc layers of tests/fixtures/scalesim/topologies/resnet18.csv with the fixture's
scale.cfg (default: 32x32 weight stationary). SCALE-Sim runs as a subprocess from .venv-scalesim
(scripts/setup_scalesim.sh); hwsim runs in-process, timed over many repetitions. The script also
checks that both give the same compute cycles per layer and prints the ratio SCALE-Sim / hwsim.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import accel_models as am  # noqa: E402

FIX = ROOT / "tests" / "fixtures" / "scalesim"


def time_hwsim(layers, acc, min_seconds: float = 1.0) -> tuple[float, am.CycleReport]:
    times, rep = [], None
    start = time.perf_counter()
    while time.perf_counter() - start < min_seconds or len(times) < 5:
        t0 = time.perf_counter()
        rep = am.simulate(layers, acc)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), rep


def run_scalesim(cfg: Path, topo: Path, workdir: Path) -> tuple[float, list[int]]:
    py = ROOT / ".venv-scalesim" / "bin" / "python"
    if not py.exists():
        sys.exit("SCALE-Sim venv missing: run bash scripts/setup_scalesim.sh (or use --cached)")
    t0 = time.perf_counter()
    subprocess.run([str(py), "-m", "scalesim.scale", "-c", str(cfg), "-t", str(topo), "-l", str(topo),
                    "-p", str(workdir), "-s", "N"], check=True, cwd=workdir, capture_output=True)
    wall = time.perf_counter() - t0
    report = next(workdir.glob("*/COMPUTE_REPORT.csv"))
    return wall, _compute_cycles(report)


def _compute_cycles(report: Path) -> list[int]:
    rows = [[c.strip() for c in r] for r in csv.reader(report.read_text().splitlines()[1:]) if r]
    return [int(r[2]) - int(r[3]) for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="resnet18_32x32_ws_calc", help="fixture run whose scale.cfg to use")
    ap.add_argument("--layers", type=int, default=0, help="only the first N layers (0: all 21)")
    ap.add_argument("--cached", action="store_true", help="take SCALE-Sim's wall time from the fixture's run.txt")
    args = ap.parse_args()
    run = FIX / args.run
    cfg = run / "scale.cfg"
    topo = FIX / "topologies" / "resnet18.csv"
    layers = am.read_topology(topo)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.layers:
            lines = topo.read_text().splitlines()
            topo = tmp / "resnet18_head.csv"
            topo.write_text("\n".join(lines[: 1 + args.layers]) + "\n")
            layers = layers[: args.layers]
        acc = am.read_scalesim_cfg(cfg)
        t_hw, rep = time_hwsim(layers, acc)
        if args.cached:
            if args.layers:
                sys.exit("--cached needs all layers")
            info = dict(ln.split("=", 1) for ln in (run / "run.txt").read_text().splitlines() if "=" in ln)
            t_ss, ss_cycles = float(info["wall_s"]), _compute_cycles(run / "COMPUTE_REPORT.csv")
            how = f"cached ({run.name}/run.txt, peak {int(info['max_rss_kib']) / 2**20:.1f} GiB)"
        else:
            (tmp / "out").mkdir()
            t_ss, ss_cycles = run_scalesim(cfg, topo, tmp / "out")
            how = "live"
    ours = [r.compute_cycles for r in rep.rows]
    same = ours == ss_cycles
    print(f"workload      : ResNet-18, {len(layers)} layers, {acc.rows}x{acc.cols} {acc.dataflow} ({run.name})")
    print(f"SCALE-Sim v3  : {t_ss:10.3f} s  [{how}]")
    print(f"hwsim         : {t_hw * 1e3:10.3f} ms (median of repeated runs)")
    print(f"compute cycles: {'identical on every layer' if same else 'DIFFER'} (total {sum(ours):,})")
    print(f"ratio SCALE-Sim / hwsim: {t_ss / t_hw:,.0f}x")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
