"""Kill a real sweep with SIGKILL mid-run and resume it; run the same sweep on a local Ray instance.

The sweep is real (tiny networks trained on digits, traced, priced and simulated by the real
pipeline); the uninterrupted run and the killed-then-resumed run must leave equal stores.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

TINY = """\
name: tiny
models: [{name: lenet300, args: {hidden1: 24, hidden2: 12}}]
datasets: [digits]
schemes: [fp32, twn, bwn, binaryconnect, xnor, mcdonnell, {name: graham, vary: {quantizer: [L4, U8]}}]
recipes: [{epochs: 1, batch: 128, limit: 400, lr: 0.05}]
tech: [45nm]
accelerators: [tpu_like]
pricing: {batch: 16}
"""


def dump(db: Path, with_times: bool = False) -> dict:
    """Store contents; timings only on request (they differ between runs by nature)."""
    from hwsim.store import Store

    cols = "id, sweep, label, config, status, error" + (", started, finished" if with_times else "")
    with Store(db, readonly=True) as s:
        c = s.conn
        return {
            "points": sorted(c.execute(f"SELECT {cols} FROM points").fetchall()),
            "metrics": sorted(c.execute("SELECT * FROM metrics").fetchall()),
            "layers": sorted(c.execute("SELECT * FROM layers").fetchall()),
            "curves": sorted(c.execute("SELECT * FROM curves").fetchall()),
            "blobs": sorted(c.execute("SELECT * FROM blobs").fetchall()),
        }


def only(d: dict, ids: set[str]) -> dict:
    return {k: [r for r in rows if r[0] in ids] for k, rows in d.items()}


def sweep_cmd(f: Path, db: Path) -> list[str]:
    return [sys.executable, "-m", "hwsim.cli", "sweep", str(f), "--db", str(db), "--workers", "1", "--no-progress"]


def done_ids(db: Path) -> set[str]:
    if not db.exists():
        return set()
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return {r[0] for r in con.execute("SELECT id FROM points WHERE status='done'")}
        finally:
            con.close()
    except sqlite3.OperationalError:   # not created yet
        return set()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    """The sweep file and the store of one uninterrupted run."""
    d = tmp_path_factory.mktemp("tiny")
    f = d / "tiny.yaml"
    f.write_text(TINY)
    ref = d / "ref.db"
    r = subprocess.run(sweep_cmd(f, ref), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return f, ref


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(tiny, tmp_path: Path):
    f, ref = tiny
    expect = dump(ref)
    n = len(expect["points"])
    assert n == 8 and all(p[4] == "done" for p in expect["points"]), expect["points"]
    db = tmp_path / "killed.db"
    proc = subprocess.Popen(sweep_cmd(f, db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        t0 = time.time()
        while len(done_ids(db)) < 2 and time.time() - t0 < 240 and proc.poll() is None:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)      # the sweep and its worker processes, no clean-up
    finally:
        proc.wait(timeout=30)
    finished = done_ids(db)
    assert 2 <= len(finished) < n, f"kill came too late or too early: {len(finished)} of {n} done"
    before = only(dump(db, with_times=True), finished)

    r = subprocess.run(sweep_cmd(f, db), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    after = dump(db, with_times=True)
    # the points finished before the kill were not rerun: same rows, same timestamps
    assert only(after, finished) == before
    # and the final store equals the uninterrupted run's
    assert dump(db) == expect


@pytest.mark.slow
def test_store_contents_of_a_real_point(tiny):
    from hwsim.store import METRICS, Store

    _, ref = tiny
    with Store(ref, readonly=True) as s:
        pid = s.point_ids()[0]
        p = s.point(pid)
        for m in ("accuracy", "train_energy_pj_per_step", "train_energy_pj_per_epoch", "infer_energy_pj",
                  "train_memory_bytes", "model_size_bytes", "latency_cycles", "dram_bytes_per_step", "macs_infer"):
            assert m in METRICS and p["metrics"][m] is not None and p["metrics"][m] > 0, m
        assert set(p["versions"]) >= {"hwsim", "torch", "numpy", "python"}
        assert set(s.blob_names(pid)) >= {"trace", "energy", "cycles", "assumptions", "config"}
        lay = s.layers(pid)
        names = set(lay["name"])
        assert any(n.startswith("macs.") for n in names) and any(n.startswith("energy_pj.") for n in names)
        assert any(n.startswith("traffic_bytes.") for n in names) and "cycles" in names
        assert set(lay["phase"]) >= {"forward", "backward_data", "backward_weight", "inference"}
        cur = s.curves(pid)
        assert {"train_loss", "test_acc"} <= set(cur["metric"])
        # the accuracy curve ends at the final accuracy
        last = cur[cur["metric"] == "test_acc"].sort_values("epoch")["value"].iloc[-1]
        assert last == pytest.approx(p["metrics"]["accuracy"])


@pytest.mark.slow
@pytest.mark.ray
def test_ray_backend_equals_local(tiny, tmp_path: Path):
    pytest.importorskip("ray")
    f, ref = tiny
    db = tmp_path / "ray.db"
    r = subprocess.run([sys.executable, "-m", "hwsim.cli", "sweep", str(f), "--db", str(db), "--workers", "2",
                        "--backend", "ray", "--no-progress"], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert dump(db) == dump(ref)


@pytest.mark.slow
def test_diverging_point_is_stored_as_failed(tmp_path: Path):
    """A real point whose training diverges (huge learning rate) is stored as failed with its reason."""
    from hwsim.store import Store
    from hwsim.sweep.expand import load_points
    from hwsim.sweep.runner import run_points

    f = tmp_path / "div.yaml"
    f.write_text(TINY.replace("schemes: [fp32, twn, bwn, binaryconnect, xnor, mcdonnell, {name: graham, vary: "
                              "{quantizer: [L4, U8]}}]", "schemes: [fp32]")
                 .replace("lr: 0.05", "lr: 100")
                 .replace("models: [{name: lenet300, args: {hidden1: 24, hidden2: 12}}]", "models: [lenet5]"))
    _, pts = load_points(f)
    s = run_points(pts, tmp_path / "d.db", workers=0)
    assert s.failed == 1
    with Store(tmp_path / "d.db", readonly=True) as st:
        p = st.point(pts[0].id)
    assert p["status"] == "failed" and p["error"].startswith("diverged: train: epoch"), p["error"]


@pytest.mark.slow
@pytest.mark.ray
def test_ray_backend_with_address(tiny, tmp_path: Path):
    """``--address``: a local Ray instance started here (ray.init(num_cpus=2)); the CLI connects to it."""
    ray = pytest.importorskip("ray")
    f, ref = tiny
    db = tmp_path / "ray_addr.db"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ctx = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        r = subprocess.run([sys.executable, "-m", "hwsim.cli", "sweep", str(f), "--db", str(db), "--backend", "ray",
                            "--address", ctx.address_info["gcs_address"], "--no-progress"],
                           capture_output=True, text=True, timeout=300)
    finally:
        ray.shutdown()
    assert r.returncode == 0, r.stderr[-3000:]
    assert dump(db) == dump(ref)
