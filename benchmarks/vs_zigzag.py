"""hwsim against ZigZag on ResNet-18 int8, batch 1, layer by layer: MACs, DRAM bytes, cycles, energy.

    python benchmarks/vs_zigzag.py                       # both designs, from the cached ZigZag runs
    python benchmarks/vs_zigzag.py --design tpu_like --layers
    python benchmarks/vs_zigzag.py --markdown            # the tables of docs/validation.md

The image is declared int8 for the first layer (kbit keeps it float; ZigZag reads every input at 8 bits).
ZigZag's figures come from tests/fixtures/zigzag/resnet18_<design>.json, written by
benchmarks/zigzag_run.py (the command is stored in each file; about a minute of CPU per design).
hwsim counts its own ResNet-18 (``resnet18``, 3x224x224, 1000 classes) under
``{name: kbit, weight_bits: 8, act_bits: 8, keep_first_last: false}`` at batch 1 on meta tensors,
and simulates the inference pass on an accelerator matched to ZigZag's design field by field
(:data:`DESIGNS`; the fields that cannot be matched are listed with each design). Energy is compared
per component after repricing hwsim's access counts with ZigZag's own constants (its MAC energy and
each memory's read/write cost per bit of its widest port), so the comparison is of the counts, not
of the technology tables. Layers are paired in order (both list the 21 conv/fc layers the same way).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FIX = ROOT / "tests" / "fixtures" / "zigzag"
SCHEME = {"name": "kbit", "weight_bits": 8, "act_bits": 8, "keep_first_last": False}


@dataclass(frozen=True)
class Design:
    """hwsim's accelerator matched to one ZigZag design, and what could not be matched."""

    name: str
    accelerator: dict
    sram_pj_per_bit: dict[str, tuple[float, float]]       # hwsim buffer -> ZigZag memory's (read, write) pJ/bit
    dram_pj_per_bit: tuple[float, float]
    mac_pj: float
    reg_pj_per_bit: float                                  # ZigZag's innermost weight register, read
    unmatched: list[str] = field(default_factory=list)


def _per_bit(cost: float, port_bits: int) -> float:
    return cost / port_bits


# ZigZag tpu_like.yaml: 32x32 MACs (D1 = K output channels, D2 = C input channels), a 128 B weight
# register per PE fed straight from DRAM, a 2 B output register per PE, one 2 MiB SRAM for inputs and
# outputs (ports 64-2048 b), DRAM 64 b/cycle. Costs: rf_128B 0.095 pJ / 8 b, sram_2MB 416.16 / 378.4 pJ
# per 2048 b, DRAM 700 / 750 pJ per 64 b, MAC 0.04 pJ.
TPU_LIKE = Design(
    name="tpu_like",
    accelerator={
        "name": "zigzag_tpu_like", "clock_mhz": 1000,
        "array": {"rows": 32, "cols": 32, "dataflow": "ws"},
        "pe": {"kind": "int", "bits": 8},
        # the 2 MiB input/output SRAM split in two; the filter buffer stands for the 1024 weight registers
        "sram": {"ifmap_kb": 1024, "filter_kb": 128, "ofmap_kb": 1024},
        "dram": {"bandwidth_bytes_per_cycle": 8},
        "vector_unit": {"lanes": 32},
        "operands": {"ifmap_bits": 8, "filter_bits": 8, "psum_bits": 16},
    },
    sram_pj_per_bit={"ifmap": (_per_bit(416.16, 2048), _per_bit(378.4, 2048)),
                     "ofmap": (_per_bit(416.16, 2048), _per_bit(378.4, 2048)),
                     "filter": (_per_bit(0.095, 8), _per_bit(0.095, 8))},
    dram_pj_per_bit=(_per_bit(700, 64), _per_bit(750, 64)),
    mac_pj=0.04,
    reg_pj_per_bit=_per_bit(0.095, 8),
    unmatched=[
        "one shared 2 MiB input/output SRAM: hwsim has separate ifmap and ofmap buffers (1 MiB each here)",
        "weights go from DRAM straight to 128 B registers in each PE: hwsim's filter SRAM (128 KiB = 1024 x "
        "128 B) stands for them and is priced at the register's cost",
        "the 2 B output register per PE: hwsim keeps partial sums in the accumulators (the ofmap buffer) and "
        "prices a MAC's accumulation in the adder, so it has no output-register accesses",
        "the spatial unrolling: ZigZag unrolls C (not FX, FY) over the 32 rows, hwsim's im2col unrolls "
        "C x FX x FY; conv1 (C = 3) therefore maps differently (3/32 rows busy in ZigZag)",
        "the temporal mapping: ZigZag searches loop orders (LOMA) per layer for latency; hwsim runs SCALE-Sim's "
        "fixed fold order (columns outer, rows inner) and a double-buffered per-layer roofline for stalls",
        "clock: ZigZag counts cycles only; the 1 GHz here does not enter any compared figure",
    ],
)

# ZigZag eyeriss_like.yaml: 14 x 12 MACs, per-PE 64 B input and weight RFs and a 16 B output RF,
# an 8 KiB output SRAM, a 64 KiB weight SRAM, a 1 MiB input/output SRAM (384 b port), DRAM 64 b.
# Costs: sram_64KB 20 / 25 pJ per 128 b, sram_1M 100 / 130 pJ per 384 b, DRAM 1000 / 1000 pJ per 64 b,
# MAC 0.5 pJ.
EYERISS_LIKE = Design(
    name="eyeriss_like",
    accelerator={
        "name": "zigzag_eyeriss_like", "clock_mhz": 200,
        "array": {"rows": 14, "cols": 12, "dataflow": "ws"},
        "pe": {"kind": "int", "bits": 8},
        "sram": {"ifmap_kb": 512, "filter_kb": 64, "ofmap_kb": 512},
        "dram": {"bandwidth_bytes_per_cycle": 8},
        "vector_unit": {"lanes": 12},
        "operands": {"ifmap_bits": 8, "filter_bits": 8, "psum_bits": 16},
    },
    sram_pj_per_bit={"ifmap": (_per_bit(100, 384), _per_bit(130, 384)),
                     "ofmap": (_per_bit(100, 384), _per_bit(130, 384)),
                     "filter": (_per_bit(20, 128), _per_bit(25, 128))},
    dram_pj_per_bit=(_per_bit(1000, 64), _per_bit(1000, 64)),
    mac_pj=0.5,
    reg_pj_per_bit=_per_bit(1.0, 8),
    unmatched=[
        "the dataflow: ZigZag searches spatial and temporal mappings for the 14 x 12 array (Eyeriss's row "
        "stationary among them); hwsim runs it as a weight-stationary systolic array, so cycles are not "
        "compared (the spatial mapping differs)",
        "the per-PE input, weight and output register files and the 8 KiB output SRAM: hwsim has one level of "
        "buffers (ifmap, filter, ofmap) and prices register traffic per MAC",
        "the 1 MiB shared input/output SRAM: split into two 512 KiB buffers",
    ],
)

DESIGNS = {d.name: d for d in (TPU_LIKE, EYERISS_LIKE)}


def load_fixture(design: str) -> dict:
    return json.loads((FIX / f"resnet18_{design}.json").read_text())


def zigzag_layer(layer: dict) -> dict[str, float]:
    """DRAM bytes (elements x precision at the top level), cycles and energy per component of one layer."""
    read = write = 0.0
    energy = {"mac": layer["mac_energy_pj"], "dram": 0.0, "sram": 0.0, "rf": 0.0}
    for levels in layer["operands"].values():
        top = levels[-1]
        el, pr = top["elements"], top["precision_bits"]
        read += el["rd_out_to_low"] * pr["rd_out_to_low"] / 8
        write += el["wr_in_by_low"] * pr["wr_in_by_low"] / 8
        for lv in levels:
            e = sum(lv["energy_pj"].values())
            kind = "dram" if lv["memory"] == "dram" else "sram" if lv["memory"].startswith("sram") else "rf"
            energy[kind] += e
    return {"macs": layer["macs"], "dram_read": read, "dram_write": write,
            "cycles": layer["cycles"]["total"], "ideal_cycles": layer["cycles"]["ideal"],
            **{f"energy_{k}": v for k, v in energy.items()}}


def hwsim_inference(design: Design):
    """hwsim's ResNet-18 int8 inference pass at batch 1 on the matched accelerator: the CycleReport."""
    from hwsim.evaluate import trace_workload
    from hwsim.hardware import simulate_trace
    from hwsim.workload import Workload

    w = Workload(model="resnet18", scheme=SCHEME, input_shape=(3, 224, 224), num_classes=1000, batch=1,
                 infer_batch=1)
    tr = trace_workload(w, train=False).infer
    # kbit keeps the image in float (DoReFa's convention); ZigZag reads it as 8-bit like every input
    first = next(li for li in tr.layers if li.op == "conv2d")
    first.precision = {**first.precision, "input": "int8", "stash": "int8"}
    return simulate_trace(tr, design.accelerator), tr


def hwsim_layer(rep, layer: str, design: Design) -> dict[str, float]:
    """The same figures from hwsim's rows and accesses of one GEMM layer, repriced with ZigZag's constants.

    Register energy is hwsim's rule (each MAC reads its two operands from the PE's registers at their
    widths, the accumulator stays in the adder) at the cost per bit of ZigZag's weight register; the
    filter buffer is priced as the memory it stands for (TPU-like: the weight registers)."""
    row = next(r for r in rep.rows if r.layer == layer and r.unit == "array")
    reg_bit = design.reg_pj_per_bit
    energy = {"mac": row.macs * design.mac_pj, "dram": 0.0, "sram": 0.0,
              "rf": row.macs * (row.ifmap_bits + row.filter_bits) * reg_bit}
    read = write = 0.0
    for a in rep.accesses.of(layer, row.phase):
        bits = a.bytes * 8
        if a.level == "dram":
            r_pj, w_pj = design.dram_pj_per_bit
            energy["dram"] += bits * (r_pj if a.rw == "read" else w_pj)
            read += a.bytes if a.rw == "read" else 0.0
            write += a.bytes if a.rw == "write" else 0.0
        elif a.level == "sram":
            r_pj, w_pj = design.sram_pj_per_bit[a.buffer]
            kind = "rf" if a.buffer == "filter" else "sram"
            energy[kind] += bits * (r_pj if a.rw == "read" else w_pj)
    return {"macs": row.macs, "dram_read": read, "dram_write": write, "cycles": row.total_cycles,
            "ideal_cycles": row.macs / (design.accelerator["array"]["rows"] * design.accelerator["array"]["cols"]),
            "same_spatial_mapping": row.K % design.accelerator["array"]["rows"] == 0
            and row.K // design.accelerator["array"]["rows"] >= 1 and row.N >= design.accelerator["array"]["cols"],
            **{f"energy_{k}": v for k, v in energy.items()}}


def compare(design_name: str) -> list[dict]:
    """One row per layer: (zigzag, hwsim) figures side by side."""
    design = DESIGNS[design_name]
    fx = load_fixture(design_name)
    rep, tr = hwsim_inference(design)
    rows = [r for r in rep.rows if r.unit == "array"]
    if len(rows) != len(fx["layers"]):
        raise SystemExit(f"{design_name}: hwsim has {len(rows)} GEMM layers, ZigZag {len(fx['layers'])}")
    # pair layers by shape (output channels, reduction, output pixels), in order among equal shapes:
    # the two list a block's shortcut and its second convolution in different orders
    pending: dict[tuple[int, int, int], list[str]] = {}
    for r in rows:
        pending.setdefault((r.N, r.K, r.M), []).append(r.layer)
    out = []
    for zl in fx["layers"]:
        ls = zl["loop_sizes"]
        key = (ls.get("K", 1), ls.get("C", 1) * ls.get("FX", 1) * ls.get("FY", 1),
               ls.get("B", 1) * ls.get("OX", 1) * ls.get("OY", 1))
        if not pending.get(key):
            raise SystemExit(f"{design_name}: no hwsim layer of shape {key} for ZigZag's {zl['name']}")
        name = pending[key].pop(0)
        out.append({"layer": name, "zigzag_layer": zl["name"], "zigzag": zigzag_layer(zl),
                    "hwsim": hwsim_layer(rep, name, design)})
    return out


def totals(rows: list[dict], key: str, who: str, where=None) -> float:
    return sum(r[who][key] for r in rows if where is None or where(r))


def _rel(a: float, b: float) -> float:
    return (a - b) / b if b else (0.0 if a == 0 else float("inf"))


def summary(design_name: str, rows: list[dict]) -> dict[str, float]:
    """The figures the issue's targets name: worst per-layer DRAM read gap, total write gap, total cycles
    gap over layers with the same spatial mapping, and each energy component's total gap."""
    same = [r for r in rows if r["hwsim"]["same_spatial_mapping"]]
    out = {
        "macs_equal": float(all(r["zigzag"]["macs"] == r["hwsim"]["macs"] for r in rows)),
        "max_layer_dram_read_gap": max(abs(_rel(r["hwsim"]["dram_read"], r["zigzag"]["dram_read"])) for r in rows),
        "total_dram_write_gap": _rel(totals(rows, "dram_write", "hwsim"), totals(rows, "dram_write", "zigzag")),
        "cycles_gap_same_mapping": _rel(totals(same, "cycles", "hwsim"), totals(same, "cycles", "zigzag")),
        "layers_same_mapping": float(len(same)),
    }
    for comp in ("mac", "dram", "sram", "rf"):
        out[f"energy_{comp}_gap"] = _rel(totals(rows, f"energy_{comp}", "hwsim"), totals(rows, f"energy_{comp}", "zigzag"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--design", choices=sorted(DESIGNS), action="append")
    ap.add_argument("--layers", action="store_true", help="print every layer")
    ap.add_argument("--markdown", action="store_true", help="print markdown tables (docs/validation.md)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    result = {}
    for d in a.design or sorted(DESIGNS):
        rows = compare(d)
        result[d] = {"summary": summary(d, rows), "rows": rows}
    if a.json:
        print(json.dumps(result, indent=1))
        return
    for d, res in result.items():
        rows = res["rows"]
        print(f"\n## {d}: ZigZag ({load_fixture(d)['command']}) vs hwsim")
        if a.layers or a.markdown:
            print("| layer | MACs | DRAM read ZZ | DRAM read hwsim | DRAM write ZZ | DRAM write hwsim | cycles ZZ | cycles hwsim |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|")
            for r in rows:
                z, h = r["zigzag"], r["hwsim"]
                print(f"| {r['layer']} | {z['macs']:,} | {z['dram_read']:,.0f} | {h['dram_read']:,.0f} | "
                      f"{z['dram_write']:,.0f} | {h['dram_write']:,.0f} | {z['cycles']:,.0f} | {h['cycles']:,.0f}"
                      f"{'' if h['same_spatial_mapping'] else ' (mapping differs)'} |")
        print("| figure | ZigZag | hwsim | gap |")
        print("|---|---:|---:|---:|")
        for key, label in (("macs", "MACs"), ("dram_read", "DRAM read bytes"), ("dram_write", "DRAM write bytes"),
                           ("cycles", "cycles (all layers)"), ("energy_mac", "MAC energy pJ"),
                           ("energy_dram", "DRAM energy pJ"), ("energy_sram", "SRAM energy pJ"),
                           ("energy_rf", "register energy pJ")):
            z, h = totals(rows, key, "zigzag"), totals(rows, key, "hwsim")
            print(f"| {label} | {z:,.0f} | {h:,.0f} | {_rel(h, z):+.1%} |")
        s = res["summary"]
        print(f"\nworst per-layer DRAM read gap {s['max_layer_dram_read_gap']:.1%}; total DRAM write gap "
              f"{s['total_dram_write_gap']:+.1%}; cycles gap over the {int(s['layers_same_mapping'])} layers with "
              f"the same spatial mapping {s['cycles_gap_same_mapping']:+.1%}")


if __name__ == "__main__":
    main()
