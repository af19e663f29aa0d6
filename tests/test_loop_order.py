"""The accelerator memory model's loop order (accel_models/memory.py): per layer, the order with the fewest
DRAM bytes among weights_outer (the input re-streamed per column fold), input_tile_outer (an input tile with
its halo on chip for every column fold, the weights re-read per tile) and weight_block_outer; MACs and compute
cycles do not depend on it; DRAM bytes never grow with any SRAM."""

from __future__ import annotations

import pytest

import accel_models as am
from accel_models.layers import ConvLayer, Operands
from accel_models.memory import LoopOrder, loop_orders
from accel_models.sim import simulate_layer
from accel_models.systolic import run_gemm

OPS = Operands("int", 8, "int", 8, 16, output_bits=8)


def _acc(ifmap_kb: float, filter_kb: float, ofmap_kb: float, dataflow: str = "ws"):
    return am.load_accelerator({
        "name": "t", "clock_mhz": 1000, "array": {"rows": 32, "cols": 32, "dataflow": dataflow},
        "pe": {"kind": "int", "bits": 8}, "sram": {"ifmap_kb": ifmap_kb, "filter_kb": filter_kb, "ofmap_kb": ofmap_kb},
        "dram": {"bandwidth_bytes_per_cycle": 8}, "vector_unit": {"lanes": 32},
        "operands": {"ifmap_bits": 8, "filter_bits": 8, "psum_bits": 16}})


def _conv(c: int, k: int, h: int, r: int, s: int, batch: int = 1) -> ConvLayer:
    p = r // 2
    o = (h + 2 * p - r) // s + 1
    return ConvLayer("c", h, h, r, r, c, k, s, s, padding=p, batch=batch, ofmap_h=o, ofmap_w=o,
                     phase="inference", operands=OPS)


def _brute_rows(layer: ConvLayer, t: int) -> int:
    """Input rows read by output-row tiles of t rows, by enumerating every window row."""
    total = 0
    for lo in range(0, layer.out_h, t):
        rows = {o * layer.stride_h - layer.padding + i for o in range(lo, min(lo + t, layer.out_h))
                for i in range(layer.filt_h)}
        total += sum(0 <= x < layer.ifmap_h for x in rows)
    return total


@pytest.mark.parametrize("shape", [(64, 56, 3, 1), (64, 56, 3, 2), (3, 224, 7, 2), (64, 56, 1, 2), (16, 13, 5, 3)])
@pytest.mark.parametrize("t", [1, 2, 3, 5, 8])
def test_tile_rows_include_the_halo(shape, t):
    c, h, r, s = shape
    layer = _conv(c, 8, h, r, s)
    w = layer.to_gemm().window
    got = sum(w.rows_read(lo, min(lo + t, w.out_h)) for lo in range(0, w.out_h, t))
    assert got == _brute_rows(layer, t)
    assert w.rows_read(0, w.out_h) * w.in_w * w.channels * w.batch == layer.to_gemm().ifmap_unique


def test_input_tile_outer_beats_restreaming_on_a_small_buffer():
    """3x3 64->128 at 56x56, 64 KiB input/output SRAM: the input (200,704 B) does not fit; keeping an input tile
    for all four column folds reads it once plus halos instead of four times."""
    layer, acc = _conv(64, 128, 56, 3, 1), _acc(64, 256, 64)
    row = simulate_layer(layer, acc)
    assert row.loop_order == LoopOrder.INPUT_TILE_OUTER.value
    u_in, weights = 64 * 56 * 56, 128 * 64 * 9
    assert u_in < row.dram_reads_ifmap < 1.7 * u_in            # halos, not a re-stream per fold
    assert row.dram_reads_filter == weights                     # the weights fit the filter buffer
    g = layer.to_gemm()
    cands = {c.order: c for c in loop_orders(run_gemm(g.M, g.N, g.K, 32, 32, "ws"), g.M, g.N, g.K, 1,
                                             g.ifmap_unique, 8, 8, 16, acc.memory, 32, g.window)}
    assert cands[LoopOrder.WEIGHTS_OUTER].reads_ifmap == 4 * u_in
    assert row.dram_read_bytes == min(c.read_bytes(8, 8) for c in cands.values())


def test_weights_re_read_per_input_tile_when_they_do_not_fit():
    layer, acc = _conv(256, 256, 28, 3, 1), _acc(64, 64, 64)
    g = layer.to_gemm()
    run = run_gemm(g.M, g.N, g.K, 32, 32, "ws")
    c = {o.order: o for o in loop_orders(run, g.M, g.N, g.K, 1, g.ifmap_unique, 8, 8, 16, acc.memory, 32, g.window)}
    tile = c[LoopOrder.INPUT_TILE_OUTER]
    assert tile.tiles > 1 and tile.reads_filter == tile.tiles * g.K * g.N


def test_order_changes_neither_macs_nor_compute_cycles():
    layer = _conv(64, 128, 56, 3, 1)
    big, small = simulate_layer(layer, _acc(4096, 4096, 4096)), simulate_layer(layer, _acc(64, 256, 64))
    assert big.loop_order == LoopOrder.WEIGHTS_OUTER.value and small.loop_order != big.loop_order
    for k in ("macs", "compute_cycles", "row_folds", "col_folds", "sram_reads_ifmap", "sram_reads_filter"):
        assert getattr(big, k) == getattr(small, k), k


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("shape", [(64, 128, 56, 3, 1, 1), (128, 256, 28, 3, 2, 1), (3, 64, 224, 7, 2, 1),
                                   (256, 256, 14, 3, 1, 4), (512, 512, 7, 3, 1, 2), (96, 256, 27, 5, 1, 4)])
def test_dram_bytes_never_grow_with_any_sram(dataflow, shape):
    *conv, batch = shape
    layer = _conv(*conv, batch=batch)
    sizes = [8, 16, 32, 64, 128, 256, 512, 1024, 4096]
    for which in range(3):
        prev = None
        for kb in sizes:
            kbs = [128.0, 128.0, 128.0]
            kbs[which] = kb
            r = simulate_layer(layer, _acc(*kbs, dataflow=dataflow))
            b = r.dram_read_bytes + r.dram_write_bytes
            assert prev is None or b <= prev, (which, kb)
            prev = b
