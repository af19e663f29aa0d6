"""Compare schemes on one network: compute and memory energy side by side (the table in docs/energy.md).

    python benchmarks/energy_compare.py resnet20 fp32 binaryconnect bnn --batch 128 --input 3x32x32
    python benchmarks/energy_compare.py macs --tech 45nm --fan-in 576      # pJ per MAC of every MAC type

Each scheme is counted with :func:`hwsim.count.trace` and priced with :func:`hwsim.energy.price` on the
same tech table and hierarchy (the placement model: no accelerator); ratios are relative to the first
scheme. ``hwsim cost`` prices one scheme the same way. Energies are written by hwsim.units with an SI
prefix on J (``24.03 mJ``, ``88.9 µJ``), ratios as ``5.11 ×``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hwsim import units
from hwsim.energy import load_tech, price
from hwsim.workload import parse_input_shape


def compare_schemes(model: str, schemes: list[str], batch: int = 128, input_shape: tuple[int, ...] | None = None,
                    tech: str = "45nm", hierarchy: Any = None) -> list[dict[str, Any]]:
    """Per scheme: pJ per MAC by MAC type, forward/step compute, memory and total energy, ratios to the first."""
    from hwsim.count import trace

    table = load_tech(tech)
    out: list[dict[str, Any]] = []
    for s in schemes:
        kw = {"batch": batch}
        if input_shape:
            kw["input_shape"] = input_shape
        rep = price(trace(model, s, **kw), table, hierarchy=hierarchy)

        def compute(d: dict[str, float]) -> float:
            return sum(v for k, v in d.items() if k.startswith("compute."))

        row = {
            "scheme": s,
            "pj_per_mac": {m: v.max if v.min == v.max else (v.min, v.max)
                           for m, v in rep.assumptions.pj_per_mac.items()},
            "forward_compute_pj": compute(rep.by_phase.get("forward", {})),
            "step_compute_pj": compute(rep.totals),
            "step_memory_pj": sum(rep.totals.get(c, 0.0) for c in ("rf", "sram", "dram")),
            "step_elementwise_pj": rep.totals.get("elementwise", 0.0),
            "train_step_pj": rep.train_step_pj,
            "infer_pj_per_sample": rep.infer_pj_per_sample,
        }
        out.append(row)
    base = out[0]
    for row in out:
        for k in ("forward_compute_pj", "step_compute_pj", "train_step_pj"):
            row[k.replace("_pj", "_ratio")] = base[k] / row[k] if row[k] else float("inf")
    return out


def to_markdown(rows: list[dict[str, Any]]) -> str:
    def energy(x: float) -> str:
        return units.fmt(x, "pJ", 4)

    def ratio(x: float) -> str:
        return units.fmt(x, "ratio")

    def pj(v: float) -> str:
        return units.fmt(v, "pJ/MAC", unit_text=False)

    def macs(d: dict[str, Any]) -> str:
        return ", ".join(f"{m} {pj(v)}" if not isinstance(v, tuple) else f"{m} {pj(v[0])}-{pj(v[1])}"
                         for m, v in d.items())

    lines = ["| scheme | pJ per MAC | forward compute | vs first | step compute | vs first "
             "| step RF+SRAM+DRAM | step element-wise | training step | inference / sample |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['scheme']} | {macs(r['pj_per_mac'])} | {energy(r['forward_compute_pj'])} | "
                     f"{ratio(r['forward_compute_ratio'])} | {energy(r['step_compute_pj'])} | "
                     f"{ratio(r['step_compute_ratio'])} | {energy(r['step_memory_pj'])} | "
                     f"{energy(r['step_elementwise_pj'])} | {energy(r['train_step_pj'])} | "
                     f"{energy(r['infer_pj_per_sample'])} |")
    return "\n".join(lines)


MAC_CASES = (("float32", "float32"), ("float16", "float16"), ("int8", "int8"), ("int4", "int4"), ("int2", "int2"),
             ("binary", "float32"), ("binary", "int8"), ("ternary", "float32"), ("ternary", "int8"),
             ("binary", "binary"), ("log4", "float32"), ("log4", "int8"), ("lq2", "lq2"), ("lq2", "float32"),
             ("bf16", "bf16"), ("fp8_e4m3", "fp8_e4m3"), ("fp8_e5m2", "fp8_e4m3"), ("mxfp8", "mxfp8"),
             ("mxfp8_e5m2", "mxfp8"), ("mxfp6", "mxfp6"), ("mxfp6_e3m2", "mxfp6"), ("mxfp4", "mxfp8"),
             ("mxfp4", "mxfp4"), ("mxint8", "mxint8"), ("nvfp4", "nvfp4"))


def mac_table(tech: str = "45nm", fan_in: int = 576) -> str:
    """pJ per MAC of every MAC type for typical operand pairs, as a markdown table (ratios to fp32)."""
    from hwsim.energy.ops import mac_energy, scale_share_pj
    from hwsim.formats import Format, mac_type

    table = load_tech(tech)
    fp32 = mac_energy(table, "fp32")[0]
    lines = [f"| MAC type | operands | pJ per MAC (fan-in {fan_in}) | fp32 / this | rule | of which block scale |",
             "|---|---|---:|---:|---|---:|"]
    for a, b in MAC_CASES:
        fa, fb = Format.parse(a), Format.parse(b)
        m = mac_type(fa, fb)
        e, rule = mac_energy(table, m, (fa, fb), fan_in)
        s = scale_share_pj(table, m, (fa, fb), fan_in)
        lines.append(f"| {m} | {a} x {b} | {units.fmt(e, 'pJ/MAC', 4, unit_text=False)} | "
                     f"{units.fmt(fp32 / e, 'ratio')} | {rule.name} | "
                     f"{units.fmt(s, 'pJ/MAC', 4, unit_text=False) if s else '-'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from hwsim.errors import UserError

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["macs"]:
        ap = argparse.ArgumentParser(prog="python benchmarks/energy_compare.py macs")
        ap.add_argument("--tech", default="45nm")
        ap.add_argument("--fan-in", type=int, default=576)
        a = ap.parse_args(argv[1:])
        try:
            print(mac_table(a.tech, a.fan_in))
        except UserError as e:
            print(e.one_line(), file=sys.stderr)
            return 2
        return 0

    ap = argparse.ArgumentParser(prog="python benchmarks/energy_compare.py", description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("schemes", nargs="+")
    ap.add_argument("--batch", "-b", type=int, default=128)
    ap.add_argument("--input", "--input-shape", dest="input_shape", default=None)   # hwsim's spelling, and the old one
    ap.add_argument("--tech", default="45nm")
    ap.add_argument("--hierarchy", default=None)
    a = ap.parse_args(argv)
    try:
        shape = parse_input_shape(a.input_shape, where="--input")
        rows = compare_schemes(a.model, a.schemes, a.batch, shape, a.tech, a.hierarchy)
    except UserError as e:
        print(e.one_line(), file=sys.stderr)
        return 2
    print(to_markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
