"""The area model (accel_models/area.py) beside Eyeriss (JSSC 2017), TPU v1 (ISCA 2017) and OpenROAD's
NanGate45 TPU tile, part by part.

    python benchmarks/area_vs_published.py

Published figures and their sources: configs/area/published.yaml; the model's rules and sources:
configs/area/45nm.yaml. The model runs at each chip's node; each row prints the published area, the
model's, their ratio, the ratio under (node / 45)^2 scaling instead, whether it is within the band
(0.65-1.35), the model parts compared, and then the rules that made the model's figures.
Docs: docs/validation.md, "Area".
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import accel_models.area as am_area  # noqa: E402
from accel_models.area import accelerator_area, load_area_table, node_scale  # noqa: E402
from accel_models.area_published import BAND, compare_published, sram_macros  # noqa: E402
from accel_models.config import load_accelerator  # noqa: E402


def _gaps(parts: dict[tuple[str, str], object]) -> None:
    """What closing the band's lower edge would take, for the parts outside it."""
    t = load_area_table()
    util = float(t.data["overhead"]["logic_utilization"])
    mxu = parts[("TPU v1", "matrix unit")]
    if not mxu.in_band:
        f, _ = node_scale(t, mxu.node_nm)
        per_mac = mxu.published_mm2 / f / 65536 * 1e6
        model = mxu.model_mm2 / f / 65536 * 1e6
        print(f"TPU v1 matrix unit: published {per_mac:.0f} um2 of core per MAC at 45 nm; the model {model:.0f} "
              f"({model * util:.0f} of cells / {util:g}); {BAND[0]} needs {BAND[0] * per_mac * util:.0f} um2 of cells "
              f"per MAC at {util:g} utilization, or a utilization of {model * util / (BAND[0] * per_mac):.2f} "
              f"with the model's cells")
    core = parts[("Eyeriss", "core")]
    if not core.in_band:
        f, _ = node_scale(t, core.node_nm)
        gates = parts[("Eyeriss", "logic cells")].published_mm2 / f
        acc = load_accelerator(ROOT / "configs" / "accelerators" / "eyeriss.yaml")
        bits = 8 * (acc.ifmap_sram_bytes + acc.filter_sram_bytes + acc.ofmap_sram_bytes)
        rest = BAND[0] * core.published_mm2 / f - gates / util
        sram = sum(v for k, v in accelerator_area(acc).breakdown.items() if k.startswith("sram"))
        print(f"Eyeriss core: {core.published_mm2 / f:.2f} mm2 at 45 nm; with the published logic cells "
              f"({gates:.3f} mm2) / {util:g}, {BAND[0]} leaves {rest:.2f} mm2 for {bits / 8 / 1024:.1f} KiB of SRAM: "
              f"{rest / bits * 1e6:.2f} um2 per bit against the model's {sram / bits * 1e6:.3f}")


def _tpu_pe() -> None:
    """What the model's tpu_like PE holds, item by item, against Jouppi et al.'s description."""
    t = load_area_table()
    acc = load_accelerator(ROOT / "configs" / "accelerators" / "tpu_like.yaml")
    m8, m9 = am_area.int_mult_um2(t, 8), am_area.int_mult_um2(t, 9)
    reg, spad = am_area.register_bit_um2(t, "operand_bit"), am_area.register_bit_um2(t, "scratchpad_bit")
    print("TPU v1 PE (Jouppi et al. Section 2) against tpu_like's, um2 of cells at 45 nm:")
    print(f"  8-bit multiply, 16-bit operands at half/quarter speed (so no 16-bit multiplier): "
          f"int multiplier({acc.pe.params['bits']}) {m8:.0f}")
    print(f"  32-bit accumulation: adder({acc.psum_bits}) {am_area.int_add_um2(t, acc.psum_bits):.0f}, "
          f"psum register {acc.psum_bits} bits x {reg:.3f} = {acc.psum_bits * reg:.0f}")
    print(f"  input and weight registers: {acc.ifmap_bits} + {acc.filter_bits} bits x {reg:.3f} = "
          f"{(acc.ifmap_bits + acc.filter_bits) * reg:.0f}")
    print(f"  second (double-buffered) weight tile: {acc.pe_register_bytes} B x 8 x {spad:.3f} = "
          f"{8 * acc.pe_register_bytes * spad:.0f}")
    print(f"  signed or unsigned operands: not modelled; a 9-bit multiplier by the same fit is {m9:.0f} "
          f"(+{m9 - m8:.0f} per MAC)")


def _left_out() -> None:
    """The published shares of what the model has no part for."""
    import yaml

    d = yaml.safe_load((ROOT / "configs" / "area" / "published.yaml").read_text())
    sh, e = d["tpu_v1"]["shares"], d["eyeriss"]
    datapath = sh["unified_buffer"] + sh["accumulators"] + sh["matrix_unit"]
    print(f"left out: TPU v1 control {sh['control']:.0%} of the die, I/O {sh['io']:.0%} (DDR3, PCIe and host "
          f"interfaces, pads), the rest of compute beyond the matrix unit {sh['compute'] - sh['matrix_unit']:.0%} "
          f"(the activation pipeline; the model's vector unit stands for it), floor plan left unshaded "
          f"{1 - sh['data_buffers'] - sh['compute'] - sh['io'] - sh['control']:.0%}; outside the datapath "
          f"{1 - datapath:.0%} in all; "
          f"Eyeriss pad ring and I/O {1 - e['core_mm2'] / e['die_mm2']:.0%} of its die (outside the core); "
          f"its NoC, run-length codec and control sit inside the logic-cell count")


def _macros() -> None:
    """Every published SRAM macro against the rule, and the rule's per-bit area at the sizes the designs use."""
    t = load_area_table()
    periphery, per_bit = am_area.sram_macro_rule(t)
    print(f"SRAM macro rule: {periphery:.0f} um2 of periphery + {per_bit:.4f} um2 per bit "
          f"(fitted to the OpenRAM macros, {t.cite('sram')})")
    print(f"{'family':10} {'words x bits':>13} {'published um2':>14} {'rule um2':>9} {'rule/published':>15} "
          f"{'um2/bit':>8}  fitted")
    for m in sram_macros():
        print(f"{m.family:10} {m.words:>6} x {m.bits:<4} {m.published_um2:14.1f} {m.model_um2:9.1f} "
              f"{m.ratio:15.2f} {m.published_um2 / (m.words * m.bits):8.3f}  {'yes' if m.fitted else 'no'}")
    for what, bits in (("Eyeriss filter scratch-pad, 224 x 16", 3584), ("Eyeriss global-buffer bank, 4 KB", 32768),
                       ("TPU v1 unified buffer, 24 MiB", 24 * 2**23)):
        print(f"  {what}: {(periphery + per_bit * bits) / bits:.3f} um2 per bit")


def main() -> None:
    parts = compare_published()
    print(f"{'design':9} {'part':22} {'node':>5} {'published mm2':>14} {'model mm2':>10} {'ratio':>6} "
          f"{'ideal':>6}  {'band':4}  model parts")
    for p in parts:
        print(f"{p.design:9} {p.part:22} {p.node_nm:5g} {p.published_mm2:14.3f} {p.model_mm2:10.3f} "
              f"{p.ratio:6.2f} {p.ratio_ideal:6.2f}  {'in' if p.in_band else 'OUT':4}  {p.model_parts}")
    print()
    for node in sorted({p.node_nm for p in parts}):
        print(f"node {node:g} nm: {node_scale(load_area_table(), node)[1]}")
    for name in ("eyeriss", "tpu_like"):
        rep = accelerator_area(load_accelerator(ROOT / "configs" / "accelerators" / f"{name}.yaml"))
        print(f"\n{name} at 45 nm: {rep.total_mm2:.3f} mm2; "
              + ", ".join(f"{k} {v:.3f}" for k, v in rep.breakdown.items()))
        for k, v in rep.rules.items():
            print(f"  {k}: {v}")
    print()
    _gaps({(p.design, p.part): p for p in parts})
    _left_out()
    print()
    _tpu_pe()
    print()
    _macros()


if __name__ == "__main__":
    main()
