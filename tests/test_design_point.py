"""The typed design point: ids unchanged by the JSON round trip, and a sweep file's ``scheme:`` and an
accelerator field reaching the store through typed objects only, each resolved once.

The walk instruments every stage from the validated sweep file to the store (WALK: expansion, the scheme and
accelerator resolvers, the runner, the pipeline, evaluate, the cycle model, the store's writes), records what each
is given, and checks that each runs in order and as often as the walk says, that the file's settings are resolved
once, and that no mapping crosses a stage boundary except the point's JSON form handed to the store."""

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
# ids moved twice since, when its resolved array gained pe_register_bytes and then weight_double_buffered, and
# eyeriss' twice, when its resolved SRAM gained its macro counts and then its array psum_accumulation (cost
# inputs, so new points)
STORED_IDS = {
    "configs/sweeps/quickstart.yaml": {
        "lenet300/digits/fp32/tpu_like": "89aa32c61d72d1f9",
        "resnet20(width=0.5)/digits/mixed(compose=['twn', {'name': 'graham', 'quantizer': 'L4'}],overrides=[])/eyeriss":
            "33fded4f27667695"},
    "configs/sweeps/llm_decode.yaml": {      # prompt and new_tokens in the pricing of decoders
        "gpt2_small/none/fp32/tpu_like": "c34d21d50f8f7a81", "llama3_8b/none/kbit/tpu_like": "2fff96f54ec83806"},
}


@pytest.mark.parametrize("sweep", sorted(STORED_IDS))
def test_ids_are_the_stored_ones(sweep):
    _, pts = load_points(Path(__file__).parent.parent / sweep)
    ids = {p.label: p.id for p in pts}
    assert {k: ids.get(k) for k in STORED_IDS[sweep]} == STORED_IDS[sweep]
    assert len(set(ids.values())) == len(pts)


def _record(monkeypatch, target: str, seen: list) -> None:
    """Wrap ``module:function`` (or ``module:Class.method``) so that each call appends (name, positional
    args, keyword args); a method's ``self`` is left out."""
    import importlib

    mod_name, fn_name = target.split(":")
    owner = importlib.import_module(mod_name)
    cls_name, _, meth = fn_name.rpartition(".")
    if cls_name:
        owner = getattr(owner, cls_name)
    attr = meth or fn_name
    fn = getattr(owner, attr)

    if cls_name:
        def wrapper(self, *a, **kw):
            seen.append((fn_name, a, kw))
            return fn(self, *a, **kw)
    else:
        def wrapper(*a, **kw):
            seen.append((fn_name, a, kw))
            return fn(*a, **kw)

    monkeypatch.setattr(owner, attr, wrapper)


# The walk of the sweep file's ``scheme:`` and of an accelerator field (``array.cols``) to the store, stage by
# stage, in the order each is first entered: (module:function, what it is given, how often it runs for the
# SWEEP file's 2 points, which share one trace). The file's settings are resolved once each, at the edge
# (build_scheme for the scheme, resolve_accelerator per accelerator combination); from there to the store every
# stage takes typed objects, and the store turns a point into the JSON document it keeps. Library entry points
# that also take a name or a path (hwsim.count's model resolver, simulate_trace) hand the resolvers the typed
# object they were given, which comes back as it is: that is not a resolution, and is counted apart.
WALK = [
    ("hwsim.sweep.expand:load_sweep", 1),                  # the file, validated (SweepFile)
    ("hwsim.sweep.expand:expand_scheme_entry", 1),         # SchemeEntry -> [Scheme]
    ("hwsim.schemes:build_scheme", 1),                     # the edge: the file's scheme settings -> Scheme
    ("hwsim.sweep.expand:expand_accelerator_entry", 1),    # AcceleratorEntry -> [HardwareChoice]
    ("hwsim.hardware:resolve_accelerator", 2),             # the edge: the file's fields -> Accelerator
    ("hwsim.sweep.expand:_point", 2),                      # Scheme, HardwareChoice -> DesignPoint
    ("hwsim.sweep.runner:run_points", 1),
    ("hwsim.pipeline:evaluate_group", 1),
    ("hwsim.evaluate:trace_workload", 1),
    ("hwsim.pipeline:price_point", 2),
    ("hwsim.evaluate:evaluate", 2),
    ("hwsim.hardware:simulate_trace", 4),                  # training step and inference, per point
    ("hwsim.store:Store.write", 2),                        # PointResult, its config the point's JSON form
]
EDGES = {"load_sweep", "build_scheme", "resolve_accelerator"}    # where file data becomes typed
# where typed points become the JSON the store keeps: the run's bookkeeping (planned, started; how often is
# the runner's business) and the finished point
BOOKKEEPING = ["hwsim.store:Store.enqueue", "hwsim.store:Store.mark_running_many"]
STORE_EDGE = {"Store.enqueue", "Store.mark_running_many", "Store.write"}


def _untyped(value, path: str = "") -> list[str]:
    """Where a stage argument carries a mapping: itself, an item of a list or tuple, or a field on the
    scheme/accelerator path of a typed object (a point's scheme, accelerator, pricing; a workload's scheme;
    a hardware choice's accelerator). Package versions (str -> str) carry no point."""
    from hwsim.schemes.base import Scheme
    from hwsim.sweep.expand import HardwareChoice
    from hwsim.workload import Workload

    if isinstance(value, dict):
        return [] if all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()) else [path or "arg"]
    if isinstance(value, (list, tuple)):
        return [w for i, v in enumerate(value) for w in _untyped(v, f"{path}[{i}]")]
    if isinstance(value, DesignPoint):
        expect = {"scheme": Scheme, "accelerator": am.Accelerator, "pricing": PointPricing}
    elif isinstance(value, Workload):
        expect = {"scheme": Scheme}
    elif isinstance(value, HardwareChoice):
        expect = {"accelerator": am.Accelerator}
    else:
        return []
    return [f"{path}.{k}" for k, t in expect.items() if not isinstance(getattr(value, k), t)]


def _check_stage(name: str, args: tuple, points: list[DesignPoint]) -> None:
    """What each stage of WALK is given (positional arguments)."""
    from hwsim.energy import TechTable
    from hwsim.evaluate import Pricing
    from hwsim.schemes.base import Scheme
    from hwsim.store import PointResult
    from hwsim.sweep.expand import HardwareChoice
    from hwsim.sweep.schema import AcceleratorEntry, SchemeEntry, SweepFile
    from hwsim.trace import Trace
    from hwsim.workload import Workload

    if name in STORE_EDGE:
        # the one document that crosses: a point's JSON form, made where the store is called
        docs = ([c for _, c, _, _ in args[0]] if name == "Store.enqueue"
                else [c for _, c, _ in args[0]] if name == "Store.mark_running_many" else [args[0].config])
        forms = [json.dumps(p.to_json(), sort_keys=True) for p in points]
        assert all(json.dumps(d, sort_keys=True) in forms for d in docs), f"{name} was given a foreign document"
        assert name != "Store.write" or isinstance(args[0], PointResult)
        return
    if name == "expand_scheme_entry":
        assert isinstance(args[0], SchemeEntry) and args[0].params == {"weight_bits": 3, "act_bits": 5}
    elif name == "expand_accelerator_entry":
        assert isinstance(args[0], AcceleratorEntry) and args[0].vary == {"array.cols": [4, 16]}
    elif name == "_point":
        assert isinstance(args[0], SweepFile) and isinstance(args[4], Scheme) and isinstance(args[7], HardwareChoice)
        assert args[4].weight_bits() == 3 and args[7].accelerator.rows == 8
    elif name in ("run_points", "evaluate_group"):
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


def test_scheme_and_accelerator_field_reach_the_store_typed(sweep_file, tmp_path, monkeypatch):
    from hwsim.sweep import runner

    calls: list = []
    for target in [t for t, _ in WALK] + BOOKKEEPING:
        _record(monkeypatch, target, calls)

    _, pts = load_points(sweep_file)
    expanded = len(calls)
    db = tmp_path / "walk.db"
    s = runner.run_points(pts, db, workers=0)
    assert s.done == 2 and s.failed == 0
    downstream = calls[expanded:]

    # each stage runs as often as the walk says, and the stages are first entered in the walk's order:
    # the scheme and each accelerator are resolved once, and nothing downstream goes back to a resolver
    from hwsim.schemes.base import Scheme

    typed = (Scheme, am.Accelerator)
    passed = [c for c in calls if c[0] in EDGES and isinstance(c[1][0], typed)]
    assert {c[0] for c in passed} <= {"build_scheme", "resolve_accelerator"}
    calls = [c for c in calls if not (c[0] in EDGES and isinstance(c[1][0], typed))]
    assert {"Store.enqueue", "Store.mark_running_many"} <= {c[0] for c in calls}
    names = [c[0] for c in calls if c[0] not in ("Store.enqueue", "Store.mark_running_many")]
    stage = [t.split(":")[1] for t, _ in WALK]
    assert {n: names.count(n) for n in stage} == {t.split(":")[1]: k for t, k in WALK}
    assert list(dict.fromkeys(names)) == stage
    again = [(n, type(a[0]).__name__) for n, a, _ in downstream if n in EDGES and not isinstance(a[0], typed)]
    assert not again, f"the pipeline resolved again from a spec: {again}"
    # one scheme object for both points (resolved once), one accelerator per combination
    assert pts[0].scheme is pts[1].scheme and {p.accelerator.cols for p in pts} == {4, 16}

    for name, args, kw in calls:
        if name in EDGES:
            continue
        if name not in STORE_EDGE:
            bad = [w for i, v in enumerate(list(args) + list(kw.values())) for w in _untyped(v, f"arg{i}")]
            assert not bad, f"{name} was given a mapping at {bad}"
        _check_stage(name, args, pts)

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
