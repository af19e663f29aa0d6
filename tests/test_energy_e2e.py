"""End to end: hwsim.count's trace of a built-in network, priced; fp32 vs BinaryConnect vs BNN."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from hwsim.count import trace  # noqa: E402
from hwsim.energy import load_tech, price  # noqa: E402
from hwsim.energy.ops import xnor_popcount_pj  # noqa: E402
from hwsim.energy.price import fan_in  # noqa: E402


@pytest.fixture(scope="module")
def reports():
    t = load_tech("45nm")
    out = {}
    for s in ("fp32", "binaryconnect", "bnn"):
        tr = trace("resnet20", s, batch=2, input_shape=(3, 32, 32))
        out[s] = (tr, price(tr, t, steps_per_epoch=25000))
    return out


def _compute(rep, phase):
    return sum(v for k, v in rep.by_phase.get(phase, {}).items() if k.startswith("compute."))


def test_fp32_compute_is_macs_times_4_6(reports):
    tr, rep = reports["fp32"]
    macs = tr.totals()["macs"]
    assert set(macs) == {"fp32"}
    assert sum(v for k, v in rep.totals.items() if k.startswith("compute.")) == pytest.approx(4.6 * macs["fp32"])


def test_binaryconnect_forward_ratio_is_table_ratio(reports):
    f = _compute(reports["fp32"][1], "forward")
    bc_tr, bc = reports["binaryconnect"]
    assert set(bc.by_phase["forward"]) & {"compute.sign_add"}
    assert bc_tr.by_phase()["forward"]["macs"] == {"sign_add": reports["fp32"][0].by_phase()["forward"]["macs"]["fp32"]}
    assert f / _compute(bc, "forward") == pytest.approx(4.6 / 0.9)


def test_bnn_forward_compute_from_rules(reports):
    tr, rep = reports["bnn"]
    t = load_tech("45nm")
    expected = 0.0
    for r in tr.records:
        if r.phase != "forward":
            continue
        for mac, n in r.macs.items():
            if mac == "xnor_popcount":
                expected += n * xnor_popcount_pj(t, fan_in(tr.layer(r.layer), "forward"))
            elif mac == "sign_add":
                expected += n * 0.9
            elif mac == "fp32":
                expected += n * 4.6
    assert _compute(rep, "forward") == pytest.approx(expected)
    assert _compute(reports["fp32"][1], "forward") > _compute(reports["binaryconnect"][1], "forward") \
        > _compute(rep, "forward")


def test_reports_are_complete(reports):
    for _, (tr, rep) in reports.items():
        assert rep.train_step_pj > 0 and rep.infer_pj_per_sample > 0
        assert rep.train_epoch_pj == pytest.approx(25000 * rep.train_step_pj)
        assert {"dram", "sram", "rf", "elementwise"} <= set(rep.totals)
        layers = {li.name for li in tr.layers}
        assert {r.layer for r in rep.rows} <= layers | {r.layer for r in tr.records}


def test_compare_table():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from energy_compare import compare_schemes, to_markdown

    rows = compare_schemes("resnet20", ["fp32", "binaryconnect"], batch=1, input_shape=(3, 32, 32))
    assert rows[0]["forward_compute_ratio"] == 1
    assert rows[1]["forward_compute_ratio"] == pytest.approx(4.6 / 0.9)
    md = to_markdown(rows)
    assert md.count("\n") == 3 and "| binaryconnect | sign_add 0.9, fp32 4.6 |" in md


def test_mac_table():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from energy_compare import MAC_CASES, mac_table, main

    md = mac_table("45nm", 576)
    assert md.count("\n") == len(MAC_CASES) + 1
    assert "| fp32 | float32 x float32 | 4.6 | 1 × | fp32 | - |" in md
    assert "| sign_add | binary x float32 | 0.9 | 5.11 × | sign_add | - |" in md
    assert "| mxfp4xfp4 | mxfp4 x mxfp4 |" in md
    assert main(["macs", "--tech", "nope"]) == 2
