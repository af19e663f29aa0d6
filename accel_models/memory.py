"""SRAMs in front of DRAM: DRAM traffic per operand, the mapping that gives it, and bandwidth stalls.

An analytical model, not SCALE-Sim's trace replay (see docs/accelerators.md for the comparison).
By default each of the ifmap, filter and ofmap SRAMs is split in two halves (double buffering): one half
feeds the array while the other is refilled, so an operand is *resident* when its distinct elements, at
their bit width and with their block scales, fit in half its SRAM (:meth:`Memory.working`). Narrower
operands therefore fit more often: precision changes the footprint as well as the PE rate. An accelerator
may declare its buffers single-buffered (a tile uses all of a buffer; DRAM time is not overlapped) and its
ifmap and ofmap buffers one shared SRAM (``Memory.shared_io``: input and output tiles share it).

DRAM traffic depends on the mapping a controller runs around the array's folds (cf = column folds,
rf = row folds). Per layer, the candidate with the fewest DRAM bytes is chosen (ties go to the first listed:
the on-chip accesses, SCALE-Sim's demand counts, are the same in every mapping, so equal bytes are equal
energy) and reported as ``DramTraffic.order`` (the report's ``loop_order`` column). The candidates are
three fixed orders and, when none of them reads every operand once, the best mapping of each of three
searched loop nests (:func:`accel_models.loopnest.search`: k-tiles x spatial tiles, priced by
:func:`accel_models.loopnest.nest_traffic`). The fixed orders:

    weights_outer        (ws, bitfusion: SCALE-Sim's fold order, columns outer, rows inner)
        ifmap   U_in if resident, else U_in * cf (re-streamed for every column fold)
        filter  K*N if the filter, or one column fold's weights (K x C), is resident; otherwise the
                M rows are tiled into t = ceil(psum bytes / half ofmap SRAM) chunks so one column of
                partial sums (M x C at psum width) fits, and the weights are re-read per chunk: K*N*t
    input_tile_outer     (ws, bitfusion, os; when the input is not resident)
        the output rows are cut into the fewest tiles whose input, with its windows' halo, fits the ifmap
        SRAM's working part and whose partial sums for one column fold fit the ofmap SRAM's; each tile stays
        on chip while every column fold uses it, and the weights come back per tile
        ifmap   sum over tiles of the rows each tile's windows read (U_in plus the halos)
        filter  K*N if resident, else K*N * tiles
    weight_block_outer   (ws, bitfusion, os; when several but not all column folds' weights fit)
        as many column folds' weights as fit the filter SRAM's working part stay on chip while the input tiles
        (as input_tile_outer) stream past them
        ifmap   the tiles' reads * blocks       filter  K*N
    os  weights_outer: ifmap U_in if resident, else U_in * cf; filter K*N if resident or one column
        block (K x C) is, else K*N*rf
    is  input_tile_outer (inputs are stationary): ifmap U_in; filter K*N if resident, else
        K*N*cf (times the chunk count t of the C x N psum tile, as ws)
    every order: ofmap M*N writes (partial sums stay on chip: one write of each final output, at the
    consumer's input precision, not the partial-sum width).

A tile of a convolution is a run of output rows of one image (or whole images once an image fits);
a GEMM's rows (no window) tile without a halo. Tiles count per group (groups run one after another).

U_in is the number of distinct ifmap elements the windows read (a conv's batch x C x the rows and
columns some window touches: all of H x W unless the stride exceeds the kernel; M x K for a GEMM).

Block-scaled operands (kinds ``mx...`` and ``nv...``) carry their scales wherever their elements
go: one E8M0 byte per started block of 32 elements for OCP MX, one E4M3 byte per block of 16 plus a
4-byte FP32 scale per tensor transfer for NVFP4 (:func:`stored_bytes`; hwsim.formats.bytes_for counts
the same), in the SRAM fit test as in the DRAM bytes.

Time: the DRAM moves ``bytes / bandwidth`` cycles of data; double buffering overlaps it with
compute, so stall_cycles = max(0, ceil(dram_bytes / bw) - compute_cycles) (a per-layer roofline);
single-buffered memories stall for all of it.
SCALE-Sim instead replays every address through its buffers; its stalls depend on its prefetch
heuristics and differ by design.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from accel_models.layers import ConvWindow
from accel_models.loopnest import Capacity, NestShape, Widths, search, stored_bytes
from accel_models.loopnest import (
    scale_bytes as scale_bytes,  # re-exported: the scale rule is one, in loopnest
)
from accel_models.systolic import ArrayRun


@dataclass(frozen=True)
class Memory:
    """The on-chip buffers. ``double_buffered``: a tile may use half of a buffer while the other half is
    refilled (DRAM time overlaps compute); otherwise all of it, and DRAM time adds to compute time.
    ``shared_io``: the ifmap and ofmap buffers are one SRAM whose input and output tiles share it."""

    ifmap_sram_bytes: int
    filter_sram_bytes: int
    ofmap_sram_bytes: int
    dram_bw_bytes_per_cycle: float
    double_buffered: bool = True
    shared_io: bool = False

    def working(self, sram_bytes: int) -> int:
        """Bytes of a buffer one tile may hold."""
        return sram_bytes // 2 if self.double_buffered else sram_bytes

    def capacity(self) -> Capacity:
        return Capacity(self.working(self.ifmap_sram_bytes), self.working(self.filter_sram_bytes),
                        self.working(self.ofmap_sram_bytes), self.shared_io)


class LoopOrder(str, Enum):
    """Which operand a layer keeps on chip while the other is re-fetched (the outer DRAM loop)."""

    WEIGHTS_OUTER = "weights_outer"                  # one column fold's weights; the input re-streamed per fold
    WEIGHT_BLOCK_OUTER = "weight_block_outer"        # several folds' weights; input tiles re-read per block
    INPUT_TILE_OUTER = "input_tile_outer"            # an input tile (with halo) for every fold; weights per tile
    # the searched mapping space (accel_models.loopnest): k-tiles x spatial tiles in three orders
    TILED_WEIGHTS_OUTER = "tiled_weights_outer"
    TILED_INPUT_OUTER = "tiled_input_outer"
    TILED_OUTPUT_STATIONARY = "tiled_output_stationary"


@dataclass(frozen=True)
class DramTraffic:
    """DRAM accesses in elements per operand, the stall they cause, and the loop order that gave them
    (``tiles``: input tiles of the input-tiled orders, ``blocks``: weight blocks, 1 otherwise)."""

    reads_ifmap: int
    reads_filter: int
    reads_ofmap: int
    writes_ofmap: int
    read_bytes: int
    write_bytes: int
    stall_cycles: int
    order: LoopOrder = LoopOrder.WEIGHTS_OUTER
    tiles: int = 1
    blocks: int = 1


def _bytes(elems: int, bits: int) -> int:
    return (elems * bits + 7) // 8


def _fits(elems: int, bits: int, working_bytes: int, kind: str | None = None) -> bool:
    return stored_bytes(elems, bits, kind) <= working_bytes


def psum_tile_fits(run: ArrayRun, M: int, N: int, ofmap_bits: int, mem: Memory, cols: int) -> bool:
    """Whether one tile of partial sums (ws/bitfusion: M x cols; is: cols x N) fits the working part
    of the ofmap SRAM (the accumulators), so it stays there across the row folds (os keeps them in the PEs)."""
    if run.dataflow == "os" or run.row_folds <= 1:
        return True
    tile = M * min(cols, N) if run.dataflow in ("ws", "bitfusion") else min(cols, M) * N
    return _bytes(tile, ofmap_bits) <= max(1, mem.working(mem.ofmap_sram_bytes))


def os_reduction_chunks(run: ArrayRun, K: int, N: int, groups: int, reads_filter: int, filter_bits: int,
                        mem: Memory, cols: int, filter_kind: str | None = None) -> int:
    """Chunks an output-stationary array splits each reduction into (1: none). Each PE keeps its output's
    running sum for the whole reduction, and the row folds of one column fold all stream that fold's
    K x cols weights; where DRAM delivers the weights fewer times than once per row fold, that block is held
    in the filter buffer, and where it does not fit the buffer's working part the reduction runs in chunks
    that do (the running sums leave the PEs between chunks: :func:`accel_models.sim.simulate_layer`)."""
    if run.dataflow != "os" or run.row_folds <= 1 or reads_filter >= groups * K * N * run.row_folds:
        return 1
    block = stored_bytes(K * min(cols, N), filter_bits, filter_kind)
    return max(1, math.ceil(block / max(1, mem.working(mem.filter_sram_bytes))))


@dataclass(frozen=True)
class _Tiling:
    """Output rows cut into tiles whose input (with its halo) fits: how many, and the input they read."""

    tiles: int
    reads: int               # input elements read over all tiles, per group


def _input_tiling(M: int, u_in: int, window: ConvWindow | None, in_bits: int, in_bytes: int,
                  psum_row: int, psum_bytes: int, in_kind: str | None = None) -> _Tiling | None:
    """The fewest tiles of output rows (GEMM rows; a conv's output rows of one image, or whole images)
    whose input, block scales included, fits ``in_bytes`` and whose ``psum_row`` partial sums per GEMM
    row fit ``psum_bytes`` (0: no limit); None when one output row does not fit."""
    def psum_ok(rows: int) -> bool:
        return psum_bytes <= 0 or rows * psum_row <= psum_bytes

    def most(unit: int, limit: int) -> int:
        """The most units of ``unit`` elements (at most ``limit``) whose stored bytes fit ``in_bytes``."""
        n = min(limit, in_bytes * 8 // max(1, unit * in_bits))
        while n > 0 and stored_bytes(n * unit, in_bits, in_kind) > in_bytes:
            n -= 1
        return n
    if window is None:              # GEMM rows are independent: no halo
        per_row = max(1, u_in // max(1, M))
        m = most(per_row, M)
        if psum_bytes > 0:
            m = min(m, psum_bytes // max(1, psum_row))
        if m < 1:
            return None
        return _Tiling(math.ceil(M / m), u_in)
    w = window
    row_elems = w.channels * w.in_w
    rows_cap = most(row_elems, (w.out_h - 1) * w.stride_h + w.filt_h)
    t = min(w.out_h, (rows_cap - w.filt_h) // w.stride_h + 1) if rows_cap >= w.filt_h else 0
    while t >= 1 and not psum_ok(t * w.out_w):
        t -= 1
    if t < 1:
        return None
    if t < w.out_h:
        reads = sum(w.rows_read(lo, min(lo + t, w.out_h)) for lo in range(0, w.out_h, t))
        return _Tiling(w.batch * math.ceil(w.out_h / t), w.batch * row_elems * reads)
    image = row_elems * w.rows_read(0, w.out_h)
    b = max(1, most(image, w.batch))
    while b > 1 and not psum_ok(b * w.out_h * w.out_w):
        b -= 1
    return _Tiling(math.ceil(w.batch / max(1, b)), w.batch * image)


@dataclass(frozen=True)
class OrderCost:
    """One loop order's DRAM reads of a GEMM (all groups), in elements."""

    order: LoopOrder
    reads_ifmap: int
    reads_filter: int
    tiles: int               # input tiles (output-row chunks) per group
    blocks: int              # weight blocks per group (each streams the input past it)

    def read_bytes(self, ifmap_bits: int, filter_bits: int, filter_ratio: float = 1.0,
                   ifmap_kind: str | None = None, filter_kind: str | None = None) -> float:
        return stored_bytes(self.reads_ifmap, ifmap_bits, ifmap_kind) \
            + filter_ratio * stored_bytes(self.reads_filter, filter_bits, filter_kind)


@lru_cache(maxsize=4096)      # a network repeats its layer shapes; a sweep repeats its networks
def loop_orders(run: ArrayRun, M: int, N: int, K: int, groups: int, ifmap_unique: int | None,
                ifmap_bits: int, filter_bits: int, ofmap_bits: int, mem: Memory, cols: int,
                window: ConvWindow | None = None, *, ifmap_kind: str | None = None,
                filter_kind: str | None = None, output_bits: int | None = None) -> tuple[OrderCost, ...]:
    """Every loop order the dataflow can run on these buffers, with its DRAM reads (the module
    docstring gives the rules); the first is the dataflow's own fold order."""
    u_in = ifmap_unique if ifmap_unique is not None else M * K
    rf, cf = run.row_folds, run.col_folds
    df = run.dataflow
    half_in, half_w, half_out = (mem.working(b) for b in (mem.ifmap_sram_bytes, mem.filter_sram_bytes,
                                                           mem.ofmap_sram_bytes))
    in_res = _fits(groups * u_in, ifmap_bits, half_in, ifmap_kind)
    w_res = _fits(groups * K * N, filter_bits, half_w, filter_kind)
    chunks = 1
    if df != "os" and rf > 1:
        tile = M * min(cols, N) if df in ("ws", "bitfusion") else min(cols, M) * N
        chunks = max(1, math.ceil(_bytes(tile, ofmap_bits) / max(1, half_out)))
    # per group: (order, ifmap reads, filter reads, tiles, blocks)
    cands: list[tuple[LoopOrder, int, int, int, int]] = []
    if df == "os":
        # columns outer, rows inner: a column block K x C is reused by every row fold if it fits
        blk_res = w_res or _fits(groups * K * min(cols, N), filter_bits, half_w, filter_kind)
        cands.append((LoopOrder.WEIGHTS_OUTER, u_in if in_res else u_in * cf, K * N if blk_res else K * N * rf, rf, cf))
    elif df == "is":
        # inputs stationary: each input tile (a column fold of M) once, the weights re-read per tile
        cands.append((LoopOrder.INPUT_TILE_OUTER, u_in, K * N if w_res else K * N * cf * chunks, cf * chunks, 1))
    else:
        blk_res = _fits(K * min(cols, N), filter_bits, half_w, filter_kind)
        cands.append((LoopOrder.WEIGHTS_OUTER, u_in if in_res else u_in * cf,
                      K * N if (w_res or blk_res) else K * N * chunks, chunks, cf))
    if df in ("ws", "bitfusion", "os"):
        # partial sums of a tile's rows for one column fold stay in the accumulators across the row folds
        psum_row = _bytes(min(cols, N), ofmap_bits) if (df != "os" and rf > 1) else 0
        til = _input_tiling(M, u_in, window, ifmap_bits, half_in, psum_row, half_out if psum_row else 0, ifmap_kind)
        if til is not None:
            # input tile outer: every column fold uses the tile; the weights come back per tile
            grp_res = _fits(K * N, filter_bits, half_w, filter_kind)
            cands.append((LoopOrder.INPUT_TILE_OUTER, til.reads, K * N if grp_res else K * N * til.tiles, til.tiles, 1))
            # weight blocks outer: as many column folds' weights as fit, the input tiles re-read per block
            fold_w = K * min(cols, N) * filter_bits
            per_block = min(cf, half_w * 8 // max(1, fold_w))
            if 1 < per_block < cf:
                blocks = math.ceil(cf / per_block)
                cands.append((LoopOrder.WEIGHT_BLOCK_OUTER, til.reads * blocks, K * N, til.tiles, blocks))
    out = [OrderCost(o, groups * i, groups * f, t, b) for o, i, f, t, b in cands]
    # the searched mapping space, unless a fixed order already reads every operand once (nothing to gain)
    least = min(stored_bytes(c.reads_ifmap, ifmap_bits, ifmap_kind) + stored_bytes(c.reads_filter, filter_bits, filter_kind)
                for c in out)
    once = stored_bytes(groups * u_in, ifmap_bits, ifmap_kind) + stored_bytes(groups * K * N, filter_bits, filter_kind)
    if least > once:
        shape = (NestShape.window(window, N, K, groups) if window is not None
                 else NestShape.gemm(M, N, K, groups))
        for c in search(shape, Widths(ifmap_bits, filter_bits, ofmap_bits, ifmap_kind, filter_kind, output_bits or 0),
                        mem.capacity(), cols):
            out.append(OrderCost(LoopOrder(c.order), c.reads_ifmap, c.reads_filter, c.spatial_tiles, c.k_tiles))
    return tuple(out)


def dram_traffic(run: ArrayRun, M: int, N: int, K: int, groups: int, ifmap_unique: int | None,
                 ifmap_bits: int, filter_bits: int, ofmap_bits: int, mem: Memory,
                 cols: int, output_bits: int | None = None, window: ConvWindow | None = None,
                 filter_ratio: float = 1.0, *, ifmap_kind: str | None = None,
                 filter_kind: str | None = None, output_kind: str | None = None) -> DramTraffic:
    """DRAM traffic and stalls of one GEMM (all groups) under the double-buffered SRAM model, in the
    loop order with the fewest DRAM bytes (:func:`loop_orders`; ties: the first); finished outputs are
    written at ``output_bits`` (the consumer's input precision; default ``ofmap_bits``).
    ``filter_ratio``: stored / dense bytes of the filter, so a sparse-stored weight is cheap to re-read.
    The ``*_kind`` of a block-scaled operand adds its scales to its bytes (partial sums have none)."""
    cands = loop_orders(run, M, N, K, groups, ifmap_unique, ifmap_bits, filter_bits, ofmap_bits, mem, cols, window,
                        ifmap_kind=ifmap_kind, filter_kind=filter_kind, output_bits=output_bits)
    best = min(cands, key=lambda c: c.read_bytes(ifmap_bits, filter_bits, filter_ratio, ifmap_kind, filter_kind))
    ifm, fil, ofw, ofr = best.reads_ifmap, best.reads_filter, groups * M * N, 0
    rb = stored_bytes(ifm, ifmap_bits, ifmap_kind) + stored_bytes(fil, filter_bits, filter_kind) + _bytes(ofr, ofmap_bits)
    wb = _bytes(ofw, ofmap_bits) if output_bits is None else stored_bytes(ofw, output_bits, output_kind)
    dram_cycles = math.ceil((rb + wb) / mem.dram_bw_bytes_per_cycle)
    # double buffering overlaps DRAM with compute; a single buffer waits for its fills and drains
    stall = max(0, dram_cycles - run.compute_cycles) if mem.double_buffered else dram_cycles
    return DramTraffic(ifm, fil, ofr, ofw, rb, wb, stall, best.order, best.tiles, best.blocks)
