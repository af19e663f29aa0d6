"""The hostile-input corpus (tests/hostile_corpus.py): every case is one ``error:`` line with the
expected exit code, no traceback, within 10 s and 500 MB.

Time is CPU time: on a shared machine under load a case's wall time says more about its neighbours
than about hwsim (a 0.1 s case took over 10 s of wall time at a load of 14 on 2 cores); a hang is
caught by a wall-clock guard of HANG_SECONDS. Most cases run in tests/hostile_worker.py, which
imports hwsim once and forks a child per case (an address-space limit of +500 MB and a CPU-time
limit of 10 s in each); a representative subset runs as real ``hwsim`` processes, each reporting
its own CPU time and peak resident memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import hostile_corpus as corpus
import pytest

WORKER = Path(__file__).with_name("hostile_worker.py")
SECONDS, MEMORY_MB = 10, 500   # CPU seconds (a shared, loaded machine must not fail a case) and MB
HANG_SECONDS = 120
CASES = corpus.cases()
CHUNKS = 3   # separate worker processes, so pytest -n spreads them


def _files_broken(case: dict, cwd: str, sums: dict[str, str] | None) -> str | None:
    """Why the case's working folder shows harm (a marker created, a file removed or altered), or None."""
    for p in case.get("absent", []):
        if os.path.lexists(os.path.join(cwd, p)):
            return f"{p} was created (code ran that must not)"
    for p in case.get("present", []):
        if not os.path.lexists(os.path.join(cwd, p)):
            return f"{p} was removed"
    for p, digest in (sums or {}).items():
        if hashlib.sha256(Path(cwd, p).read_bytes()).hexdigest() != digest:
            return f"{p} was altered"
    return None


def _output_broken(case: dict, stderr: str, stdout: str | None) -> str | None:
    """Why stdout is not the one JSON document asked for, or either stream holds raw control characters."""
    if case.get("json_out") and stdout is not None:
        try:
            json.loads(stdout)
        except ValueError:
            return f"stdout is not one JSON document: {stdout[:80]!r}"
    if case.get("plain"):
        for name, text in (("stdout", stdout or ""), ("stderr", stderr)):
            bad = [c for c in text if (ord(c) < 32 and c not in "\n") or 127 <= ord(c) < 160
                   or unicodedata.category(c) == "Cf"]
            if bad:
                return f"{name} holds raw control characters {sorted(set(bad))!r}"
    return None


def check(case: dict, rc: int, stderr: str, stdout: str | None = None, cwd: str | None = None,
          sums: dict[str, str] | None = None) -> str | None:
    """Why a result breaks the contract, or None."""
    lines = stderr.strip().splitlines()
    if rc != case["rc"]:
        return f"exit {rc}, expected {case['rc']}"
    if "Traceback" in stderr:
        return "traceback"
    why = (_files_broken(case, cwd, sums) if cwd is not None else None) or _output_broken(case, stderr, stdout)
    if why:
        return why
    if case["rc"] == 0:
        return "an error: line on success" if any(ln.startswith("error:") for ln in lines) else None
    if len(lines) != 1 or not lines[0].startswith("error: "):
        return f"{len(lines)} lines, expected one 'error:' line"
    if case["expect"] not in lines[0]:
        return f"message lacks {case['expect']!r}"
    return None


def test_corpus_size():
    assert len(CASES) >= 150
    assert sum(c["id"].startswith("sweep/") for c in CASES) >= 60
    assert sum(c["id"].startswith("cli/") for c in CASES) >= 60


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_corpus_in_worker(chunk: int, tmp_path: Path):
    todo = CASES[chunk::CHUNKS]
    (tmp_path / "cases.json").write_text(json.dumps(corpus.materialize(todo, tmp_path / "cases")))
    subprocess.run([sys.executable, str(WORKER), str(tmp_path / "cases.json"), str(tmp_path / "res.json")],
                   check=True, timeout=600, env={**os.environ})
    results = json.loads((tmp_path / "res.json").read_text())
    assert [r["id"] for r in results] == [c["id"] for c in todo]
    bad = []
    views = {w["id"]: w for w in json.loads((tmp_path / "cases.json").read_text())}
    for c, r in zip(todo, results):
        why = check(c, r["rc"], r["stderr"], r.get("stdout"), views[c["id"]]["cwd"], views[c["id"]]["sha256"])
        if why is None and r["seconds"] > SECONDS:
            why = f"took {r['seconds']} s of CPU"
        if why is None and r["memory_mb"] > MEMORY_MB:
            why = f"grew {r['memory_mb']} MB"
        if why:
            bad.append(f"{c['id']}: {why}: {r['stderr'].strip().splitlines()[-1:]!r}")
    assert not bad, "\n".join(bad)


# A real process for each kind of input: command-line parsing, YAML hostility, validation, pre-run
# checks and a missing extra.
SUBSET = ["cli/unknown_verb_0", "cli/count_unknown_option",
          "cli/sweep_missing_argument", "cli/serve_port_big", "cli/int_overflow", "cli/control_chars_in_model",
          "cli/count_scheme_bomb", "sweep/alias_bomb_9x9", "sweep/self_alias_list", "sweep/deep_list",
          "sweep/bigint_epochs", "sweep/nul_byte_value", "sweep/duplicate_key_top", "sweep/recipe_epochs_bool",
          "sweep/grid_too_large", "sweep/model_width_negative", "extra/report_xlsx_without_openpyxl",
          "cli/cost_scheme_file_bomb", "cli/simulate_phase_unknown",
          "sweep/code_os_system_dry_run", "sweep/code_file_model_untrusted", "cli/count_factory_abort",
          "cli/count_factory_prints_json", "cli/count_pt2_weight_pickle", "cli/count_pt2_zip_bomb",
          "store/sweep_into_foreign_sqlite", "cli/count_layer_names_escaped", "cli/simulate_clock_inf"]

# The console script's main in a fresh interpreter, the case's blocked modules made unimportable
# first; at exit it writes its own peak resident memory (KiB) and CPU seconds to the file named by argv[1].
# Peak memory is VmHWM, this process's own high-water mark: ru_maxrss would not do, since Linux carries
# the parent's peak across fork and exec (a 1.4 GB pytest worker made every case read 1.4 GB).
LAUNCH = ("import atexit, json, resource, sys\n"
          "peak, block = sys.argv[1], json.loads(sys.argv[2])\n"
          "def done():\n"
          "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
          "    kb = next(int(ln.split()[1]) for ln in open('/proc/self/status') if ln.startswith('VmHWM:'))\n"
          "    open(peak, 'w').write(f'{kb} {r.ru_utime + r.ru_stime}')\n"
          "atexit.register(done)\n"
          "for m in block: sys.modules[m] = None\n"
          "from hwsim.cli import main\n"
          "sys.exit(main(sys.argv[3:]))\n")


@pytest.mark.parametrize("case_id", SUBSET)
def test_corpus_real_process(case_id: str, tmp_path: Path):
    case = next(c for c in CASES if c["id"] == case_id)
    [w] = corpus.materialize([case], tmp_path)
    peak = tmp_path / "peak_kb"
    cmd = [sys.executable, "-c", LAUNCH, str(peak), json.dumps(w["block"]), *w["argv"]]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, cwd=w["cwd"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ})
    try:
        out, err = p.communicate(timeout=HANG_SECONDS)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail(f"{case_id}: still running after {HANG_SECONDS} s")
    wall = time.monotonic() - t0
    why = check(case, p.returncode, err, out, w["cwd"], w["sha256"])
    assert why is None, (why, err[-2000:])
    # CPU time and peak resident memory of the whole process: interpreter, imports and the case
    kb, cpu = peak.read_text().split()
    assert float(cpu) < SECONDS, f"{case_id}: {cpu} s of CPU ({wall:.1f} s wall)"
    assert int(kb) / 1024 < MEMORY_MB, f"{case_id}: peak {int(kb) / 1024:.0f} MB"
