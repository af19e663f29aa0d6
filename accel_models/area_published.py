"""The area model beside published chips and an open-source synthesized array, part by part
(``configs/area/published.yaml``).

Each :class:`AreaPart` pairs a published area (at the chip's node) with the model's parts that stand
for it, the model run at that node (every area x the area table's node factor, :mod:`accel_models.area`).
``ratio_ideal`` repeats the ratio with both sides taken to the node by (node / 45)^2 instead.

Eyeriss (Chen et al., JSSC 2017, 65 nm)
  logic cells   1176k NAND2-equivalent gates x NanGate45's NAND2_X1 area, taken to 65 nm by the same node
                factor, against the model's PE arithmetic + PE registers + vector unit (cell area, before
                placement utilization).
  core          the 3.5 mm x 3.5 mm core against the model's whole area (logic / utilization + SRAM).
TPU v1 (Jouppi et al., ISCA 2017, 28 nm; shares of a die of less than 331 mm2)
  unified buffer 29%  against the ifmap SRAM (24 MiB)
  accumulators    6%  against the ofmap SRAM (4 MiB)
  matrix unit    24%  against the PEs' arithmetic and registers (tpu_like's second, double-buffered
                      weight register included) / utilization
  datapath       59%  (the three above) against the same parts of the model together
  data buffers   37%  (Figure 2's caption: unified buffer, accumulators, weight FIFO) against all three SRAMs
  compute        30%  (the caption: matrix unit, activation pipeline) against the PEs and the vector unit
                      / utilization
  die less I/O, control 88%  (the caption's I/O 10% and control 2% taken off) against the whole model
  die           100%  against the model's whole area; control (2%) and the rest of the floor plan
                      (activation pipeline, DRAM, PCIe and host interfaces, I/O, pads) are not modelled.
SRAM macros (45 nm, :func:`sram_macros`)
  each published macro against the area table's macro rule (periphery + per-bit x bits): OpenRAM's
  FreePDK45 layouts, which the rule is fitted to, and fakeram45's CACTI outlines, which it is not.
OpenROAD's NanGate45 TPU tile (45 nm, no scaling)
  PE cells      the synthesized standard-cell area bound of an 8 x 8 int8 weight-stationary tile against
                the model's 8 x 8 tpu_like PE cells (arithmetic + registers, before utilization).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from accel_models.area import AreaReport, accelerator_area, load_area_table, node_scale, sram_macro_rule
from accel_models.config import Accelerator, apply_overrides, load_accelerator

PUBLISHED = Path(__file__).resolve().parents[1] / "configs" / "area" / "published.yaml"
ACCELERATORS = Path(__file__).resolve().parents[1] / "configs" / "accelerators"
# the band a part must fall in (model / published), docs/validation.md "Area"
BAND = (0.65, 1.35)


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
    scaling: str = ""
    ratio_ideal: float = 0.0

    @property
    def ratio(self) -> float:
        return self.model_mm2 / self.published_mm2

    @property
    def in_band(self) -> bool:
        return BAND[0] <= self.ratio <= BAND[1]


def _ideal_table() -> dict[str, Any]:
    """The area table with Dennard's (node / 45)^2 in place of its node rule."""
    d = copy.deepcopy(load_area_table().data)
    d["scaling"] = {"source": "dennard1974", "rule": "ideal", "exponent": 2}
    return d


def _accelerator(name: str, overrides: dict[str, Any] | None = None) -> Accelerator:
    data = yaml.safe_load((ACCELERATORS / f"{name}.yaml").read_text())
    return load_accelerator(apply_overrides(data, overrides or {}))


def _reports(acc: Accelerator, node: float) -> tuple[AreaReport, AreaReport]:
    return accelerator_area(acc, node), accelerator_area(acc, node, table=_ideal_table())


def _logic(b: dict[str, float]) -> float:
    return b["pe_compute"] + b["pe_registers"] + b["vector_unit"]


def compare_published(path: str | Path | None = None) -> list[AreaPart]:
    """Every part of ``configs/area/published.yaml`` (or ``path``) beside the model."""
    data: dict[str, Any] = yaml.safe_load(Path(path or PUBLISHED).read_text())
    src = data["sources"]
    table = load_area_table()
    util = float(table.data["overhead"]["logic_utilization"])
    out: list[AreaPart] = []

    e = data["eyeriss"]
    node = float(e["node_nm"])
    rep, ideal = _reports(_accelerator(e["accelerator"]), node)
    scale, how = node_scale(table, node)
    gates45 = e["logic_gates_nand2"] * e["nand2_um2_45nm"]["value"] / 1e6
    cite = src[e["source"]]
    # the published gates go to 65 nm by the same factor as the model, so this ratio is the one at 45 nm
    out.append(AreaPart("Eyeriss", "logic cells", node, gates45 * scale, _logic(rep.breakdown),
                        "PE arithmetic + PE registers + vector unit (cells)", f"{cite}; {src['nangate45']}",
                        how, _logic(ideal.breakdown) / (gates45 * (node / 45.0) ** 2)))
    core = float(e["core_mm2"])
    out.append(AreaPart("Eyeriss", "core", node, core, rep.total_mm2, "whole model", cite, how,
                        ideal.total_mm2 / core))

    t = data["tpu_v1"]
    node = float(t["node_nm"])
    rep, ideal = _reports(_accelerator(t["accelerator"]), node)
    _, how = node_scale(table, node)
    die, sh, cite = float(t["die_mm2"]), t["shares"], src[t["source"]]

    def tpu_parts(b: dict[str, float]) -> list[tuple[str, float, float, str]]:
        mxu = (b["pe_compute"] + b["pe_registers"]) / util
        sram = b["sram_ifmap"] + b["sram_filter"] + b["sram_ofmap"]
        logic = (b["pe_compute"] + b["pe_registers"] + b["vector_unit"]) / util
        return [("unified buffer", sh["unified_buffer"], b["sram_ifmap"], "ifmap SRAM"),
                ("accumulators", sh["accumulators"], b["sram_ofmap"], "ofmap SRAM"),
                ("matrix unit", sh["matrix_unit"], mxu, f"(PE arithmetic + PE registers) / {util:g} utilization"),
                ("datapath", sh["unified_buffer"] + sh["accumulators"] + sh["matrix_unit"],
                 b["sram_ifmap"] + b["sram_ofmap"] + mxu, "the three above"),
                ("data buffers", sh["data_buffers"], sram, "ifmap + filter + ofmap SRAM"),
                ("compute", sh["compute"], logic,
                 f"(PE arithmetic + PE registers + vector unit) / {util:g} utilization"),
                ("die less I/O, control", 1.0 - sh["io"] - sh["control"], sum(b.values()), "whole model"),
                ("die", 1.0, sum(b.values()), "whole model")]

    for (name, share, model, parts), (*_, model_ideal, _p) in zip(tpu_parts(rep.breakdown),
                                                                   tpu_parts(ideal.breakdown)):
        out.append(AreaPart("TPU v1", name, node, share * die, model, parts, cite, how,
                            model_ideal / (share * die)))

    o = data["orfs_tpu"]
    node = float(o["node_nm"])
    rep = accelerator_area(_accelerator(o["accelerator"], o["overrides"]), node)
    _, how = node_scale(table, node)
    pe_cells = rep.breakdown["pe_compute"] + rep.breakdown["pe_registers"]
    bound = float(o["stdcell_um2_at_most"]) / 1e6
    out.append(AreaPart("ORFS tpu", "PE cells 8x8", node, bound, pe_cells,
                        "8 x 8 x (PE arithmetic + PE registers), cells", src[o["source"]], how,
                        pe_cells / bound))
    return out


@dataclass(frozen=True)
class MacroPoint:
    """One published SRAM macro beside the area table's macro rule, um2 at 45 nm."""

    family: str
    words: int
    bits: int
    published_um2: float
    model_um2: float
    fitted: bool

    @property
    def ratio(self) -> float:
        return self.model_um2 / self.published_um2


def sram_macros(path: str | Path | None = None) -> list[MacroPoint]:
    """OpenRAM's macros (the rule's own fit, ``configs/area/45nm.yaml``) and fakeram45's (``published.yaml``)."""
    table = load_area_table()
    periphery, per_bit = sram_macro_rule(table)
    data: dict[str, Any] = yaml.safe_load(Path(path or PUBLISHED).read_text())
    out = [MacroPoint("OpenRAM", int(w), int(b), float(a), periphery + per_bit * w * b, True)
           for w, b, a in table.data["sram"].get("macros", [])]
    out += [MacroPoint("fakeram45", int(w), int(b), float(x * y), periphery + per_bit * w * b, False)
            for w, b, x, y in data["fakeram45"]["macros"]]
    return out
