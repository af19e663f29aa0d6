"""Static (leakage) energy: logic at its density x its area, SRAM per stored bit, each x time, as two
components."""

import pytest

import accel_models as am
from hwsim.energy import load_tech, price
from hwsim.energy.static import LOGIC, SRAM, add_static, leakage, static_pj
from hwsim.hardware import resolve_accelerator, simulate_trace


@pytest.fixture(scope="module")
def trace():
    from hwsim.count import trace as count
    from hwsim.models import build_model

    return count(build_model("lenet5"), "fp32", batch=2, mode="infer", input_shape=(1, 28, 28), device="meta")


def _static(tr, over=None, tech=None, hw="eyeriss"):
    acc = resolve_accelerator(hw, over or {})
    cycles = simulate_trace(tr, acc)
    tech = tech or load_tech("45nm")
    area = am.accelerator_area(acc, node_nm=tech.node_nm)
    rep = add_static(price(tr, tech, accesses=cycles.accesses), cycles, area, tech)
    return rep, cycles, area, acc


def _sram_mm2(area):
    return sum(v for k, v in area.breakdown.items() if k.startswith("sram"))


def test_logic_and_sram_leak_by_their_own_rules(trace):
    rep, cycles, area, acc = _static(trace)
    t = cycles.totals["total_cycles"] / 200.0 * 1e3          # us at 200 MHz, x 1e3 pJ per mW us
    inf = rep.by_phase["inference"]
    assert inf[LOGIC] == pytest.approx(26.98 * (area.total_mm2 - _sram_mm2(area)) * t)
    bits = 8 * (acc.ifmap_sram_bytes + acc.filter_sram_bytes + acc.ofmap_sram_bytes)
    assert inf[SRAM] == pytest.approx(23.495e-6 * bits * t)
    assert rep.infer_totals[SRAM] == pytest.approx(inf[SRAM] / 2)
    assert rep.infer_pj_per_sample == pytest.approx(sum(rep.infer_totals.values()))
    assert {r.layer for r in rep.rows if r.component == SRAM}
    st = rep.assumptions.static
    assert st.power_mw == pytest.approx(st.logic_mw + st.sram_mw) and "fakeram45" in st.sram_citation


def test_sram_leaks_less_per_bit_than_the_logic_density_over_its_area(trace):
    """The cited per-bit figure (CACTI, 45 nm) is below 26.98 mW/mm2 x 1.2942 um2 per bit = 34.9 nW."""
    tech = load_tech("45nm")
    acc = resolve_accelerator("tpu_like")
    area = am.accelerator_area(acc, node_nm=45)
    bits = 8 * (acc.ifmap_sram_bytes + acc.filter_sram_bytes + acc.ofmap_sram_bytes)
    leak = leakage(tech, area, bits)
    assert leak.sram_mw < 26.98 * _sram_mm2(area)
    assert leak.sram_mw == pytest.approx(23.495e-6 * bits)


def test_without_a_per_bit_figure_sram_leaks_at_the_logic_density(trace):
    tech = load_tech("45nm").model_copy(update={"sram_leakage_nw_per_bit": None})
    rep, cycles, area, _ = _static(trace, tech=tech)
    inf = rep.by_phase["inference"]
    t = cycles.totals["total_cycles"] / 200.0 * 1e3
    assert inf[LOGIC] + inf[SRAM] == pytest.approx(26.98 * area.total_mm2 * t)


def test_slower_clock_bigger_array_and_buffer_cost_static_energy(trace):
    base = _static(trace)[0].by_phase["inference"]
    slow = _static(trace, {"clock_mhz": 100})[0].by_phase["inference"]
    assert slow[LOGIC] == pytest.approx(2 * base[LOGIC]) and slow[SRAM] == pytest.approx(2 * base[SRAM])
    big = _static(trace, {"sram.ifmap_kb": 540})[0].by_phase["inference"]
    assert big[SRAM] > base[SRAM]


def test_no_leakage_entries_no_static(trace):
    tech = load_tech("45nm").model_copy(update={"leakage_mw_per_mm2": None, "sram_leakage_nw_per_bit": None})
    rep = _static(trace, tech=tech)[0]
    assert LOGIC not in rep.by_phase["inference"] and SRAM not in rep.by_phase["inference"]


def test_static_pj_units():
    assert static_pj(1.0, 1000, 1000.0) == pytest.approx(1e3)    # 1 mW for 1 us = 1 nJ
