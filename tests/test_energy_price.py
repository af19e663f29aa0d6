"""price(): hand-built traces become pJ per layer, phase and component, by the stated rules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hwsim.cli import main as cli_main
from hwsim.energy import load_hierarchy, load_tech, price
from hwsim.energy.memory import dram_pj_per_bit, rf_pj_per_bit, sram_pj_per_bit
from hwsim.energy.ops import mac_energy, xnor_popcount_pj
from hwsim.errors import UserError
from hwsim.formats import TRAIN_PHASES, Format, LayerPrecision, bytes_for
from hwsim.trace import LayerInfo, LayerRecord, Trace

SCHEMES = {
    "fp32": LayerPrecision(),
    "binaryconnect": LayerPrecision(weight=Format("binary", 1)),
    "bnn": LayerPrecision(weight=Format("binary", 1), input=Format("binary", 1), stash=Format("binary", 1)),
}
N = 4


def _layers():
    conv = LayerInfo("conv", "conv2d", dict(N=N, C=16, H=8, W=8, K=16, R=3, S=3, stride=1, padding=1, groups=1,
                                            P=8, Q=8), params=16 * 16 * 9, depth=0)
    fc = LayerInfo("fc", "linear", dict(N=N, C=1024, K=10), params=10240, depth=1)
    return [conv, fc]


def make_trace(scheme: str = "fp32", batch: int = N, weight_scale: int = 1) -> Trace:
    """A two-layer network, every phase, counts by hand from the shapes and declared formats."""
    prec = SCHEMES[scheme]
    layers = _layers()
    records = []
    stash = 0
    for li in layers:
        li.precision = prec.to_dict()
        s = li.shape
        if li.op == "conv2d":
            macs = s["N"] * s["K"] * s["P"] * s["Q"] * s["C"] * s["R"] * s["S"]
            n_in, n_out = s["N"] * s["C"] * s["H"] * s["W"], s["N"] * s["K"] * s["P"] * s["Q"]
        else:
            macs = s["N"] * s["C"] * s["K"]
            n_in, n_out = s["N"] * s["C"], s["N"] * s["K"]
        n_w = li.params * weight_scale
        w_b, in_b = bytes_for(n_w, prec.weight), bytes_for(n_in, prec.input)
        st_b = bytes_for(n_in, prec.stash)
        stash += st_b
        f32 = Format("float", 32)
        records += [
            LayerRecord(li.name, "forward", {prec.mac_type("forward"): macs}, {}, {"activation": n_out},
                        {"weight": w_b, "input": in_b, "output": bytes_for(n_out, f32), "stash_write": st_b}),
            LayerRecord(li.name, "backward_data", {prec.mac_type("backward_data"): macs}, {}, {},
                        {"weight": w_b, "grad_output": bytes_for(n_out, f32), "grad_input": bytes_for(n_in, f32)}),
            LayerRecord(li.name, "backward_weight", {prec.mac_type("backward_weight"): macs}, {}, {},
                        {"stash_read": st_b, "grad_output": bytes_for(n_out, f32),
                         "grad_weight": bytes_for(n_w, f32)}),
            LayerRecord(li.name, "update", {}, {}, {"update": 2 * n_w},
                        {"weight_master": 2 * bytes_for(n_w, f32), "grad_weight": bytes_for(n_w, f32),
                         "optimizer_state": 2 * bytes_for(n_w, f32)}),
        ]
    return Trace(model="toy", scheme=scheme, batch=batch, input_shape=[16, 8, 8], layers=layers,
                 records=records, stash_bytes=stash, param_count=sum(li.params for li in layers))


@pytest.fixture(scope="module")
def t45():
    return load_tech("45nm")


def _sum(rows, **kw):
    return sum(r.energy_pj for r in rows if all(getattr(r, k) == v for k, v in kw.items()))


def test_report_shape_and_consistency(t45):
    tr = make_trace("fp32")
    rep = price(tr, t45, steps_per_epoch=100, rate_hz=10)
    assert {r.phase for r in rep.rows} == set(TRAIN_PHASES) | {"inference"}
    comps = {r.component for r in rep.rows}
    assert comps == {"compute.fp32", "elementwise", "rf", "sram", "dram"}
    assert rep.train_step_pj == pytest.approx(sum(rep.totals.values()))
    assert rep.train_step_pj == pytest.approx(sum(_sum(rep.rows, phase=p) for p in TRAIN_PHASES))
    assert rep.train_epoch_pj == pytest.approx(100 * rep.train_step_pj)
    assert rep.infer_pj_per_sample == pytest.approx(_sum(rep.rows, phase="inference") / tr.batch)
    assert rep.avg_power_w() == pytest.approx(rep.train_step_pj * 1e-12 * 10)
    assert rep.avg_power_w(5, per="inference") == pytest.approx(rep.infer_pj_per_sample * 1e-12 * 5)
    for ph, comps in rep.by_phase.items():
        for c, v in comps.items():
            assert v == pytest.approx(_sum(rep.rows, phase=ph, component=c))
    d = json.loads(json.dumps(rep.to_dict(), default=str))
    assert d["avg_power_w"] == pytest.approx(rep.avg_power_w())
    assert rep.metrics()["train_energy_pj_per_step"] == rep.train_step_pj
    assert all(name.startswith("energy_pj.") for _, _, name, _ in rep.store_layers())
    a = rep.assumptions
    assert a.rules["fp32"].citation.startswith("M. Horowitz")
    assert a.tech.name == "45nm" and a.memory.dram.preset == "han"
    assert any("no inference records" in n for n in a.notes)
    assert d["assumptions"]["memory_source"]["records_priced_by"] == a.records_priced_by   # the report's form


def test_compute_energy_is_macs_times_rule(t45):
    tr = make_trace("fp32")
    rep = price(tr, t45)
    for r in tr.records:
        for mac, n in r.macs.items():
            assert _sum(rep.rows, layer=r.layer, phase=r.phase, component=f"compute.{mac}") == pytest.approx(n * 4.6)
    # element-wise: forward activation = n_out fp32 adds; update = 2 * params fp32 mult+add
    fc = tr.layer("fc")
    assert _sum(rep.rows, layer="fc", phase="update", component="elementwise") == pytest.approx(
        2 * fc.params * (3.7 + 0.9))


def test_scheme_compute_ratios(t45):
    """fp32 vs BinaryConnect vs BNN on the same network: forward compute ratios are the table's."""
    reps = {s: price(make_trace(s), t45) for s in SCHEMES}
    fwd = {s: sum(v for k, v in r.by_phase["forward"].items() if k.startswith("compute.")) for s, r in reps.items()}
    assert fwd["fp32"] / fwd["binaryconnect"] == pytest.approx(4.6 / 0.9)
    conv_macs = N * 16 * 64 * 16 * 9
    fc_macs = N * 1024 * 10
    bnn = conv_macs * xnor_popcount_pj(t45, 16 * 9) + fc_macs * xnor_popcount_pj(t45, 1024)
    assert fwd["bnn"] == pytest.approx(bnn)
    assert set(reps["bnn"].by_phase["forward"]) >= {"compute.xnor_popcount"}
    assert "compute.sign_add" in reps["bnn"].by_phase["backward_data"]
    assert reps["fp32"].train_step_pj > reps["binaryconnect"].train_step_pj > reps["bnn"].train_step_pj


def test_placement_weights_fit_sram_fetched_once(t45):
    tr = make_trace("fp32")
    hier = load_hierarchy({"rf_bytes": 0, "sram_bytes": 1 << 20, "rf_operand_reads_per_mac": 0})
    rep = price(tr, t45, hierarchy=hier)
    lv = rep.assumptions.placement.step.levels
    assert lv["weight"] == "sram" and lv["stash"] == "sram"
    sram_bit, dram_bit = sram_pj_per_bit(t45, 1 << 20), dram_pj_per_bit(t45)
    w = 4 * tr.layer("fc").params
    # fc forward: weight fetched from DRAM once, every traffic byte read at SRAM
    fwd = next(r for r in tr.records if r.layer == "fc" and r.phase == "forward")
    assert _sum(rep.rows, layer="fc", phase="forward", component="dram") == pytest.approx(w * 8 * dram_bit)
    assert _sum(rep.rows, layer="fc", phase="forward", component="sram") == pytest.approx(
        sum(fwd.traffic_bytes.values()) * 8 * sram_bit)
    # master weights and optimizer state: holding them saves nothing (one fetch and one write-back per step
    # is what the update streams), so they stream through DRAM once each way
    upd = next(r for r in tr.records if r.layer == "fc" and r.phase == "update")
    upd_dram = _sum(rep.rows, layer="fc", phase="update", component="dram")
    assert upd_dram == pytest.approx((upd.traffic_bytes["weight_master"] + upd.traffic_bytes["optimizer_state"])
                                     * 8 * dram_bit)


def _dram_bytes(rep) -> float:
    return sum(v.get("dram", 0) for v in rep.assumptions.placement.bytes_by_level.values()) \
        + sum(rep.assumptions.placement.dram_fetch_once_bytes.values())


def test_placement_stash_never_evicts_tensors_in_use(t45):
    tr = make_trace("fp32")
    # an SRAM that holds every record's largest stream and a 1-bit stash beside it, not a 32-bit one
    biggest = max(max((b for c, b in r.traffic_bytes.items() if c in ("input", "output", "grad_output",
                                                                   "grad_input")), default=0) for r in tr.records)
    bnn_tr = make_trace("bnn")
    hier = {"rf_bytes": 0, "sram_bytes": biggest + bnn_tr.stash_bytes, "rf_operand_reads_per_mac": 0}
    rep = price(tr, t45, hierarchy=hier)
    by = rep.assumptions.placement.bytes_by_level
    for cls in ("input", "output", "grad_output", "grad_input"):
        assert by[cls].get("dram", 0) == 0, cls          # tensors in use stay on chip
    assert rep.assumptions.placement.step.levels["stash"] in ("dram", "split")
    # the stash is live from forward to backward_weight only: an inference pass has none and its
    # energy does not depend on it
    assert rep.assumptions.placement.inference.footprint_bytes["stash"] == 0
    bnn = price(bnn_tr, t45, hierarchy=hier)
    frac = {k: r.assumptions.placement.step.onchip_bytes["stash"] / r.assumptions.placement.step.footprint_bytes["stash"]
            for k, r in (("fp32", rep), ("bnn", bnn))}
    assert frac["bnn"] > frac["fp32"]
    assert _dram_bytes(bnn) < _dram_bytes(rep)


def test_placement_dram_bytes_monotone_in_sram(t45):
    """A larger SRAM never moves more bytes through DRAM (every class, fetch-once included)."""
    for scheme in ("fp32", "bnn"):
        tr = make_trace(scheme)
        last = None
        for kb in (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 256, 512, 1024):
            rep = price(tr, t45, hierarchy={"rf_bytes": 0, "sram_bytes": kb * 1024})
            d = _dram_bytes(rep)
            if last is not None:
                assert d <= last + 1e-6 * max(1.0, last), (scheme, kb, d, last)
            last = d
        assert last < _dram_bytes(price(tr, t45, hierarchy={"rf_bytes": 0, "sram_bytes": 1024}))


def test_rf_operand_reads(t45):
    tr = make_trace("fp32")
    rep = price(tr, t45, hierarchy={"rf_bytes": 0, "sram_bytes": 1 << 20, "rf_operand_reads_per_mac": 2})
    macs = sum(r.total_macs for r in tr.records if r.phase == "forward")
    assert rep.by_phase["forward"]["rf"] == pytest.approx(macs * 64 * rf_pj_per_bit(t45))
    bnn = price(make_trace("bnn"), t45, hierarchy={"rf_bytes": 0, "sram_bytes": 1 << 20})
    assert bnn.by_phase["forward"]["rf"] == pytest.approx(macs * 2 * rf_pj_per_bit(t45))


def test_han_example_12_8_watts(t45):
    """1e9 32-bit parameters fetched from DRAM 20 times a second cost 12.8 W."""
    layer = LayerInfo("fc", "linear", {"N": 1, "C": 1, "K": 1}, params=10 ** 9)
    rec = LayerRecord("fc", "inference", {}, {}, {}, {"weight": 4 * 10 ** 9})
    tr = Trace("han", "fp32", 1, [1], mode="infer", layers=[layer], records=[rec])
    rep = price(tr, t45, hierarchy={"rf_bytes": 0, "sram_bytes": 1 << 20, "dram": "han"})
    assert rep.assumptions.placement.step.levels["weight"] == "dram"
    assert rep.avg_power_w(20) == pytest.approx(12.8, rel=1e-12)
    assert rep.totals == {"dram": pytest.approx(640e9)}


def test_zero_skipping_ternary(t45):
    tr = make_trace("fp32")
    for r in tr.records:
        if r.macs:
            (mac, n), = r.macs.items()
            r.macs, r.effectual_macs = {"ternary": n}, {"ternary": n // 4}
    on = price(tr, t45, hierarchy={"rf_bytes": 0, "sram_bytes": 1 << 20, "zero_skipping": True})
    off = price(tr, t45, hierarchy={"rf_bytes": 0, "sram_bytes": 1 << 20, "zero_skipping": False})
    c_on, c_off = on.totals["compute.ternary"], off.totals["compute.ternary"]
    assert c_off == pytest.approx(sum(r.macs.get("ternary", 0) for r in tr.records if r.phase != "inference")
                                  * mac_energy(t45, "ternary")[0])
    assert c_on == pytest.approx(c_off / 4, rel=1e-3)
    for r in tr.records:
        r.effectual_macs = {}
    unmeasured = price(tr, t45, hierarchy={"rf_bytes": 0, "sram_bytes": 1 << 20, "zero_skipping": True})
    assert unmeasured.totals["compute.ternary"] == pytest.approx(c_off)
    assert any("no measured sparsity" in n for n in unmeasured.assumptions.notes)


def test_accelerator_accesses_replace_placement(t45):
    from accel_models import ConfigError, MemoryAccesses

    tr = make_trace("fp32")
    hier = {"rf_bytes": 0, "sram_bytes": 1 << 20}
    base = price(tr, t45, hierarchy=hier)
    acc = MemoryAccesses()
    acc.add("conv", "forward", "sram", "ifmap", "read", 1000)
    acc.add("conv", "forward", "sram", "filter", "read", 24)
    acc.add("conv", "forward", "dram", "", "read", 64)
    acc.add("conv", "forward", "dram", "ofmap", "write", 0)
    acc.add("fc", "backward_data", "sram", "", "write", 8)
    acc.add("fc", "backward_data", "rf", "", "read", 16)
    rep = price(tr, t45, hierarchy=hier, accesses=acc)
    sb, db, rb = sram_pj_per_bit(t45, 1 << 20), dram_pj_per_bit(t45), rf_pj_per_bit(t45)
    assert _sum(rep.rows, layer="conv", phase="forward", component="sram") == pytest.approx(1024 * 8 * sb)
    assert _sum(rep.rows, layer="conv", phase="forward", component="dram") == pytest.approx(64 * 8 * db)
    assert _sum(rep.rows, layer="fc", phase="backward_data", component="rf") == pytest.approx(16 * 8 * rb)
    assert _sum(rep.rows, layer="fc", phase="backward_data", component="dram") == 0
    # untouched pairs and compute are priced as before
    for ph in ("backward_weight", "update"):
        assert _sum(rep.rows, layer="conv", phase=ph) == pytest.approx(_sum(base.rows, layer="conv", phase=ph))
    assert rep.totals["compute.fp32"] == pytest.approx(base.totals["compute.fp32"])
    # the two given pairs, plus conv's inference, which borrows conv's forward counts
    assert rep.assumptions.records_priced_by["accelerator"] == 3
    # a pair the accelerator ran without traffic still takes its memory energy from it: none
    quiet = MemoryAccesses()
    quiet.cover("conv", "backward_weight")
    rep = price(tr, t45, hierarchy=hier, accesses=quiet)
    assert _sum(rep.rows, layer="conv", phase="backward_weight", component="dram") == 0
    assert _sum(base.rows, layer="conv", phase="backward_weight", component="sram") > 0
    assert _sum(rep.rows, layer="conv", phase="backward_weight", component="sram") == 0
    with pytest.raises(ConfigError, match="unknown level 'l2'"):
        acc.add("conv", "forward", "l2", "", "read", 3)
    with pytest.raises(ConfigError, match="non-negative byte count"):
        acc.add("conv", "forward", "sram", "", "read", -1)
    bad = MemoryAccesses()
    bad.add("conv", "fwd", "sram", "", "read", 3)
    with pytest.raises(UserError, match="unknown phase"):
        price(tr, t45, accesses=bad)


def test_hierarchy_errors(tmp_path):
    assert load_hierarchy(None).sram_bytes == 1 << 20
    with pytest.raises(UserError, match="missing entry sram_bytes"):
        load_hierarchy({"rf_bytes": 0})
    with pytest.raises(UserError, match="unknown hierarchy"):
        load_hierarchy("nope")
    p = tmp_path / "h.yaml"
    p.write_text("rf_bytes: 64\nsram_bytes: 1024\nsram_priority: [weight, cache]\n")
    with pytest.raises(UserError, match="unknown tensor class 'cache'"):
        load_hierarchy(str(p))
    with pytest.raises(UserError, match="unknown DRAM preset 'ddr9'"):
        price(make_trace(), load_tech("45nm"), hierarchy={"rf_bytes": 0, "sram_bytes": 1024, "dram": "ddr9"})


def test_node_scaling_lowers_on_chip_not_dram():
    tr = make_trace("fp32")
    hier = {"rf_bytes": 0, "sram_bytes": 1 << 20}
    r45, r7 = price(tr, "45nm", hierarchy=hier), price(tr, load_tech("45nm", node="7nm"), hierarchy=hier)
    f = r7.assumptions.tech.scaling.factor
    assert r7.totals["compute.fp32"] == pytest.approx(f * r45.totals["compute.fp32"])
    assert r7.totals["dram"] == pytest.approx(r45.totals["dram"])


# ---------------------------------------------------------------------------- CLI


def test_cli_prices_a_trace_file(tmp_path, capsys):
    p = tmp_path / "trace.json"
    p.write_text(json.dumps(make_trace("bnn").to_dict()))
    assert cli_main(["cost", str(p), "--json", "--steps-per-epoch", "10", "--rate", "2"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["train_epoch_pj"] == pytest.approx(10 * d["train_step_pj"])
    assert d["avg_power_w"] == pytest.approx(2 * d["train_step_pj"] * 1e-12)
    assert "xnor_popcount" in d["assumptions"]["rules"]
    assert cli_main(["cost", str(p), "--layers", "--node", "7nm"]) == 0
    out = capsys.readouterr().out
    assert "xnor_popcount" in out and "training step" in out and "45nm->7nm" in out
    assert "node scaling: x" in out and "Stillmaker" in out


def test_cli_errors_are_one_line(tmp_path):
    p = tmp_path / "trace.json"
    p.write_text(json.dumps(make_trace().to_dict()))
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    for args, needle in ([["--tech", "28nm"], "unknown technology '28nm'"],
                         [["--tech", str(bad)], "missing entry"],
                         [["--node", "22nm"], "unknown node '22nm'"]):
        r = subprocess.run([sys.executable, "-m", "hwsim.cli", "cost", str(p), *args],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr


def test_accesses_priced_at_their_buffer(t45):
    from accel_models import MemoryAccesses, load_accelerator
    from hwsim.energy import hierarchy_for_accelerator

    acc = MemoryAccesses()
    for level, buf, rw, b in (("sram", "ifmap", "read", 400), ("sram", "filter", "read", 10),
                              ("sram", "ofmap", "read", 40), ("sram", "ofmap", "write", 80),
                              ("dram", "ifmap", "read", 16), ("dram", "filter", "read", 1),
                              ("dram", "ofmap", "write", 8), ("dram", "", "read", 64), ("dram", "", "write", 32)):
        acc.add("conv", "forward", level, buf, rw, b)
    accel = load_accelerator({"name": "t", "array": {"rows": 4, "cols": 4}, "pe": {"kind": "fp32"},
                              "sram": {"ifmap_kb": 32, "filter_kb": 64, "ofmap_kb": 16}})
    hier = hierarchy_for_accelerator(accel, None)
    assert hier.sram_buffers == {"ifmap": 32768, "filter": 65536, "ofmap": 16384}
    rep = price(make_trace("bnn"), t45, hierarchy=hier, accesses=acc)
    sram = (400 * 8 * sram_pj_per_bit(t45, 32768) + 10 * 8 * sram_pj_per_bit(t45, 65536)
            + 120 * 8 * sram_pj_per_bit(t45, 16384))
    assert _sum(rep.rows, layer="conv", phase="forward", component="sram") == pytest.approx(sram)
    assert _sum(rep.rows, layer="conv", phase="forward", component="dram") == pytest.approx(
        (17 + 8 + 96) * 8 * dram_pj_per_bit(t45))
    # inference (synthesised from forward) borrows the forward counts
    assert _sum(rep.rows, layer="conv", phase="inference", component="sram") == pytest.approx(sram)
    assert any("accelerator's forward access counts" in n for n in rep.assumptions.notes)


def test_price_with_the_accelerator_model(t45):
    pytest.importorskip("accel_models")
    from hwsim.energy import hierarchy_for_accelerator
    from hwsim.energy.tech import CONFIG_DIR
    from hwsim.hardware import simulate_trace

    tr = make_trace("fp32")
    cycles = simulate_trace(tr, str(CONFIG_DIR / "accelerators" / "fp32_training.yaml"))
    hier = hierarchy_for_accelerator(cycles.accelerator)
    rep = price(tr, t45, hierarchy=hier, accesses=cycles.accesses)
    by = rep.assumptions.records_priced_by
    assert by["accelerator"] > 0
    dram_bytes = sum(r.dram_read_bytes + r.dram_write_bytes for r in cycles.rows)
    train_dram = sum(v.get("dram", 0.0) for p, v in rep.by_phase.items() if p != "inference")
    placed = [(r.layer, r.phase) for r in tr.records if (r.layer, r.phase) not in
              {(x.layer, x.phase) for x in cycles.rows}]
    assert placed == []                     # every record has its accelerator rows
    assert train_dram == pytest.approx(dram_bytes * 8 * dram_pj_per_bit(t45))


def test_fan_in_of_conv_nd_and_transposed_convolutions():
    from hwsim.energy.price import fan_in
    from hwsim.formats import BACKWARD_DATA, BACKWARD_WEIGHT, FORWARD
    from hwsim.trace import LayerInfo

    c1 = LayerInfo("c1", "conv1d", {"N": 2, "C": 8, "K": 16, "groups": 2, "W": 50, "Q": 48, "S": 3, "stride": 1,
                                    "padding": 0})
    assert (fan_in(c1, FORWARD), fan_in(c1, BACKWARD_DATA), fan_in(c1, BACKWARD_WEIGHT)) == (4 * 3, 8 * 3, 2 * 48)
    c3 = LayerInfo("c3", "conv3d", {"N": 1, "C": 4, "K": 8, "D": 6, "H": 6, "W": 6, "O": 4, "P": 4, "Q": 4,
                                    "T": 3, "R": 3, "S": 3, "stride": 1, "padding": 0})
    assert (fan_in(c3, FORWARD), fan_in(c3, BACKWARD_WEIGHT)) == (4 * 27, 64)
    # transposed: the weight gradient sums over the input's positions, not the (larger) output's
    t2 = LayerInfo("t2", "convtranspose2d", {"N": 2, "C": 16, "K": 8, "H": 7, "W": 7, "P": 14, "Q": 14,
                                             "R": 2, "S": 2, "stride": 2, "padding": 0})
    assert (fan_in(t2, FORWARD), fan_in(t2, BACKWARD_DATA), fan_in(t2, BACKWARD_WEIGHT)) == (64, 32, 2 * 49)
    assert fan_in(LayerInfo("x", "conv1d", {"N": 1}), FORWARD) is None     # shape incomplete: unknown
