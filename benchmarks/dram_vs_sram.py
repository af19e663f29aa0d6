"""DRAM bytes of ResNet-18 as each on-chip memory grows from 16 KB to 16 MB: never more with more SRAM.

    python benchmarks/dram_vs_sram.py                  # fp32, bnn, kbit; markdown table (docs/validation.md)
    python benchmarks/dram_vs_sram.py --model resnet20 --input 3x32x32 --classes 10 --batch 8

For each scheme, one training step (batch ``--batch``) and one inference pass (batch 1) are counted
once on meta tensors; then, for every size in 16 KB x 4^k up to 16 MB, the DRAM bytes are taken from
both memory pricings: the accelerator model on configs/accelerators/tpu_like.yaml with one of its
ifmap, filter or ofmap SRAMs set to the size (the others as configured), and the placement model on
configs/hierarchy/default.yaml with ``sram_bytes`` set to it. The script exits non-zero if any series
grows with its SRAM. Each row's bytes are written by hwsim.units in one prefix (``2.53 GB``,
``0.9216 GB``), so a row's figures line up and compare by eye.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SCHEMES = {"fp32": "fp32", "bnn": "bnn", "kbit": {"name": "kbit", "weight_bits": 4, "act_bits": 4}}
SIZES_KB = [16 * 4 ** k for k in range(6)]        # 16 KB .. 16 MB


def hierarchy_dram(trace, sram_bytes: int) -> float:
    from hwsim.energy import price

    rep = price(trace, "45nm", hierarchy={"name": "sweep", "rf_bytes": 512, "sram_bytes": sram_bytes, "dram": "han"})
    pl = rep.assumptions.placement
    return sum(v.get("dram", 0) for v in pl.bytes_by_level.values()) + sum(pl.dram_fetch_once_bytes.values())


def accelerator_dram(trace, buffer: str, kb: int) -> float:
    from hwsim.hardware import cli_accelerator, simulate_trace

    acc = cli_accelerator("tpu_like", [f"sram.{buffer}_kb={kb}"])
    return simulate_trace(trace, acc).accesses.total(level="dram", whole_bytes=True)


def series(model: str, input_shape: tuple[int, ...], classes: int, batch: int) -> dict[tuple[str, str, str], list[float]]:
    from hwsim.evaluate import trace_workload
    from hwsim.workload import Workload

    out: dict[tuple[str, str, str], list[float]] = {}
    for name, scheme in SCHEMES.items():
        w = Workload(model=model, scheme=scheme, input_shape=input_shape, num_classes=classes, batch=batch,
                     infer_batch=1)
        t = trace_workload(w)
        for pass_name, tr in (("train", t.train), ("infer", t.infer)):
            for buf in ("ifmap", "filter", "ofmap"):
                out[(name, pass_name, f"tpu_like {buf}")] = [accelerator_dram(tr, buf, kb) for kb in SIZES_KB]
            out[(name, pass_name, "hierarchy sram")] = [hierarchy_dram(tr, kb * 1024) for kb in SIZES_KB]
    return out


def row_cells(v: list[float]) -> list[str]:
    """One series' DRAM bytes in the prefix of its median, four significant digits (``14.41 GB``, ``0.9216 GB``)."""
    from hwsim import units

    texts, scale = units.column(v, "bytes", digits=4)
    return [f"{t} {scale.unit_text}" for t in texts]


def monotone(v: list[float]) -> bool:
    return all(b <= a * (1 + 1e-9) + 1e-6 for a, b in zip(v, v[1:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--input", default="3x224x224")
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=8)
    a = ap.parse_args()
    shape = tuple(int(x) for x in a.input.split("x"))
    res = series(a.model, shape, a.classes, a.batch)
    print(f"DRAM bytes ({a.model}, training step at batch {a.batch}, inference at batch 1)\n")
    print("| scheme | pass | SRAM varied | " + " | ".join(f"{kb} KB" if kb < 1024 else f"{kb // 1024} MB"
                                                      for kb in SIZES_KB) + " | monotone |")
    print("|---|---|---|" + "---:|" * len(SIZES_KB) + "---|")
    bad = 0
    for (scheme, pas, what), v in res.items():
        ok = monotone(v)
        bad += not ok
        print(f"| {scheme} | {pas} | {what} | " + " | ".join(row_cells(v)) + f" | {'yes' if ok else 'NO'} |")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
