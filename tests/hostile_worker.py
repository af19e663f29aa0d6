"""Run hostile-corpus cases through ``hwsim.cli.main``, one forked child per case.

Usage: ``python tests/hostile_worker.py CASES.json RESULTS.json``. CASES.json is a list of
``{"id", "argv", "cwd", "block"}``. The parent imports hwsim (and torch) once; each child gets the
case's folder as its working directory, its stdout/stderr in files, an address-space limit of its
parent's size plus MEMORY_MB, a CPU-time limit of SECONDS and a wall-clock alarm as a hang guard. The
parent records exit code (or signal), stderr, CPU and wall time and the child's peak memory growth. It imports nothing from the tests, so it also
runs against an older checkout of hwsim (PYTHONPATH), to count what that one got right.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import tempfile
import time

SECONDS = 10          # CPU seconds a case may use (RLIMIT_CPU): contention on a shared machine cannot fail it
HANG_SECONDS = 120    # wall-clock alarm: only a case that waits on something forever reaches it
MEMORY_MB = 500


def _vm_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _child(case: dict, out: str, err: str) -> None:
    fd_out = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    fd_err = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd_out, 1)
    os.dup2(fd_err, 2)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    os.chdir(case["cwd"])
    limit = _vm_bytes() + MEMORY_MB * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (SECONDS, SECONDS + 1))
    signal.alarm(HANG_SECONDS)
    for m in case.get("block", []):  # as on an install without that extra
        for k in [k for k in sys.modules if k == m or k.startswith(m + ".")]:
            sys.modules[k] = None
        sys.modules[m] = None
    rc = 1
    try:
        from hwsim.cli import main

        rc = main(case["argv"])
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        rc = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc if isinstance(rc, int) else 1)


def run_cases(cases: list[dict]) -> list[dict]:
    results = []
    tmp = tempfile.mkdtemp(prefix="hwsim-corpus-")
    out, err = os.path.join(tmp, "out"), os.path.join(tmp, "err")
    for case in cases:
        base_kb = _rss_kb()
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(case, out, err)
        _, status, ru = os.wait4(pid, 0)
        wall = time.monotonic() - t0
        rc = os.waitstatus_to_exitcode(status)
        with open(err, encoding="utf-8", errors="replace") as f:
            stderr = f.read(20_000)
        with open(out, encoding="utf-8", errors="replace") as f:
            stdout = f.read(200_000)
        results.append({"id": case["id"], "rc": rc, "stderr": stderr, "stdout": stdout, "wall_seconds": round(wall, 3),
                        "seconds": round(ru.ru_utime + ru.ru_stime, 3),
                        "memory_mb": round(max(0, ru.ru_maxrss - base_kb) / 1024, 1)})
    return results


def preload() -> None:
    """What most verbs import, loaded once before forking so each case pays only its own work."""
    import hwsim.cli  # noqa: F401

    for name in ("torch", "hwsim.count", "hwsim.schemes", "hwsim.models", "hwsim.sweep.expand",
                 "hwsim.sweep.runner", "hwsim.pipeline", "hwsim.energy", "hwsim.reports", "pandas"):
        try:
            __import__(name)
        except Exception:  # an older checkout may lack one; the cases then pay for it
            pass


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["COLUMNS"] = "200"
    preload()
    with open(sys.argv[1]) as f:
        todo = json.load(f)
    with open(sys.argv[2], "w") as f:
        json.dump(run_cases(todo), f)
