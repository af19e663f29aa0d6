"""The area model beside two published chips, part by part (``configs/area/published.yaml``).

Each :class:`AreaPart` pairs a published area (at the chip's node) with the model's parts that stand
for it, the model run at that node (every area x (node / 45)^2, :mod:`accel_models.area`):

Eyeriss (Chen et al., JSSC 2017, 65 nm)
  logic cells   1176k NAND2-equivalent gates x NanGate45's NAND2_X1 area, scaled to 65 nm, against the
                model's PE arithmetic + PE registers + vector unit (cell area, before placement utilization).
  core          the 3.5 mm x 3.5 mm core against the model's whole area (logic / utilization + SRAM).
TPU v1 (Jouppi et al., ISCA 2017, 28 nm; shares of a die of less than 331 mm2)
  unified buffer 29%  against the ifmap SRAM (24 MiB)
  accumulators    6%  against the ofmap SRAM (4 MiB)
  matrix unit    24%  against the PEs' arithmetic and registers (tpu_like's second, double-buffered
                      weight register included) / utilization
  datapath       59%  (the three above) against the same parts of the model together
  die           100%  against the model's whole area; control (2%) and the rest of the floor plan
                      (activation pipeline, DRAM, PCIe and host interfaces, I/O, pads) are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from accel_models.area import accelerator_area, load_area_table
from accel_models.config import load_accelerator

PUBLISHED = Path(__file__).resolve().parents[1] / "configs" / "area" / "published.yaml"
ACCELERATORS = Path(__file__).resolve().parents[1] / "configs" / "accelerators"


@dataclass(frozen=True)
class AreaPart:
    """One published part and the model's area for it, both in mm2 at ``node_nm``."""

    design: str
    part: str
    node_nm: float
    published_mm2: float
    model_mm2: float
    model_parts: str
    source: str

    @property
    def ratio(self) -> float:
        return self.model_mm2 / self.published_mm2


def compare_published(path: str | Path | None = None) -> list[AreaPart]:
    """Every part of ``configs/area/published.yaml`` (or ``path``) beside the model."""
    data: dict[str, Any] = yaml.safe_load(Path(path or PUBLISHED).read_text())
    src = data["sources"]
    util = float(load_area_table().data["overhead"]["logic_utilization"])
    out: list[AreaPart] = []

    e = data["eyeriss"]
    node = float(e["node_nm"])
    rep = accelerator_area(load_accelerator(ACCELERATORS / f"{e['accelerator']}.yaml"), node)
    b = rep.breakdown
    gates_mm2 = e["logic_gates_nand2"] * e["nand2_um2_45nm"]["value"] * (node / 45.0) ** 2 / 1e6
    logic = b["pe_compute"] + b["pe_registers"] + b["vector_unit"]
    cite = src[e["source"]]
    out.append(AreaPart("Eyeriss", "logic cells", node, gates_mm2, logic,
                        "PE arithmetic + PE registers + vector unit", f"{cite}; {src['nangate45']}"))
    out.append(AreaPart("Eyeriss", "core", node, float(e["core_mm2"]), rep.total_mm2, "whole model", cite))

    t = data["tpu_v1"]
    node = float(t["node_nm"])
    rep = accelerator_area(load_accelerator(ACCELERATORS / f"{t['accelerator']}.yaml"), node)
    b = rep.breakdown
    die, sh, cite = float(t["die_mm2"]), t["shares"], src[t["source"]]
    mxu = (b["pe_compute"] + b["pe_registers"]) / util
    parts = [("unified buffer", sh["unified_buffer"], b["sram_ifmap"], "ifmap SRAM"),
             ("accumulators", sh["accumulators"], b["sram_ofmap"], "ofmap SRAM"),
             ("matrix unit", sh["matrix_unit"], mxu, f"(PE arithmetic + PE registers) / {util:g} utilization"),
             ("datapath", sh["unified_buffer"] + sh["accumulators"] + sh["matrix_unit"],
              b["sram_ifmap"] + b["sram_ofmap"] + mxu, "the three above"),
             ("die", 1.0, rep.total_mm2, "whole model")]
    for name, share, model, how in parts:
        out.append(AreaPart("TPU v1", name, node, share * die, model, how, cite))
    return out
