"""Runner: resume, failure capture, grouping, store contents; pareto and search on a fake evaluator.

The fake evaluator (module-level, so spawn workers can import it) derives metrics from the
config deterministically; the real pipeline is exercised in tests/test_sweep_resume.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hwsim.store import PointResult, Store
from hwsim.sweep.expand import load_points
from hwsim.sweep.runner import groups_of, run_points

CALLS: list[str] = []


def fake_evaluate(points, key="", progress=None):
    """Deterministic stand-in for hwsim.pipeline.evaluate_group; 'ttq' points fail like a divergence."""
    out = []
    for p in points:
        c = p.to_json()
        CALLS.append(p.id)
        if c["scheme"]["name"] == "ttq":
            out.append(PointResult(id=p.id, config=c, status="failed", error="diverged: loss is nan at epoch 1",
                                   sweep=p.sweep, label=p.label))
            continue
        bits = c["scheme"].get("weight_bits", 32) if c["scheme"]["name"] == "kbit" else \
            {"fp32": 32, "bnn": 1, "xnor": 1, "twn": 2, "bwn": 1}.get(c["scheme"]["name"], 16)
        acc = 0.9 - 0.2 / bits - (0.01 if c["accelerator"].endswith("b.yaml") else 0)
        energy = 100.0 * bits + (7 if c["accelerator"].endswith("b.yaml") else 0)
        out.append(PointResult(
            id=p.id, config=c, sweep=p.sweep, label=p.label,
            columns={"model": c["model"]["name"], "scheme": c["scheme"]["name"]},
            metrics={"accuracy": acc, "train_energy_pj_per_step": energy, "train_memory_bytes": 50.0 * bits + 3,
                     "latency_cycles": 1000.0 / bits},
            layers=[("fc1", "forward", "macs.fp32", 10.0)], curves=[(1.0, "test_acc", acc)],
            blobs={"config": c}, versions={"hwsim": "test"}))
    return out


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    for n in ("a", "b"):
        (tmp_path / f"acc_{n}.yaml").write_text("name: x\narray: {rows: 4, cols: 4}\nsram: {ifmap_kb: 8, filter_kb: 8, ofmap_kb: 8}\n")
    f = tmp_path / "s.yaml"
    f.write_text(f"""\
name: fake
models: [lenet300]
datasets: [digits]
schemes:
  - fp32
  - twn
  - ttq
  - {{name: kbit, vary: {{weight_bits: [2, 4, 8]}}}}
recipes: [{{epochs: 1, batch: 32}}]
accelerators: [{tmp_path}/acc_a.yaml, {tmp_path}/acc_b.yaml]
""")
    return f


def dump(db: Path) -> dict:
    """Store contents without timings: what must be equal between two runs."""
    with Store(db, readonly=True) as s:
        c = s.conn
        return {
            "points": sorted(c.execute("SELECT id, sweep, label, config, status, error FROM points").fetchall()),
            "metrics": sorted(c.execute("SELECT * FROM metrics").fetchall()),
            "layers": sorted(c.execute("SELECT * FROM layers").fetchall()),
            "curves": sorted(c.execute("SELECT * FROM curves").fetchall()),
            "blobs": sorted(c.execute("SELECT * FROM blobs").fetchall()),
        }


def test_expand_groups_and_hash(sweep_file: Path):
    sw, pts = load_points(sweep_file)
    assert len(pts) == 6 * 2
    assert len({p.id for p in pts}) == 12
    groups = groups_of(pts)
    assert len(groups) == 6 and all(len(g) == 2 for _, g in groups)
    # the hash is of the resolved config: defaults filled in, order-free, stable across loads
    _, again = load_points(sweep_file)
    assert [p.id for p in pts] == [p.id for p in again]
    kb = [p for p in pts if p.to_json()["scheme"]["name"] == "kbit"]
    assert {p.to_json()["scheme"]["weight_bits"] for p in kb} == {2, 4, 8}
    assert "act_bits" in kb[0].to_json()["scheme"]


def test_inline_run_resume_and_failures(sweep_file: Path, tmp_path: Path):
    _, pts = load_points(sweep_file)
    db = tmp_path / "r.db"
    CALLS.clear()
    s = run_points(pts, db, workers=0, evaluator="test_sweep_runner:fake_evaluate", sweep="fake")
    assert (s.done, s.failed, s.skipped) == (10, 2, 0)
    with Store(db, readonly=True) as st:
        assert st.counts() == {"done": 10, "failed": 2}
        failed = [st.point(i) for i in st.point_ids("failed")]
        assert all("diverged" in f["error"] for f in failed)
    before = dump(db)
    CALLS.clear()
    s2 = run_points(pts, db, workers=0, evaluator="test_sweep_runner:fake_evaluate", sweep="fake")
    assert CALLS == [] and s2.skipped == 12 and s2.done == 0
    assert dump(db) == before
    # --retry-failed reruns only the failed ones
    s3 = run_points(pts, db, workers=0, evaluator="test_sweep_runner:fake_evaluate", retry_failed=True)
    assert sorted(CALLS) == sorted(f["id"] for f in failed) and s3.failed == 2


def test_running_points_are_rerun(sweep_file: Path, tmp_path: Path):
    _, pts = load_points(sweep_file)
    db = tmp_path / "r.db"
    with Store(db) as st:      # a run killed while this point was in flight
        st.mark_running(pts[0].id, pts[0].to_json(), sweep="fake")
    CALLS.clear()
    run_points(pts[:2], db, workers=0, evaluator="test_sweep_runner:fake_evaluate")
    assert pts[0].id in CALLS
    with Store(db, readonly=True) as st:
        assert st.status_of(pts[0].id) == "done"


def test_pool_equals_inline(sweep_file: Path, tmp_path: Path):
    _, pts = load_points(sweep_file)
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    run_points(pts, a, workers=0, evaluator="test_sweep_runner:fake_evaluate", sweep="fake")
    run_points(pts, b, workers=2, evaluator="test_sweep_runner:fake_evaluate", sweep="fake")
    assert dump(a) == dump(b)


def test_cli_sweep_then_pareto(sweep_file: Path, tmp_path: Path, capsys):
    from hwsim.cli import main

    db = tmp_path / "c.db"
    rc = main(["sweep", str(sweep_file), "--db", str(db), "--workers", "0", "--json",
               "--evaluator", "test_sweep_runner:fake_evaluate"])
    assert rc == 3          # two points failed: every other one is finished, and the exit status says so
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert out["done"] == 10 and out["failed"] == 2 and len(out["points"]) == 12
    assert "2 failed of 12 points" in cap.err
    assert "sweep fake: 12/12 points (2 failed, 0 lost" in cap.err     # progress lines when not a terminal
    rc = main(["pareto", str(db), "--x", "energy", "--y", "accuracy", "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["objectives"] == ["train_energy_pj_per_step", "accuracy"]
    F = np.array([[r["train_energy_pj_per_step"], -r["accuracy"]] for r in res["front"]])
    # every front point is non-dominated among the candidates
    with Store(db, readonly=True) as st:
        df = st.points(status="done")
    allF = df[["train_energy_pj_per_step", "accuracy"]].to_numpy() * [1, -1]
    for f in F:
        assert not any(np.all(g <= f) and np.any(g < f) for g in allF)
    assert len(res["front"]) >= 2 and 0 < res["hypervolume"] <= 1.21
    # three objectives, issue syntax: --also memory latency
    rc = main(["pareto", str(db), "--x", "energy", "--y", "accuracy", "--also", "memory", "latency", "--json"])
    assert rc == 0
    res3 = json.loads(capsys.readouterr().out)
    assert res3["objectives"][2:] == ["train_memory_bytes", "latency_cycles"]
    rc = main(["pareto", str(db), "--x", "joules"])
    assert rc == 2 and "error: --x: unknown objective 'joules'" in capsys.readouterr().err


def test_zip_list_include_and_dedupe(tmp_path: Path):
    acc = tmp_path / "acc.yaml"
    acc.write_text("name: x\narray: {rows: 4, cols: 4}\nsram: {ifmap_kb: 8, filter_kb: 8, ofmap_kb: 8}\n")
    (tmp_path / "zip.yaml").write_text(f"""\
name: z
combine: zip
models: [lenet300, lenet5]
datasets: [digits]
schemes: [fp32, twn]
accelerators: [{acc}]
""")
    (tmp_path / "list.yaml").write_text(f"""\
name: l
combine: list
models: [lenet300]
datasets: [digits]
accelerators: [{acc}]
points:
  - {{scheme: bnn}}
  - {{model: lenet5, scheme: {{name: kbit, weight_bits: 3}}}}
include: [zip.yaml]
""")
    _, z = load_points(tmp_path / "zip.yaml")
    assert [(p.to_json()["model"]["name"], p.to_json()["scheme"]["name"]) for p in z] == [("lenet300", "fp32"),
                                                                                     ("lenet5", "twn")]
    _, pts = load_points(tmp_path / "list.yaml")
    got = [(p.to_json()["model"]["name"], p.to_json()["scheme"]["name"]) for p in pts]
    assert got == [("lenet300", "bnn"), ("lenet5", "kbit"), ("lenet300", "fp32"), ("lenet5", "twn")]
    # included points keep their identity (same hash as when run on their own)
    assert {p.id for p in z} <= {p.id for p in pts}


def test_literature_files_validate_and_cite():
    from hwsim.sweep.expand import CONFIG_DIR

    _, pts = load_points(CONFIG_DIR / "sweeps" / "paper_scale.yaml")
    rows = {p.to_json()["literature"]["id"]: p.to_json()["literature"] for p in pts}
    assert len(rows) >= 100
    assert all(r["citation"] and r["table"] and 0 < r["accuracy"] <= 1 for r in rows.values())
    # spot checks against the seeds: Graham Table 3 ResNet-20 L4 9.52% error; LQ-Nets 2/32 68.0% top-1
    assert rows["graham-t3-resnet-20-L4"]["accuracy"] == pytest.approx(1 - 0.0952)
    assert rows["lq-r18-w2a32"]["accuracy"] == pytest.approx(0.68)
    assert all(p.to_json()["accuracy_source"] == "literature" and p.to_json()["recipe"] is None for p in pts)
    r18 = next(p for p in pts if p.to_json()["literature"]["id"] == "lq-r18-w2a32")
    assert r18.to_json()["input_shape"] == [3, 224, 224] and r18.to_json()["pricing"]["batch"] == 256


def test_search_section_via_cli(sweep_file: Path, tmp_path: Path, capsys):
    from hwsim.cli import main

    f = tmp_path / "search.yaml"
    f.write_text(sweep_file.read_text().replace("name: fake", "name: fake_search") +
                 "search: {objectives: [accuracy, train_energy_pj_per_step], budget: 5, population: 4}\n")
    db = tmp_path / "s.db"
    CALLS.clear()
    rc = main(["sweep", str(f), "--db", str(db), "--workers", "0", "--json",
               "--evaluator", "test_sweep_runner:fake_evaluate"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["evaluated"] == 5 and out["grid_points"] == 12 and len(set(CALLS)) == 5
    with Store(db, readonly=True) as st:
        assert sum(st.counts().values()) == 5
    # a rerun finds every point it asks for in the store: nothing is evaluated again
    CALLS.clear()
    assert main(["sweep", str(f), "--db", str(db), "--workers", "0", "--json",
                 "--evaluator", "test_sweep_runner:fake_evaluate"]) == 0
    capsys.readouterr()
    assert CALLS == []


def test_search_summary_names_constraints_feasible_points_and_their_front(sweep_file: Path, tmp_path: Path, capsys):
    """The search's summary, as the CLI prints it: points meeting the constraints, the hypervolume of
    their front only, its reference point and the constraints themselves."""
    from hwsim.cli import main
    from hwsim.sweep.pareto import REF, normalised_hypervolume, signs

    f = tmp_path / "search.yaml"
    f.write_text(sweep_file.read_text().replace("name: fake", "name: fake_search") +
                 "search: {objectives: [accuracy, train_energy_pj_per_step], budget: 12, population: 4,\n"
                 "         constraints: ['train_memory_bytes <= 1000']}\n")
    args = ["sweep", str(f), "--db", str(tmp_path / "s.db"), "--workers", "0",
            "--evaluator", "test_sweep_runner:fake_evaluate"]
    assert main([*args, "--json"]) == 3   # ttq's two points fail like a divergence
    out = json.loads(capsys.readouterr().out)
    # fake_evaluate: train_memory_bytes = 50 x weight bits + 3, so fp32 (1603) is infeasible, ttq failed
    done = [r for r in out["points"] if r["status"] == "done"]
    ok = [r for r in done if r["train_memory_bytes"] <= 1000]
    assert (out["evaluated"], len(done), out["feasible"], len(ok)) == (12, 10, 8, 8)
    assert out["constraints"] == ["train_memory_bytes <= 1000"] and out["reference"] == REF
    objs = ["accuracy", "train_energy_pj_per_step"]
    front = np.array([[r[o] for o in objs] for r in ok]) * signs(objs)
    assert out["hypervolume_of_feasible"] == pytest.approx(normalised_hypervolume(front))
    everything = np.array([[r[o] for o in objs] for r in done]) * signs(objs)
    assert out["hypervolume_of_feasible"] != pytest.approx(normalised_hypervolume(everything))
    assert main(args) == 3
    line = capsys.readouterr().out
    for part in ("feasible=8", "constraints=[train_memory_bytes <= 1000]", "hypervolume_of_feasible=",
                 f"reference={REF}"):
        assert part in line, part


def crashing_evaluate(points, key="", progress=None):
    """Like fake_evaluate, but the worker process dies outright on 'twn' (as on a segfault or OOM kill)."""
    import os

    if points[0].to_json()["scheme"]["name"] == "twn":
        os._exit(3)
    return fake_evaluate(points, key)


def test_dead_worker_hands_back_only_its_group(sweep_file: Path, tmp_path: Path):
    """A worker that dies costs only its own group: handed back as queued (not failed), the other
    groups finish; a plain rerun tries it again; after MAX_LOST deaths it is marked failed."""
    from hwsim.sweep.runner import MAX_LOST

    _, pts = load_points(sweep_file)
    db = tmp_path / "crash.db"
    twn = {p.id for p in pts if p.to_json()["scheme"]["name"] == "twn"}
    for attempt in range(1, MAX_LOST + 1):
        s = run_points(pts, db, workers=2, evaluator="test_sweep_runner:crashing_evaluate")
        with Store(db, readonly=True) as st:
            for p in pts:
                d = st.point(p.id)
                if p.id in twn:
                    want = "failed" if attempt == MAX_LOST else "queued"
                    assert d["status"] == want and "worker process died" in d["error"], d
                elif p.to_json()["scheme"]["name"] != "ttq":
                    assert d["status"] == "done"
        if attempt == 1:
            assert s.done == 8 and s.failed == 2 and s.lost == 2
        elif attempt < MAX_LOST:
            assert s.done == 0 and s.lost == 2 and s.skipped == 10
        else:
            assert s.failed == 2 and s.lost == 0


def test_store_claims_and_never_overwrites_done(tmp_path: Path):
    """Claims are all-or-nothing and exclusive while their owner lives; a dead owner's claim is free at
    once; a done point is never overwritten."""
    import subprocess
    import sys

    from hwsim.store import owner_id

    db = tmp_path / "c.db"
    with Store(db) as s:
        s.enqueue([("a", {}, "x", "a"), ("b", {}, "x", "b")])
        me, other = owner_id(), owner_id()
        assert s.claim(["a", "b"], me, 60) == ["a", "b"]
        assert s.claim(["b"], other, 60) is None                      # held by a live run (this process)
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()
        ghost = me.split(":")[0] + f":{dead}:0"
        s.conn.execute("UPDATE claims SET owner=? WHERE point='b'", (ghost,))
        s.conn.commit()
        assert s.claim(["b"], other, 60) == ["b"]                     # its owner is gone: free at once
        assert s.write(PointResult(id="a", config={}, metrics={"accuracy": 0.5}))
        assert not s.write(PointResult(id="a", config={}, metrics={"accuracy": 0.9}))
        assert s.point("a")["metrics"] == {"accuracy": 0.5}
        assert s.claim(["a", "b"], me, 60) is None                    # b is other's; a is done
        assert s.claim(["a"], me, 60) == []                           # nothing left to compute


def test_search_counts_its_grid_and_builds_only_the_points_it_asks_for(sweep_file: Path, tmp_path: Path,
                                                                         capsys, monkeypatch):
    """``hwsim sweep`` with ``search:`` never expands the grid: it reports the space's size as the product
    of the axes' lengths, builds a design point for each index the sampler asks for only, and a space
    larger than --max-points is searched (for a search the limit bounds the schemes and accelerators
    its axes resolve)."""
    from hwsim.cli import main
    from hwsim.sweep import expand

    def no_expansion(*a, **k):
        raise AssertionError("a search expanded the whole grid")

    built = []
    real_point = expand.point_from_axes

    def counting(*a, **k):
        built.append(1)
        return real_point(*a, **k)

    monkeypatch.setattr(expand, "expand_sweep", no_expansion)
    monkeypatch.setattr(expand, "point_from_axes", counting)
    f = tmp_path / "search.yaml"
    f.write_text(sweep_file.read_text().replace("name: fake", "name: fake_search") +
                 "search: {objectives: [accuracy, train_energy_pj_per_step], budget: 5, population: 4}\n")
    CALLS.clear()
    rc = main(["sweep", str(f), "--db", str(tmp_path / "s.db"), "--workers", "0", "--json", "--max-points", "9",
               "--evaluator", "test_sweep_runner:fake_evaluate"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["evaluated"] == 5 and out["grid_points"] == 12 and len(set(CALLS)) == 5
    assert 5 <= len(built) <= out["trials"]   # one per trial at most (none for the 12-point grid)
    # what --max-points bounds for a search: the 6 schemes and 2 accelerators its axes resolve
    assert main(["sweep", str(f), "--db", str(tmp_path / "t.db"), "--workers", "0", "--max-points", "7",
                 "--evaluator", "test_sweep_runner:fake_evaluate"]) == 2
    assert "8 schemes and accelerators, more than the limit of 7" in capsys.readouterr().err


def slow_teardown_evaluate(points, key="", progress=None):
    """fake_evaluate in a worker whose interpreter would take seconds to tear down (as one holding torch
    and a group's traces does): an exit handler leaves a mark and sleeps."""
    import atexit
    import os
    import time

    def teardown() -> None:
        Path(os.environ["HWSIM_TEST_TEARDOWN"]).write_text("torn down")
        time.sleep(5)

    atexit.register(teardown)
    return fake_evaluate(points, key)


def test_workers_told_to_stop_end_without_tearing_down(sweep_file: Path, tmp_path: Path, monkeypatch):
    """A run ends when its last point is written, not after its workers' interpreter teardown (the
    parent waits for its workers to end)."""
    import time

    marker = tmp_path / "teardown"
    monkeypatch.setenv("HWSIM_TEST_TEARDOWN", str(marker))
    _, pts = load_points(sweep_file)
    t0 = time.time()
    s = run_points(pts, tmp_path / "t.db", workers=2, evaluator="test_sweep_runner:slow_teardown_evaluate")
    assert s.done == 10 and s.failed == 2
    assert not marker.exists()
    assert time.time() - t0 < 60
