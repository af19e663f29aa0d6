"""Per-layer precision as search parameters: mixed's weight/act bits stretched over depth, a vary key
``field[i]`` setting one list element, and the search splitting a lone varied scheme into one axis per key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwsim.errors import UserError
from hwsim.formats import Format
from hwsim.models import build_model
from hwsim.schemes import build_scheme
from hwsim.schemes.mixed import precisions

SEARCH = Path(__file__).resolve().parents[1] / "configs" / "sweeps" / "perlayer_search.yaml"


def test_bits_stretched_over_depth():
    s = build_scheme({"name": "mixed", "weight_bits_by_depth": [8, 4], "act_bits_by_depth": [6, 2]})
    p = precisions(s.convert(build_model("lenet5", num_classes=10, in_shape=(1, 8, 8))))
    assert [p[n].weight for n in ("conv1", "conv2", "fc1", "fc2")] == [Format("int", 8)] * 2 + [Format("int", 4)] * 2
    assert p["conv2"].input == Format("int", 6) and p["fc1"].input == Format("int", 2)
    for bad in ({"weight_bits_by_depth": [8]}, {"weight_bits_by_depth": [8], "act_bits_by_depth": [8],
                                                  "bits_by_depth": [8]}):
        with pytest.raises(UserError):
            build_scheme({"name": "mixed", **bad})


def test_search_axes_are_per_layer_bits():
    from hwsim.sweep.expand import grid_axes, point_from_axes
    from hwsim.sweep.schema import load_sweep
    from hwsim.sweep.search import factor_axes

    sw, lm = load_sweep(SEARCH)
    ax = grid_axes(sw, lm, SEARCH.parent)
    assert len(ax["schemes"]) == 3 ** 8
    sizes, to_grid = factor_axes(sw, ax)
    assert "schemes" not in sizes and sizes["scheme.weight_bits_by_depth[2]"] == 3
    assert sum(k.startswith("scheme.") for k in sizes) == 8
    idx = {a: 0 for a in sizes} | {"scheme.weight_bits_by_depth[2]": 2, "scheme.act_bits_by_depth[0]": 1}
    scheme = point_from_axes(sw, ax, to_grid(idx)).to_json()["scheme"]
    assert scheme["weight_bits_by_depth"] == [2, 2, 8, 2] and scheme["act_bits_by_depth"] == [4, 2, 2, 2]


def test_element_key_out_of_range_is_a_user_error():
    from hwsim.sweep.expand import scheme_with
    from hwsim.sweep.schema import SchemeEntry

    entry = SchemeEntry(name="mixed", weight_bits_by_depth=[8, 8], act_bits_by_depth=[8, 8],
                        vary={"weight_bits_by_depth[5]": [2]})
    with pytest.raises(UserError, match="more than 5 entries"):
        scheme_with(entry, {"weight_bits_by_depth[5]": 2}, "schemes[0]")
