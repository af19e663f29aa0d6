"""hwsim against ZigZag's cached per-layer outputs (tests/fixtures/zigzag; benchmarks/zigzag_run.py made
them, ZigZag itself does not run here): ResNet-18 int8 at batch 1 on ZigZag's TPU-like and Eyeriss-like
designs. Cycles are compared on TPU-like only, where both unroll the same loops over the array."""

from __future__ import annotations

import pytest

from benchmarks.vs_zigzag import FIX, compare, summary

_ROWS: dict[str, list[dict]] = {}


def rows_of(design: str) -> list[dict]:
    if design not in _ROWS:
        if not (FIX / f"resnet18_{design}.json").exists():
            pytest.fail(f"tests/fixtures/zigzag/resnet18_{design}.json is missing (benchmarks/zigzag_run.py makes it)")
        _ROWS[design] = compare(design)
    return _ROWS[design]


@pytest.fixture(scope="module")
def tpu_rows():
    return rows_of("tpu_like")


@pytest.mark.parametrize("design", ["tpu_like", "eyeriss_like"])
def test_macs_identical(design):
    rows = rows_of(design)
    assert len(rows) == 21
    assert all(r["zigzag"]["macs"] == r["hwsim"]["macs"] for r in rows)
    assert sum(r["hwsim"]["macs"] for r in rows) == 1_814_073_344


@pytest.mark.parametrize("design", ["tpu_like", "eyeriss_like"])
def test_dram_bytes(design):
    rows = rows_of(design)
    for r in rows:          # per layer, strided layers included
        z, h = r["zigzag"]["dram_read"], r["hwsim"]["dram_read"]
        assert h == pytest.approx(z, rel=0.02), r["layer"]
    s = summary(design, rows)
    assert abs(s["total_dram_write_gap"]) <= 0.05


def test_cycles_where_the_spatial_mapping_is_the_same(tpu_rows):
    s = summary("tpu_like", tpu_rows)
    assert s["layers_same_mapping"] >= 20
    assert abs(s["cycles_gap_same_mapping"]) <= 0.10


@pytest.mark.parametrize("design", ["tpu_like", "eyeriss_like"])
def test_energy_components_repriced(design):
    """MAC, DRAM, SRAM and register energy within 20% with ZigZag's constants (the registers are declared
    as ZigZag's, and counted by hwsim's dataflow: accel_models.registers)."""
    s = summary(design, rows_of(design))
    for comp in ("mac", "dram", "sram", "rf"):
        assert abs(s[f"energy_{comp}_gap"]) <= 0.20, comp
