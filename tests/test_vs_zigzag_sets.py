"""hwsim against ZigZag beyond ResNet-18: MobileNet-V2 (depthwise and 1x1), VGG-16 with its FC layers and
AlexNet's 11x11 stride-4 conv, BERT-base and GPT-2 small linear layers, 16x16 / 64x64 / 128x128 TPU-like
arrays, 4-bit weights, and the Eyeriss-like design (benchmarks/zigzag_sets.py). ZigZag's per-layer outputs
are cached in tests/fixtures/zigzag/set_*.json (benchmarks/zigzag_run.py --set NAME made them); ZigZag
does not run here."""

from __future__ import annotations

import pytest

from benchmarks.vs_zigzag import compare_set, set_fixture, summary
from benchmarks.zigzag_sets import SETS

_ROWS: dict[str, list[dict]] = {}


def rows_of(name: str) -> list[dict]:
    if name not in _ROWS:
        if not set_fixture(name).exists():
            pytest.fail(f"tests/fixtures/zigzag/set_{name}.json is missing (python benchmarks/zigzag_run.py "
                        f"--set {name} makes it)")
        _ROWS[name] = compare_set(name)
    return _ROWS[name]


ALL = sorted(SETS)
TPU = [n for n in ALL if SETS[n].accelerator == "tpu_like"]


@pytest.mark.parametrize("name", ALL)
def test_macs_identical(name):
    rows = rows_of(name)
    assert len(rows) == len(SETS[name].layers)
    for r in rows:
        assert r["hwsim"]["macs"] == r["zigzag"]["macs"], r["spec"]


@pytest.mark.parametrize("name", ALL)
def test_dram_bytes(name):
    """DRAM reads per layer within 2%, writes (outputs at the consumer's width) within 5% in total. A layer
    outside 2% must be one of the two loop-order departures docs/validation.md explains, read off the
    fixture: ZigZag re-reads an input (or weights) that hwsim's tiles read once, ZigZag spills partial sums to
    DRAM, or ZigZag holds the whole input in its
    shared SRAM where hwsim's double-buffered working half cannot (hwsim then re-reads the input per column
    fold or the weights per input tile)."""
    rows = rows_of(name)
    agree = 0
    for r in rows:
        z, h = r["zigzag"]["dram_read"], r["hwsim"]["dram_read"]
        if h == pytest.approx(z, rel=0.02):
            agree += 1
        elif r["zigzag"]["dram_write"] > 1.05 * r["hwsim"]["dram_write"]:
            # ZigZag's order spills partial sums to DRAM and back: hwsim's keeps them on chip, moving less
            assert h + r["hwsim"]["dram_write"] < z + r["zigzag"]["dram_write"], r["spec"]
        elif h < z:   # ZigZag's order re-reads the input, or the weights, more often than hwsim's
            assert r["hwsim_input_reads"] < r["zigzag_input_reads"] \
                or r["hwsim_weight_reads"] < r["zigzag_weight_reads"], r["spec"]
        else:   # hwsim re-reads the input per column fold, or the weights per input tile
            assert r["zigzag_input_reads"] == r["input_elems"] <= r["hwsim_input_reads"], r["spec"]
            assert r["input_elems"] > r["hwsim_input_half_bytes"], r["spec"]
    assert agree >= len(rows) // 2
    spill = [r for r in rows if r["zigzag"]["dram_write"] > 1.05 * r["hwsim"]["dram_write"]]
    assert abs(summary(name, [r for r in rows if r not in spill])["total_dram_write_gap"]) <= 0.05
    assert len(spill) <= 1


# sets whose total cycles (hwsim's own: SCALE-Sim's compute cycles plus the DRAM roofline's stalls) are within
# 10% of ZigZag's over the layers both map alike; on the others each fold's weight load and skew (2R + C - 2
# cycles, which ZigZag does not count) is long against the few rows a fold streams (docs/validation.md)
CYCLES_WITHIN_10 = {"mobilenet_v2_tpu_like", "vgg16_fc_tpu_like", "mixed_tpu_like_64", "mixed_tpu_like_128"}


@pytest.mark.parametrize("name", TPU)
def test_cycles_where_the_spatial_mapping_is_the_same(name):
    """hwsim's own cycles within 10% of ZigZag's on the sets named above, more than 10% above them on the
    others; with the folds pipelined (one fold's weight load and skew paid instead of one per fold) within 15%
    on every TPU-like set (the rest: ZigZag loads a layer's first tiles and stores its last outputs without
    overlapping them with compute, where hwsim's roofline overlaps all DRAM time)."""
    s = summary(name, rows_of(name))
    assert s["layers_same_mapping"] >= 5
    assert abs(s["cycles_folds_pipelined_gap_same_mapping"]) <= 0.15
    if name in CYCLES_WITHIN_10:
        assert abs(s["cycles_gap_same_mapping"]) <= 0.10
    else:   # docs/validation.md gives these gaps: a set that comes within 10% belongs in CYCLES_WITHIN_10
        assert abs(s["cycles_gap_same_mapping"]) > 0.10


@pytest.mark.parametrize("name", ALL)
def test_energy_components_repriced(name):
    """MAC and DRAM energy within 20% with ZigZag's constants, register energy too or between hwsim's two
    register rules; SRAM energy within 20% of ZigZag's
    element moves priced per bit (ZigZag charges a whole port per word access), or, where ZigZag's
    latency-optimal loop order sends partial sums to the SRAM and back, between ZigZag without those round
    trips and ZigZag with them (hwsim's order keeps them in the accumulators and re-reads the input instead)."""
    rows = rows_of(name)
    s = summary(name, rows)
    assert abs(s["energy_mac_gap"]) <= 0.20
    # DRAM energy follows the DRAM bytes: compared where they agree (test_dram_bytes explains the others)
    same = [r for r in rows if r["hwsim"]["dram_read"] == pytest.approx(r["zigzag"]["dram_read"], rel=0.02)
            and r["hwsim"]["dram_write"] == pytest.approx(r["zigzag"]["dram_write"], rel=0.05)]
    assert abs(summary(name, same)["energy_dram_gap"]) <= 0.20
    # registers: hwsim reads an operand's register per MAC; where ZigZag's loop order keeps a weight at the
    # multiplier it reads it once per run (rf_held: hwsim's count under that rule), so ZigZag lies between
    if SETS[name].dataflow == "os":
        # output-stationary: hwsim latches the moving weight in each PE per MAC, ZigZag's mapping keeps it in
        # the PE's 128 B register over the tokens a PE runs (a quarter of the writes on these layers)
        assert 0 < s["energy_rf_gap"] <= 0.40
    elif abs(s["energy_rf_gap"]) > 0.20:
        assert s["energy_rf_held_gap"] < 0 < s["energy_rf_gap"]
    if abs(s["energy_sram_bits_gap"]) > 0.20:
        assert s["energy_sram_bits_gap"] < 0 < s["energy_sram_bits_no_psum_gap"] + 0.05
