"""``point_metrics``: the metrics one row per point, kept by triggers, read by ``Store.points``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hwsim.store import PointResult, Store


def _write(s: Store, i: int, metrics: dict[str, float], status: str = "done") -> str:
    pid = f"{i:016x}"
    s.write(PointResult(id=pid, config={"model": "m", "i": i}, status=status, columns={"model": "m"},
                        metrics=metrics, started=1.0, finished=2.0))
    return pid


def _long_pivot(db: Path) -> pd.DataFrame:
    """The metrics as the long rows hold them, pivoted by pandas: what point_metrics must equal."""
    with sqlite3.connect(db) as c:
        rows = pd.read_sql_query("SELECT point, name, value FROM metrics", c)
    return rows.pivot(index="point", columns="name", values="value")


def _metrics_of(df: pd.DataFrame, names) -> pd.DataFrame:
    return df.set_index("id")[sorted(names)].sort_index()


def _store(tmp_path: Path) -> Path:
    db = tmp_path / "r.db"
    with Store(db) as s:
        _write(s, 1, {"accuracy": 0.5, "infer_energy_pj": 2e6})
        _write(s, 2, {"accuracy": 0.25, "infer_energy_pj": 1e6, "odd 'name\"": 3.0})   # quotes in a name
        _write(s, 3, {}, status="failed")
        s.enqueue([("q" * 16, {"model": "m"}, None, None)])
    return db


def test_points_read_from_point_metrics_equal_the_long_rows(tmp_path):
    db = _store(tmp_path)
    with Store(db, readonly=True) as s:
        df = s.points()
        assert s.conn.execute("SELECT COUNT(*) FROM point_metrics").fetchone()[0] == 2
    names = ["accuracy", "infer_energy_pj", "odd 'name\""]
    want = _long_pivot(db)[names].sort_index()
    got = _metrics_of(df[df["status"] == "done"], names)
    pd.testing.assert_frame_equal(got, want, check_names=False)
    assert np.isnan(df.set_index("id").loc["q" * 16, "accuracy"])   # a queued point has no metrics


def test_hand_written_updates_and_deletes_of_metrics_reach_point_metrics(tmp_path):
    db = _store(tmp_path)
    with Store(db) as s:
        s.conn.execute("UPDATE metrics SET value = value * 10 WHERE name = 'infer_energy_pj'")
        s.conn.execute("UPDATE metrics SET name = 'accuracy_top1' WHERE name = 'accuracy' AND point = ?",
                       (f"{1:016x}",))
        s.conn.execute("DELETE FROM metrics WHERE name = 'odd ''name\"'")
        s.conn.commit()
        _write(s, 4, {"accuracy": 0.75, "infer_energy_pj": 5.0})
        _write(s, 2, {"accuracy": 0.9})   # a done point is never overwritten: nothing changes
    with Store(db, readonly=True) as s:
        df = s.points()
    names = ["accuracy", "accuracy_top1", "infer_energy_pj"]
    want = _long_pivot(db).reindex(columns=names).sort_index()
    got = _metrics_of(df[df["status"] == "done"], names)
    pd.testing.assert_frame_equal(got, want, check_names=False)
    assert "odd 'name\"" not in df.columns   # no point has it any more
    assert df.set_index("id").loc[f"{2:016x}", "infer_energy_pj"] == 1e7


def test_an_older_store_is_read_read_only_and_upgraded_by_a_writer(tmp_path):
    db = _store(tmp_path)
    with Store(db) as s:   # as written before point_metrics existed
        for (t,) in s.conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
            s.conn.execute(f"DROP TRIGGER {t}")
        s.conn.executescript("DROP TABLE point_metrics; DROP TABLE metric_columns;")
    with Store(db, readonly=True) as s:   # a reader never writes: it reads the long rows
        old = s.points()
        assert "point_metrics" not in {r[0] for r in s.conn.execute("SELECT name FROM sqlite_master")}
    with Store(db) as s:   # a writer adds and fills the table
        _write(s, 5, {"accuracy": 0.1, "new_metric": 7.0})
    with Store(db, readonly=True) as s:
        assert s.conn.execute("SELECT COUNT(*) FROM point_metrics").fetchone()[0] == 3
        new = s.points()
    pd.testing.assert_frame_equal(new[new["id"] != f"{5:016x}"].drop(columns="new_metric").reset_index(drop=True),
                                  old.reset_index(drop=True))
    assert new.set_index("id").loc[f"{5:016x}", "new_metric"] == 7.0


def test_a_name_without_a_column_is_still_read(tmp_path):
    """A metric written by a hwsim that keeps no point_metrics column for it (an older one) is read from
    the long rows."""
    db = _store(tmp_path)
    with sqlite3.connect(db) as c:
        c.execute("INSERT INTO metrics VALUES (?, 'from_older', 4.5)", (f"{1:016x}",))
    with Store(db, readonly=True) as s:
        df = s.points().set_index("id")
        sub = s.points(ids=[f"{1:016x}"]).set_index("id")
    assert df.loc[f"{1:016x}", "from_older"] == 4.5 and sub.loc[f"{1:016x}", "from_older"] == 4.5
    assert df.loc[f"{1:016x}", "accuracy"] == 0.5 and np.isnan(df.loc[f"{2:016x}", "from_older"])


@pytest.mark.parametrize("status", [None, "done"])
def test_a_subset_reads_only_its_points(tmp_path, status):
    db = _store(tmp_path)
    with Store(db, readonly=True) as s:
        df = s.points(status=status, ids=[f"{2:016x}", "q" * 16])
    assert set(df["id"]) == ({f"{2:016x}"} if status else {f"{2:016x}", "q" * 16})
    assert df.set_index("id").loc[f"{2:016x}", "odd 'name\""] == 3.0


def test_a_whole_read_takes_the_names_from_the_columns(tmp_path):
    """Reading every point takes the metric names off point_metrics (the columns holding a value) while
    its columns hold every metric row, not off the distinct names of every metric row (0.4 s at 50,000
    points); the same frame either way."""
    db = _store(tmp_path)
    with Store(db, readonly=True) as s:
        seen: list[str] = []
        s.conn.set_trace_callback(seen.append)
        fast = s.points()
        s.conn.set_trace_callback(None)
        assert not [q for q in seen if "DISTINCT name FROM metrics" in q]
        slow = s.points(ids=list(fast["id"]))   # a subset reads the names of its points' rows
    pd.testing.assert_frame_equal(fast.sort_values("id").reset_index(drop=True),
                                  slow.sort_values("id").reset_index(drop=True))
