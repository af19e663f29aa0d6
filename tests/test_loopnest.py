"""The loop-nest traffic model and the mapping search (accel_models/loopnest.py), checked by hand and against
their own definitions; tests/test_vs_zigzag.py checks them against ZigZag."""

from __future__ import annotations

import itertools

import pytest

from accel_models.config import load_accelerator
from accel_models.layers import ConvLayer, Operands
from accel_models.loopnest import (
    ORDERS,
    Capacity,
    DramLoops,
    NestShape,
    Widths,
    _axis_reads,
    _axis_reads_slow,
    _k_cuts,
    _spatial_cuts,
    nest_loops,
    nest_traffic,
    search,
    stored_bytes,
)
from accel_models.memory import LoopOrder, _input_tiling
from accel_models.sim import simulate_layer


def test_axis_reads_closed_form_equals_the_definition():
    """Every tiling of every small axis: the edge-only count equals the tile-by-tile one."""
    for n, f, s, p in itertools.product(range(1, 13), range(1, 6), range(1, 4), range(0, 4)):
        full = (n - 1) * s + f
        for ext in {max(1, full - 2 * p), max(1, full - p), full}:
            for ot in range(1, n + 1):
                for ft in range(1, f + 1):
                    assert _axis_reads(n, f, s, p, ext, ot, ft) == _axis_reads_slow(n, f, s, p, ext, ot, ft), \
                        (n, f, s, p, ext, ot, ft)


def test_nest_traffic_by_hand():
    # 3x3 conv, 8 -> 16 channels, 6x6 input, padding 1: 288 inputs, 1,152 weights, 576 outputs
    s = NestShape.conv(8, 16, 6, 6, 3, 3, 1, 1)
    assert (s.inputs, s.weights, s.outputs) == (288, 1152, 576)
    t = nest_traffic(s, DramLoops())
    assert (t.inputs, t.weights, t.psum_reads, t.psum_writes, t.final_writes) == (288, 1152, 0, 0, 576)
    # K split in 2 outside three row tiles: weights once (irrelevant rows inside), the input twice, each row
    # tile with its halo: rows 0-2, 1-4, 3-5 -> 3 + 4 + 3 = 10 rows of 6 columns x 8 channels
    t = nest_traffic(s, DramLoops.shared((("OY", 3), ("K", 2))))
    assert (t.inputs, t.weights) == (2 * 8 * 10 * 6, 1152)
    # K innermost: the input tile stays while both k-tiles pass; the weights come back per row tile
    t = nest_traffic(s, DramLoops.shared((("K", 2), ("OY", 3))))
    assert (t.inputs, t.weights) == (8 * 10 * 6, 3 * 1152)
    # C split outside K for the outputs: partial sums make four rounds through DRAM
    t = nest_traffic(s, DramLoops(outputs=(("K", 2), ("C", 4))))
    assert (t.psum_writes, t.psum_reads, t.final_writes) == (3 * 576, 3 * 576, 576)


def test_padded_edges_count_the_padding_an_edge_tile_covers():
    s = NestShape.conv(1, 1, 6, 6, 3, 3, 1, 1)
    loops = DramLoops.shared((("OX", 6),))
    exact = nest_traffic(s, loops).inputs
    padded = nest_traffic(s, loops, padded_edges=True).inputs
    # six one-column tiles of three columns: the two edge tiles cover one padding column each
    assert exact == 6 * (3 * 6 - 2) and padded == 6 * 3 * 6


def _shapes():
    return [NestShape.conv(64, 128, 56, 56, 3, 3, 1, 1), NestShape.conv(128, 256, 28, 28, 3, 3, 2, 1),
            NestShape.conv(3, 64, 224, 224, 7, 7, 2, 3), NestShape.conv(256, 256, 14, 14, 1, 1, 1, 0, batch=4),
            NestShape.gemm(300, 200, 512)]


@pytest.mark.parametrize("shape", _shapes(), ids=lambda s: f"{s.C}-{s.K}-{s.OY}-{s.FY}-{s.B}")
def test_search_candidates_are_priced_by_nest_traffic(shape):
    """A candidate's reads are nest_traffic of its own loops, and every tile count it reports is one the
    search tries (so the closed forms it ranks by are the model's)."""
    w = Widths(8, 8, 16, output_bits=8)
    for kib in (16, 64, 256):
        for c in search(shape, w, Capacity(kib * 512, kib * 1024, kib * 512, shared_io=True), 32):
            t = nest_traffic(shape, c.loops)
            assert (c.reads_ifmap, c.reads_filter) == (t.inputs, t.weights)
            assert t.psum_reads == 0          # no searched order spills partial sums
            assert c.k_tiles in _k_cuts(shape.K, 32)
            assert c.spatial_tiles in {cut.n for cut in _spatial_cuts(shape)}


@pytest.mark.parametrize("shape", _shapes(), ids=lambda s: f"{s.C}-{s.K}-{s.OY}-{s.FY}-{s.B}")
def test_search_never_reads_more_with_more_buffer(shape):
    """Bigger buffers, and one shared input/output pool instead of two fixed halves, never read more."""
    w = Widths(8, 8, 16, output_bits=8)

    def best(cap):
        return min((stored_bytes(c.reads_ifmap, 8) + stored_bytes(c.reads_filter, 8)
                    for c in search(shape, w, cap, 32)), default=None)
    for shared in (False, True):
        prev = None
        for kib in (4, 8, 16, 32, 64, 128, 256, 1024):
            got = best(Capacity(kib * 512, kib * 1024, kib * 512, shared_io=shared))
            if prev is not None:
                assert got is not None and got <= prev, (shared, kib)
            if got is not None:
                prev = got
            split = best(Capacity(kib * 512, kib * 1024, kib * 512))
            if shared and split is not None:
                assert got is not None and got <= split
        assert prev == shape.groups * (shape.inputs + shape.weights)      # 1 MiB reads each operand once


def test_closed_forms_match_for_every_tile_count():
    s = NestShape.conv(64, 128, 28, 28, 3, 3, 1, 1, batch=2)
    for order, nk, cut in itertools.product(ORDERS, _k_cuts(s.K, 32), _spatial_cuts(s)):
        t = nest_traffic(s, nest_loops(order, s, nk, cut.loops, False))
        if order == "tiled_weights_outer":
            want = (cut.reads * (nk if cut.n > 1 else 1), s.weights)
        elif order == "tiled_input_outer":
            want = (cut.reads, s.weights * (1 if nk == 1 else cut.n))
        else:
            want = (cut.reads * nk, s.weights * cut.n)
        assert (t.inputs, t.weights) == want, (order, nk, cut.n)


def _acc(**sram):
    return load_accelerator({"name": "t", "array": {"rows": 32, "cols": 32, "dataflow": "ws"},
                             "pe": {"kind": "int", "bits": 8}, "sram": sram,
                             "dram": {"bandwidth_bytes_per_cycle": 8},
                             "operands": {"ifmap_bits": 8, "filter_bits": 8, "psum_bits": 16}})


def _conv(c, k, h, r, st):
    return ConvLayer("c", h, h, r, r, c, k, st, st, padding=r // 2, phase="inference",
                     operands=Operands("int", 8, "int", 8, 16, output_bits=8))


def test_whole_input_resident_beside_an_output_tile():
    """256 -> 256 channels, 14x14, 3x3: a 50,176 B input and 589,824 B of weights. One shared, single-buffered
    64 KiB SRAM holds the whole input and a row of outputs, so each operand is read once; double-buffered
    halves of 32 KiB each cannot, and the input comes back per k-tile."""
    layer = _conv(256, 256, 14, 3, 1)
    shared = simulate_layer(layer, _acc(ifmap_kb=32, ofmap_kb=32, filter_kb=128, double_buffered=False,
                                        shared_io=True))
    assert shared.dram_read_bytes == 50_176 + 589_824
    assert shared.loop_order == LoopOrder.TILED_WEIGHTS_OUTER.value
    split = simulate_layer(layer, _acc(ifmap_kb=64, ofmap_kb=64, filter_kb=256))
    assert split.dram_read_bytes > shared.dram_read_bytes


def test_single_buffering_adds_dram_time():
    layer = _conv(64, 64, 56, 3, 1)
    double = simulate_layer(layer, _acc(ifmap_kb=64, ofmap_kb=64, filter_kb=64))
    single = simulate_layer(layer, _acc(ifmap_kb=32, ofmap_kb=32, filter_kb=32, double_buffered=False))
    assert single.dram_read_bytes == double.dram_read_bytes      # the same working bytes
    assert single.compute_cycles == double.compute_cycles
    assert single.stall_cycles > double.stall_cycles


def test_sram_flags_are_checked_and_kept_out_of_the_default_form():
    from accel_models.errors import ConfigError

    with pytest.raises(ConfigError, match="double_buffered"):
        _acc(ifmap_kb=8, ofmap_kb=8, filter_kb=8, double_buffered="no")
    plain = _acc(ifmap_kb=8, ofmap_kb=8, filter_kb=8).to_dict()["sram"]
    assert set(plain) == {"ifmap_kb", "filter_kb", "ofmap_kb"}
    flagged = _acc(ifmap_kb=8, ofmap_kb=8, filter_kb=8, double_buffered=False, shared_io=True)
    assert load_accelerator(flagged.to_dict()).memory == flagged.memory


@pytest.mark.parametrize("kind,bits", [("mxfp8_e4m3", 8), ("mxfp4", 4), ("nvfp4", 4)])
def test_input_tiles_fit_with_their_block_scales(kind, bits):
    """A tile of output rows whose input, scales included, fits the buffer (the scales are 3% of MXFP8's bytes
    and 12.5% of NVFP4's)."""
    from accel_models.layers import ConvWindow

    w = ConvWindow(1, 64, 56, 56, 56, 56, 3, 1, 1)
    budget = 16 * 1024
    til = _input_tiling(56 * 56, 64 * 56 * 56, w, bits, budget, 0, 0, kind)
    assert til is not None and til.tiles > 1
    rows = -(-56 // (til.tiles // w.batch))            # output rows per tile
    worst = 64 * 56 * min(56, rows + 2)                  # input rows of the largest tile, with its halo
    assert stored_bytes(worst, bits, kind) <= budget
    # without the scales the same budget admits a larger tile
    plain = _input_tiling(56 * 56, 64 * 56 * 56, w, bits, budget, 0, 0, None)
    assert plain.tiles <= til.tiles


_LAYERS = [  # (C, K, H, kernel, stride, groups, batch)
    (64, 64, 56, 3, 1, 1, 1), (32, 32, 56, 3, 1, 32, 2), (128, 256, 28, 1, 2, 1, 1), (3, 64, 224, 7, 2, 1, 1),
    (512, 1000, 1, 1, 1, 1, 4), (96, 256, 27, 5, 1, 2, 4), (256, 512, 14, 3, 2, 1, 8),
]


@pytest.mark.parametrize("layer", _LAYERS, ids=lambda t: "-".join(map(str, t)))
@pytest.mark.parametrize("kind,bits", [("int", 8), ("mxfp4", 4)])
def test_dram_reads_never_grow_with_any_buffer(layer, kind, bits):
    """Depthwise, grouped, strided, 1x1, fully connected and batched layers, plain and block-scaled: DRAM
    reads never grow when any one buffer grows, in the split and the shared, single-buffered forms."""
    c, k, h, r, st, g, b = layer
    conv = ConvLayer("c", h, h, r, r, c, k, st, st, padding=r // 2, groups=g, batch=b, phase="inference",
                     operands=Operands(kind, bits, kind, bits, 16, output_bits=bits, output_kind=kind))
    sizes = (4, 16, 64, 256, 1024)
    for flags in ({}, {"double_buffered": False, "shared_io": True}):
        for grow in ("ifmap_kb", "filter_kb", "ofmap_kb"):
            prev = None
            for kb in sizes:
                sram = {"ifmap_kb": 32, "filter_kb": 32, "ofmap_kb": 32, grow: kb, **flags}
                row = simulate_layer(conv, _acc(**sram))
                assert row.dram_read_bytes >= 0 and row.macs > 0
                if prev is not None:
                    assert row.dram_read_bytes <= prev, (flags, grow, kb)
                prev = row.dram_read_bytes
