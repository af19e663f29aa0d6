"""simulate(layers, accelerator) -> CycleReport: the array for GEMM work, the vector unit for the rest.

Each work item gives one report row and its memory accesses: the array's SRAM reads and writes
per buffer (SCALE-Sim's demand counts, plus each DRAM transfer's pass through its buffer) and DRAM
traffic per operand (:mod:`accel_models.memory`),
at the operands' stored widths; the vector unit streams its operands from and to DRAM."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields, replace
from operator import attrgetter
from typing import Any

from accel_models.accesses import Access, MemoryAccesses
from accel_models.config import Accelerator, load_accelerator
from accel_models.errors import ConfigError
from accel_models.layers import ConvLayer, GemmLayer, Operands, VectorOp
from accel_models.memory import (
    DramTraffic,
    dram_traffic,
    os_reduction_chunks,
    psum_tile_fits,
    scale_bytes,
    stored_bytes,
)
from accel_models.pe import derive_mac_type, width
from accel_models.registers import register_words
from accel_models.report import COLUMNS, CycleReport, CycleRow
from accel_models.sparsity import skip_factor
from accel_models.systolic import run_gemm


def default_operands(acc: Accelerator) -> Operands:
    """The accelerator's own widths; outputs leave at its ifmap width (the next layer's input)."""
    return Operands("int", acc.ifmap_bits, "int", acc.filter_bits, acc.psum_bits, output_bits=acc.ifmap_bits)


def vector_fused(layer: VectorOp, acc: Accelerator) -> bool:
    """Element-wise work runs fused with its producer, on the on-chip buffers, when its largest tensor
    fits half of the ifmap and ofmap SRAMs together (double-buffered, as the array's operands)."""
    mem = acc.memory
    size = layer.tensor_bytes or max(layer.bytes_in, layer.bytes_out)
    return size <= (mem.ifmap_sram_bytes + mem.ofmap_sram_bytes) // 2


def _bytes(elems: int, bits: int) -> int:
    return (elems * bits + 7) // 8


def _stored_filter(tr: DramTraffic, ratio: float, fb: int, bw: float, compute: int,
                   kind: str | None = None) -> DramTraffic:
    """Filter DRAM reads of a weight stored in a sparse format: ``ratio`` x the dense bytes (the
    element count becomes dense-element equivalents, so elements x filter bits stay its bytes)."""
    fil = int(round(tr.reads_filter * ratio))
    rb = tr.read_bytes - stored_bytes(tr.reads_filter, fb, kind) + stored_bytes(fil, fb, kind)
    stall = max(0, math.ceil((rb + tr.write_bytes) / bw) - compute)
    return replace(tr, reads_filter=fil, read_bytes=rb, stall_cycles=stall)


def simulate_layer(layer: ConvLayer | GemmLayer | VectorOp, acc: Accelerator,
                   accesses: MemoryAccesses | None = None) -> CycleRow:
    """One row of the report (see :mod:`accel_models.report` for the columns and units); its memory
    accesses are added to ``accesses`` when given."""
    accesses = accesses if accesses is not None else MemoryAccesses()
    mem = acc.memory
    if isinstance(layer, VectorOp):
        compute = math.ceil(layer.ops / acc.vector_lanes)
        on_in, on_out = (min(layer.fusable_in, layer.bytes_in), min(layer.fusable_out, layer.bytes_out)) \
            if vector_fused(layer, acc) else (0, 0)
        dram_in, dram_out = layer.bytes_in - on_in, layer.bytes_out - on_out
        dram_b = dram_in + dram_out
        stall = max(0, math.ceil(dram_b / mem.dram_bw_bytes_per_cycle) - compute) if dram_b else 0
        total = compute + stall
        row = CycleRow(layer=layer.name, phase=layer.phase, unit="vector", dataflow="vector", mac_type=layer.kind,
                   pe_rate=float(acc.vector_lanes), compute_cycles=compute, stall_cycles=stall,
                   total_cycles=total, mapping_efficiency=1.0,
                   utilization=layer.ops / (compute * acc.vector_lanes) if compute else 0.0,
                   overall_utilization=layer.ops / (total * acc.vector_lanes) if total else 0.0,
                   dram_read_bytes=dram_in, dram_write_bytes=dram_out, sram_read_bytes=on_in,
                   sram_write_bytes=on_out,
                   avg_dram_bw=dram_b / total if total else 0.0, vector_ops=layer.ops,
                   time_us=total / acc.clock_mhz)
        st_in, st_out = min(layer.stash_in, dram_in), min(layer.stash_out, dram_out)
        accesses.add(layer.name, layer.phase, "dram", "", "read", dram_in - st_in)
        accesses.add(layer.name, layer.phase, "dram", "", "write", dram_out - st_out)
        accesses.add(layer.name, layer.phase, "dram", "stash", "read", st_in)
        accesses.add(layer.name, layer.phase, "dram", "stash", "write", st_out)
        accesses.add(layer.name, layer.phase, "sram", "ofmap", "read", on_in)
        accesses.add(layer.name, layer.phase, "sram", "ofmap", "write", on_out)
        return row
    g = layer.to_gemm()
    ops = g.operands or default_operands(acc)
    try:
        rate = acc.pe.rate(ops)
    except ConfigError as e:
        raise ConfigError(f"layer {g.name} ({g.phase})", e.what) from None
    run = run_gemm(g.M, g.N, g.K, acc.rows, acc.cols, acc.dataflow, g.groups, rate, g.kernel,
                   acc.weight_double_buffered)
    f = skip_factor(acc.sparsity, acc.rows, acc.cols, g.weight_density, g.input_density, g.weight_nm)
    if f < 1.0:
        run = replace(run, compute_cycles=max(1, math.ceil(run.compute_cycles * f)))
    # Storage widths: binary/ternary operands are stored packed at 1/2 bits.
    ib, fb, ob = width(ops.ifmap_kind, ops.ifmap_bits), width(ops.filter_kind, ops.filter_bits), ops.ofmap_bits
    out_b = ops.out_bits
    # block scales travel with their elements (MX: E8M0 per 32; NVFP4: E4M3 per 16 + FP32 per tensor)
    ik, fk = ops.ifmap_kind, ops.filter_kind
    ok = ops.output_kind if ops.output_bits is not None else None
    tr = dram_traffic(run, g.M, g.N, g.K, g.groups, g.ifmap_unique, ib, fb, ob, mem, acc.cols, out_b, g.window,
                      g.filter_storage_ratio, ifmap_kind=ik, filter_kind=fk, output_kind=ok)
    if g.filter_storage_ratio != 1.0:
        tr = _stored_filter(tr, g.filter_storage_ratio, fb, mem.dram_bw_bytes_per_cycle, run.compute_cycles, fk)
    total = run.compute_cycles + tr.stall_cycles
    macs = g.macs
    # Partial sums: kept in the accumulators across row folds when a tile of them fits (one write of
    # each finished output, at its output width), else a round trip per row fold at psum width. A
    # weight-stationary array runs the DRAM model's chunks of output rows (tr.tiles, each chunk's partial
    # sums fit the accumulators: accel_models.memory), so its partial sums stay there too and the weights
    # are loaded into the PEs once per chunk. Where its partial sums are added between row folds is declared
    # (array.psum_accumulation): in the ofmap buffer, an SRAM (TPU v1's 4 MiB of accumulators, Jouppi et al.
    # 2017; the default), a write per output per row fold and a read before each write after the first, at
    # psum width (SCALE-Sim's counts; ZigZag's accumulator level counts the same); or in the PEs' psum
    # registers (Eyeriss's psum scratch-pads, Chen et al. 2017), one write of each finished output.
    fits = psum_tile_fits(run, g.M, g.N, ob, mem, acc.cols)
    chunked = not fits and acc.dataflow in ("ws", "bitfusion")
    fil_r = run.sram_reads_filter * (tr.tiles if chunked else 1)
    if not acc.psum_in_sram and (fits or chunked):
        of_r, of_w, of_rb, of_wb, of_wk = 0, g.groups * g.M * g.N, 0, out_b, ok
    else:
        of_r, of_w, of_rb, of_wb, of_wk = run.sram_reads_ofmap, run.sram_writes_ofmap, ob, ob, None
    # An output-stationary array whose reduction runs in chunks (its column fold's weights do not fit the
    # filter buffer's working part) sends each running sum to the ofmap buffer after every chunk but the
    # last and reads it back before the next, at psum width (ZigZag's matched os design, splitting C above
    # its output register, counts the same moves).
    os_spill = g.groups * g.M * g.N * (os_reduction_chunks(run, g.K, g.N, g.groups, tr.reads_filter, fb, mem,
                                                           acc.cols, fk) - 1)
    # bytes at the stored widths plus block scales, per buffer (the row's *_bytes round each transfer
    # up to whole bytes); partial sums carry no scales
    for level, rw, buf, elems, bits, kind in (
            ("sram", "read", "ofmap", os_spill, ob, None), ("sram", "write", "ofmap", os_spill, ob, None),
            ("sram", "read", "ifmap", run.sram_reads_ifmap, ib, ik),
            ("sram", "read", "filter", fil_r, fb, fk),
            ("sram", "read", "ofmap", of_r, of_rb, None), ("sram", "write", "ofmap", of_w, of_wb, of_wk),
            ("dram", "read", "ifmap", tr.reads_ifmap, ib, ik), ("dram", "read", "filter", tr.reads_filter, fb, fk),
            ("dram", "read", "ofmap", tr.reads_ofmap, ob, None),
            ("dram", "write", "ofmap", tr.writes_ofmap, out_b, ok),
            # every DRAM transfer passes through its buffer: what is read from DRAM is written into the
            # buffer once (partial sums spilled to DRAM come back into the ofmap buffer), and each output
            # written to DRAM is read out of the ofmap buffer once
            ("sram", "write", "ifmap", tr.reads_ifmap, ib, ik), ("sram", "write", "filter", tr.reads_filter, fb, fk),
            ("sram", "write", "ofmap", tr.reads_ofmap, ob, None), ("sram", "read", "ofmap", tr.writes_ofmap, out_b, ok)):
        accesses.add(g.name, g.phase, level, buf, rw, elems * bits / 8 + scale_bytes(elems, kind))
    # declared PE registers: words read and written by the dataflow's rule, at the register's word width
    fills = {"filter": fil_r, "ifmap": run.sram_reads_ifmap, "psum": macs}
    op_bits = {"ifmap": ib, "filter": fb, "psum": ob}
    for op, reg in acc.registers.items():
        n = register_words(acc.dataflow, op, macs, fills[op])
        accesses.add(g.name, g.phase, "rf", op, "read", reg.words(n.reads, op_bits[op]) * reg.bits / 8)
        accesses.add(g.name, g.phase, "rf", op, "write", reg.words(n.writes, op_bits[op]) * reg.bits / 8)
    pe_slots = acc.rows * acc.cols * float(rate)
    return CycleRow(
        layer=g.name, phase=g.phase, unit="array", dataflow=acc.dataflow,
        M=g.M, N=g.N, K=g.K, groups=g.groups, macs=macs,
        mac_type=ops.mac_type or derive_mac_type(ops), ifmap_bits=ib, filter_bits=fb, ofmap_bits=ob,
        output_bits=out_b, loop_order=tr.order.value,
        pe_rate=float(rate), row_folds=run.row_folds, col_folds=run.col_folds,
        compute_cycles=run.compute_cycles, stall_cycles=tr.stall_cycles, total_cycles=total,
        mapping_efficiency=run.mapping_efficiency, utilization=run.compute_utilization,
        # SCALE-Sim's "Overall Util": MACs / (total cycles x PEs), PEs counted at their product rate
        overall_utilization=macs / (total * pe_slots) if total else 0.0,
        sram_reads_ifmap=run.sram_reads_ifmap, sram_reads_filter=run.sram_reads_filter,
        sram_reads_ofmap=run.sram_reads_ofmap, sram_writes_ofmap=run.sram_writes_ofmap,
        scalesim_sram_writes_ofmap=run.scalesim_sram_writes_ofmap,
        dram_reads_ifmap=tr.reads_ifmap, dram_reads_filter=tr.reads_filter,
        dram_reads_ofmap=tr.reads_ofmap, dram_writes_ofmap=tr.writes_ofmap,
        sram_read_bytes=stored_bytes(run.sram_reads_ifmap, ib, ik) + stored_bytes(fil_r, fb, fk)
        + _bytes(of_r, of_rb) + stored_bytes(tr.writes_ofmap, out_b, ok) + _bytes(os_spill, ob),
        sram_write_bytes=stored_bytes(of_w, of_wb, of_wk) + _bytes(os_spill, ob) + stored_bytes(tr.reads_ifmap, ib, ik)
        + stored_bytes(tr.reads_filter, fb, fk) + _bytes(tr.reads_ofmap, ob),
        dram_read_bytes=tr.read_bytes, dram_write_bytes=tr.write_bytes,
        avg_dram_bw=(tr.read_bytes + tr.write_bytes) / total if total else 0.0,
        vector_ops=0, time_us=total / acc.clock_mhz,
    )


def simulate(layers: Iterable[ConvLayer | GemmLayer | VectorOp], accelerator: Any,
             keys: Sequence[WorkKey] | None = None) -> CycleReport:
    """Simulate each work item on the accelerator (a path, dict or Accelerator); one row per item.
    ``keys``: the items' :func:`work_keys`, when the caller keeps them (the same items on many accelerators)."""
    acc = load_accelerator(accelerator)
    layers = list(layers)
    accesses = MemoryAccesses()
    whole, vector = _accelerator_keys(acc)
    rows = [_simulate_known(layer, acc, (k, vector if k.vector else whole), accesses)
            for layer, k in zip(layers, keys if keys is not None else work_keys(layers))]
    return CycleReport(accelerator=acc, rows=rows, accesses=accesses)


class WorkKey:
    """A work item's fields other than its name and phase (which only label its row), hashed once."""

    __slots__ = ("fields", "hash", "vector")

    def __init__(self, fields: tuple[Any, ...], vector: bool):
        self.fields, self.hash, self.vector = fields, hash(fields), vector

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, WorkKey) and self.fields == other.fields)


def work_keys(layers: Sequence[ConvLayer | GemmLayer | VectorOp]) -> list[WorkKey]:
    """Each item's :class:`WorkKey` (mappings as sorted pairs)."""
    out = []
    for layer in layers:
        known = _ITEM_FIELDS.get(type(layer))
        if known is None:
            own = [f for f in fields(layer) if f.name not in ("name", "phase")]
            maps = tuple(i for i, f in enumerate(own) if "dict" in str(f.type))
            known = _ITEM_FIELDS[type(layer)] = (attrgetter(*(f.name for f in own)), maps)
        get, maps = known
        vals = get(layer)
        if maps:
            vals = tuple(tuple(sorted(v.items())) if i in maps and isinstance(v, dict) else v
                         for i, v in enumerate(vals))
        out.append(WorkKey((type(layer).__name__, *vals), isinstance(layer, VectorOp)))
    return out


# Rows already simulated, by work item and the accelerator fields they depend on: a network repeats
# layer shapes, and a hardware sweep runs the same element-wise work on every array shape. Each entry:
# the row's columns after its name and phase, and its accesses.
_KNOWN: dict[tuple[WorkKey, Any], tuple[tuple[Any, ...], tuple[Access, ...]]] = {}
KNOWN_ROWS = 50_000   # entries kept; past that the memo starts afresh (about 2 kB an entry)
_ITEM_FIELDS: dict[type, tuple[Callable[[Any], tuple[Any, ...]], tuple[int, ...]]] = {}
_LABELS = ("layer", "phase")
assert COLUMNS[:2] == _LABELS   # a known row is rebuilt as CycleRow(name, phase, *the other columns)
_OTHER_COLUMNS = attrgetter(*COLUMNS[2:])


def _accelerator_keys(acc: Accelerator) -> tuple[Any, Any]:
    """(what an array row depends on: every field of the accelerator, what a vector row depends on:
    its lanes, buffers, DRAM bandwidth and clock)."""
    whole = json.dumps(acc.to_dict(), sort_keys=True, default=str)
    vector = (acc.vector_lanes, acc.ifmap_sram_bytes, acc.filter_sram_bytes, acc.ofmap_sram_bytes,
              acc.dram_bw_bytes_per_cycle, acc.clock_mhz)
    return whole, vector


def _simulate_known(layer: ConvLayer | GemmLayer | VectorOp, acc: Accelerator, key: tuple[WorkKey, Any],
                    accesses: MemoryAccesses) -> CycleRow:
    """:func:`simulate_layer`, or the row an identical work item got on an identical accelerator."""
    known = _KNOWN.get(key)
    if known is None:
        own = MemoryAccesses()
        row = simulate_layer(layer, acc, own)
        if list(own.by_layer_phase) != [(layer.name, layer.phase)]:   # not one item's own pair: not kept
            accesses.extend(own)
            return row
        if len(_KNOWN) >= KNOWN_ROWS:
            _KNOWN.clear()
        known = _KNOWN[key] = (_OTHER_COLUMNS(row), tuple(own.by_layer_phase[(layer.name, layer.phase)]))
    columns, entries = known
    accesses.cover(layer.name, layer.phase).extend(entries)
    return CycleRow(layer.name, layer.phase, *columns)
