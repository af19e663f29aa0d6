"""AlexNet CONV1-5 at batch 4: hwsim on the eyeriss accelerator beside Eyeriss' measured chip (JSSC 2017).

    python benchmarks/vs_eyeriss.py                   # configs/accelerators/eyeriss.yaml, 45nm table
    python benchmarks/vs_eyeriss.py --accelerator my_eyeriss.yaml --tech 45nm

Prints, per layer, the paper's figure beside hwsim's and their ratio (hwsim / paper): DRAM accesses,
global-buffer accesses (hwsim: the array's SRAM reads and writes), latency and power (hwsim: on-chip
energy, everything but DRAM, over its latency, at the table's node; the paper's chip is 65 nm), then
hwsim's DRAM bytes split into named quantities (hwsim/vs_eyeriss.py). The paper's figures, with their
source, are in configs/validation/eyeriss_jssc2017.yaml. Docs: docs/validation.md. Figures are written
by hwsim.units (``6.93 MB``, ``13.2 ms``, ratios as ``1.39 ×``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim import units  # noqa: E402
from hwsim.vs_eyeriss import compare, load_paper  # noqa: E402


def mb(x: float, digits: int = 3) -> str:
    return units.fmt(x, "bytes", digits)


def ratio(x: float) -> str:
    return units.fmt(x, "ratio")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accelerator", default="eyeriss")
    ap.add_argument("--tech", default="45nm")
    args = ap.parse_args()
    head, _ = load_paper()
    rows = compare(args.accelerator, args.tech)
    print(f"AlexNet CONV1-5, batch {head.batch}: paper = Eyeriss (65 nm, measured), hwsim = {args.accelerator} "
          f"({args.tech}); ratio = hwsim / paper; MB = 10^6 B")
    print(f"{'layer':6} {'MACs':>24} {'DRAM':>27} {'GB / SRAM':>27} {'latency':>27} {'power':>25}")
    print(f"{'':6} {'paper':>11} {'hwsim':>12} " + f"{'paper':>9} {'hwsim':>9} {'ratio':>8} " * 3
          + f"{'paper':>8} {'hwsim':>8} {'ratio':>7}")

    def line(name: str, macs: tuple[float, float], dram: tuple[float, float], sram: tuple[float, float],
             ms: tuple[float, float], mw: tuple[float, float] | None) -> str:
        text = (f"{name:6} {units.fmt(macs[0], 'MACs'):>11} {units.fmt(macs[1], 'MACs'):>12} "
                f"{mb(dram[0]):>9} {mb(dram[1]):>9} {ratio(dram[1] / dram[0]):>8} "
                f"{mb(sram[0]):>9} {mb(sram[1]):>9} {ratio(sram[1] / sram[0]):>8} "
                f"{units.fmt(ms[0], 'ms'):>9} {units.fmt(ms[1], 'ms'):>9} {ratio(ms[1] / ms[0]):>8} ")
        if mw:
            text += f"{units.fmt(mw[0], 'mW'):>8} {units.fmt(mw[1], 'mW'):>8} {ratio(mw[1] / mw[0]):>7}"
        return text.rstrip()

    tot = {"dram": 0.0, "sram": 0.0, "ms": 0.0}
    for c in rows:
        p = c.paper
        tot["dram"] += c.dram_bytes
        tot["sram"] += c.sram_bytes
        tot["ms"] += c.latency_ms
        print(line(p.name, (p.gmacs * 1e9, c.macs), (p.dram_mb * 1e6, c.dram_bytes), (p.gb_mb * 1e6, c.sram_bytes),
                   (p.latency_ms, c.latency_ms), (p.power_mw, c.onchip_power_mw)))
    t = head.total
    print(line("total", (t.gmacs * 1e9, sum(c.macs for c in rows)), (t.dram_mb * 1e6, tot["dram"]),
               (t.gb_mb * 1e6, tot["sram"]), (t.latency_ms, tot["ms"]), None))
    print()
    names = ("compulsory", "input_width", "ifmap_refetch", "filter_refetch", "output_width", "psum_spill")
    print("hwsim's DRAM bytes split (compulsory: every input, weight and output once at 16 bits); "
          "bits = stored ifmap/filter/ofmap")
    print(f"{'layer':6} {'bits':>10} " + " ".join(f"{n:>14}" for n in names) + f" {'hwsim':>9} {'paper':>7} "
          f"{'paper/compulsory':>17}")
    sums = dict.fromkeys(names, 0.0)
    for c in rows:
        vals = {n: getattr(c.terms, n) for n in names}
        for n in names:
            sums[n] += vals[n]
        print(f"{c.paper.name:6} {'/'.join(map(str, c.bits)):>10} " + " ".join(f"{mb(vals[n], 4):>14}" for n in names)
              + f" {mb(c.dram_bytes):>9} {mb(c.paper.dram_mb * 1e6):>7} "
              f"{ratio(c.paper.dram_mb * 1e6 / vals['compulsory']):>17}")
    print(f"{'total':6} {'':>10} " + " ".join(f"{mb(sums[n], 4):>14}" for n in names)
          + f" {mb(tot['dram']):>9} {mb(t.dram_mb * 1e6):>7} {ratio(t.dram_mb * 1e6 / sums['compulsory']):>17}")
    print()
    from accel_models.memory import LoopOrder

    orders = tuple(o.value for o in LoopOrder)
    print("hwsim's DRAM bytes under each loop order of the memory model (- : the buffers allow no such order); "
          "hwsim runs the fewest")
    print(f"{'layer':6} {'chosen':>23} " + " ".join(f"{o:>23}" for o in orders) + f" {'paper':>7}")
    for c in rows:
        got = c.orders or {}
        print(f"{c.paper.name:6} {c.loop_order:>23} "
              + " ".join(f"{mb(got[o]):>23}" if o in got else f"{'-':>23}" for o in orders)
              + f" {mb(c.paper.dram_mb * 1e6):>7}")


if __name__ == "__main__":
    main()
