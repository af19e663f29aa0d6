"""Summarise hwsim's accel_models against every cached SCALE-Sim run (tests/fixtures/scalesim).

    python benchmarks/scalesim_compare.py            # markdown table for docs/accelerators.md

Per run: layers whose compute cycles / SRAM counts / efficiencies agree exactly, and the totals of
what differs by design (stall cycles, DRAM reads and writes in words); then DRAM words per operand on
ResNet-18 at 32x32 in CALC mode, SCALE-Sim / hwsim.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import accel_models as am  # noqa: E402

FIX = ROOT / "tests" / "fixtures" / "scalesim"


def _rows(p: Path) -> list[list[str]]:
    return [[c.strip() for c in r if c.strip() != ""] for r in csv.reader(p.read_text().splitlines()[1:]) if r]


def _simulate(run: Path) -> tuple[dict[str, str], am.CycleReport]:
    info = dict(ln.split("=", 1) for ln in (run / "run.txt").read_text().splitlines() if "=" in ln)
    acc = am.read_scalesim_cfg(run / "scale.cfg")
    return info, am.simulate(am.read_topology(FIX / "topologies" / info["topology"], kind=info["input_type"]), acc)


def operand_table() -> None:
    """DRAM words per operand, ResNet-18 on 32x32 (CALC mode), SCALE-Sim / hwsim."""
    print("\nDRAM words per operand, ResNet-18 on 32x32 (CALC mode: SCALE-Sim / hwsim):\n")
    print("| run | ifmap reads | filter reads | ofmap writes |")
    print("|---|---|---|---|")
    for df in ("ws", "os", "is"):
        run = FIX / f"resnet18_32x32_{df}_calc"
        if not (run / "DETAILED_ACCESS_REPORT.csv").exists():
            continue
        _, rep = _simulate(run)
        det = _rows(run / "DETAILED_ACCESS_REPORT.csv")
        ss = [sum(int(float(d[i])) for d in det) for i in (12, 15, 18)]
        hw = [sum(getattr(r, f) for r in rep.rows) for f in ("dram_reads_ifmap", "dram_reads_filter", "dram_writes_ofmap")]
        print(f"| {df} | " + " | ".join(f"{a:,} / {b:,}" for a, b in zip(ss, hw)) + " |")


def main() -> None:
    print("| run | layers | compute cycles equal | SRAM reads/writes equal | map.eff / util equal "
          "| stalls SCALE-Sim | stalls hwsim | DRAM rd+wr SCALE-Sim | DRAM rd+wr hwsim | SCALE-Sim wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run in sorted(p for p in FIX.iterdir() if (p / "COMPUTE_REPORT.csv").exists()):
        info, rep = _simulate(run)
        comp, det = _rows(run / "COMPUTE_REPORT.csv"), _rows(run / "DETAILED_ACCESS_REPORT.csv")
        cc = sum(r.compute_cycles == int(c[2]) - int(c[3]) for r, c in zip(rep.rows, comp))
        sram = sum((r.sram_reads_ifmap, r.sram_reads_filter, r.scalesim_sram_writes_ofmap)
                   == (int(float(d[3])), int(float(d[6])), int(float(d[9]))) for r, d in zip(rep.rows, det))
        eff = sum(abs(100 * r.mapping_efficiency - float(c[5])) < 1e-6 and abs(100 * r.utilization - float(c[6])) < 1e-6
                  for r, c in zip(rep.rows, comp))
        ss_stall = sum(int(c[3]) for c in comp)
        ss_dram = sum(int(float(d[12])) + int(float(d[15])) + int(float(d[18])) for d in det)
        hw_dram = sum(r.dram_reads_ifmap + r.dram_reads_filter + r.dram_reads_ofmap + r.dram_writes_ofmap
                      for r in rep.rows)
        n = len(rep.rows)
        print(f"| {run.name} | {n} | {cc}/{n} | {sram}/{n} | {eff}/{n} | {ss_stall:,} | {rep.totals['stall_cycles']:,} "
              f"| {ss_dram:,} | {hw_dram:,} | {info.get('wall_s', '?')} |")
    compute_runs = sorted(p for p in FIX.iterdir() if (p / "COMPUTE_ONLY.csv").exists())
    if compute_runs:
        print("\nSCALE-Sim compute model only (benchmarks/scalesim_compute_only.py):\n")
        print("| run | layers | compute cycles equal | SRAM reads/writes equal | map.eff / util equal | wall s |")
        print("|---|---|---|---|---|---|")
    for run in compute_runs:
        info, rep = _simulate(run)
        ref = _rows(run / "COMPUTE_ONLY.csv")
        n = len(rep.rows)
        cc = sum(r.compute_cycles == int(c[1]) for r, c in zip(rep.rows, ref))
        sram = sum((r.sram_reads_ifmap, r.sram_reads_filter, r.scalesim_sram_writes_ofmap)
                   == tuple(int(float(x)) for x in c[2:5]) for r, c in zip(rep.rows, ref))
        eff = sum(abs(100 * r.mapping_efficiency - float(c[5])) < 1e-6 and abs(100 * r.utilization - float(c[6])) < 1e-6
                  for r, c in zip(rep.rows, ref))
        print(f"| {run.name} | {n} | {cc}/{n} | {sram}/{n} | {eff}/{n} | {info.get('wall_s', '?')} |")
    operand_table()


if __name__ == "__main__":
    main()
