"""A results store is written only when it is hwsim's own and writable: told in one line before any write."""

from __future__ import annotations

import hashlib

import pytest

import hwsim.store as store_mod
from hwsim.errors import UserError
from hwsim.store import Store


def test_read_only_store_is_one_line_before_writing(tmp_path, monkeypatch):
    db = tmp_path / "r.db"
    Store(db).close()
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    # as on a read-only file system (a root user ignores file modes, so the check is made to see one)
    real = store_mod.os.access
    monkeypatch.setattr(store_mod.os, "access", lambda p, mode: False if str(p) == str(db) else real(p, mode))
    with pytest.raises(UserError, match="read-only"):
        Store(db)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    with Store(db, readonly=True) as s:   # reading it still works
        assert s.counts() == {}


def test_foreign_sqlite_is_refused_and_left_unaltered(tmp_path):
    import sqlite3

    f = tmp_path / "app.db"
    con = sqlite3.connect(f)
    con.execute("CREATE TABLE settings (k TEXT, v TEXT)")
    con.commit()
    con.close()
    before = f.read_bytes()
    with pytest.raises(UserError, match="not a hwsim results store"):
        Store(f)
    assert f.read_bytes() == before
