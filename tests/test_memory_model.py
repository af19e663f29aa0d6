"""The memory model: DRAM bytes never grow with any SRAM, inference carries no stash, strided layers
fetch only what they read, outputs leave at the consumer's precision, partial sums stay in the
accumulators when they fit."""

from __future__ import annotations

from pathlib import Path

import pytest

import accel_models as am
from benchmarks.dram_vs_sram import SIZES_KB, monotone, series

ACC_DIR = Path(__file__).resolve().parents[1] / "configs" / "accelerators"


@pytest.fixture(scope="module")
def small_series():
    return series("resnet20", (1, 8, 8), 10, 4)


def test_dram_bytes_monotone_in_every_sram(small_series):
    """fp32, bnn and kbit, training step and inference, accelerator (each buffer) and placement model."""
    assert len(small_series) == 3 * 2 * 4
    for key, v in small_series.items():
        assert len(v) == len(SIZES_KB)
        assert monotone(v), (key, v)
    # and a bigger SRAM does help somewhere (the series are not flat by construction)
    assert any(v[-1] < v[0] for v in small_series.values())


def test_inference_energy_does_not_depend_on_the_stash():
    """The same network priced with and without a training stash: the inference line is the same."""
    from hwsim.energy import price
    from hwsim.evaluate import trace_workload
    from hwsim.workload import Workload

    w = Workload(model="resnet20", scheme={"name": "graham", "quantizer": "L4"}, input_shape=(1, 8, 8),
                 num_classes=10, batch=8)
    tr = trace_workload(w, infer=False).train
    full = price(tr, "45nm")
    stripped = type(tr).from_dict(tr.to_dict())
    for r in stripped.records:
        r.traffic_bytes = {k: v for k, v in r.traffic_bytes.items() if k not in ("stash_write", "stash_read")}
    stripped.stash_bytes = 0
    assert price(stripped, "45nm").infer_pj_per_sample == pytest.approx(full.infer_pj_per_sample, rel=1e-9)
    # and with the accelerator's accesses (inference priced from the forward work, its stash writes left out)
    from hwsim.energy import hierarchy_for_accelerator
    from hwsim.hardware import resolve_accelerator, simulate_trace

    acc = resolve_accelerator("tpu_like")
    hier = hierarchy_for_accelerator(acc)
    on_acc = [price(t, "45nm", hier, simulate_trace(t, acc).accesses).infer_pj_per_sample for t in (tr, stripped)]
    assert on_acc[0] == pytest.approx(on_acc[1], rel=1e-9)


def test_strided_1x1_reads_a_quarter_of_its_input():
    conv = am.ConvLayer("ds", 56, 56, 1, 1, 64, 128, stride_h=2, stride_w=2, ofmap_h=28, ofmap_w=28)
    assert conv.to_gemm().ifmap_unique == 64 * 28 * 28
    c3 = am.ConvLayer("c", 56, 56, 3, 3, 64, 128, stride_h=2, stride_w=2, padding=1, ofmap_h=28, ofmap_w=28)
    assert c3.to_gemm().ifmap_unique == 64 * 56 * 56
    c7 = am.ConvLayer("c1", 224, 224, 7, 7, 3, 64, stride_h=2, stride_w=2, padding=3, ofmap_h=112, ofmap_w=112)
    assert c7.to_gemm().ifmap_unique == 3 * 224 * 224
    assert am.touched(10, 1, 3, 0, 4) == 4 and am.touched(10, 2, 3, 0, 3) == 6


def test_outputs_and_partial_sums():
    acc = am.load_accelerator({"name": "t", "array": {"rows": 32, "cols": 32, "dataflow": "ws"},
                               "pe": {"kind": "int", "bits": 8}, "sram": {"ifmap_kb": 64, "filter_kb": 64,
                                                                          "ofmap_kb": 64},
                               "dram": {"bandwidth_bytes_per_cycle": 8},
                               "operands": {"ifmap_bits": 8, "filter_bits": 8, "psum_bits": 32}})
    g = am.GemmLayer("l", M=196, N=64, K=576)          # 18 row folds
    rep = am.simulate([g], acc)
    row = rep.rows[0]
    assert row.row_folds == 18 and row.output_bits == 8
    assert row.dram_write_bytes == 196 * 64           # at the 8-bit input width of the next layer
    # a 196 x 32 tile of 32-bit partial sums (25 KB) fits half the 64 KB accumulators: each row fold adds
    # its partial sums into them (a 32-bit write per output per fold, a read before each write after the
    # first), and nothing goes to DRAM before the outputs are finished
    sram = [(a.buffer, a.rw, a.bytes) for a in rep.accesses.of("l", "forward") if a.level == "sram"]
    # the outputs are read out of the ofmap buffer once, on their way to DRAM; DRAM reads are written in
    assert [(rw, b) for buf, rw, b in sram if buf == "ofmap"] == [
        ("read", 196 * 64 * 17 * 4), ("write", 196 * 64 * 18 * 4), ("read", 196 * 64)]
    dram = {(a.buffer, a.rw): a.bytes for a in rep.accesses.of("l", "forward") if a.level == "dram"}
    assert ("ifmap", "write", dram[("ifmap", "read")]) in sram and ("filter", "write", dram[("filter", "read")]) in sram
    assert dram[("ofmap", "write")] == 196 * 64
    # accumulators smaller than a 196 x 32 tile: the weight-stationary array runs the DRAM model's chunks of
    # rows (each chunk's partial sums fit) and loads the weights once per chunk; the same accumulator traffic
    small = am.load_accelerator({**acc.to_dict(), "sram": {"ifmap_kb": 64, "filter_kb": 64, "ofmap_kb": 16}})
    rep = am.simulate([g], small)
    sram = {(a.buffer, a.rw): a.bytes for a in rep.accesses.of("l", "forward") if a.level == "sram"}
    assert sram[("ofmap", "write")] == 196 * 64 * 18 * 4
    assert sram[("filter", "read")] == 576 * 64 * 4          # ceil(25,088 B / 8 KB) = 4 chunks
    assert rep.rows[0].sram_reads_filter == 576 * 64         # SCALE-Sim's demand count is kept as such
    # an input-stationary array with accumulators too small: a round trip per row fold at 32 bits
    is_small = am.load_accelerator({**acc.to_dict(), "array": {"rows": 32, "cols": 32, "dataflow": "is"},
                                    "sram": {"ifmap_kb": 64, "filter_kb": 64, "ofmap_kb": 8}})
    rep = am.simulate([g], is_small)
    of = [(a.rw, a.bytes) for a in rep.accesses.of("l", "forward") if a.level == "sram" and a.buffer == "ofmap"]
    assert ("write", 196 * 64 * 18 * 4) in of and ("read", 196 * 64 * 17 * 4) in of


def test_psum_accumulation_in_the_pes():
    """array.psum_accumulation: pe (Eyeriss's psum scratch-pads): a weight-stationary array's row folds are
    added in the PEs, so the ofmap buffer sees one write of each finished output at its output width and
    the read out to DRAM; the default (sram, TPU v1's accumulators) adds every fold into the buffer. DRAM
    traffic and cycles do not depend on it; the written form carries the field only when set."""
    base = {"name": "t", "array": {"rows": 32, "cols": 32, "dataflow": "ws"}, "pe": {"kind": "int", "bits": 8},
            "sram": {"ifmap_kb": 64, "filter_kb": 64, "ofmap_kb": 64}, "dram": {"bandwidth_bytes_per_cycle": 8},
            "operands": {"ifmap_bits": 8, "filter_bits": 8, "psum_bits": 32}}
    g = am.GemmLayer("l", M=196, N=64, K=576)          # 18 row folds
    sram_acc = am.load_accelerator(base)
    pe_acc = am.load_accelerator({**base, "array": {**base["array"], "psum_accumulation": "pe"}})
    assert "psum_accumulation" not in sram_acc.to_dict()["array"] and sram_acc.psum_in_sram
    assert pe_acc.to_dict()["array"]["psum_accumulation"] == "pe" and not pe_acc.psum_in_sram
    assert am.load_accelerator(pe_acc.to_dict()).to_dict() == pe_acc.to_dict()
    explicit = am.load_accelerator({**base, "array": {**base["array"], "psum_accumulation": "sram"}})
    assert explicit.psum_in_sram and explicit.to_dict()["array"]["psum_accumulation"] == "sram"

    def ofmap(acc):
        rep = am.simulate([g], acc)
        return rep.rows[0], [(a.rw, a.bytes) for a in rep.accesses.of("l", "forward")
                             if a.level == "sram" and a.buffer == "ofmap"]
    row_s, of_s = ofmap(sram_acc)
    row_p, of_p = ofmap(pe_acc)
    assert of_s == [("read", 196 * 64 * 17 * 4), ("write", 196 * 64 * 18 * 4), ("read", 196 * 64)]
    assert sorted(of_p) == [("read", 196 * 64), ("write", 196 * 64)]
    assert (row_p.total_cycles, row_p.dram_read_bytes, row_p.dram_write_bytes) == \
        (row_s.total_cycles, row_s.dram_read_bytes, row_s.dram_write_bytes)
    # only weight-stationary arrays add folds into a buffer by declaration; the others keep their rule
    os_acc = am.load_accelerator({**base, "array": {**base["array"], "dataflow": "os", "psum_accumulation": "sram"}})
    assert not os_acc.psum_in_sram
    with pytest.raises(am.ConfigError, match="psum_accumulation"):
        am.load_accelerator({**base, "array": {**base["array"], "psum_accumulation": "register"}})
    assert not am.load_accelerator(ACC_DIR / "eyeriss.yaml").psum_in_sram
    assert am.load_accelerator(ACC_DIR / "tpu_like.yaml").psum_in_sram


def test_output_stationary_reduction_in_chunks():
    """An output-stationary array keeps each running sum in its PE while the row folds of a column fold
    reuse that fold's K x cols weights. Where the block fits the filter buffer's working half the outputs
    leave once; where it does not (and the weights are not re-read from DRAM per row fold) the reduction
    runs in chunks, each running sum going to the ofmap buffer and back at psum width once per chunk after
    the first. DRAM traffic and cycles do not depend on it."""
    base = {"name": "t", "array": {"rows": 32, "cols": 32, "dataflow": "os"}, "pe": {"kind": "int", "bits": 8},
            "sram": {"ifmap_kb": 1024, "filter_kb": 256, "ofmap_kb": 1024}, "dram": {"bandwidth_bytes_per_cycle": 8},
            "operands": {"ifmap_bits": 8, "filter_bits": 8, "psum_bits": 16}}
    g = am.GemmLayer("l", M=128, N=768, K=3072, operands=am.Operands("int", 8, "int", 8, 16, output_bits=8))

    def run(filter_kb):
        acc = am.load_accelerator({**base, "sram": {**base["sram"], "filter_kb": filter_kb}})
        rep = am.simulate([g], acc)
        of = sorted((a.rw, a.bytes) for a in rep.accesses.of("l", "forward")
                    if a.level == "sram" and a.buffer == "ofmap")
        return rep.rows[0], of

    # the column block is 3,072 x 32 B = 96 KiB: it fits half of 256 KiB, not half of 128 KiB or 64 KiB
    row_fit, of_fit = run(256)
    assert row_fit.row_folds == 4 and row_fit.dram_read_bytes == 128 * 3072 + 3072 * 768
    assert of_fit == [("read", 128 * 768), ("write", 128 * 768)]   # each output written once, read out once
    for kb, chunks in ((128, 2), (64, 3)):
        row, of = run(kb)
        spill = 128 * 768 * (chunks - 1) * 2
        assert of == sorted([("read", spill), ("write", spill), ("read", 128 * 768), ("write", 128 * 768)]), kb
        assert row.sram_read_bytes - row_fit.sram_read_bytes == spill
        assert (row.dram_read_bytes, row.total_cycles) == (row_fit.dram_read_bytes, row_fit.total_cycles)
    # a single row fold reuses no block: nothing to hold, no chunks
    one = am.GemmLayer("l", M=32, N=768, K=3072, operands=g.operands)
    rep = am.simulate([one], am.load_accelerator({**base, "sram": {**base["sram"], "filter_kb": 64}}))
    assert sorted(a.bytes for a in rep.accesses.of("l", "forward") if a.level == "sram" and a.buffer == "ofmap") \
        == [32 * 768, 32 * 768]
