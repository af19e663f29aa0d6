"""AlexNet CONV1-5 at batch 4: hwsim on the eyeriss accelerator beside Eyeriss' measured chip (JSSC 2017).

    python benchmarks/vs_eyeriss.py                   # configs/accelerators/eyeriss.yaml, 45nm table
    python benchmarks/vs_eyeriss.py --accelerator my_eyeriss.yaml --tech 45nm

Prints, per layer, the paper's figure beside hwsim's and their ratio (hwsim / paper): DRAM accesses,
global-buffer accesses (hwsim: the array's SRAM reads and writes), latency and power (hwsim: on-chip
energy, everything but DRAM, over its latency, at the table's node; the paper's chip is 65 nm), then
hwsim's DRAM bytes split into named quantities (hwsim/vs_eyeriss.py). The paper's figures, with their
source, are in configs/validation/eyeriss_jssc2017.yaml. Docs: docs/validation.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim.vs_eyeriss import compare, load_paper  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accelerator", default="eyeriss")
    ap.add_argument("--tech", default="45nm")
    args = ap.parse_args()
    head, _ = load_paper()
    rows = compare(args.accelerator, args.tech)
    print(f"AlexNet CONV1-5, batch {head.batch}: paper = Eyeriss (65 nm, measured), hwsim = {args.accelerator} "
          f"({args.tech}); ratio = hwsim / paper; MB = 1e6 B")
    print(f"{'layer':6} {'GMACs':>11} {'DRAM MB':>20} {'GB/SRAM MB':>22} {'latency ms':>21} {'power mW':>19}")
    print(f"{'':6} {'paper hwsim':>11} {'paper  hwsim  ratio':>20} {'paper   hwsim  ratio':>22} "
          f"{'paper  hwsim ratio':>21} {'paper hwsim ratio':>19}")
    tot = {"dram": 0.0, "sram": 0.0, "ms": 0.0}
    for c in rows:
        p = c.paper
        tot["dram"] += c.dram_bytes
        tot["sram"] += c.sram_bytes
        tot["ms"] += c.latency_ms
        print(f"{p.name:6} {p.gmacs:5.2f} {c.macs / 1e9:5.3f} {p.dram_mb:6.1f} {c.dram_bytes / 1e6:6.2f} "
              f"{c.dram_ratio:6.2f} {p.gb_mb:6.1f} {c.sram_bytes / 1e6:7.1f} {c.sram_bytes / (p.gb_mb * 1e6):6.1f} "
              f"{p.latency_ms:6.1f} {c.latency_ms:6.2f} {c.latency_ms / p.latency_ms:5.2f} "
              f"{p.power_mw:5.0f} {c.onchip_power_mw:5.0f} {c.onchip_power_mw / p.power_mw:5.2f}")
    t = head.total
    print(f"{'total':6} {t.gmacs:5.2f} {sum(c.macs for c in rows) / 1e9:5.3f} {t.dram_mb:6.1f} "
          f"{tot['dram'] / 1e6:6.2f} {tot['dram'] / (t.dram_mb * 1e6):6.2f} {t.gb_mb:6.1f} "
          f"{tot['sram'] / 1e6:7.1f} {tot['sram'] / (t.gb_mb * 1e6):6.1f} {t.latency_ms:6.1f} "
          f"{tot['ms']:6.2f} {tot['ms'] / t.latency_ms:5.2f}")
    print()
    names = ("compulsory", "input_width", "ifmap_refetch", "filter_refetch", "output_width", "psum_spill")
    print("hwsim's DRAM MB split (compulsory: every input, weight and output once at 16 bits); "
          "bits = stored ifmap/filter/ofmap")
    print(f"{'layer':6} {'bits':>10} " + " ".join(f"{n:>14}" for n in names) + f" {'hwsim':>8} {'paper':>6} "
          f"{'paper/compulsory':>17}")
    sums = dict.fromkeys(names, 0.0)
    for c in rows:
        vals = {n: getattr(c.terms, n) for n in names}
        for n in names:
            sums[n] += vals[n]
        print(f"{c.paper.name:6} {'/'.join(map(str, c.bits)):>10} " + " ".join(f"{vals[n] / 1e6:14.3f}" for n in names)
              + f" {c.dram_bytes / 1e6:8.2f} {c.paper.dram_mb:6.1f} {c.paper.dram_mb * 1e6 / vals['compulsory']:17.2f}")
    print(f"{'total':6} {'':>10} " + " ".join(f"{sums[n] / 1e6:14.3f}" for n in names)
          + f" {tot['dram'] / 1e6:8.2f} {t.dram_mb:6.1f} {t.dram_mb * 1e6 / sums['compulsory']:17.2f}")
    print()
    from accel_models.memory import LoopOrder

    orders = tuple(o.value for o in LoopOrder)
    print("hwsim's DRAM MB under each loop order of the memory model (- : the buffers allow no such order); "
          "hwsim runs the fewest")
    print(f"{'layer':6} {'chosen':>23} " + " ".join(f"{o:>23}" for o in orders) + f" {'paper':>6}")
    for c in rows:
        got = c.orders or {}
        print(f"{c.paper.name:6} {c.loop_order:>18} "
              + " ".join(f"{got[o] / 1e6:23.2f}" if o in got else f"{'-':>23}" for o in orders)
              + f" {c.paper.dram_mb:6.1f}")


if __name__ == "__main__":
    main()
