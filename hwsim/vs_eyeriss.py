"""hwsim's per-layer figures for AlexNet CONV1-5 on the ``eyeriss`` accelerator beside Eyeriss' measured chip.

The paper's figures (Chen et al., JSSC 2017, the per-layer table at batch 4) live in
``configs/validation/eyeriss_jssc2017.yaml``. :func:`compare` counts ``alexnet_caffe`` (the
two-tower AlexNet the paper runs) at the paper's batch with 16-bit integer weights and inputs in every
layer (Eyeriss' arithmetic), simulates it on the accelerator and prices it; each
:class:`LayerComparison` pairs one CONV layer's paper figures with hwsim's.

hwsim's DRAM bytes of a layer are split (:class:`DramTerms`, exactly, up to whole-byte rounding) into
  compulsory        every input, weight and output element moved once at 16 bits
  input_width       the input read at its stored width above 16 bits (0: the image is read as 16-bit fixed
                    point, as the chip does)
  ifmap_refetch     input elements fetched more than once (re-streamed per column fold when the
                    input does not fit half the ifmap SRAM)
  filter_refetch    weights fetched more than once (output rows tiled to fit the ofmap SRAM)
  output_width      outputs written at their width above 16 bits (the consumer's input width)
  psum_spill        partial sums read back from DRAM
so a gap to the paper reads as the sum of named quantities, and the split moves with the memory model.
:func:`order_bytes` gives the DRAM bytes each loop order of the memory model would move on the layer
(the model runs the one with the fewest, ``loop_order``), so the doc can say what each order leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hwsim.configs import CONFIG_DIR
from hwsim.yamlsafe import safe_load

if TYPE_CHECKING:
    import accel_models as am

PAPER = CONFIG_DIR / "validation" / "eyeriss_jssc2017.yaml"
# Eyeriss computes in 16-bit fixed point: 16-bit weights and inputs in every layer, first and last included.
SCHEME = {"name": "kbit", "weight_bits": 16, "act_bits": 16, "keep_first_last": False}
REFERENCE_BITS = 16


@dataclass(frozen=True)
class PaperLayer:
    """One row of the paper's table (units as printed: mW, ms, giga-MACs, MB = 10^6 bytes)."""

    name: str
    layer: str
    power_mw: float
    latency_ms: float
    processing_ms: float
    gmacs: float
    active_pes: int
    zeros_in_ifmaps_pct: float
    gb_mb: float
    dram_mb: float


@dataclass(frozen=True)
class PaperTotal:
    """The paper's printed totals over CONV1-5."""

    power_mw: float
    latency_ms: float
    processing_ms: float
    gmacs: float
    gb_mb: float
    dram_mb: float


@dataclass(frozen=True)
class PaperRun:
    """The paper's run: its citation, the network, batch, node and clock, and the printed totals."""

    source: str
    model: str
    batch: int
    node_nm: float
    clock_mhz: float
    total: PaperTotal


@dataclass(frozen=True)
class DramTerms:
    """hwsim's DRAM bytes of one layer, split into named quantities (see the module docstring)."""

    compulsory: float
    input_width: float
    ifmap_refetch: float
    filter_refetch: float
    output_width: float
    psum_spill: float

    @property
    def total(self) -> float:
        return (self.compulsory + self.input_width + self.ifmap_refetch + self.filter_refetch
                + self.output_width + self.psum_spill)


@dataclass(frozen=True)
class LayerComparison:
    """One CONV layer: the paper's figures and hwsim's (bytes, ms, mW; hwsim's power is on-chip energy
    / latency at the technology table's node)."""

    paper: PaperLayer
    macs: int
    dram_bytes: int
    sram_bytes: int
    latency_ms: float
    onchip_power_mw: float
    terms: DramTerms
    bits: tuple[int, int, int]            # stored ifmap, filter, ofmap bits in hwsim's row
    loop_order: str = ""
    orders: dict[str, int] | None = None  # DRAM bytes (read + write) under each loop order the layer allows

    @property
    def dram_ratio(self) -> float:
        return self.dram_bytes / (self.paper.dram_mb * 1e6)


def load_paper() -> tuple[PaperRun, list[PaperLayer]]:
    """The paper's table: (its run and totals, CONV1-5 rows)."""
    data = safe_load(PAPER.read_text(), str(PAPER))
    run = PaperRun(source=data["source"], model=data["model"], batch=data["batch"], node_nm=data["node_nm"],
                   clock_mhz=data["clock_mhz"], total=PaperTotal(**data["total"]))
    return run, [PaperLayer(**row) for row in data["layers"]]


def dram_terms(row: am.CycleRow, info: Any) -> DramTerms:
    """Split a report row's DRAM traffic of a conv layer (``info``: its trace LayerInfo)."""
    s = info.shape
    u_in = s["N"] * s["C"] * s["H"] * s["W"]
    weights = s["K"] * (s["C"] // s.get("groups", 1)) * s["R"] * s["S"]
    outs = s["N"] * s["K"] * s["P"] * s["Q"]
    ib, fb, ob, ref = row.ifmap_bits, row.filter_bits, row.ofmap_bits, REFERENCE_BITS
    wb = row.output_bits or ob          # finished outputs leave at the consumer's width
    return DramTerms(
        compulsory=(u_in + weights + outs) * ref / 8,
        input_width=u_in * (ib - ref) / 8,
        ifmap_refetch=(row.dram_reads_ifmap - u_in) * ib / 8,
        filter_refetch=(row.dram_reads_filter - weights) * fb / 8,
        output_width=row.dram_writes_ofmap * (wb - ref) / 8 + (row.dram_writes_ofmap - outs) * ref / 8,
        psum_spill=row.dram_reads_ofmap * ob / 8,
    )


def order_bytes(row: am.CycleRow, info: Any, acc: Any) -> dict[str, int]:
    """DRAM bytes (reads + writes) of one array row under every loop order the memory model allows."""
    from fractions import Fraction

    from accel_models.memory import loop_orders
    from accel_models.systolic import run_gemm
    from hwsim.hardware import layer_to_model

    g = layer_to_model(info).to_gemm()
    run = run_gemm(g.M, g.N, g.K, acc.rows, acc.cols, acc.dataflow, g.groups, Fraction(row.pe_rate), g.kernel,
                   acc.weight_double_buffered)
    ib, fb = row.ifmap_bits, row.filter_bits
    cands = loop_orders(run, g.M, g.N, g.K, g.groups, g.ifmap_unique, ib, fb, row.ofmap_bits, acc.memory,
                        acc.cols, g.window, output_bits=row.output_bits or None)
    return {c.order.value: int(c.read_bytes(ib, fb)) + int(row.dram_write_bytes) for c in cands}


def compare(accelerator: Any = "eyeriss", tech: str = "45nm") -> list[LayerComparison]:
    """hwsim's CONV1-5 figures on ``accelerator`` (a name, path, dict or Accelerator) beside the paper's."""
    from hwsim.energy import load_tech
    from hwsim.evaluate import WorkloadTraces, price_traces, trace_workload
    from hwsim.hardware import resolve_accelerator
    from hwsim.models import MODELS, load_all
    from hwsim.schemes.base import build_scheme
    from hwsim.workload import Workload

    head, paper = load_paper()
    load_all()
    spec = MODELS.get(head.model)
    wl = Workload(model=head.model, scheme=build_scheme(SCHEME), input_shape=spec.default_input,
                  num_classes=spec.default_classes, batch=head.batch, infer_batch=head.batch)
    tr = trace_workload(wl, train=False).infer
    assert tr is not None
    # kbit keeps the image in float (DoReFa's convention); the chip reads it as 16-bit fixed point like every input
    first = next(li for li in tr.layers if li.op == "conv2d")
    first.precision = {**first.precision, "input": "int16", "stash": "int16"}
    acc = resolve_accelerator(accelerator)
    ev = price_traces(WorkloadTraces(infer=tr), acc, load_tech(tech))
    assert tr is not None and ev.infer_cycles is not None and ev.infer_energy is not None
    infos = {li.name: li for li in tr.layers}
    rows = {r.layer: r for r in ev.infer_cycles.rows if r.unit == "array"}
    onchip: dict[str, float] = {}
    for r in ev.infer_energy.rows:
        if r.component != "dram":
            onchip[r.layer] = onchip.get(r.layer, 0.0) + r.energy_pj
    out = []
    for p in paper:
        row = rows[p.layer]
        ms = row.total_cycles / acc.clock_mhz / 1e3
        out.append(LayerComparison(
            paper=p, macs=int(row.macs), dram_bytes=int(row.dram_read_bytes + row.dram_write_bytes),
            sram_bytes=int(row.sram_read_bytes + row.sram_write_bytes), latency_ms=ms,
            onchip_power_mw=onchip.get(p.layer, 0.0) * 1e-12 / (ms * 1e-3) * 1e3 if ms else 0.0,
            terms=dram_terms(row, infos[p.layer]),
            bits=(row.ifmap_bits, row.filter_bits, row.output_bits or row.ofmap_bits),
            loop_order=row.loop_order, orders=order_bytes(row, infos[p.layer], acc)))
    return out
