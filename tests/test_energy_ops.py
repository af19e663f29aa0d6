"""Op-energy rules: each MAC type's pJ follows from the table by its stated rule."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.energy import load_tech, mac_energy
from hwsim.energy.ops import (
    RULES,
    accumulator_bits,
    bit_add_pj,
    elementwise_pj,
    int_add_pj,
    int_mult_pj,
    mult_coefficients,
    popcount_tree_bit_adds,
    xnor_popcount_pj,
)
from hwsim.errors import UserError
from hwsim.formats import Format, mac_type


@pytest.fixture(scope="module")
def t():
    return load_tech("45nm")


def test_multiplier_fit_matches_qkeras_coefficients(t):
    c2, c1 = mult_coefficients(t)
    assert c2 == pytest.approx(0.002994791667, abs=1e-12)
    assert c1 == pytest.approx(0.001041666667, abs=1e-12)
    assert int_mult_pj(t, 16, 16) == pytest.approx(c2 * 256 + c1 * 16)
    assert int_mult_pj(t, 4, 16) == pytest.approx(c2 * 64 + c1 * 8)      # mixed widths: w = sqrt(a b)


def test_adder_linear_and_multiplier_quadratic(t):
    assert int_add_pj(t, 24) == pytest.approx(0.075)                     # halfway between 16b and 32b
    assert int_add_pj(t, 64) == pytest.approx(0.2)                       # proportional beyond 32b
    assert int_add_pj(t, 4) == pytest.approx(0.015)                      # proportional below 8b
    # doubling a large width ~quadruples a multiplier but only doubles an adder
    assert int_mult_pj(t, 64, 64) / int_mult_pj(t, 32, 32) == pytest.approx(4, rel=0.02)
    assert int_add_pj(t, 64) / int_add_pj(t, 32) == pytest.approx(2)
    assert bit_add_pj(t) == pytest.approx(0.003125)


def test_accumulator_width(t):
    assert accumulator_bits(t, 16, 576) == 16 + 10
    assert accumulator_bits(t, 16, 1 << 20) == 32                        # capped at max_bits
    assert accumulator_bits(t, 8, None) == 32                            # unknown fan-in -> the cap
    assert accumulator_bits(t, 8, 1) == 8


def test_fp_macs_are_table_sums(t):
    assert mac_energy(t, "fp32")[0] == pytest.approx(3.7 + 0.9)
    assert mac_energy(t, "fp16")[0] == pytest.approx(1.1 + 0.4)
    e, r = mac_energy(t, "fp32")
    assert r.name == "fp32" and r.source == "horowitz2014" and "3.7 + 0.9" in r.text


def test_int_mac(t):
    e, r = mac_energy(t, "int8x8", (Format("int", 8), Format("int", 8)), fan_in=576)
    assert e == pytest.approx(0.2 + int_add_pj(t, 26)) and r.name == "intAxB"
    e, _ = mac_energy(t, "int2x8", None, fan_in=None)
    assert e == pytest.approx(int_mult_pj(t, 2, 8) + 0.1)


def test_sign_add_ternary_shift(t):
    bc = (Format("binary", 1), Format("float", 32))
    assert mac_energy(t, "sign_add", bc, 576)[0] == 0.9                   # BinaryConnect: one fp32 add
    assert mac_energy(t, "sign_add", (Format("binary", 1), Format("float", 16)))[0] == 0.4
    assert mac_energy(t, "sign_add", (Format("binary", 1), Format("int", 8)), 64)[0] == pytest.approx(
        int_add_pj(t, 14))
    assert mac_energy(t, "ternary", (Format("ternary", 2), Format("float", 32)))[0] == 0.9
    shift = mac_energy(t, "shift_add", (Format("log", 4), Format("int", 8)), 64)[0]
    assert shift == pytest.approx(1.0 * int_add_pj(t, 8) + int_add_pj(t, min(32, 8 + 7 + 6)))
    assert mac_energy(t, "shift_add", (Format("log", 4), Format("float", 32)))[0] == pytest.approx(
        int_add_pj(t, 8) + 0.9)


def test_xnor_popcount(t):
    assert popcount_tree_bit_adds(64) == 32 * 1 + 16 * 2 + 8 * 3 + 4 * 4 + 2 * 5 + 1 * 6
    assert popcount_tree_bit_adds(2) == 1
    e = mac_energy(t, "xnor_popcount", (Format("binary", 1), Format("binary", 1)), 576)[0]
    expected = 0.3 * 0.003125 + 120 / 64 * 0.003125 + int_add_pj(t, 1 + 10) / 64
    assert e == pytest.approx(expected)
    assert e == xnor_popcount_pj(t, 576)


def test_lq(t):
    k, j = 2, 2
    both = (Format("lq", 2), Format("lq", 2))
    e = mac_energy(t, "lq2x2", both, 576)[0]
    assert e == pytest.approx(k * j * xnor_popcount_pj(t, 576) + k * j * 4.6 / 576)
    e32 = mac_energy(t, "lq2x32", (Format("lq", 2), Format("float", 32)), 576)[0]
    assert e32 == pytest.approx(2 * 0.9 + 2 * 4.6 / 576)


def test_scheme_ratios_follow_table(t):
    """fp32 vs BinaryConnect vs BNN compute per MAC: (3.7 + 0.9) : 0.9 : XNOR-popcount."""
    fp32 = mac_energy(t, mac_type(Format("float", 32), Format("float", 32)))[0]
    bc = mac_energy(t, mac_type(Format("binary", 1), Format("float", 32)), (Format("binary", 1), Format("float", 32)))[0]
    bnn = mac_energy(t, mac_type(Format("binary", 1), Format("binary", 1)), None, 576)[0]
    assert fp32 / bc == pytest.approx(4.6 / 0.9)
    assert fp32 / bnn == pytest.approx(4.6 / xnor_popcount_pj(t, 576))
    assert fp32 > bc > bnn


def test_every_mac_type_the_rule_table_emits_has_a_rule(t):
    fmts = [Format.parse(s) for s in ("float32", "float16", "int8", "int4", "int2", "binary", "ternary",
                                      "log4", "lq2", "lq3", "codebook4")]
    for a, b in itertools.product(fmts, repeat=2):
        m = mac_type(a, b)
        for fan_in in (None, 1, 9, 4096):
            e, r = mac_energy(t, m, (a, b), fan_in)
            assert e > 0 and math.isfinite(e), (m, a, b)
            assert r.text and r.source in t.sources
        assert mac_energy(t, m)[0] > 0                                    # formats unknown still priced


def test_unknown_mac_type_and_float_width(t):
    with pytest.raises(UserError, match="no energy rule for MAC type 'fp12'"):
        mac_energy(t, "fp12")
    with pytest.raises(UserError, match="no fp_add_pj entry for 8-bit"):
        from hwsim.energy.ops import fp_add_pj
        fp_add_pj(t, 8)
    assert set(RULES.names()) >= {"fp32", "fp16", "intAxB", "sign_add", "ternary", "xnor_popcount",
                                  "shift_add", "lqKxJ"}


def test_elementwise(t):
    e, prims, default = elementwise_pj(t, "batchnorm")
    assert e == pytest.approx(2 * 0.9 + 2 * 3.7) and not default
    e, prims, default = elementwise_pj(t, "some_new_op")
    assert e == 0.9 and default and prims == ["fp32_add"]


@settings(max_examples=60, deadline=None)
@given(a=st.integers(1, 64), b=st.integers(1, 64))
def test_widths_monotone(a, b):
    t = load_tech("45nm")
    lo, hi = sorted((a, b))
    assert int_add_pj(t, lo) <= int_add_pj(t, hi)
    assert int_mult_pj(t, lo, lo) <= int_mult_pj(t, hi, hi)
    assert int_mult_pj(t, a, b) == pytest.approx(int_mult_pj(t, b, a))
    assert accumulator_bits(t, lo, 1 << (hi % 20)) <= 32


@settings(max_examples=60, deadline=None)
@given(c1=st.integers(256, 1 << 28), c2=st.integers(256, 1 << 28))
def test_sram_monotone_in_capacity(c1, c2):
    from hwsim.energy.memory import sram_pj_per_64b

    t = load_tech("45nm")
    lo, hi = sorted((c1, c2))
    assert 0 < sram_pj_per_64b(t, lo) <= sram_pj_per_64b(t, hi)
