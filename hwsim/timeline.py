"""Timestamps of a sweep's stages, from every process of a run, for finding where its wall time goes.

Off unless ``HWSIM_TIMELINE`` names a file: then each call of :func:`mark` appends one line
``<time.time()> <pid> <role> <CPU seconds of the process so far> <event>`` to it (one short ``write``
of an append-mode file, so lines from the parent and its workers do not interleave). ``HWSIM_PROFILE`` naming a folder also runs each sweep
worker under cProfile and writes ``worker-<pid>.prof`` there when it exits
(:func:`hwsim.sweep.runner._worker_main`). ``benchmarks/sweep_scaling.py --timeline`` sets both and
prints the merged timeline.
"""

from __future__ import annotations

import os
import time

ENV = "HWSIM_TIMELINE"
PROFILE_ENV = "HWSIM_PROFILE"


def mark(role: str, event: str) -> None:
    """Record that ``role`` (parent, worker) reached ``event`` now; nothing when the timeline is off."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = f"{time.time():.4f} {os.getpid()} {role} {time.process_time():.3f} {event}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read(path: str) -> list[tuple[float, int, str, float, str]]:
    """The lines :func:`mark` wrote, in time order: (time, pid, role, CPU seconds, event)."""
    out = []
    with open(path) as f:
        for line in f:
            t, pid, role, cpu, event = line.rstrip("\n").split(" ", 4)
            out.append((float(t), int(pid), role, float(cpu), event))
    return sorted(out)
