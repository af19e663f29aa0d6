"""Quantizers carry their own Format, and the quantizer modules import one way only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from torch import nn

from hwsim.formats import BINARY, Format
from hwsim.quant.layers import LayerPlan, UniformActivation, UniformWeight, convert_layers

QUANT = Path(__file__).resolve().parents[1] / "hwsim" / "quant"


def test_declaration_comes_from_the_quantizer():
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    net = convert_layers(net, lambda n, m, d, k: LayerPlan(weight_quantizer=UniformWeight(3),
                                                           input_quantizer=UniformActivation(5)))
    p = net[0].hwsim_precision
    assert p.weight == Format("int", 3) and p.input == Format("int", 5)


def test_a_declaration_that_drifts_from_its_quantizer_is_refused():
    net = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(ValueError, match="weight_quantizer produces int3"):
        convert_layers(net, lambda n, m, d, k: LayerPlan(weight_quantizer=UniformWeight(3),
                                                         precision={"weight": BINARY}))


def _imports(path: Path) -> set[str]:
    mods: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            mods.add(node.module)
        elif isinstance(node, ast.Import):
            mods.update(a.name for a in node.names)
    return mods


def test_stash_does_not_import_graham():
    # graham builds on stash (codecs, tags); the reverse import would close a cycle
    assert "hwsim.quant.graham" not in _imports(QUANT / "stash.py")
    assert "hwsim.quant.stash" in _imports(QUANT / "graham.py")
