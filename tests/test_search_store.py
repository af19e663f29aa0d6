"""A search's fixed costs per generation: one store connection for the whole search (each generation's
run writes through it), and a run's heartbeat opens none of its own until its first beat."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from test_sweep_runner import dump

from hwsim import store as store_mod
from hwsim.store import Store
from hwsim.sweep import runner
from hwsim.sweep.expand import load_points


@pytest.fixture
def search_file(tmp_path: Path) -> Path:
    for n in ("a", "b"):
        (tmp_path / f"acc_{n}.yaml").write_text("name: x\narray: {rows: 4, cols: 4}\n"
                                                "sram: {ifmap_kb: 8, filter_kb: 8, ofmap_kb: 8}\n")
    f = tmp_path / "search.yaml"
    f.write_text(f"""\
name: fake_search
models: [lenet300]
datasets: [digits]
schemes: [fp32, twn, {{name: kbit, vary: {{weight_bits: [2, 4, 8]}}}}]
recipes: [{{epochs: 1, batch: 32}}]
accelerators: [{tmp_path}/acc_a.yaml, {tmp_path}/acc_b.yaml]
search: {{objectives: [accuracy, train_energy_pj_per_step], budget: 9, population: 3}}
""")
    return f


def _count_writable_opens(monkeypatch) -> list[str]:
    opened: list[str] = []
    real = Store.__init__

    def counting(self, path, readonly=False, **kw):
        if not readonly:
            opened.append(str(path))
        real(self, path, readonly=readonly, **kw)

    monkeypatch.setattr(store_mod.Store, "__init__", counting)
    return opened


def test_a_search_opens_its_store_once_not_once_per_generation(search_file: Path, tmp_path: Path, capsys,
                                                                monkeypatch):
    from hwsim.cli import main

    opened = _count_writable_opens(monkeypatch)
    db = tmp_path / "s.db"
    assert main(["sweep", str(search_file), "--db", str(db), "--workers", "0", "--json",
                 "--evaluator", "test_sweep_runner:fake_evaluate"]) == 0
    out = json.loads(capsys.readouterr().out)
    # 9 points in generations of 3: at least 3 runs of the runner, each of which opened the store (and its
    # heartbeat another) before
    assert out["evaluated"] == 9 and out["trials"] >= 9
    assert opened == [str(db)]
    with Store(db, readonly=True) as s:
        assert s.counts() == {"done": 9}


def test_a_run_writes_through_a_store_it_is_given_and_leaves_it_open(search_file: Path, tmp_path: Path):
    _, pts = load_points(search_file)
    pts = pts[:5]
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    runner.run_points(pts, a, workers=0, evaluator="test_sweep_runner:fake_evaluate", sweep="s")
    held = Store(b)
    s = runner.run_points(pts, b, workers=0, evaluator="test_sweep_runner:fake_evaluate", sweep="s", store=held)
    assert s.done == 5
    assert held.counts() == {"done": 5}   # still open: the caller closes it
    held.close()
    assert dump(a) == dump(b)


def test_the_heartbeat_opens_its_connection_at_its_first_beat(tmp_path: Path, monkeypatch):
    db = tmp_path / "h.db"
    with Store(db) as s:
        s.enqueue([("p1", {"x": 1}, "s", "p1")])
        assert s.claim(["p1"], "me", 60) == ["p1"]
        before = s.conn.execute("SELECT expires FROM claims WHERE point='p1'").fetchone()[0]
    opened = _count_writable_opens(monkeypatch)
    beat = runner._Heartbeat(db, "me")      # a run shorter than a beat: no connection
    beat.stop()
    assert opened == []
    monkeypatch.setattr(runner, "HEARTBEAT_S", 0.05)
    beat = runner._Heartbeat(db, "me")
    time.sleep(0.5)
    beat.stop()
    assert opened == [str(db)]              # opened once, at the first beat, and kept for the later ones
    with Store(db, readonly=True) as s:
        assert s.conn.execute("SELECT expires FROM claims WHERE point='p1'").fetchone()[0] > before
