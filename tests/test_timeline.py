"""hwsim.timeline: off unless HWSIM_TIMELINE names a file; each mark is the time, the process, its role,
the CPU seconds the process has used and the event."""

from __future__ import annotations

import os
import time

from hwsim import timeline


def test_marks_carry_the_processs_cpu_seconds(tmp_path, monkeypatch):
    path = tmp_path / "t.txt"
    monkeypatch.setenv(timeline.ENV, str(path))
    timeline.mark("worker", "trace starts")
    spin = time.process_time() + 0.05
    while time.process_time() < spin:   # use some CPU between the two marks
        pass
    timeline.mark("worker", "trace ends with spaces in it")
    (t1, pid1, role1, cpu1, ev1), (t2, pid2, _, cpu2, ev2) = timeline.read(str(path))
    assert (pid1, pid2, role1) == (os.getpid(), os.getpid(), "worker")
    assert (ev1, ev2) == ("trace starts", "trace ends with spaces in it")
    assert t2 >= t1 and cpu2 - cpu1 >= 0.04
    assert abs(cpu2 - time.process_time()) < 1.0


def test_off_without_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv(timeline.ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    timeline.mark("parent", "run_points")
    assert list(tmp_path.iterdir()) == []
