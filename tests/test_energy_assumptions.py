"""EnergyAssumptions: typed sections, and the report document they write (its sections and keys)."""

from __future__ import annotations

import json

from hwsim.count import trace
from hwsim.energy import price
from hwsim.energy.assumptions import EnergyAssumptions, PlacementUse
from hwsim.energy.tech import TechSummary


def test_sections_are_typed_and_write_the_report_document():
    rep = price(trace("lenet300", "bnn", batch=2, device="meta"), "7nm")
    a = rep.assumptions
    assert isinstance(a, EnergyAssumptions) and isinstance(a.tech, TechSummary) and isinstance(a.placement, PlacementUse)
    assert a.tech.scaling is not None and a.tech.scaling.to == "7nm" and 0 < a.tech.scaling.factor < 1
    d = json.loads(json.dumps(a.to_dict(), default=str))
    assert set(d) == {"tech", "rules", "pj_per_mac", "primitives", "elementwise", "memory", "hierarchy", "placement",
                      "notes", "memory_source"}
    assert d["tech"]["scaling"]["from"] == "45nm" and d["tech"]["scaling"]["factor"] == a.tech.scaling.factor
    assert set(d["memory"]) == {"sram", "dram", "rf"} and d["memory"]["dram"]["pj"] == a.memory.dram.table.pj
    assert set(d["placement"]) == {"levels", "footprint_bytes", "onchip_bytes", "transients_onchip_fraction",
                                   "inference", "bytes_by_level", "dram_fetch_once_bytes", "rule"}
    assert "rule" not in d["primitives"]["fp_add_pj"] and "rule" in d["primitives"]["int_add_pj"]
    assert d["primitives"]["gates"]["citation"] == a.primitives.gates_citation
    for name, use in a.rules.items():
        assert d["rules"][name]["mac_types"] == use.mac_types and use.citation
    assert {m: (v["min"], v["max"]) for m, v in d["pj_per_mac"].items()} == \
        {m: (v.min, v.max) for m, v in a.pj_per_mac.items()}
    assert d["memory_source"]["records_priced_by"] == a.records_priced_by
