"""The placement model runs only where it prices something: with an accelerator's accesses covering every
record of a trace it is not run (no linear program, no scipy import), and no figure changes."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hwsim.energy import hierarchy_for_accelerator, load_tech, price
from hwsim.energy.tech import CONFIG_DIR
from hwsim.hardware import simulate_trace

sys.path.insert(0, str(Path(__file__).parent))
from test_energy_price import make_trace  # noqa: E402

price_mod = importlib.import_module("hwsim.energy.price")   # the module; hwsim.energy.price is the function
ACCEL = str(CONFIG_DIR / "accelerators" / "fp32_training.yaml")


def _priced(scheme: str = "fp32", accesses: bool = True):
    tr = make_trace(scheme)
    cycles = simulate_trace(tr, ACCEL)
    return price(tr, load_tech("45nm"), hierarchy=hierarchy_for_accelerator(cycles.accelerator),
                 accesses=cycles.accesses if accesses else None)


@pytest.mark.parametrize("scheme", ["fp32", "bnn"])
def test_not_run_when_the_accesses_cover_every_record(monkeypatch, scheme):
    monkeypatch.setattr(price_mod, "_placement_prices", lambda records, acc: True)
    forced = _priced(scheme)                        # the model run anyway, as it always was before
    monkeypatch.undo()

    def refuse(*a, **k):
        raise AssertionError("the placement model ran though it prices nothing")

    monkeypatch.setattr(price_mod, "place", refuse)
    lazy = _priced(scheme)
    assert lazy.assumptions.records_priced_by["placement"] == 0 < lazy.assumptions.records_priced_by["accelerator"]
    assert lazy.assumptions.placement is None and lazy.assumptions.to_dict()["placement"] is None
    assert forced.assumptions.placement is not None
    # every figure is the one the model's run gave: it priced nothing
    assert lazy.totals == forced.totals and lazy.by_phase == forced.by_phase
    assert [(r.layer, r.phase, r.component, r.energy_pj) for r in lazy.rows] == \
        [(r.layer, r.phase, r.component, r.energy_pj) for r in forced.rows]
    assert lazy.train_step_pj == forced.train_step_pj and lazy.infer_pj_per_sample == forced.infer_pj_per_sample


def test_run_where_a_record_is_left_to_it(monkeypatch):
    calls = []
    real = price_mod.place
    monkeypatch.setattr(price_mod, "place", lambda *a, **k: calls.append(1) or real(*a, **k))
    rep = _priced(accesses=False)
    assert calls and rep.assumptions.placement is not None
    assert rep.assumptions.records_priced_by["placement"] > 0
    assert set(rep.assumptions.to_dict()["placement"]) >= {"levels", "onchip_bytes", "rule"}


def test_pricing_a_covered_trace_imports_no_scipy():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from test_energy_placement_skipped import _priced; "
            "r = _priced(); import json; print(json.dumps([r.assumptions.placement is None, "
            "'scipy.optimize' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == [True, False]
