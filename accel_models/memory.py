"""Double-buffered SRAMs in front of DRAM: DRAM traffic per operand and bandwidth stalls.

An analytical model, not SCALE-Sim's trace replay (see docs/accelerators.md for the comparison).
Each of the ifmap, filter and ofmap SRAMs is split in two halves (double buffering): one half feeds
the array while the other is refilled, so an operand is *resident* when its distinct elements, at
their bit width, fit in half its SRAM. Narrower operands therefore fit more often: precision changes
the footprint as well as the PE rate.

DRAM reads/writes per operand (elements), with cf = column folds, rf = row folds of the array run:

    ws  (fold loop: columns outer, rows inner; weights used once per fold)
        ifmap   U_in           if resident, else U_in * cf    (re-streamed for every column fold)
        filter  K*N            if one column of partial sums (M x C at psum width) fits half the
                               ofmap SRAM or the filter is resident; otherwise the M rows are tiled
                               into t = ceil(psum bytes / half ofmap SRAM) chunks that do fit and the
                               filter is re-read per chunk: K*N*t
        ofmap   M*N writes     (partial sums stay on chip: one write of each final output, at the
                               consumer's input precision, not the partial-sum width)
    os  ifmap   U_in if resident, else U_in * cf
        filter  K*N if resident or one column block (K x C) is, else K*N*rf
        ofmap   M*N writes
    is  ifmap   U_in           (each input tile is stationary once)
        filter  K*N if resident, else K*N*cf (times the chunk count t of the C x N psum tile, as ws)
        ofmap   M*N writes
    bitfusion   as ws.

U_in is the number of distinct ifmap elements the windows read (a conv's batch x C x the rows and
columns some window touches: all of H x W unless the stride exceeds the kernel; M x K for a GEMM).

Block-scaled operands (kinds ``mx...`` and ``nv...``) carry their scales wherever their elements
go: one E8M0 byte per started block of 32 elements for OCP MX, one E4M3 byte per block of 16 plus a
4-byte FP32 scale per tensor transfer for NVFP4 (:func:`stored_bytes`; hwsim.formats.bytes_for counts
the same), in the SRAM fit test as in the DRAM bytes.

Time: the DRAM moves ``bytes / bandwidth`` cycles of data; double buffering overlaps it with
compute, so stall_cycles = max(0, ceil(dram_bytes / bw) - compute_cycles) (a per-layer roofline).
SCALE-Sim instead replays every address through its buffers; its stalls depend on its prefetch
heuristics and differ by design.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accel_models.systolic import ArrayRun


@dataclass(frozen=True)
class Memory:
    ifmap_sram_bytes: int
    filter_sram_bytes: int
    ofmap_sram_bytes: int
    dram_bw_bytes_per_cycle: float


@dataclass(frozen=True)
class DramTraffic:
    """DRAM accesses in elements per operand, and the stall they cause."""

    reads_ifmap: int
    reads_filter: int
    reads_ofmap: int
    writes_ofmap: int
    read_bytes: int
    write_bytes: int
    stall_cycles: int


# scaling prefix of a block-scaled kind -> (elements per block, scale bytes per block, bytes per tensor)
BLOCK_SCALES: dict[str, tuple[int, int, int]] = {"mx": (32, 1, 0), "nv": (16, 1, 4)}


def _bytes(elems: int, bits: int) -> int:
    return (elems * bits + 7) // 8


def scale_bytes(elems: int, kind: str | None) -> int:
    """Bytes of the scales that travel with ``elems`` elements of ``kind`` (0 unless block-scaled)."""
    s = BLOCK_SCALES.get((kind or "")[:2])
    if s is None or elems <= 0:
        return 0
    block, per_block, per_tensor = s
    return -(-elems // block) * per_block + per_tensor


def stored_bytes(elems: int, bits: int, kind: str | None = None) -> int:
    """Bytes of ``elems`` elements stored at ``bits`` each, plus their block scales."""
    return _bytes(elems, bits) + scale_bytes(elems, kind)


def _fits(elems: int, bits: int, sram_bytes: int, kind: str | None = None) -> bool:
    return stored_bytes(elems, bits, kind) <= sram_bytes // 2


def psum_tile_fits(run: ArrayRun, M: int, N: int, ofmap_bits: int, mem: Memory, cols: int) -> bool:
    """Whether one tile of partial sums (ws/bitfusion: M x cols; is: cols x N) fits half the ofmap
    SRAM (the accumulators), so it stays there across the row folds (os keeps them in the PEs)."""
    if run.dataflow == "os" or run.row_folds <= 1:
        return True
    tile = M * min(cols, N) if run.dataflow in ("ws", "bitfusion") else min(cols, M) * N
    return _bytes(tile, ofmap_bits) <= max(1, mem.ofmap_sram_bytes // 2)


def dram_traffic(run: ArrayRun, M: int, N: int, K: int, groups: int, ifmap_unique: int | None,
                 ifmap_bits: int, filter_bits: int, ofmap_bits: int, mem: Memory,
                 cols: int, output_bits: int | None = None, *, ifmap_kind: str | None = None,
                 filter_kind: str | None = None, output_kind: str | None = None) -> DramTraffic:
    """DRAM traffic and stalls of one GEMM (all groups) under the double-buffered SRAM model; finished
    outputs are written at ``output_bits`` (the consumer's input precision; default ``ofmap_bits``).
    The ``*_kind`` of a block-scaled operand adds its scales to its bytes (partial sums have none)."""
    u_in = ifmap_unique if ifmap_unique is not None else M * K
    rf, cf = run.row_folds, run.col_folds
    df = run.dataflow
    in_res = _fits(groups * u_in, ifmap_bits, mem.ifmap_sram_bytes, ifmap_kind)
    w_res = _fits(groups * K * N, filter_bits, mem.filter_sram_bytes, filter_kind)
    ifm = u_in if (in_res or df == "is") else u_in * cf
    chunks = 1
    if df != "os" and rf > 1:
        tile = M * min(cols, N) if df in ("ws", "bitfusion") else min(cols, M) * N
        chunks = max(1, math.ceil(_bytes(tile, ofmap_bits) / max(1, mem.ofmap_sram_bytes // 2)))
    if df == "os":
        # columns outer, rows inner: a column block K x C is reused by every row fold if it fits
        blk_res = w_res or _fits(groups * K * min(cols, N), filter_bits, mem.filter_sram_bytes, filter_kind)
        fil = K * N if blk_res else K * N * rf
    elif df == "is":
        fil = K * N if w_res else K * N * cf * chunks
    else:
        fil = K * N if w_res else K * N * chunks
    ofw, ofr = M * N, 0
    g = groups
    ifm, fil, ofw, ofr = g * ifm, g * fil, g * ofw, g * ofr
    rb = stored_bytes(ifm, ifmap_bits, ifmap_kind) + stored_bytes(fil, filter_bits, filter_kind) \
        + _bytes(ofr, ofmap_bits)
    wb = _bytes(ofw, ofmap_bits) if output_bits is None else stored_bytes(ofw, output_bits, output_kind)
    dram_cycles = math.ceil((rb + wb) / mem.dram_bw_bytes_per_cycle)
    stall = max(0, dram_cycles - run.compute_cycles)
    return DramTraffic(ifm, fil, ofr, ofw, rb, wb, stall)
