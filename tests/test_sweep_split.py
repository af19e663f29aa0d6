"""A group split across local workers: one worker traces, the others price against its trace.

The evaluator here is hwsim.pipeline.evaluate_group with a log of each call (process, lead or
follower, how many points), written to the folder in $HWSIM_SPLIT_LOG so the test sees what the
spawn workers did.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from hwsim.store import Store
from hwsim.sweep.expand import load_points
from hwsim.sweep.runner import MIN_SHARE, run_points

SWEEP = """\
name: split
models: [lenet300]
datasets: [digits]
schemes: [fp32]
accuracy: none
pricing: {detail: summary, batch: 32}
accelerators:
  - name: tpu_like
    clock_mhz: 500
    vary:
      array.rows: [4, 8, 16, 32]
      array.cols: [4, 8, 16, 32]
      array.dataflow: [ws, os]
"""


def logged_evaluate(points, key="", progress=None, emit=None, share=None, shared=None, keep=False):
    """evaluate_group, logging each call; a follower waits (up to 60 s) until a second process has
    taken a share, so the test sees the group spread over both workers whatever the spawn times.
    With $HWSIM_SPLIT_DIE set, the first follower to get a share dies before pricing it."""
    from hwsim import pipeline
    from hwsim.pipeline import evaluate_group

    log = Path(os.environ["HWSIM_SPLIT_LOG"])
    role = "lead" if share is not None else ("follow" if shared is not None else "whole")
    if keep:
        role += "-kept" if key in pipeline._KEPT else "-keep"
    (log / f"{os.getpid()}-{time.time_ns()}").write_text(f"{role} {len(points)}")
    if role == "follow":
        die = os.environ.get("HWSIM_SPLIT_DIE")
        if die and not Path(die).exists():
            Path(die).write_text("died")
            os._exit(3)
        t0 = time.time()
        while len({f.name.split("-")[0] for f in log.iterdir()}) < 2 and time.time() - t0 < 60:
            time.sleep(0.05)
    return evaluate_group(points, key=key, progress=progress, emit=emit, share=share, shared=shared, keep=keep)


def _points(tmp_path: Path):
    f = tmp_path / "s.yaml"
    f.write_text(SWEEP)
    return load_points(f)[1]


def _figures(db: Path) -> dict:
    with Store(db, readonly=True) as s:
        c = s.conn
        return {"points": sorted(c.execute("SELECT id, status, error FROM points").fetchall()),
                "metrics": sorted(c.execute("SELECT * FROM metrics").fetchall()),
                "blobs": sorted(c.execute("SELECT * FROM blobs").fetchall())}


def _calls(log: Path) -> list[tuple[str, str, int]]:
    out = []
    for f in log.iterdir():
        role, n = f.read_text().split()
        out.append((f.name.split("-")[0], role, int(n)))
    return out


def test_split_group_traces_once_and_prices_on_both_workers(tmp_path, monkeypatch):
    pts = _points(tmp_path)
    assert len(pts) == 32 >= 2 * MIN_SHARE and len({p.train_key for p in pts}) == 1
    log = tmp_path / "log"
    log.mkdir()
    monkeypatch.setenv("HWSIM_SPLIT_LOG", str(log))
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    whole = tmp_path / "whole.db"
    s0 = run_points(pts, whole, workers=0, sweep="split")
    split = tmp_path / "split.db"
    s = run_points(pts, split, workers=2, evaluator="test_sweep_split:logged_evaluate", sweep="split")
    assert (s.done, s.failed, s.lost) == (s0.done, 0, 0) == (32, 0, 0)
    calls = _calls(log)
    assert [c[1] for c in calls].count("lead") == 1 and "whole" not in [c[1] for c in calls]
    assert sum(c[2] for c in calls) == 32            # every point priced once, in shares
    assert len({c[0] for c in calls}) == 2           # by both workers
    # the followers priced against the lead's trace sent as JSON: the same figures as one process
    assert _figures(split) == _figures(whole)
    with Store(split, readonly=True) as st:
        rows = st.conn.execute("SELECT points, done, failed FROM groups").fetchall()
    assert [(sorted(json.loads(r[0])), r[1], r[2]) for r in rows] == [(sorted(p.id for p in pts), 32, 0)]


def test_a_worker_dying_with_a_share_hands_back_only_that_share(tmp_path, monkeypatch):
    pts = _points(tmp_path)
    log = tmp_path / "log"
    log.mkdir()
    monkeypatch.setenv("HWSIM_SPLIT_LOG", str(log))
    monkeypatch.setenv("HWSIM_SPLIT_DIE", str(tmp_path / "died"))
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    db = tmp_path / "r.db"
    s = run_points(pts, db, workers=2, evaluator="test_sweep_split:logged_evaluate", sweep="split")
    first = sorted((int(f.name.split("-")[1]), f.read_text().split()) for f in log.iterdir())
    died = [int(n) for _, (role, n) in first if role == "follow"][0]   # the first follower share's size
    assert (s.done, s.failed, s.lost) == (32 - s.lost, 0, s.lost)
    assert 0 < s.lost <= died < 32
    with Store(db, readonly=True) as st:
        assert sorted({st.status_of(p.id) for p in pts}) == ["done", "queued"]
    # a plain rerun redoes only what was handed back
    s2 = run_points(pts, db, workers=2, evaluator="test_sweep_split:logged_evaluate", sweep="split")
    assert (s2.done, s2.skipped, s2.lost) == (s.lost, 32 - s.lost, 0)


@pytest.mark.parametrize("workers", [1])
def test_one_worker_does_not_split(tmp_path, monkeypatch, workers):
    pts = _points(tmp_path)
    log = tmp_path / "log"
    log.mkdir()
    monkeypatch.setenv("HWSIM_SPLIT_LOG", str(log))
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    s = run_points(pts, tmp_path / "r.db", workers=workers, evaluator="test_sweep_split:logged_evaluate")
    assert s.done == 32 and [c[1:] for c in _calls(log)] == [("whole", 32)]


def test_worker_pool_keeps_workers_and_group_states_across_calls(tmp_path, monkeypatch):
    """A search's generations: the second call reuses the worker and the group's trace."""
    from hwsim.sweep.runner import WorkerPool

    pts = _points(tmp_path)[:12]
    log = tmp_path / "log"
    log.mkdir()
    monkeypatch.setenv("HWSIM_SPLIT_LOG", str(log))
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    db = tmp_path / "r.db"
    with WorkerPool(1, "test_sweep_split:logged_evaluate") as pool:
        a = run_points(pts[:6], db, sweep="split", pool=pool)
        b = run_points(pts[6:], db, sweep="split", pool=pool)
        assert len(pool.idle) == 1 and pool.idle[0].proc.is_alive()
        proc = pool.idle[0].proc
    assert not proc.is_alive()
    assert (a.done, b.done) == (6, 6)
    calls = sorted(_calls(log), key=lambda c: c[1])
    assert [c[1:] for c in calls] == [("whole-keep", 6), ("whole-kept", 6)] and calls[0][0] == calls[1][0]
    whole = tmp_path / "whole.db"
    run_points(pts, whole, workers=0, sweep="split")
    assert _figures(db) == _figures(whole)


def test_kept_workers_keep_their_groups():
    """A search's kept workers: an idle worker takes a group it already traced, else one nobody holds;
    a group another live worker holds waits for that worker instead of being traced a second time."""
    from types import SimpleNamespace

    from hwsim.sweep.runner import _idle_worker, _queue_for

    def worker(held, busy=False, alive=True, priced=()):
        return SimpleNamespace(held=set(held), priced=set(priced), key="x" if busy else None,
                               proc=SimpleNamespace(is_alive=lambda: alive))

    a, b = worker({"g1", "g3"}), worker({"g2", "g4"}, busy=True)
    queue = [("g4", []), ("g2", []), ("g3", []), ("g5", [])]
    assert _idle_worker([a, b], queue) is a
    assert _queue_for(a, [a, b], queue) and [k for k, _ in queue] == ["g3", "g5", "g4", "g2"]
    queue = [("g4", []), ("g2", [])]
    assert not _queue_for(a, [a, b], queue)                # b's groups wait for b
    assert not _queue_for(None, [a, b], queue)             # nor does a new worker start to trace them again
    assert _queue_for(a, [a, worker({"g2", "g4"}, busy=True, alive=False)], queue)   # b is gone: a takes them
    c = worker({"g2"})
    assert _idle_worker([a, c], [("g2", [])]) is c          # the idle worker that holds the group
    assert _idle_worker([worker(set(), busy=True)], [("g1", [])]) is None
    # forked holding every group: a group goes back to the worker that priced it before, the others wait
    # for theirs only while another is free to take them (each takes any group rather than idle)
    every = {"g1", "g2", "g3", "g4"}
    d, e = worker(every, priced={"g3"}), worker(every, priced={"g1", "g4"})
    queue = [("g1", []), ("g2", []), ("g3", []), ("g4", [])]
    assert _idle_worker([d, e], [("g4", [])]) is e and _idle_worker([d, e], [("g2", [])]) is d
    assert _queue_for(d, [d, e], queue) and [k for k, _ in queue] == ["g3", "g2", "g1", "g4"]
    assert _queue_for(e, [d, e], queue) and [k for k, _ in queue] == ["g1", "g4", "g2", "g3"]
    assert _queue_for(d, [d, e], [("g4", [])])             # e's group, but d holds it and is idle


def warm_logged_evaluate(points, key="", progress=None, emit=None, share=None, shared=None, keep=False):
    """evaluate_group, logging each call's process and whether it was forked from a warmed search
    process (hwsim.sweep.warm is imported only there: a spawned worker never loads it)."""
    import sys

    from hwsim.pipeline import evaluate_group

    warm = "hwsim.sweep.warm" in sys.modules and "torch" in sys.modules
    (Path(os.environ["HWSIM_SPLIT_LOG"]) / f"{os.getpid()}-{time.time_ns()}").write_text(f"{warm} {len(points)}")
    return evaluate_group(points, key=key, progress=progress, emit=emit, share=share, shared=shared, keep=keep)


def test_search_workers_are_forked_warm_and_price_as_a_plain_run(tmp_path):
    """`hwsim sweep` on a file with a search: its two workers are forked once from the search process
    after it loaded torch and the pricing modules (no worker imports them itself), every generation
    runs in them, and their figures are those of the same points evaluated in one process."""
    import subprocess
    import sys

    f = tmp_path / "s.yaml"
    f.write_text(SWEEP.replace("name: split", "name: split_search")
                 + "search: {objectives: [infer_energy_pj, latency_us], budget: 12, population: 4}\n")
    log = tmp_path / "log"
    log.mkdir()
    tests, root = Path(__file__).resolve().parent, Path(__file__).resolve().parents[1]
    env = dict(os.environ, HWSIM_SPLIT_LOG=str(log),
               PYTHONPATH=os.pathsep.join([str(tests), str(root), os.environ.get("PYTHONPATH", "")]))
    db = tmp_path / "s.db"
    # a fresh process, as a user runs it (a test runner's own threads would rule the fork out)
    p = subprocess.run([sys.executable, "-c", "import sys; from hwsim.cli import main; sys.exit(main(sys.argv[1:]))",
                        "sweep", str(f), "--db", str(db), "--workers", "2", "--json",
                        "--evaluator", "test_sweep_split:warm_logged_evaluate"],
                       env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads(p.stdout)["evaluated"] == 12
    calls = [(c.name.split("-")[0], *c.read_text().split()) for c in log.iterdir()]
    assert sum(int(n) for _, _, n in calls) == 12
    assert all(warm == "True" for _, warm, _ in calls), calls
    assert 1 <= len({pid for pid, _, _ in calls}) <= 2
    with Store(db, readonly=True) as s:
        ids = {r[0] for r in s.conn.execute("SELECT id FROM points")}
    pts = [pt for pt in load_points(f)[1] if pt.id in ids]
    inline = tmp_path / "inline.db"
    run_points(pts, inline, workers=0, sweep="split_search")
    assert len(pts) == 12 and _figures(db) == _figures(inline)


def test_worker_pool_forks_only_while_one_thread_runs():
    """A fork copies only the calling thread; a lock another thread held would stay held in the child,
    so with a second thread running the pool forks nothing (its workers are spawned when needed)."""
    import threading

    from hwsim.sweep.runner import WorkerPool

    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        pool = WorkerPool(1)
        assert pool.start(lambda: pytest.fail("groups traced for workers that are not forked")) is False
        assert pool.idle == []
    finally:
        stop.set()
        t.join()


def test_prepared_groups_are_priced_without_tracing_again(tmp_path, monkeypatch):
    """A search traces its few untrained groups once in its own process before forking its workers:
    a kept state prices the group's points as a fresh trace does, and a group that trains is left
    to its worker (the search process trains nothing)."""
    from hwsim import pipeline

    pts = _points(tmp_path)[:6]
    plain = pipeline.evaluate_group(pts)
    monkeypatch.setattr(pipeline, "_KEPT", {})
    assert pipeline.prepare_groups(pts) == [pts[0].train_key]
    monkeypatch.setattr(pipeline, "_group_state", lambda *a, **k: pytest.fail("a prepared group traced again"))
    kept = pipeline.evaluate_group(pts, key=pts[0].train_key, keep=True)
    assert [(r.id, r.status, r.metrics) for r in kept] == [(r.id, r.status, r.metrics) for r in plain]
    f = tmp_path / "t.yaml"
    f.write_text(SWEEP.replace("accuracy: none", "recipes: [{epochs: 1, batch: 32}]"))
    trained = load_points(f)[1][:2]
    assert trained[0].accuracy_source == "train" and pipeline.prepare_groups(trained) == []


def test_a_group_every_kept_worker_holds_is_split_without_sending_its_trace(tmp_path, monkeypatch):
    """A search's generation large enough to split one group across its forked workers, which all hold
    the group's state: no share leads (none sends the trace through the pipes, none waits for it), each
    prices its share against its own kept state, and the figures are a plain run's."""
    from hwsim import pipeline
    from hwsim.sweep.runner import WorkerPool

    pts = _points(tmp_path)[:2 * MIN_SHARE]
    log = tmp_path / "log"
    log.mkdir()
    monkeypatch.setenv("HWSIM_SPLIT_LOG", str(log))
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    monkeypatch.setattr(pipeline, "_KEPT", {})
    db = tmp_path / "r.db"
    with WorkerPool(2, "test_sweep_split:logged_evaluate") as pool:
        if not pool.start(lambda: pipeline.prepare_groups(pts)):
            pytest.skip("workers are forked only where fork exists and one thread runs")
        s = run_points(pts, db, sweep="split", pool=pool)
    assert (s.done, s.failed, s.lost) == (len(pts), 0, 0)
    calls = _calls(log)
    assert len(calls) >= 2 and sum(c[2] for c in calls) == len(pts)   # in shares
    assert {c[1] for c in calls} == {"whole-kept"}                   # no lead, no state sent
    whole = tmp_path / "whole.db"
    run_points(pts, whole, workers=0, sweep="split")
    assert _figures(db) == _figures(whole)


@pytest.mark.parametrize("n", [16, 32, 192, 648])
def test_split_shares_shrink_towards_the_end(n):
    """Guided shares: the lead's is about an eighth of the group per worker, the later ones half of what is
    left per worker, so the last shares are TAIL_SHARE points and no worker is left with a long one."""
    from hwsim.sweep.runner import TAIL_SHARE, _Split

    sp = _Split(None, "k", list(range(n)), 2)
    sp.shared("state")
    sizes = []
    while (job := sp.next()) is not None:
        sizes.append(len(job[1]))
    assert sum(sizes) == n and sizes[0] == max(MIN_SHARE, -(-n // 16))
    assert sizes[1:] == sorted(sizes[1:], reverse=True) and max(sizes[1:]) <= sizes[0]
    assert sizes[-1] <= TAIL_SHARE
    assert sizes[-2] <= TAIL_SHARE or n < 64


def test_a_cold_search_traces_each_group_once_in_its_own_process(tmp_path, cached_env):
    """With an empty trace cache, `hwsim sweep` on a search file counts each model x scheme group's traces
    once, in the search process, before it forks its workers: no worker traces (the timeline's "trace
    starts" marks, by process)."""
    import subprocess
    import sys

    from hwsim.timeline import read

    f = tmp_path / "s.yaml"
    f.write_text(SWEEP.replace("name: split", "name: cold_search").replace("schemes: [fp32]", "schemes: [fp32, bnn]")
                 + "search: {objectives: [infer_energy_pj, latency_us], budget: 12, population: 4}\n")

    tl = tmp_path / "timeline"
    p = subprocess.run([sys.executable, "-c", "import sys; from hwsim.cli import main; sys.exit(main(sys.argv[1:]))",
                        "sweep", str(f), "--db", str(tmp_path / "s.db"), "--workers", "2", "--json"],
                       env=dict(cached_env, HWSIM_TIMELINE=str(tl)), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads(p.stdout)["evaluated"] == 12
    rows = read(str(tl))
    roles = {pid: role for _, pid, role, _, _ in rows}
    traced = [pid for _, pid, _, _, ev in rows if ev == "trace starts"]
    if "worker" not in roles.values() or not any("started worker" in ev for *_, ev in rows):
        pytest.skip("workers are forked only where fork exists")
    assert len(traced) == 2 and {roles[p] for p in traced} == {"parent"}, rows   # fp32 and bnn, once each
