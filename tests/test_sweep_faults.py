"""Runner faults on real `hwsim sweep` processes: kill -9 of the run, kill -9 of one worker, two runs
sharing one store.

The evaluator is a slow, deterministic stand-in (module-level here, so spawn workers import it via
PYTHONPATH) that logs every point it computes with its process id: the log is what proves who
computed what, and how many times.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from hwsim.store import PointResult, Store

HERE = Path(__file__).resolve().parent

SWEEP = """\
name: faults
models: [lenet300]
datasets: [digits]
schemes: [fp32, twn, bwn, {{name: kbit, vary: {{weight_bits: [2, 4, 8]}}}}]
recipes: [{{epochs: 1, batch: 32}}]
accelerators: [{d}/acc_a.yaml, {d}/acc_b.yaml]
"""


def slow_evaluate(points, key="", progress=None):
    """Log ``start PID KEY`` for the group, then ``point PID ID`` per point, sleeping between; the
    metrics are a pure function of the config, so any two runs agree."""
    log = Path(os.environ["HWSIM_FAULT_LOG"])
    pause = float(os.environ.get("HWSIM_FAULT_SLEEP", "0.3"))
    with log.open("a") as f:
        f.write(f"start {os.getpid()} {key}\n")
    out = []
    for p in points:
        with log.open("a") as f:
            f.write(f"point {os.getpid()} {p.id}\n")
        time.sleep(pause)
        c = p.to_json()
        bits = c["scheme"].get("weight_bits", 32 if c["scheme"]["name"] == "fp32" else 2)
        out.append(PointResult(id=p.id, config=c, sweep=p.sweep, label=p.label,
                               columns={"model": c["model"]["name"], "scheme": c["scheme"]["name"]},
                               metrics={"accuracy": 0.9 - 0.1 / bits, "train_energy_pj_per_step": 10.0 * bits},
                               layers=[("fc1", "forward", "macs.fp32", float(bits))], versions={"hwsim": "test"}))
    return out


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    for n in ("a", "b"):
        (tmp_path / f"acc_{n}.yaml").write_text("name: x\narray: {rows: 4, cols: 4}\nsram: {ifmap_kb: 8, filter_kb: 8, ofmap_kb: 8}\n")
    f = tmp_path / "faults.yaml"
    f.write_text(SWEEP.format(d=tmp_path))
    return f


def start(f: Path, db: Path, log: Path, workers: int = 2, pause: float = 0.3, group: bool = False,
          extra: tuple[str, ...] = (), env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, **(env_extra or {}), "HWSIM_FAULT_LOG": str(log), "HWSIM_FAULT_SLEEP": str(pause),
           "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "hwsim.cli", "sweep", str(f), "--db", str(db), "--workers",
                             str(workers), "--evaluator", "test_sweep_faults:slow_evaluate", *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=group)


def finish(p: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:   # never leave a stuck run (and its workers) behind
        for c in psutil.Process(p.pid).children(recursive=True):
            c.kill()
        p.kill()
        out, err = p.communicate()
        pytest.fail(f"the sweep did not finish within {timeout} s: {(out + err)[-2000:]}")
    return p.returncode, out + err


def statuses(db: Path) -> dict[str, str]:
    with Store(db, readonly=True) as s:
        return dict(s.conn.execute("SELECT id, status FROM points").fetchall())


def contents(db: Path) -> dict:
    with Store(db, readonly=True) as s:
        c = s.conn
        return {"points": sorted(c.execute("SELECT id, sweep, label, config, status, error FROM points")),
                "metrics": sorted(c.execute("SELECT * FROM metrics")),
                "layers": sorted(c.execute("SELECT * FROM layers"))}


def logged(log: Path, kind: str) -> list[tuple[int, str]]:
    if not log.exists():
        return []
    rows = [ln.split() for ln in log.read_text().splitlines()]
    return [(int(r[1]), r[2]) for r in rows if r[0] == kind]


def wait_for(cond, timeout: float = 60.0) -> None:
    t = time.time()
    while not cond():
        assert time.time() - t < timeout, "timed out"
        time.sleep(0.05)


def alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.fixture
def reference(sweep: Path, tmp_path: Path) -> dict:
    db = tmp_path / "ref.db"
    rc, out = finish(start(sweep, db, tmp_path / "ref.log", pause=0.0))
    assert rc == 0, out
    return contents(db)


def test_kill_main_leaves_no_workers_and_resume_completes(sweep: Path, tmp_path: Path, reference: dict):
    db, log = tmp_path / "k.db", tmp_path / "k.log"
    p = start(sweep, db, log, pause=6.0)                       # a group takes 12 s: far longer than we wait
    wait_for(lambda: len(logged(log, "start")) >= 2)          # both workers busy
    kids = [c.pid for c in psutil.Process(p.pid).children(recursive=True)]
    assert len(kids) >= 2
    p.send_signal(signal.SIGKILL)
    p.wait()
    wait_for(lambda: not alive(kids), timeout=4)                # no orphan outlives its run
    assert any(s != "done" for s in statuses(db).values())      # it really was cut short
    rc, out = finish(start(sweep, db, log, pause=0.0))
    assert rc == 0, out
    assert contents(db) == reference


def test_kill_one_worker_loses_only_its_group(sweep: Path, tmp_path: Path, reference: dict):
    db, log = tmp_path / "w.db", tmp_path / "w.log"
    p = start(sweep, db, log, pause=1.0)
    wait_for(lambda: len(logged(log, "start")) >= 1)
    victim, key = logged(log, "start")[0]
    os.kill(victim, signal.SIGKILL)
    rc, out = finish(p)
    assert rc == 3 and "not finished" in out, out
    st = statuses(db)
    with Store(db, readonly=True) as s:
        lost = {pid for pid, in s.conn.execute("SELECT id FROM points WHERE status='queued'")}
        errors = {s.point(i)["error"] for i in lost}
    assert len(lost) == 2 and all("worker process died" in e for e in errors)     # one group: two accelerators
    assert sum(v == "done" for v in st.values()) == len(st) - 2                     # every other group finished
    n = len(logged(log, "point"))
    rc, out = finish(start(sweep, db, log, pause=0.0))                              # a plain rerun
    assert rc == 0, out
    assert sorted(i for _, i in logged(log, "point")[n:]) == sorted(lost)          # redoes that group only
    assert contents(db) == reference


def test_two_runs_share_one_store(sweep: Path, tmp_path: Path, reference: dict):
    db, log = tmp_path / "c.db", tmp_path / "c.log"
    a = start(sweep, db, log, workers=1, pause=0.3)
    b = start(sweep, db, log, workers=1, pause=0.3)
    (ra, oa), (rb, ob) = finish(a), finish(b)
    assert ra == 0 and rb == 0, oa + ob
    computed = [i for _, i in logged(log, "point")]
    assert sorted(computed) == sorted(set(computed)) and len(computed) == 12      # each point once
    assert len({pid for pid, _ in logged(log, "point")}) == 2                    # by both runs' workers
    assert contents(db) == reference


def test_ctrl_c_is_one_line_workers_quiet_store_intact(sweep: Path, tmp_path: Path):
    """Ctrl-C (SIGINT to the whole foreground group, as a terminal sends it) while workers compute:
    one `error: interrupted` line, exit 130, no worker traceback; the store passes SQLite's integrity
    check, holds no point marked running, and a rerun completes it."""
    db, log = tmp_path / "r.db", tmp_path / "log"
    p = start(sweep, db, log, workers=2, pause=1.0, group=True)
    wait_for(lambda: len(logged(log, "point")) >= 2)
    os.killpg(p.pid, signal.SIGINT)
    rc, out = finish(p, timeout=60)
    assert rc == 130, out[-2000:]
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out[-2000:]
    errors = [ln for ln in out.splitlines() if ln.startswith("error")]
    assert errors == ["error: interrupted"], out[-2000:]
    with Store(db, readonly=True) as s:
        assert s.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert "running" not in statuses(db).values()
    rc, out = finish(start(sweep, db, log, workers=2, pause=0.01))
    assert rc == 0, out[-2000:]
    assert set(statuses(db).values()) == {"done"}


def test_a_stopped_worker_is_an_error_not_a_hang(sweep: Path, tmp_path: Path):
    """SIGSTOP on a worker: its run's heartbeat keeps renewing the claims, so only the worker's own
    progress and CPU time can tell. After HWSIM_STALL_S without either, the worker is stopped, its group
    is handed back with a reason naming it, every other group finishes, and the run exits 3."""
    db, log = tmp_path / "r.db", tmp_path / "log"
    p = start(sweep, db, log, workers=2, pause=0.5, env_extra={"HWSIM_STALL_S": "4"})
    wait_for(lambda: logged(log, "start"))
    victim = logged(log, "start")[0][0]
    os.kill(victim, signal.SIGSTOP)
    t = time.time()
    rc, out = finish(p, timeout=120)
    assert rc == 3, out[-2000:]
    assert time.time() - t < 90
    assert "stalled" in out and "Traceback" not in out, out[-2000:]
    st = statuses(db)
    assert "running" not in st.values() and "done" in st.values()
    assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == psutil.STATUS_ZOMBIE


def test_an_impossible_foreign_claim_is_taken_over(sweep: Path, tmp_path: Path):
    """A claim from another host that says it lasts until the year 33658 (expires=1e12) is no live run's
    lease: the sweep takes its points over instead of waiting forever."""
    from hwsim.sweep.expand import load_points

    db, log = tmp_path / "r.db", tmp_path / "log"
    _, pts = load_points(sweep)
    with Store(db) as s:
        s.enqueue((pt.id, pt.to_json(), pt.sweep, pt.label) for pt in pts)
        with s.conn:
            s.conn.executemany("INSERT INTO claims(point, owner, expires) VALUES (?, ?, ?)",
                               [(pt.id, "elsewhere.example:1234:abcd", 1e12) for pt in pts])
    rc, out = finish(start(sweep, db, log, workers=1, pause=0.01), timeout=180)
    assert rc == 0, out[-2000:]
    assert set(statuses(db).values()) == {"done"}
