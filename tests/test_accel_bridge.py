"""hwsim.hardware (Trace -> accel_models per layer and phase) and the `hwsim simulate` verb."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hwsim.cli import main
from hwsim.errors import UserError
from hwsim.formats import FULL_PRECISION, LayerPrecision
from hwsim.hardware import cli_accelerator, simulate_trace, trace_work
from hwsim.trace import LayerInfo, LayerRecord, Trace

ROOT = Path(__file__).resolve().parents[1]
ACC = ROOT / "configs" / "accelerators"
TOPO = ROOT / "tests" / "fixtures" / "scalesim" / "topologies"


def _conv(name, c, k, hw, depth, prec: LayerPrecision, stride=1) -> LayerInfo:
    p = (hw + 2 - 3) // stride + 1
    return LayerInfo(name, "conv2d", dict(N=4, C=c, H=hw, W=hw, K=k, R=3, S=3, stride=stride, padding=1, groups=1,
                                          P=p, Q=p), prec.to_dict(), params=c * k * 9, depth=depth)


def hand_trace(mode: str = "train", records: bool = False) -> Trace:
    bnn = LayerPrecision.from_dict({"weight": "binary", "input": "binary", "stash": "binary", "grad": "float32"})
    first = LayerPrecision.from_dict({"weight": "binary", "input": "float32", "grad": "float32"})
    layers = [_conv("conv1", 3, 16, 32, 0, first), _conv("conv2", 16, 32, 32, 1, bnn, stride=2),
              LayerInfo("fc", "linear", dict(N=4, C=32 * 16 * 16, K=10), FULL_PRECISION.to_dict(),
                        params=32 * 16 * 16 * 10, depth=2),
              LayerInfo("bn", "batchnorm", {}, {}, params=64, depth=-1)]
    tr = Trace(model="hand", scheme="bnn", batch=4, input_shape=[3, 32, 32], mode=mode, layers=layers)
    if records:
        tr.records = [LayerRecord("conv1", "forward", macs={"sign_add": 1}),
                      LayerRecord("conv1", "backward_weight", macs={"fp32": 1}),
                      LayerRecord("conv1", "update", elementwise={"update": 432 * 4},
                                  traffic_bytes={"weight_master": 1728}),
                      LayerRecord("bn", "forward", elementwise={"batchnorm": 4096},
                                  traffic_bytes={"input": 16384, "output": 16384})]
    return tr


def test_phases_shapes_and_mac_types():
    rep = simulate_trace(hand_trace(), ACC / "fp32_training.yaml")
    rows = {(r.layer, r.phase, r.unit): r for r in rep.rows}
    # the first layer computes no input gradient
    assert ("conv1", "backward_data", "array") not in rows
    assert {ph for (n, ph, u) in rows if n == "conv2"} == {"forward", "backward_data", "backward_weight", "update"}
    f = rows[("conv2", "forward", "array")]
    assert (f.M, f.N, f.K) == (4 * 16 * 16, 32, 16 * 9)
    bd, bw = rows[("conv2", "backward_data", "array")], rows[("conv2", "backward_weight", "array")]
    assert (bd.M, bd.N, bd.K) == (f.M, f.K, f.N)
    assert (bw.M, bw.N, bw.K) == (f.K, f.N, f.M)
    # MAC types come from hwsim.formats' rule table
    assert f.mac_type == "xnor_popcount" and bd.mac_type == "sign_add" and bw.mac_type == "sign_add"
    assert rows[("conv1", "forward", "array")].mac_type == "sign_add"
    assert rows[("fc", "forward", "array")].mac_type == "fp32"
    # binary operands are stored and moved at 1 bit
    assert f.ifmap_bits == 1 and f.filter_bits == 1 and bw.ifmap_bits == 1 and bw.filter_bits == 32
    # rows come phase by phase
    order = [r.phase for r in rep.rows]
    assert order == sorted(order, key=["forward", "backward_data", "backward_weight", "update"].index)
    assert rep.workload.scheme == "bnn" and rep.accelerator.name == "fp32_training"


def test_precision_changes_cycles_on_bitfusion():
    """Same network, 8-bit vs 16-bit integer precision: forward 4x fewer compute cycles on Bit Fusion."""
    def tr(bits):
        p = LayerPrecision.from_dict({"weight": f"int{bits}", "input": f"int{bits}"})
        return Trace("m", "s", 4, [16, 32, 32], mode="infer",
                     layers=[_conv("c", 16, 64, 32, 0, p), _conv("d", 64, 64, 32, 1, p)])
    c8 = simulate_trace(tr(8), ACC / "bitfusion.yaml").by_phase()["inference"]["compute_cycles"]
    c16 = simulate_trace(tr(16), ACC / "bitfusion.yaml").by_phase()["inference"]["compute_cycles"]
    assert c16 == 4 * c8


def test_records_drive_phases_and_vector_work():
    rep = simulate_trace(hand_trace(records=True), ACC / "fp32_training.yaml")
    keys = {(r.layer, r.phase, r.unit) for r in rep.rows}
    assert keys == {("conv1", "forward", "array"), ("conv1", "backward_weight", "array"),
                    ("conv1", "update", "vector"), ("bn", "forward", "vector")}
    bn = next(r for r in rep.rows if r.layer == "bn")
    assert bn.vector_ops == 4096 and bn.compute_cycles == 4096 // 256
    # batch-norm's 16 KiB input and output fit the buffers: it runs fused with its producer, on chip
    assert bn.dram_read_bytes == 0 and bn.dram_write_bytes == 0
    assert bn.sram_read_bytes == 16384 and bn.sram_write_bytes == 16384
    # buffers too small for them: the vector unit streams them through DRAM
    small = cli_accelerator(ACC / "fp32_training.yaml", ["sram.ifmap_kb=8", "sram.ofmap_kb=8"])
    bn = next(r for r in simulate_trace(hand_trace(records=True), small).rows if r.layer == "bn")
    assert bn.dram_read_bytes == 16384 and bn.dram_write_bytes == 16384 and bn.sram_read_bytes == 0


def test_outputs_leave_at_the_consumers_precision():
    """conv1 (float input) feeds conv2, whose input is binary: conv1's outputs are written at 1 bit;
    conv2's feed fc at float32; partial sums stay at the accumulators' width."""
    rep = simulate_trace(hand_trace(mode="infer"), ACC / "fp32_training.yaml")
    rows = {r.layer: r for r in rep.rows if r.unit == "array"}
    c1 = rows["conv1"]
    assert c1.output_bits == 1 and c1.ofmap_bits == 32
    assert c1.dram_write_bytes == (c1.M * c1.N + 7) // 8


def test_unsupported_precision_is_user_error():
    with pytest.raises(UserError, match="xnor_array.*conv1"):
        simulate_trace(hand_trace(), ACC / "xnor_array.yaml")     # fp32 gradients on an XNOR-only array


def test_work_items_for_inference():
    work = trace_work(hand_trace(mode="infer"))
    assert {w.phase for w in work} == {"inference"}
    assert len(work) == 3


@pytest.mark.slow
def test_real_trace_from_counter():
    from hwsim.count import trace

    tr = trace("lenet5", "bnn", batch=2)
    rep = simulate_trace(tr, ACC / "bitfusion.yaml")
    gemm = [r for r in rep.rows if r.unit == "array"]
    assert {r.phase for r in gemm} >= {"forward", "backward_weight"}
    # the accelerator's MAC count equals what the counter recorded for the same phases
    counted = {}
    for r in tr.records:
        if r.total_macs:
            counted[(r.layer, r.phase)] = counted.get((r.layer, r.phase), 0) + r.total_macs
    simulated = {(r.layer, r.phase): r.macs for r in gemm}
    assert simulated == counted


# --------------------------------------------------------------------------- CLI
def test_cli_topology_formats(capsys):
    assert main(["simulate", "-a", str(ACC / "tpu_like.yaml"), "-t", str(TOPO / "resnet18.csv"), "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert len(d["rows"]) == 21 and d["totals"]["macs"] == 1_814_073_344
    assert main(["simulate", "--cfg", str(ROOT / "tests/fixtures/scalesim/gemm_8x8_os_user/scale.cfg"),
                 "-t", str(TOPO / "gemm.csv"), "--format", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("layer,phase") and out[-1].startswith("TOTAL") and len(out) == 7
    assert main(["simulate", "-a", "bitfusion", "-t", str(TOPO / "tiny.csv")]) == 0
    assert "total 1,415 cycles" in capsys.readouterr().out


def test_cli_topology_area_at_the_tech_node(capsys):
    """The printed area is at the technology table's node, the same area `accelerator_area` gives there."""
    import accel_models as am
    from hwsim.hardware import cli_accelerator

    acc = cli_accelerator("tpu_like", None)
    lines = {}
    for node, nm in ((None, 45.0), ("7nm", 7.0)):
        assert main(["simulate", "-a", "tpu_like", "-t", str(TOPO / "tiny.csv")] + (["--node", node] if node else [])) == 0
        lines[nm] = capsys.readouterr().out.splitlines()[-1]
        assert lines[nm].startswith("area ") and f" at {nm:g} nm (" in lines[nm]
        assert main(["simulate", "-a", "tpu_like", "-t", str(TOPO / "tiny.csv"), "--json"]
                    + (["--node", node] if node else [])) == 0
        area = json.loads(capsys.readouterr().out)["area"]
        assert area["node_nm"] == nm
        assert area["total_mm2"] == pytest.approx(am.accelerator_area(acc, node_nm=nm).total_mm2)
    assert lines[7.0] != lines[45.0]


@pytest.mark.parametrize("args,where", [
    (["simulate", "-a", "missing.yaml", "-t", "x.csv"], "missing.yaml"),
    (["simulate", "-t", "x.csv"], "--accelerator"),
    (["simulate", "-a", "ACC", "-t", "TOPO", "-f", "xml"], "--format"),
    (["simulate", "-a", "ACC"], "hwsim simulate"),
    (["simulate", "-a", "warp_drive", "-t", "TOPO"], "unknown accelerator 'warp_drive'; known: bitfusion"),
])
def test_cli_errors_one_line(capsys, args, where):
    args = [a.replace("ACC", str(ACC / "tpu_like.yaml")).replace("TOPO", str(TOPO / "gemm.csv")) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and where in err and "\n" not in err


def test_cli_bad_topology_line(tmp_path, capsys):
    p = tmp_path / "t.csv"
    p.write_text("Layer, M, N, K,\na, 4, x, 6,\n")
    assert main(["simulate", "-a", str(ACC / "tpu_like.yaml"), "-t", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {p}:2: N: expected a positive integer, got 'x'"


def test_simulate_topology_does_not_import_torch():
    code = ("import sys; from hwsim.cli import main; "
            f"main(['simulate', '-a', {str(ACC / 'tpu_like.yaml')!r}, '-t', {str(TOPO / 'gemm.csv')!r}, '-f', 'csv']); "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_cli_model_path_from_trace_json(tmp_path, capsys):
    p = tmp_path / "trace.json"
    p.write_text(json.dumps(hand_trace().to_dict()))
    assert main(["simulate", str(p), "-a", str(ACC / "fp32_training.yaml"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d["by_phase"]) == {"forward", "backward_data", "backward_weight", "update"}
    assert d["accelerator"]["trace"]["model"] == "hand"
