"""docs/seeds.md: every *fast* row's command is run and its figure must appear in what it prints.
(The *slow* rows train networks; they are documented with their commands and not rerun here.)"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| (?P<item>.+?) \| (?P<seed>.+?) \| `(?P<cmd>[^`]+)` \| `(?P<fig>[^`]+)` \| (?P<test>fast|slow) \|$")


def rows() -> list[dict[str, str]]:
    out = [m.groupdict() for line in (ROOT / "docs" / "seeds.md").read_text().splitlines() if (m := ROW.match(line))]
    assert len(out) >= 20, "docs/seeds.md table not found"
    return out


@cache
def output(cmd: str) -> str:
    argv = shlex.split(cmd)
    if argv[0] == "hwsim":
        argv = [sys.executable, "-m", "hwsim.cli", *argv[1:]]
    elif argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "400"}
    r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


FAST = [r for r in rows() if r["test"] == "fast"]


@pytest.mark.parametrize("row", FAST, ids=[r["fig"] for r in FAST])
def test_fast_row_reproduces(row):
    assert row["fig"] in output(row["cmd"]), f"{row['item']}: {row['fig']!r} not in the output of {row['cmd']}"


def test_every_row_names_a_runnable_command():
    for r in rows():
        first = shlex.split(r["cmd"])[0]
        assert first in ("hwsim", "python"), r["cmd"]
        if first == "python":
            assert (ROOT / shlex.split(r["cmd"])[1]).is_file(), r["cmd"]
