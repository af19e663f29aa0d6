"""Static (leakage) energy: density x area x cycles / clock, its own component."""

import pytest

import accel_models as am
from hwsim.energy import load_tech, price
from hwsim.energy.static import add_static, static_pj
from hwsim.hardware import resolve_accelerator, simulate_trace


@pytest.fixture(scope="module")
def trace():
    from hwsim.count import trace as count
    from hwsim.models import build_model

    return count(build_model("lenet5"), "fp32", batch=2, mode="infer", input_shape=(1, 28, 28), device="meta")


def _static(tr, over=None, tech=None):
    acc = resolve_accelerator("eyeriss", over or {})
    cycles = simulate_trace(tr, acc)
    tech = tech or load_tech("45nm")
    area = am.accelerator_area(acc, node_nm=tech.node_nm).total_mm2
    rep = add_static(price(tr, tech, accesses=cycles.accesses), cycles, area, tech)
    return rep, cycles, area


def test_static_is_leakage_times_area_times_time(trace):
    rep, cycles, area = _static(trace)
    t = rep.by_phase["inference"]["static"]
    assert t == pytest.approx(26.98 * area * cycles.totals["total_cycles"] / 200.0 * 1e3)
    assert rep.infer_totals["static"] == pytest.approx(t / 2)
    assert rep.infer_pj_per_sample == pytest.approx(sum(rep.infer_totals.values()))
    assert {r["layer"] for r in rep.rows if r["component"] == "static"}


def test_slower_clock_and_bigger_array_cost_static_energy(trace):
    base = _static(trace)[0].by_phase["inference"]["static"]
    slow = _static(trace, {"clock_mhz": 100})[0].by_phase["inference"]["static"]
    assert slow == pytest.approx(2 * base)
    big = _static(trace, {"sram.ifmap_kb": 540})[0].by_phase["inference"]["static"]
    assert big > base


def test_no_leakage_entry_no_static(trace):
    tech = load_tech("45nm").model_copy(update={"leakage_mw_per_mm2": None})
    rep = _static(trace, tech=tech)[0]
    assert "static" not in rep.by_phase["inference"]


def test_static_pj_units():
    assert static_pj(1.0, 1000, 1000.0) == pytest.approx(1e3)    # 1 mW for 1 us = 1 nJ
