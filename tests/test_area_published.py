"""The area model beside Eyeriss (JSSC 2017) and TPU v1 (ISCA 2017), part by part, and tpu_like's whole buffer."""

import pytest

import accel_models as am
from accel_models.area_published import compare_published
from hwsim.hardware import resolve_accelerator


def _parts():
    return {(p.design, p.part): p for p in compare_published()}


def test_tpu_like_models_the_whole_unified_buffer():
    acc = resolve_accelerator("tpu_like")
    assert acc.ifmap_sram_bytes == 24 * 2**20
    rep = am.accelerator_area(acc, node_nm=28)
    # docs/hardware_space.md: the unified buffer 94.7 mm2 and the whole model 137.5 mm2 at 28 nm
    assert rep.breakdown["sram_ifmap"] == pytest.approx(94.70, abs=0.01)
    assert rep.total_mm2 == pytest.approx(137.5, abs=0.1)


def test_tpu_matrix_unit_counts_the_double_buffered_weight():
    """Jouppi et al.: the matrix unit holds a second 64 KiB weight tile: one more 8-bit register per MAC,
    beside the input, weight and 32-bit partial-sum registers (56 bits of DFF_X1 per MAC)."""
    acc = resolve_accelerator("tpu_like")
    t = am.load_area_table()
    assert am.area.pe_area_um2(acc, t)["registers"] == pytest.approx(56 * t.gate("dff"))
    p = _parts()[("TPU v1", "matrix unit")]
    assert p.model_mm2 == pytest.approx(65536 * (282 + 137 + 56 * 4.522) / 0.7 * (28 / 45) ** 2 / 1e6, rel=1e-6)


@pytest.mark.parametrize("design,part", [("TPU v1", "unified buffer"), ("TPU v1", "accumulators"),
                                         ("TPU v1", "datapath"), ("Eyeriss", "logic cells")])
def test_parts_within_35_percent_of_published(design, part):
    p = _parts()[(design, part)]
    assert 0.65 <= p.ratio <= 1.35, (design, part, p.ratio)


def test_eyeriss_register_scratchpads_count_in_pe_area():
    acc = resolve_accelerator("eyeriss")
    assert acc.pe_register_bytes == 66
    bare = resolve_accelerator("eyeriss", {"array.pe_register_bytes": 0})
    t = am.load_area_table()
    diff = am.area.pe_area_um2(acc, t)["registers"] - am.area.pe_area_um2(bare, t)["registers"]
    assert diff == pytest.approx(66 * 8 * t.gate("dff"))
    # set only where given: accelerators without it keep their resolved form (and point ids)
    assert "pe_register_bytes" not in resolve_accelerator("bitfusion").to_dict()["array"]


def test_published_parts_carry_their_sources():
    for p in compare_published():
        assert p.published_mm2 > 0 and p.model_mm2 > 0 and p.source
