"""An accelerator entry's ``vary``: every combination checked before anything runs, each independent
field's value resolved once, and the accelerators those a full resolution of each combination gives."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from hwsim.cli import main
from hwsim.configs import CONFIG_DIR
from hwsim.hardware import resolve_accelerator
from hwsim.sweep import expand
from hwsim.sweep.schema import load_sweep

HEAD = """name: hw
models: [resnet18]
datasets: [imagenet]
schemes: [fp32]
accuracy: none
accelerators:
"""
SEARCH = "search: {objectives: [infer_energy_pj, latency_us], budget: 4}\n"

# independent fields (array, sram, operands, clock) with tied ones (the PE kind and a PE parameter)
MIXED = HEAD + """  - name: tpu_like
    clock_mhz: 700
    vary:
      pe.kind: [bitfusion, int, fp32]
      array.rows: [8, 16]
      operands.ifmap_bits: [4, 8]
      sram.ifmap_kb: [64, 128]
      array.dataflow: [os, ws]
  - name: eyeriss
    vary:
      sparsity.weights: [none, skipping]
      vector_unit.lanes: [8, 16]
      clock_mhz: [200, 400, 800]
"""


def _value(x):
    """A field's value to compare: nested objects (a PE, sparsity support) by their type and attributes."""
    return (type(x).__name__, vars(x)) if hasattr(x, "__dict__") else x


def _full(entry, data) -> list:
    """Each combination resolved on its own, as a sweep file's combinations were before."""
    import accel_models as am

    fixed = am.flatten_overrides(entry.overrides)
    keys = list(entry.vary)
    return [resolve_accelerator(data, {**fixed, **dict(zip(keys, c))}, where="x")
            for c in itertools.product(*(entry.vary[k] for k in keys))]


def test_combinations_are_the_full_resolutions(tmp_path, monkeypatch):
    from hwsim.hardware import read_accelerator_yaml

    f = tmp_path / "s.yaml"
    f.write_text(MIXED)
    sw, lm = load_sweep(f)
    for i, entry in enumerate(sw.accelerators):
        got = expand.expand_accelerator_entry(entry, lm, ("accelerators", i), tmp_path)
        want = _full(entry, read_accelerator_yaml(entry.name, "x"))
        assert len(got) == len(want) == {0: 3 * 2 * 2 * 2 * 2, 1: 2 * 2 * 3}[i]
        for g, w in zip(got, want):
            assert {k: _value(v) for k, v in expand._fields(g.accelerator).items()} == \
                   {k: _value(v) for k, v in expand._fields(w).items()}, g.label
        assert len({g.label for g in got}) == len(got)


def test_the_shipped_hardware_search_resolves_each_value_once(monkeypatch):
    """648 accelerators from 1 + 5 + 5 + 2 + 2 + 1 resolutions, each the full resolution's accelerator."""
    from hwsim import hardware

    calls = []
    real = hardware.resolve_accelerator

    def counting(*a, **k):
        calls.append(a[1])
        return real(*a, **k)

    monkeypatch.setattr(hardware, "resolve_accelerator", counting)
    path = Path(CONFIG_DIR) / "sweeps" / "hardware_search.yaml"
    sw, lm = load_sweep(path)
    got = expand.expand_accelerator_entry(sw.accelerators[0], lm, ("accelerators", 0), path.parent)
    assert len(got) == 648 and len(calls) == 16
    want = _full(sw.accelerators[0], hardware.read_accelerator_yaml("tpu_like", "x"))
    for g, w in zip(got[::37], want[::37]):
        assert {k: _value(v) for k, v in expand._fields(g.accelerator).items()} == \
               {k: _value(v) for k, v in expand._fields(w).items()}, g.label


@pytest.mark.parametrize("vary, line, field", [
    # each value is valid, the combination is not: a PE parameter the other PE kind does not take
    ("      pe.kind: [bitfusion, int]\n      pe.pmax: [8]\n", 10, "vary.pe.kind"),
    # one bad value of an independent field, in the middle of its list
    ("      array.rows: [8, -4, 16]\n", 10, "vary.array.rows"),
    ("      sram.ifmap_kb: [64, 0]\n", 10, "vary.sram.ifmap_kb"),
])
@pytest.mark.parametrize("search", [False, True])
def test_a_bad_combination_fails_before_anything_runs(tmp_path, capsys, vary, line, field, search):
    f = tmp_path / "s.yaml"
    f.write_text(HEAD + "  - name: tpu_like\n    vary:\n      clock_mhz: [500, 1000]\n" + vary
                 + (SEARCH if search else ""))
    assert main(["sweep", str(f), "--db", str(tmp_path / "x.db"), "--workers", "0", "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"error: {f}:{line}: accelerators[0].{field}"), err
    assert not (tmp_path / "x.db").exists()
