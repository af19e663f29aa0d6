"""The typed design point: ids unchanged by the JSON round trip, and a sweep file's ``scheme:`` and an
accelerator field reaching the store through typed objects only, each resolved once.

The walk instruments the stages (evaluate_group, price_point, trace_workload, evaluate,
simulate_trace) and records the types of the arguments they are given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import accel_models as am
from hwsim.design import DesignPoint, PointPricing, from_wire
from hwsim.store import Store
from hwsim.sweep.expand import load_points
from hwsim.sweep.runner import run_points

SWEEP = """\
name: walk
models: [lenet300]
datasets: [digits]
schemes: [{name: kbit, weight_bits: 3, act_bits: 5}]
accuracy: none
tech: [45nm]
accelerators: [{name: tpu_like, array.rows: 8, vary: {array.cols: [4, 16]}}]
pricing: {batch: 8, infer_batch: 2, detail: summary}
"""


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    f = tmp_path / "walk.yaml"
    f.write_text(SWEEP)
    return f


def test_json_round_trip_keeps_the_id(sweep_file):
    _, pts = load_points(sweep_file)
    assert len(pts) == 2
    for p in pts:
        c = p.to_json()
        back = DesignPoint.from_json(json.loads(json.dumps(c)), sweep=p.sweep, label=p.label)
        assert back.id == p.id and back.train_key == p.train_key and back.to_json() == c
    wired = from_wire([p.wire() for p in pts])
    assert [w.id for w in wired] == [p.id for p in pts]
    assert wired[0].scheme is wired[1].scheme      # a group's scheme is built once on the worker's side


# ids the sweep gave these points before they were typed (stores written then are keyed by them); tpu_like's
# ids moved once since, when its resolved array gained pe_register_bytes (an area input, so a new point)
STORED_IDS = {
    "configs/sweeps/quickstart.yaml": {
        "lenet300/digits/fp32/tpu_like": "93210859694812ec",
        "resnet20(width=0.5)/digits/mixed(compose=['twn', {'name': 'graham', 'quantizer': 'L4'}],overrides=[])/eyeriss":
            "ac33935b16f76229"},
    "configs/sweeps/llm_decode.yaml": {      # prompt and new_tokens in the pricing of decoders
        "gpt2_small/none/fp32/tpu_like": "6935d4c936b6353c", "llama3_8b/none/kbit/tpu_like": "cd65865727c6a2a1"},
}


@pytest.mark.parametrize("sweep", sorted(STORED_IDS))
def test_ids_are_the_stored_ones(sweep):
    _, pts = load_points(Path(__file__).parent.parent / sweep)
    ids = {p.label: p.id for p in pts}
    assert {k: ids.get(k) for k in STORED_IDS[sweep]} == STORED_IDS[sweep]
    assert len(set(ids.values())) == len(pts)


def _record(monkeypatch, target: str, seen: list) -> None:
    """Wrap ``module:function`` so that each call appends (function, positional and keyword args)."""
    import importlib

    mod_name, fn_name = target.split(":")
    mod = importlib.import_module(mod_name)
    fn = getattr(mod, fn_name)

    def wrapper(*a, **kw):
        seen.append((fn_name, a, kw))
        return fn(*a, **kw)

    monkeypatch.setattr(mod, fn_name, wrapper)


def test_scheme_and_accelerator_field_reach_the_store_typed(sweep_file, tmp_path, monkeypatch):
    from hwsim.energy import TechTable
    from hwsim.evaluate import Pricing
    from hwsim.schemes.base import Scheme
    from hwsim.trace import Trace
    from hwsim.workload import Workload

    calls: list = []
    for t in ("hwsim.pipeline:evaluate_group", "hwsim.pipeline:price_point", "hwsim.evaluate:trace_workload",
              "hwsim.evaluate:evaluate", "hwsim.hardware:simulate_trace"):
        _record(monkeypatch, t, calls)
    builds: list = []
    _record(monkeypatch, "hwsim.schemes:build_scheme", builds)
    _record(monkeypatch, "hwsim.hardware:resolve_accelerator", builds)

    _, pts = load_points(sweep_file)
    # expand resolves the scheme entry once and each accelerator combination once
    assert [b[0] for b in builds].count("build_scheme") == 1
    assert [b[0] for b in builds].count("resolve_accelerator") == 2
    built = len(builds)
    db = tmp_path / "walk.db"
    s = run_points(pts, db, workers=0)
    assert s.done == 2 and s.failed == 0
    # after the edge, nothing is built from a spec again (a typed object passed through is not a build)
    again = [(b[0], type(b[1][0]).__name__) for b in builds[built:] if not isinstance(b[1][0], (Scheme, am.Accelerator))]
    assert not again, f"the pipeline resolved again from a spec: {again}"

    names = [c[0] for c in calls]
    assert names.count("evaluate_group") == 1 and names.count("price_point") == 2 and names.count("evaluate") == 2
    for name, args, kw in calls:
        values = list(args) + list(kw.values())
        # the one mapping a stage takes is the package versions (str -> str): it carries no point
        assert not any(isinstance(v, dict) and not all(isinstance(x, str) for x in v.values()) for v in values), \
            f"{name} was given a mapping"
        if name == "evaluate_group":
            assert all(isinstance(p, DesignPoint) for p in args[0])
        elif name == "price_point":
            assert isinstance(args[0], DesignPoint) and isinstance(args[0].pricing, PointPricing)
        elif name == "trace_workload":
            assert isinstance(args[0], Workload) and isinstance(args[0].scheme, Scheme)
            assert args[0].scheme.weight_bits() == 3 and args[0].scheme.act_bits() == 5
        elif name == "evaluate":
            wl, acc, tech, pricing = args[:4]
            assert isinstance(wl, Workload) and isinstance(wl.scheme, Scheme) and wl.scheme.weight_bits() == 3
            assert isinstance(acc, am.Accelerator) and acc.rows == 8 and acc.cols in (4, 16)
            assert isinstance(tech, TechTable) and isinstance(pricing, Pricing)
        elif name == "simulate_trace":
            assert isinstance(args[0], Trace) and isinstance(args[1], am.Accelerator) and args[1].rows == 8

    with Store(db, readonly=True) as st:
        for p in pts:
            d = st.point(p.id)
            assert d["status"] == "done"
            assert d["config"]["scheme"]["weight_bits"] == 3 and d["config"]["scheme"]["act_bits"] == 5
            assert d["config"]["hardware"]["array"]["rows"] == 8
            assert d["config"]["hardware"]["array"]["cols"] == p.accelerator.cols


def typed_evaluate(points, key="", progress=None, emit=None):
    """hwsim.pipeline.evaluate_group in a spawned worker, refusing anything but typed points."""
    from hwsim.pipeline import evaluate_group

    assert all(isinstance(p, DesignPoint) and isinstance(p.accelerator, am.Accelerator) for p in points)
    return evaluate_group(points, key=key, progress=progress, emit=emit)


def test_points_cross_the_worker_pipe_typed(sweep_file, tmp_path):
    _, pts = load_points(sweep_file)
    s = run_points(pts, tmp_path / "w.db", workers=1, evaluator="test_design_point:typed_evaluate")
    assert s.done == 2 and s.failed == 0
    with Store(tmp_path / "w.db", readonly=True) as st:
        assert {st.point(p.id)["config"]["hardware"]["array"]["cols"] for p in pts} == {4, 16}
