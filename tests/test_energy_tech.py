"""Technology tables: the published figures come back exactly, bad tables are one-line errors,
unknown names and nodes are refused, and node scaling follows the YAML coefficients."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from hwsim.energy import load_tech, node_factor
from hwsim.energy.memory import (
    dram_access_pj,
    dram_pj_per_bit,
    rf_pj_per_bit,
    sram_access_pj,
    sram_pj_per_64b,
)
from hwsim.energy.ops import fp_add_pj, fp_mult_pj, int_add_pj, int_mult_pj
from hwsim.energy.tech import SCALING_FILE, TECH_DIR
from hwsim.errors import UserError

HOROWITZ = {  # ISSCC 2014, 45 nm, 0.9 V, pJ
    "int_add": {8: 0.03, 16: 0.05, 32: 0.1},
    "int_mult": {8: 0.2, 32: 3.1},
    "fp_add": {16: 0.4, 32: 0.9},
    "fp_mult": {16: 1.1, 32: 3.7},
    "sram_64b": {8 * 1024: 10.0, 32 * 1024: 20.0, 1024 * 1024: 100.0},
}


@pytest.fixture(scope="module")
def t45():
    return load_tech("45nm")


def test_horowitz_table_reproduced_exactly(t45):
    for b, e in HOROWITZ["int_add"].items():
        assert int_add_pj(t45, b) == e
    for b, e in HOROWITZ["int_mult"].items():
        assert int_mult_pj(t45, b, b) == e
    for b, e in HOROWITZ["fp_add"].items():
        assert fp_add_pj(t45, b) == e
    for b, e in HOROWITZ["fp_mult"].items():
        assert fp_mult_pj(t45, b) == e
    for cap, e in HOROWITZ["sram_64b"].items():
        assert sram_pj_per_64b(t45, cap) == e
        assert sram_access_pj(t45, cap, 64) == pytest.approx(e, rel=1e-15)
    assert dram_access_pj(t45, "horowitz_low") == 1300.0
    assert dram_access_pj(t45, "horowitz_high") == 2600.0
    assert dram_access_pj(t45, "horowitz_low", 64) == pytest.approx(1300.0)


def test_han_table_reproduced_exactly(t45):
    assert t45.han_32b_pj.register_file == 1.0 and t45.han_32b_pj.sram == 5.0 and t45.han_32b_pj.dram == 640.0
    assert rf_pj_per_bit(t45) * 32 == 1.0
    assert dram_access_pj(t45, "han") == 640.0
    assert dram_pj_per_bit(t45) * 32 == 640.0       # han is the default preset
    # Han's 32-bit SRAM (5 pJ) is Horowitz's 8 KB 64-bit read (10 pJ) per bit.
    assert sram_access_pj(t45, 8 * 1024, 32) == pytest.approx(t45.han_32b_pj.sram)


def test_han_12_8_watts(t45):
    """1e9 32-bit parameters fetched from DRAM 20 times a second = 12.8 W (Han et al.)."""
    watts = 1e9 * dram_access_pj(t45, "han", 32) * 1e-12 * 20
    assert watts == pytest.approx(12.8, rel=1e-12)


def test_sram_fit_between_points_is_log_capacity_power_law(t45):
    # 8 KB -> 32 KB doubles the energy: the 16 KB point lies on E ~ sqrt(C).
    assert sram_pj_per_64b(t45, 16 * 1024) == pytest.approx(10 * math.sqrt(2))
    caps = [2 ** k for k in range(10, 26)]
    es = [sram_pj_per_64b(t45, c) for c in caps]
    assert all(b > a for a, b in zip(es, es[1:]))       # monotone in capacity
    assert sram_pj_per_64b(t45, 256 * 1024) < 100 and sram_pj_per_64b(t45, 256 * 1024) > 20


def _write(tmp_path: Path, data, name="t.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return p


def _table() -> dict:
    return yaml.safe_load((TECH_DIR / "45nm.yaml").read_text())


@pytest.mark.parametrize("drop,needle", [
    ("int_add_pj", "missing entry int_add_pj"),
    ("sram_pj_per_64b", "missing entry sram_pj_per_64b"),
    ("gates", "missing entry gates"),
    ("dram", "missing entry dram"),
])
def test_missing_entry_is_one_line_error(tmp_path, drop, needle):
    d = _table()
    del d[drop]
    with pytest.raises(UserError) as ei:
        load_tech(_write(tmp_path, d))
    assert needle in str(ei.value) and "\n" not in ei.value.one_line()


def test_missing_nested_and_bad_values(tmp_path):
    d = _table()
    del d["fp_mult_pj"]["points"][16]
    with pytest.raises(UserError, match="missing entry fp_mult_pj.points.16"):
        load_tech(_write(tmp_path, d))
    d = _table()
    d["int_add_pj"]["points"][8] = -1
    with pytest.raises(UserError, match="int_add_pj.points"):
        load_tech(_write(tmp_path, d))
    d = _table()
    d["int_mult_pj"]["source"] = "nobody"
    with pytest.raises(UserError, match="int_mult_pj.source 'nobody' is not a key of sources"):
        load_tech(_write(tmp_path, d))
    d = _table()
    d["elementwise"]["ops"]["relu"] = ["fp8_add"]
    with pytest.raises(UserError, match="unknown primitive"):
        load_tech(_write(tmp_path, d))
    d = _table()
    del d["accumulator"]["max_bits"]
    with pytest.raises(UserError, match="missing entry accumulator.max_bits"):
        load_tech(_write(tmp_path, d))
    with pytest.raises(UserError, match="YAML syntax error"):
        load_tech(_write(tmp_path, "name: [unclosed\n"))
    with pytest.raises(UserError, match="mapping"):
        load_tech(_write(tmp_path, "- 1\n- 2\n"))


@pytest.mark.parametrize("name", ["28nm", "tsmc45", "45NM", "horowitz", "node_scaling"])
def test_unknown_technology_refused(name):
    with pytest.raises(UserError, match="unknown technology"):
        load_tech(name)


def test_missing_file_and_unknown_node():
    with pytest.raises(UserError, match="not found"):
        load_tech("/nonexistent/tech.yaml")
    with pytest.raises(UserError, match="unknown node '22nm'"):
        load_tech("45nm", node="22nm")
    with pytest.raises(UserError, match="unknown node"):
        load_tech("45nm", node="3nm")


def test_user_table_by_path(tmp_path, t45):
    d = _table()
    d["name"] = "mine"
    d["fp_mult_pj"]["points"][32] = 4.0
    t = load_tech(_write(tmp_path, d))
    assert t.name == "mine" and fp_mult_pj(t, 32) == 4.0 and fp_mult_pj(t45, 32) == 3.7


def test_node_scaling_follows_yaml(t45):
    sc = yaml.safe_load(SCALING_FILE.read_text())

    def e(n, v):
        c = sc["nodes"][n]
        return c["a"] * v * v + c["b"] * v + c["c"]

    for node in ("32nm", "20nm", "16nm", "7nm"):
        f = e(node, sc["nodes"][node]["vdd_v"]) / e("45nm", sc["base_vdd_v"])
        assert node_factor(node) == pytest.approx(f, rel=1e-12)
        t = load_tech("45nm", node=node)
        assert t.scaling.factor == pytest.approx(f, rel=1e-12)
        assert fp_mult_pj(t, 32) == pytest.approx(3.7 * f)
        assert int_add_pj(t, 8) == pytest.approx(0.03 * f)
        assert sram_pj_per_64b(t, 8192) == pytest.approx(10 * f)
        assert rf_pj_per_bit(t) == pytest.approx(rf_pj_per_bit(t45) * f)
        assert dram_pj_per_bit(t) == dram_pj_per_bit(t45)          # DRAM is off-chip: not scaled
        assert "Stillmaker" in t.scaling.source
    factors = [node_factor(n) for n in ("32nm", "20nm", "16nm", "14nm", "10nm", "7nm")]
    assert all(0 < b < a < 1 for a, b in zip(factors, factors[1:]))
    # a bare node name means 45nm scaled to it
    assert fp_add_pj(load_tech("7nm"), 32) == pytest.approx(0.9 * node_factor("7nm"))
    assert load_tech("45nm", node="45nm").fp_add_pj.points[32] == 0.9


def test_energy_package_is_torch_free():
    import subprocess
    import sys

    code = "import sys, hwsim.energy; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
