"""accel_models on its own: closed forms, precision-aware PEs, memory model, training GEMMs, readers."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

import accel_models as am
from accel_models.systolic import run_gemm

ROOT = Path(__file__).resolve().parents[1]
ACC = ROOT / "configs" / "accelerators"
RESNET18 = ROOT / "tests" / "fixtures" / "scalesim" / "topologies" / "resnet18.csv"


def _skew_rows(n_rows: int, n_cols: int) -> int:
    """Rows of SCALE-Sim's skew_matrix output for an n_rows x n_cols input."""
    return n_rows + n_cols - 1


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("M,N,K,R,C", [(80, 20, 45, 8, 4), (1, 1000, 512, 32, 32), (37, 19, 53, 16, 64),
                                       (7, 3, 2, 4, 4)])
def test_fold_length_from_demand_matrix_construction(dataflow, M, N, K, R, C):
    """Per-fold cycles rebuilt from SCALE-Sim's recipe (prefix, stream, suffix, skew) equal the closed form."""
    if dataflow == "ws":      # ofmap demand: prefix 2R-1, T rows, skewed over C columns
        T, Sr, Sc = M, K, N
        fold = _skew_rows((2 * R - 1) + T, C)
    elif dataflow == "os":    # ofmap demand: prefix T-1, R rows, skewed over C columns
        T, Sr, Sc = K, M, N
        fold = _skew_rows((T - 1) + R, C)
    else:                     # ofmap demand: prefix 2R-1, T rows, skewed over C columns
        T, Sr, Sc = N, K, M
        fold = _skew_rows((2 * R - 1) + T, C)
    folds = math.ceil(Sr / R) * math.ceil(Sc / C)
    assert run_gemm(M, N, K, R, C, dataflow).compute_cycles == folds * fold - 1


def test_conv_lowering_and_scalesim_output_size():
    conv = am.ConvLayer("c", 10, 10, 3, 3, 16, 40, 2, 2)      # SCALE-Sim: ceil((10-3+2)/2) = 5
    assert (conv.out_h, conv.out_w) == (5, 5)
    g = conv.to_gemm()
    assert (g.M, g.N, g.K, g.groups) == (25, 40, 144, 1)
    dw = am.ConvLayer("dw", 8, 8, 3, 3, 32, 32, padding=1, groups=32, ofmap_h=8, ofmap_w=8, batch=2)
    g = dw.to_gemm()
    assert (g.M, g.N, g.K, g.groups, g.macs) == (128, 1, 9, 32, 2 * 8 * 8 * 32 * 9)
    # groups run as independent GEMMs: cycles add up
    one = run_gemm(128, 1, 9, 8, 8, "ws")
    assert am.simulate([dw], am.load_accelerator(ACC / "fp32_training.yaml")).rows[0].macs == g.macs
    assert run_gemm(128, 1, 9, 8, 8, "ws", groups=32).compute_cycles == 32 * one.compute_cycles


# --------------------------------------------------------------------------- precision
def _conv(bits_in: int, bits_w: int, kind: str = "int") -> am.ConvLayer:
    ops = am.Operands(kind, bits_in, kind, bits_w, 32)
    return am.ConvLayer("l", 30, 30, 3, 3, 128, 128, 1, 1, batch=2, operands=ops)


def test_bitfusion_8bit_is_4x_faster_than_16bit_and_2bit_16x():
    acc = am.load_accelerator(ACC / "bitfusion.yaml")
    c8, c16, c2 = (am.simulate([_conv(b, b)], acc).rows[0].compute_cycles for b in (8, 16, 2))
    assert c16 == 4 * c8
    assert c8 == 8 * c2          # 16 products per fused PE, but ic=128 fills only half of 16 rows x 16
    # Bit Fusion's loop count, by hand: batch x ceil(oc/M) x oh x ow x kh x kw x ceil(ic/(N x pf))
    assert c8 == 2 * math.ceil(128 / 32) * 28 * 28 * 3 * 3 * math.ceil(128 / (16 * 1))
    assert c2 == 2 * math.ceil(128 / 32) * 28 * 28 * 3 * 3 * math.ceil(128 / (16 * 16))
    # mixed: 4-bit inputs x 8-bit weights -> perf factor 2
    assert am.simulate([_conv(4, 8)], acc).rows[0].compute_cycles * 2 == c8


def test_bitfusion_pe_formula():
    pe = am.build_pe({"kind": "bitfusion", "pmax": 8, "pmin": 2})
    rate = lambda a, w: pe.rate(am.Operands("int", a, "int", w))   # noqa: E731
    assert rate(8, 8) == 1 and rate(4, 4) == 4 and rate(2, 2) == 16 and rate(1, 1) == 16
    assert rate(2, 8) == 4 and rate(16, 16) == Fraction(1, 4) and rate(16, 8) == Fraction(1, 2)


def test_bitfusion_pe_on_systolic_ws_is_about_4x():
    acc = am.load_accelerator({**_acc_dict(), "pe": {"kind": "bitfusion", "pmax": 8, "pmin": 2}})
    c8, c16 = (am.simulate([_conv(b, b)], acc).rows[0].compute_cycles for b in (8, 16))
    assert 3.5 < c16 / c8 < 4.01     # fill/drain per fold keeps it just off 4


def test_binary_layer_on_xnor_array_far_fewer_cycles():
    xnor = am.load_accelerator(ACC / "xnor_array.yaml")
    int8 = am.load_accelerator({**_acc_dict(), "array": {"rows": 32, "cols": 32, "dataflow": "ws"},
                                "pe": {"kind": "int", "bits": 8}})
    binary = am.simulate([_conv(1, 1, "binary")], xnor).rows[0]
    eight = am.simulate([_conv(8, 8)], int8).rows[0]
    assert binary.mac_type == "xnor_popcount" and eight.mac_type == "int8x8"
    assert eight.compute_cycles / binary.compute_cycles > 30
    # binary weights x 4-bit inputs run bit-serially: 64/4 = 16 products per cycle
    sa = am.simulate([am.ConvLayer("l", 30, 30, 3, 3, 128, 128, operands=am.Operands("int", 4, "binary", 1))], xnor)
    assert sa.rows[0].pe_rate == 16 and sa.rows[0].mac_type == "sign_add"
    with pytest.raises(am.ConfigError, match="cannot run fp32"):
        am.simulate([_conv(32, 32, "float")], xnor)


def test_sign_add_and_shift_add_pes():
    sa = am.build_pe({"kind": "sign_add", "bits": 16, "lanes": 4})
    assert sa.rate(am.Operands("int", 8, "binary", 1)) == 4
    assert sa.rate(am.Operands("int", 8, "int", 4)) == 1      # non-binary weights: bit-serial over 4 bits
    sh = am.build_pe({"kind": "shift_add", "bits": 16})
    assert sh.rate(am.Operands("int", 8, "log", 4)) == 1 and sh.rate(am.Operands("int", 8, "int", 4)) == Fraction(1, 4)


def test_precision_shrinks_footprint_and_dram_traffic():
    """The same SRAM holds 32x more binary operands: fewer re-fetches from DRAM."""
    acc = am.load_accelerator({**_acc_dict(), "sram": {"ifmap_kb": 128, "filter_kb": 16, "ofmap_kb": 64},
                               "pe": {"kind": "fp32"}})
    layer = am.ConvLayer("l", 58, 58, 3, 3, 64, 64, operands=am.Operands("float", 32, "float", 32))
    fp = am.simulate([layer], acc).rows[0]
    b = am.simulate([layer.with_(operands=am.Operands("binary", 1, "binary", 1, 32))], acc).rows[0]
    assert fp.dram_reads_ifmap > b.dram_reads_ifmap       # fp32 ifmap re-streamed per column fold
    assert b.dram_reads_ifmap == 64 * 58 * 58                  # 27 KB of bits: resident
    assert fp.dram_reads_ifmap == 64 * 58 * 58 * 4              # 861 KB of floats: once per column fold
    assert fp.dram_read_bytes > 32 * b.dram_read_bytes


# --------------------------------------------------------------------------- memory / stalls
def _acc_dict(**over) -> dict:
    d = {"name": "t", "array": {"rows": 16, "cols": 16, "dataflow": "ws"}, "pe": {"kind": "int", "bits": 8},
         "sram": {"ifmap_kb": 64, "filter_kb": 64, "ofmap_kb": 64}, "dram": {"bandwidth_bytes_per_cycle": 16}}
    d.update(over)
    return d


def test_stalls_follow_bandwidth():
    layer = am.GemmLayer("g", M=4, N=512, K=512)       # weight-heavy GEMV-like layer: DRAM bound
    slow = am.simulate([layer], _acc_dict(dram={"bandwidth_bytes_per_cycle": 1})).rows[0]
    fast = am.simulate([layer], _acc_dict(dram={"bandwidth_bytes_per_cycle": 1000})).rows[0]
    unl = am.simulate([layer], _acc_dict(dram={"bandwidth_bytes_per_cycle": None})).rows[0]
    assert slow.compute_cycles == fast.compute_cycles == unl.compute_cycles
    assert slow.stall_cycles > 0 and fast.stall_cycles == 0 == unl.stall_cycles
    total_bytes = slow.dram_read_bytes + slow.dram_write_bytes
    assert slow.total_cycles == max(slow.compute_cycles, total_bytes)
    assert slow.avg_dram_bw == pytest.approx(total_bytes / slow.total_cycles)
    assert slow.dram_reads_filter == 512 * 512


# --------------------------------------------------------------------------- training
def test_training_gemms_are_the_transposes():
    conv = am.ConvLayer("c", 16, 16, 3, 3, 32, 64, padding=1, batch=8, ofmap_h=16, ofmap_w=16)
    prec = {"weight": "binary", "input": "int4", "stash": "int2", "grad": "float16"}
    items = am.phase_gemms(conv, prec)
    fwd, bwd_d, col2im, bwd_w = items
    M, N, K = 8 * 16 * 16, 64, 32 * 9
    assert (fwd.M, fwd.N, fwd.K, fwd.phase) == (M, N, K, "forward")
    assert (bwd_d.M, bwd_d.N, bwd_d.K, bwd_d.phase) == (M, K, N, "backward_data")
    assert (bwd_w.M, bwd_w.N, bwd_w.K, bwd_w.phase) == (K, N, M, "backward_weight")
    assert fwd.macs == bwd_d.macs == bwd_w.macs
    assert col2im.ops == M * K and col2im.phase == "backward_data"
    assert am.derive_mac_type(fwd.operands) == "sign_add"              # int4 input x binary weight
    assert (bwd_d.operands.ifmap_kind, bwd_d.operands.ifmap_bits) == ("float", 16)
    assert (bwd_w.operands.ifmap_kind, bwd_w.operands.ifmap_bits) == ("int", 2)   # the stash, not the input
    assert [w.phase for w in am.phase_gemms(conv, prec, first_layer=True)] == ["forward", "backward_weight"]


def test_training_step_on_accelerator():
    layers = [am.ConvLayer("c1", 34, 34, 3, 3, 3, 16), am.GemmLayer("fc", M=8, N=10, K=16 * 32 * 32)]
    work = am.training_step(layers)
    rep = am.simulate(work, ACC / "fp32_training.yaml")
    phases = rep.by_phase()
    assert set(phases) == {"forward", "backward_data", "backward_weight", "update"}
    upd = [r for r in rep.rows if r.phase == "update"]
    assert all(r.unit == "vector" for r in upd)
    assert upd[0].vector_ops == 4 * 16 * 27 and upd[0].compute_cycles == math.ceil(4 * 16 * 27 / 256)
    assert not any(r.layer == "c1" and r.phase == "backward_data" for r in rep.rows)


# --------------------------------------------------------------------------- configs and errors
@pytest.mark.parametrize("path", sorted(ACC.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_configs_load_and_run(path):
    acc = am.load_accelerator(path)
    rep = am.simulate(am.read_topology(RESNET18), acc)
    assert len(rep.rows) == 21 and rep.totals["compute_cycles"] > 0


def test_bitfusion_config_has_published_numbers():
    acc = am.load_accelerator(ACC / "bitfusion.yaml")
    assert (acc.rows, acc.cols, acc.clock_mhz) == (16, 32, 500)
    assert acc.pe.params == {"pmax": 8, "pmin": 2}
    assert (acc.filter_sram_bytes, acc.ifmap_sram_bytes, acc.ofmap_sram_bytes) == (64 * 1024, 32 * 1024, 16 * 1024)


GOOD = (ACC / "tpu_like.yaml").read_text()


@pytest.mark.parametrize("old,new,marker,field,what", [
    ("  rows: 256", "  rows: 0", "  rows: 0", "array.rows", "positive integer"),
    ("  cols: 256\n", "", "  rows: 256", "array.cols", "missing field"),
    ("  ifmap_kb: 24576", "  ifmap_kb: lots", "ifmap_kb: lots", "sram.ifmap_kb", "positive number"),
    ("  pe_register_bytes: 1", "  pe_register_bytes: -1", "pe_register_bytes: -1", "array.pe_register_bytes",
     "non-negative integer"),
    ("  psum_bits: 32", "  psum_bits: 32\nregisters:\n  psum: {bytes: 1, bits: 16}", "psum: {bytes: 1",
     "registers.psum.bytes", "cannot hold one 16-bit word"),
    ("  psum_bits: 32", "  psum_bits: 32\nregisters:\n  weights: {bytes: 1, bits: 8}", "weights: {bytes",
     "registers.weights", "unknown operand"),
    ("  dataflow: ws", "  dataflow: rs", "dataflow: rs", "array.dataflow", "unknown dataflow"),
    ("  kind: int", "  kind: quantum", "kind: quantum", "pe.kind", "unknown PE kind"),
    ("  bits: 8\nsram", "  bits: -2\nsram", "bits: -2", "pe.bits", "positive integer"),
    ("clock_mhz: 700", "clock_mhz: 700\nspeed: 3", "speed: 3", "speed", "unknown field"),
    ("  lanes: 256", "  lanes: [1", None, "", "malformed YAML"),
])
def test_bad_accelerator_yaml_is_one_line_error(tmp_path, old, new, marker, field, what):
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(am.ConfigError) as ei:
        am.load_accelerator(p)
    msg = str(ei.value)
    assert "\n" not in msg and str(p) in msg and field in msg and what in msg
    if marker:
        line = next(i for i, ln in enumerate(text.splitlines(), 1) if marker in ln)
        assert f"{p}:{line}: {field}" in msg


def test_config_error_is_value_error():
    with pytest.raises(ValueError):
        am.load_accelerator({"array": {"rows": 4, "cols": 4}})       # no sram


@pytest.mark.parametrize("body,where,what", [
    ("c1, 10, 10, 3, 3, 4, 8, 1,\nc2, 10, ten, 3, 3, 4, 8, 1,\n", ":3: IFMAP Width", "positive integer"),
    ("c1, 10, 10, 3, 3, 4, 0, 1,\n", ":2: Num Filter", "positive integer"),
    ("c1, 10, 10, 3, 3, 4,\n", ":2: Num Filter", "missing column"),
    ("c1, 2, 2, 3, 3, 4, 8, 1,\n", ":2: Filter Height", "larger"),
])
def test_bad_topology_is_one_line_error(tmp_path, body, where, what):
    p = tmp_path / "t.csv"
    p.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                 + body)
    with pytest.raises(am.ConfigError) as ei:
        am.read_topology(p)
    msg = str(ei.value)
    assert "\n" not in msg and where in msg and what in msg


def test_gemm_topology_and_depthwise(tmp_path):
    p = tmp_path / "g.csv"
    p.write_text("Layer, M, N, K,\na, 4, 5, 6,\nb, 1, 2, 3\n")
    a, b = am.read_topology(p)
    assert (a.M, a.N, a.K, b.M, b.N, b.K) == (4, 5, 6, 1, 2, 3)
    p.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                 "DP1, 9, 9, 3, 3, 8, 1, 1,\n")
    (dw,) = am.read_topology(p)
    assert dw.groups == 8 and dw.to_gemm().N == 1


def test_scalesim_cfg_errors(tmp_path):
    src = (ROOT / "tests/fixtures/scalesim/gemm_8x8_ws_user/scale.cfg").read_text()
    p = tmp_path / "s.cfg"
    p.write_text(src.replace("ArrayHeight:    8", "ArrayHeight:    zero"))
    with pytest.raises(am.ConfigError, match=r"s.cfg:\d+: ArrayHeight"):
        am.read_scalesim_cfg(p)
    p.write_text(src.replace("Dataflow : ws\n", ""))
    with pytest.raises(am.ConfigError, match="Dataflow"):
        am.read_scalesim_cfg(p)


# --------------------------------------------------------------------------- report
def test_report_csv_json_totals():
    rep = am.simulate(am.read_topology(RESNET18), ACC / "tpu_like.yaml")
    d = json.loads(rep.to_json())
    assert len(d["rows"]) == 21 and d["accelerator"]["name"] == "tpu_like"
    rows = list(csv.DictReader(io.StringIO(rep.to_csv())))
    assert rows[-1]["layer"] == "TOTAL"
    assert int(rows[-1]["total_cycles"]) == sum(r.total_cycles for r in rep.rows)
    assert rep.totals["macs"] == 1_814_073_344
    for r in rep.rows:
        assert r.total_cycles == r.compute_cycles + r.stall_cycles
        assert 0 < r.mapping_efficiency <= 1 and 0 < r.utilization <= 1


def test_report_carries_the_accelerator_and_its_memory_accesses():
    """The typed accesses agree with the report's columns: per buffer, elements x stored bits / 8; each
    transfer rounded up to whole bytes, the *_bytes totals; every row's (layer, phase) is present."""
    acc = am.load_accelerator(ACC / "bitfusion.yaml")
    layers = [am.GemmLayer("g", M=37, N=19, K=53, operands=am.operands("binary1", "binary1")),
              am.GemmLayer("h", M=64, N=128, K=300, operands=am.operands("int4", "int2")),
              am.VectorOp("h", "forward", ops=640, kind="relu", bytes_in=300, bytes_out=0),
              am.VectorOp("v", "update", ops=10, kind="update", bytes_in=0, bytes_out=0)]
    rep = am.simulate(layers, acc)
    assert rep.accelerator is acc and isinstance(rep.accesses, am.MemoryAccesses)
    assert rep.accesses.pairs() == [("g", "forward"), ("h", "forward"), ("v", "update")]
    assert rep.accesses.of("v", "update") == []
    for level in ("sram", "dram"):
        for rw in ("read", "write"):
            assert rep.accesses.total(level, rw, whole_bytes=True) == rep.totals[f"{level}_{rw}_bytes"]
    g = rep.rows[0]
    by = {(a.level, a.buffer, a.rw): a.bytes for a in rep.accesses.of("g", "forward")}
    assert by[("sram", "ifmap", "read")] == Fraction(g.sram_reads_ifmap * g.ifmap_bits, 8)
    assert by[("dram", "filter", "read")] == Fraction(g.dram_reads_filter * g.filter_bits, 8)
    assert by[("dram", "ofmap", "write")] == Fraction(g.dram_writes_ofmap * g.ofmap_bits, 8)
    assert ("dram", "", "read") in {(a.level, a.buffer, a.rw) for a in rep.accesses.of("h", "forward")}
    assert rep.accesses.total("rf") == 0
    assert {r["layer"] for r in rep.accesses.to_rows()} == {"g", "h"}


def test_resnet18_macs_match_flop_counter_anchor():
    """The topology's conv+fc MACs equal torch flop_counter's ResNet-18 forward count (anchors.md)."""
    layers = am.read_topology(RESNET18)
    assert sum(layer.macs for layer in layers) == 1_814_073_344


def test_accel_models_never_imports_torch_or_hwsim():
    code = (f"import sys, accel_models as am; am.simulate(am.read_topology({str(RESNET18)!r}), "
            f"{str(ACC / 'tpu_like.yaml')!r}); "
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith('hwsim')]; print(bad); "
            "sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


# --------------------------------------------------------------------------- properties
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

dims = st.integers(min_value=1, max_value=300)


@settings(max_examples=60, deadline=None)
@given(M=dims, N=dims, K=dims, R=st.integers(1, 64), C=st.integers(1, 64), df=st.sampled_from(["ws", "os", "is"]),
       kb=st.integers(1, 512), bw=st.integers(1, 64))
def test_more_sram_or_bandwidth_never_costs_more(M, N, K, R, C, df, kb, bw):
    def row(kb_, bw_):
        acc = _acc_dict(array={"rows": R, "cols": C, "dataflow": df},
                        sram={"ifmap_kb": kb_, "filter_kb": kb_, "ofmap_kb": kb_},
                        dram={"bandwidth_bytes_per_cycle": bw_})
        return am.simulate([am.GemmLayer("g", M=M, N=N, K=K)], acc).rows[0]
    base, big, fast = row(kb, bw), row(2 * kb, bw), row(kb, 2 * bw)
    assert big.dram_read_bytes + big.dram_write_bytes <= base.dram_read_bytes + base.dram_write_bytes
    assert fast.stall_cycles <= base.stall_cycles and big.stall_cycles <= base.stall_cycles
    assert base.compute_cycles == big.compute_cycles == fast.compute_cycles
    # every operand element reaches the array at least once, and DRAM sees each distinct element once at least
    assert base.sram_reads_ifmap >= M * K and base.sram_reads_filter >= K * N
    assert base.dram_reads_ifmap >= M * K and base.dram_reads_filter >= K * N
    assert base.dram_writes_ofmap == M * N
    assert 0 < base.mapping_efficiency <= 1 and 0 < base.utilization <= 1


@pytest.mark.parametrize("M,N,K,R,C,groups", [(196, 64, 576, 32, 32, 1), (49, 512, 4608, 32, 32, 1),
                                              (12544, 1, 9, 32, 32, 96), (128, 3072, 768, 32, 8, 1)])
def test_double_buffered_weights_hide_each_fold_load_but_the_first(M, N, K, R, C, groups):
    """With a second weight register per PE (TPU v1) a fold lasts max(T, R): its weights shift in during the
    previous fold; only the first load (R) and the last skew drain (R + C - 2) are paid, once per GEMM."""
    plain = run_gemm(M, N, K, R, C, "ws", groups=groups)
    db = run_gemm(M, N, K, R, C, "ws", groups=groups, weight_double_buffered=True)
    n = groups * plain.folds
    assert db.compute_cycles == R + n * max(M, R) + R + C - 2 - 1
    assert db.compute_cycles < plain.compute_cycles          # every case here has more than one fold
    assert (db.sram_reads_ifmap, db.sram_reads_filter, db.sram_writes_ofmap) == \
        (plain.sram_reads_ifmap, plain.sram_reads_filter, plain.sram_writes_ofmap)
    # one fold with a stream as long as the load: nothing to hide, SCALE-Sim's count
    assert run_gemm(64, C, R, R, C, "ws", weight_double_buffered=True).compute_cycles == \
        run_gemm(64, C, R, R, C, "ws").compute_cycles
    # output- and input-stationary arrays hold no weights: unchanged
    for df in ("os", "is"):
        assert run_gemm(M, N, K, R, C, df, weight_double_buffered=True) == run_gemm(M, N, K, R, C, df)


def test_weight_double_buffered_is_an_array_setting():
    base = {"name": "t", "array": {"rows": 8, "cols": 8, "dataflow": "ws"}, "pe": {"kind": "int", "bits": 8},
            "sram": {"ifmap_kb": 64, "filter_kb": 64, "ofmap_kb": 64}}
    plain = am.load_accelerator(base)
    assert not plain.weight_double_buffered and "weight_double_buffered" not in plain.to_dict()["array"]
    db = am.load_accelerator({**base, "array": {**base["array"], "weight_double_buffered": True}})
    assert db.to_dict()["array"]["weight_double_buffered"] is True
    g = am.GemmLayer("g", 64, 32, 128)
    assert am.simulate([g], db).rows[0].compute_cycles < am.simulate([g], plain).rows[0].compute_cycles
    with pytest.raises(am.ConfigError, match="weight_double_buffered"):
        am.load_accelerator({**base, "array": {**base["array"], "weight_double_buffered": "yes"}})
    tpu = am.load_accelerator(ACC / "tpu_like.yaml")
    assert tpu.weight_double_buffered
