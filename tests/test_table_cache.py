"""Technology, hierarchy, accelerator and area tables are parsed once per process while unchanged.

A hardware sweep prices thousands of points against the same tables; the cache must never hand one
caller's edits to the next, and must see an edited file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from accel_models.area import load_area_table
from hwsim import yamlsafe
from hwsim.energy.hierarchy import load_hierarchy
from hwsim.energy.tech import TECH_DIR, load_tech
from hwsim.errors import UserError


def test_file_parsed_once_and_copied(tmp_path: Path, monkeypatch):
    f = tmp_path / "t.yaml"
    f.write_text("a: {b: [1, 2]}\n")
    calls = []
    real = yamlsafe.safe_load
    monkeypatch.setattr(yamlsafe, "safe_load", lambda *a, **k: calls.append(a) or real(*a, **k))
    first = yamlsafe.load_file(f)
    first["a"]["b"].append(3)                       # a caller's edit stays its own
    assert yamlsafe.load_file(f) == {"a": {"b": [1, 2]}}
    assert len(calls) == 1
    f.write_text("a: {b: [7]}\n")
    os.utime(f, ns=(1, 2_000_000_000))              # an edited file is read again
    assert yamlsafe.load_file(f) == {"a": {"b": [7]}} and len(calls) == 2


def test_missing_file_is_one_line(tmp_path: Path):
    with pytest.raises(UserError, match="cannot read file"):
        yamlsafe.load_file(tmp_path / "absent.yaml")


def test_loaders_give_equal_independent_tables():
    a, b = load_tech(), load_tech()
    assert a == b and a is not b
    assert load_hierarchy() == load_hierarchy()
    t1, t2 = load_area_table(), load_area_table()
    t1.data["sources"]["x"] = "edited"
    assert "x" not in t2.data["sources"] and "x" not in load_area_table().data["sources"]


def test_edited_tech_table_is_reread(tmp_path: Path):
    f = tmp_path / "mine.yaml"
    f.write_text((TECH_DIR / "45nm.yaml").read_text())
    before = load_tech(str(f)).int_add_pj.points[8]
    f.write_text(f.read_text().replace("name: 45nm", "name: 45nm-edited", 1))
    os.utime(f, ns=(1, 3_000_000_000))
    assert load_tech(str(f)).name == "45nm-edited" and load_tech(str(f)).int_add_pj.points[8] == before
