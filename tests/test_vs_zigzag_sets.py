"""hwsim against ZigZag beyond ResNet-18: MobileNet-V2 (depthwise and 1x1), VGG-16 with its FC layers and
AlexNet's 11x11 stride-4 conv, BERT-base and GPT-2 small linear layers, 16x16 / 64x64 / 128x128, 32x8, 16x32
and 8x64 TPU-like arrays, 4-bit weights, 4-bit activations, batch 4, 5x5 and odd-sided stride-2 convolutions,
late-stage stride-2 and 1x1 layers with 256 KiB and 2 MiB input SRAMs, an output-stationary TPU-like array,
and the Eyeriss-like design (benchmarks/zigzag_sets.py). ZigZag's per-layer outputs
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
TPU = [n for n in ALL if SETS[n].accelerator.startswith("tpu_like")]
OS = [n for n in ALL if SETS[n].accelerator == "tpu_like_os"]


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


# Tolerances (the issue's): cycles within 10% where the spatial mapping is the same, each energy component
# within 20% with ZigZag's constants. The TPU-like fixtures run ZigZag on the matched design
# (benchmarks/zigzag_hardware/tpu_like_matched.yaml: a double-buffered one-weight register per PE,
# accumulators under the array, ports as wide as the array moves); hwsim's matched design declares
# array.weight_double_buffered.
CYCLES_TOL = 0.10
ENERGY_TOL = 0.20
EYERISS = [n for n in ALL if SETS[n].accelerator == "eyeriss_like"]


@pytest.mark.parametrize("name", ALL)
def test_spatial_mapping_is_stated(name):
    """The benchmark says per set whether the criterion applies: TPU-like sets unroll alike on every layer but
    k x k convolutions whose input channels do not fill the rows a whole number of times (ZigZag unrolls C
    over the rows, with FX and FY where they fit (zigzag_run.py --im2col), hwsim's im2col C x FX x FY: the
    first convolutions, C = 64 on 128 rows, C = 48 on 32); Eyeriss-like
    is no systolic array, so no layer is mapped alike and cycles are not compared."""
    from benchmarks.vs_zigzag import spatial_statement

    rows = rows_of(name)
    same = [r for r in rows if r["hwsim"]["same_spatial_mapping"]]
    if name in EYERISS:
        assert not same and "criterion n/a" in spatial_statement(name, rows)
    else:
        assert len(same) >= len(rows) - 2
        rows_side = SETS[name].array or 32
        for r in rows:   # a k x k convolution whose input channels do not fill the rows evenly
            if r not in same:
                c, _, _, k, *_ = (int(v) for v in r["spec"].split(":")[1].split(","))
                assert r["spec"].startswith("conv:") and c % rows_side and k > 1, r["spec"]
        assert spatial_statement(name, rows) == f"same on {len(same)} of {len(rows)} layers"


@pytest.mark.parametrize("name", TPU)
def test_cycles_where_the_spatial_mapping_is_the_same(name):
    """hwsim's total cycles (double-buffered weights: one first load and one drain per layer, plus the DRAM
    roofline's stalls) within 10% of ZigZag's over the layers both map alike."""
    s = summary(name, rows_of(name))
    assert s["layers_same_mapping"] >= 5
    assert abs(s["cycles_gap_same_mapping"]) <= CYCLES_TOL


def test_cycles_need_the_double_buffered_weights():
    """Without the setting (SCALE-Sim's folds: each fold loads its weights and drains its skew) hwsim is far
    above ZigZag where folds are short: the transformer layers stream 64-128 rows per 32-row weight load."""
    import copy

    import benchmarks.vs_zigzag as vz

    design = vz.DESIGNS["tpu_like"]
    plain = copy.deepcopy(design.accelerator)
    plain["array"]["weight_double_buffered"] = False
    old = vz.DESIGNS["tpu_like"]
    try:
        vz.DESIGNS["tpu_like"] = vz.Design(**{**design.__dict__, "accelerator": plain})
        s = summary("transformer_tpu_like", compare_set("transformer_tpu_like"))
    finally:
        vz.DESIGNS["tpu_like"] = old
    assert s["cycles_gap_same_mapping"] > 0.2


@pytest.mark.parametrize("name", EYERISS)
def test_eyeriss_sram_energy_needs_the_psum_accumulation(name):
    """Without array.psum_accumulation: pe (the default: row folds added into the ofmap buffer, as TPU v1's
    accumulators) hwsim's Eyeriss-like SRAM energy is far above ZigZag's, whose mappings reduce in the PEs."""
    import copy

    import benchmarks.vs_zigzag as vz

    design = vz.DESIGNS["eyeriss_like"]
    plain = copy.deepcopy(design.accelerator)
    del plain["array"]["psum_accumulation"]
    old = vz.DESIGNS["eyeriss_like"]
    try:
        vz.DESIGNS["eyeriss_like"] = vz.Design(**{**design.__dict__, "accelerator": plain})
        s = summary(name, compare_set(name))
    finally:
        vz.DESIGNS["eyeriss_like"] = old
    assert s["energy_sram_gap"] > 0.5


@pytest.mark.parametrize("name", ALL)
def test_energy_components_repriced(name):
    """MAC energy within 20% with ZigZag's constants everywhere, and DRAM energy where the DRAM bytes agree
    (test_dram_bytes explains the others). On TPU-like, over the layers mapped alike: SRAM energy within 20%
    priced per access of ZigZag's port width (ZigZag's own figure) and per bit, and register energy within 20%
    with both sides counting a held weight once per fill and the running sum's register once written and
    once read per MAC."""
    rows = rows_of(name)
    s = summary(name, rows)
    assert abs(s["energy_mac_gap"]) <= ENERGY_TOL
    same = [r for r in rows if r["hwsim"]["dram_read"] == pytest.approx(r["zigzag"]["dram_read"], rel=0.02)
            and r["hwsim"]["dram_write"] == pytest.approx(r["zigzag"]["dram_write"], rel=0.05)]
    assert abs(summary(name, same)["energy_dram_gap"]) <= ENERGY_TOL
    if name in EYERISS:
        # no layer mapped alike, but both reduce partial sums in the PEs (ZigZag's mappings in the PE's 16 B
        # register, hwsim's array by its declared array.psum_accumulation: pe): SRAM energy within 20% per
        # access of ZigZag's ports and per bit, register energy within 20%
        for comp in ("sram", "sram_bits", "rf_chain"):
            assert abs(s[f"energy_{comp}_gap"]) <= ENERGY_TOL, comp
        return
    if name in OS:
        # the running sums stay in the PEs on both sides, and the registers agree; ZigZag's latency-first
        # loop orders also send partial sums out to its output SRAM and back on some layers (16 times where
        # the reduction is split above its output register), which hwsim's output-stationary array does only
        # where a column fold's weights exceed the filter buffer: both sides' SRAM energy without partial sums
        # within 20%, and on every layer where ZigZag sends none out, SRAM energy within 2%
        assert abs(s["energy_rf_chain_gap"]) <= ENERGY_TOL
        assert abs(s["energy_sram_no_psum_gap"]) <= ENERGY_TOL
        for r in rows:
            if not r["zigzag_psum_sram_reads"]:
                tol = 0.02 if r["zigzag_fills_array"] else ENERGY_TOL
                assert r["hwsim"]["energy_sram"] == pytest.approx(r["zigzag"]["energy_sram_bits"], rel=tol), r["spec"]
        return
    for comp in ("sram_ports", "sram_bits", "rf_chain"):
        assert abs(s[f"energy_{comp}_gap_same"]) <= ENERGY_TOL, comp
    # over all layers, the layers mapped differently aside (ZigZag's whole-loop unrollings keep fewer rows
    # busy on narrow convolutions, and a port word carries as few inputs): within 20% where they are few
    differ = [r for r in rows if not r["hwsim"]["same_spatial_mapping"]]
    rest = summary(name, [r for r in rows if r not in differ])
    assert abs(rest["energy_sram_ports_gap"]) <= ENERGY_TOL
    if abs(s["energy_sram_ports_gap"]) > ENERGY_TOL:
        assert all(r["zigzag"]["mapping_efficiency"] < r["hwsim"]["mapping_efficiency"] for r in differ)


@pytest.mark.parametrize("name", OS)
def test_output_stationary_array_reads_what_zigzag_reads(name):
    """On ZigZag's TPU-like made output-stationary (benchmarks/zigzag_hardware/tpu_like_os_matched.yaml), each
    side's array reads the same inputs and weights out of its SRAMs on every layer whose rows and output
    features ZigZag unrolls over the whole array (SCALE-Sim's os counts: inputs once per column fold,
    weights once per row fold), within 20% where it unrolls by other factors (gemm 50 x 500 -> 300
    on 16x16: K 15 x D 12 against hwsim's 16-wide folds), the outputs leave once, and
    where ZigZag sends partial sums back to its output SRAM its loop nest splits the reduction above the
    PEs."""
    import json
    import math

    from benchmarks.vs_zigzag import set_fixture, temporal_loops

    fx = json.loads(set_fixture(name).read_text())
    assert fx["hardware"].endswith("tpu_like_os_matched.yaml") and fx["spatial"] == list(SETS[name].spatial)
    rows = rows_of(name)
    for r, zl in zip(rows, fx["layers"], strict=True):
        if r["zigzag_fills_array"]:
            assert r["hwsim_sram_reads"] == r["zigzag_sram_reads"], r["spec"]
        else:
            for op in ("I", "W"):
                assert r["hwsim_sram_reads"][op] == pytest.approx(r["zigzag_sram_reads"][op], rel=0.2), r["spec"]
        assert r["zigzag"]["dram_write"] == r["hwsim"]["dram_write"], r["spec"]
        in_pe = math.prod(n for d, n in temporal_loops(zl)["O"][0] if d == "C")   # the reduction under the PE
        assert (in_pe == zl["loop_sizes"]["C"]) == (r["zigzag_psum_sram_reads"] == 0), r["spec"]
    assert sum(r["zigzag_psum_sram_reads"] == 0 for r in rows) >= 2 and sum(r["zigzag_fills_array"] for r in rows) >= 2
