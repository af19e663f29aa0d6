"""Group wall time: the runner records each group (points trained and traced once) in the store's
``groups`` table; a point's own started/finished no longer carry its group's training; a store
written before the table existed still opens, reads and gains the table."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hwsim.store import PointResult, Store
from hwsim.sweep.expand import load_points
from hwsim.sweep.runner import groups_of, run_points

GROUP_S = 0.3   # the "training" each group does once


def slow_evaluate(points, key="", progress=None):
    """One shared piece of work per group, then each point on its own (like train once, price each)."""
    time.sleep(GROUP_S)
    out = []
    for p in points:
        t0 = time.time()
        fail = p.to_json()["scheme"]["name"] == "ttq"
        out.append(PointResult(id=p.id, config=p.to_json(), sweep=p.sweep, label=p.label,
                               status="failed" if fail else "done", error="diverged" if fail else None,
                               metrics={"accuracy": 0.9}, started=t0, finished=time.time()))
    return out


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    for n in ("a", "b"):
        (tmp_path / f"acc_{n}.yaml").write_text(
            f"name: {n}\narray: {{rows: 4, cols: 4}}\nsram: {{ifmap_kb: 8, filter_kb: 8, ofmap_kb: 8}}\n")
    f = tmp_path / "s.yaml"
    f.write_text(f"""\
name: groups
models: [lenet300]
datasets: [digits]
schemes: [fp32, ttq, {{name: kbit, vary: {{weight_bits: [2, 4]}}}}]
recipes: [{{epochs: 1, batch: 32}}]
accelerators: [{tmp_path}/acc_a.yaml, {tmp_path}/acc_b.yaml]
""")
    return f


@pytest.mark.parametrize("workers", [0, 2])
def test_runner_records_each_group_with_its_wall_time(sweep_file: Path, tmp_path: Path, workers: int):
    _, pts = load_points(sweep_file)
    expected = {key: sorted(p.id for p in g) for key, g in groups_of(pts)}
    assert len(expected) < len(pts)   # some groups hold several points
    db = tmp_path / "g.db"
    run_points(pts, db, workers=workers, evaluator="test_store_groups:slow_evaluate", sweep="groups")
    with Store(db, readonly=True) as s:
        groups = s.groups()
        points = s.points().set_index("id")
    assert sorted(groups["key"]) == sorted(expected)
    for g in groups.to_dict("records"):
        assert sorted(g["points"]) == expected[g["key"]]
        assert g["sweep"] == "groups" and g["label"]
        assert g["wall_s"] >= GROUP_S and g["finished"] - g["started"] == pytest.approx(g["wall_s"])
        statuses = points.loc[g["points"], "status"]
        assert (g["done"], g["failed"]) == ((statuses == "done").sum(), (statuses == "failed").sum())
        # The shared work is the group's: no point row carries it.
        assert (points.loc[g["points"], "wall_s"] < GROUP_S).all()
        assert (points.loc[g["points"], "started"] >= g["started"]).all()
    # A rerun computes nothing and records no group.
    run_points(pts, db, workers=0, evaluator="test_store_groups:slow_evaluate", sweep="groups")
    with Store(db, readonly=True) as s:
        assert len(s.groups()) == len(expected)


def test_store_without_groups_table_opens_and_migrates(tmp_path: Path):
    db = tmp_path / "old.db"
    with Store(db) as s:
        s.write(PointResult(id="a" * 16, config={"model": "m"}, metrics={"accuracy": 0.5}, started=1.0, finished=2.0))
        s.conn.execute("DROP TABLE groups")   # as written before groups were recorded
        s.conn.commit()
    with Store(db, readonly=True) as s:       # a reader (the dashboard) never writes: it sees no groups
        assert s.groups().empty and list(s.groups().columns)[:3] == ["key", "sweep", "label"]
        assert s.point_ids() == ["a" * 16]
    with Store(db) as s:                      # a writer adds the table, the points stay
        s.write_group("k", 10.0, 14.5, ["a" * 16], sweep="old", label="m/fp32", done=1)
        g = s.groups()
        assert s.point_ids() == ["a" * 16]
    assert g.to_dict("records") == [{"key": "k", "sweep": "old", "label": "m/fp32", "started": 10.0,
                                     "finished": 14.5, "wall_s": 4.5, "points": ["a" * 16], "done": 1,
                                     "failed": 0}]


def test_pipeline_charges_training_to_the_group_not_the_first_point(monkeypatch):
    """evaluate_group: a point's started/finished leave out the group's training and its shared tracing."""
    from hwsim import pipeline

    def train(p, key="", progress=None):
        time.sleep(GROUP_S)
        return None, 0.9, [], 10, None

    def trace(workload, real_train=None):
        time.sleep(GROUP_S)
        return "traces"

    def price(p, acc, curves, steps, cache, started, vers):
        p.priced = True
        cache.get(p.workload(steps))   # the first point of each batch traces, once
        return PointResult(id=p.id, config={}, started=started, finished=time.time())

    class Workload:
        def __init__(self, batch):
            self.batch, self.infer_batch, self.prompt, self.new_tokens = batch, 1, None, None

    class Point:   # what evaluate_group reads of a hwsim.design.DesignPoint
        accuracy_source = "train"

        def __init__(self, i, batch):
            self.id, self.batch, self.priced = f"p{i}", batch, False

        def workload(self, steps_per_epoch=None):
            if not self.priced:   # not traced with the group: traced when it is priced
                raise RuntimeError("not yet")
            return Workload(self.batch)

    monkeypatch.setattr(pipeline, "train_point", train)
    monkeypatch.setattr(pipeline, "price_point", price)
    monkeypatch.setattr("hwsim.evaluate.trace_workload", trace)
    pts = [Point(i, b) for i, b in enumerate((32, 32, 64))]
    t0 = time.time()
    out = pipeline.evaluate_group(pts)
    assert [r.id for r in out] == ["p0", "p1", "p2"]
    # Training (before any point) and tracing (inside the first point of each batch) are not theirs.
    assert all(r.started >= t0 + GROUP_S and r.finished - r.started < GROUP_S for r in out)
    assert out[2].started >= out[1].finished + GROUP_S


def _open_at(args: tuple[str, float]) -> str:
    path, start = args
    while time.time() < start:   # every process opens the new store at the same moment
        pass
    try:
        with Store(path) as s:
            return str(s.conn.execute("SELECT version FROM schema_version").fetchone()[0])
    except Exception as e:   # noqa: BLE001 - the test reports what each process saw
        return f"{type(e).__name__}: {e}"


def test_processes_creating_one_new_store_at_once_all_open_it(tmp_path: Path):
    """The schema and its version row are created in one transaction: a second run creating the same new
    store meanwhile waits for it instead of finding an empty schema_version table."""
    import multiprocessing as mp

    for i in range(4):
        path = str(tmp_path / f"new{i}.db")
        with mp.get_context("spawn").Pool(4) as pool:
            start = time.time() + 1.5
            seen = pool.map(_open_at, [(path, start)] * 4)
        assert seen == ["1"] * 4, seen
