"""Usage mistakes on the command line: one ``error: WHERE: WHAT`` line and exit 2, through a real
``hwsim`` process (the console script's ``main``), with ``click`` made unimportable as on a core
install (typer vendors its own copy)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Runs hwsim.cli.main in a fresh interpreter where `import click` fails.
NO_CLICK = "import sys; sys.modules['click'] = None; from hwsim.cli import main; sys.exit(main(sys.argv[1:]))"


def run(*args: str, no_click: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", NO_CLICK, *args] if no_click else [sys.executable, "-m", "hwsim.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ})


USAGE_MISTAKES = [
    (["bogus"], "hwsim: No such command"),
    (["count", "--nope"], "hwsim count: No such option: --nope"),
    (["count", "resnet20", "--batch", "x"], "hwsim count --batch"),
    (["sweep"], "hwsim sweep FILE: required argument missing"),
    (["serve", "--port", "99999999"], "hwsim serve --port"),
    (["cost", "resnet20", "--scheme"], "requires an argument"),
]


@pytest.mark.parametrize("argv,expect", USAGE_MISTAKES, ids=[" ".join(a) for a, _ in USAGE_MISTAKES])
def test_usage_mistake_is_one_error_line_exit_2(argv, expect):
    r = run(*argv)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert expect in lines[0]
    assert "Traceback" not in r.stderr


def test_bare_hwsim_prints_help_and_exits_0():
    r = run()
    assert r.returncode == 0, r.stderr
    assert "Usage" in r.stdout and "sweep" in r.stdout
    assert r.stderr == ""


def test_console_script_entry_point_is_main():
    r = run("bogus", no_click=False)
    assert r.returncode == 2 and r.stderr.startswith("error: hwsim: No such command")


def test_control_characters_in_a_mistake_stay_on_one_line():
    r = run("bo\ngus\x1b[31m")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "\x1b" not in r.stderr


def test_a_missing_verb_module_fails_loudly():
    code = ("import sys; sys.modules['hwsim.cli_verbs.pareto'] = None\n"
            "import hwsim.cli\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "hwsim.cli_verbs.pareto" in r.stderr


def test_schemes_shows_allowed_values_of_enumerated_hyper_parameters():
    r = run("schemes")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    # piped output wraps the prose at words to a readable width; no name is cut
    assert max(len(line) for line in lines) <= 160
    start = next(i for i, line in enumerate(lines) if line.startswith("│ graham "))
    block = []
    for line in lines[start:]:
        if not line.startswith("│"):
            break
        block.append(line.rstrip("│ ").rsplit("│", 1)[1].strip())   # the hyper-parameters cell
    assert "quantizer=L4 (L2 | L3 | L4 | L5 | U4 | U5 | U8 | O4)" in " ".join(block)
    names = [line.split("│")[1].strip() for line in lines if line.startswith("│ ")]
    assert "binaryconnect_stoch" in names and all(n in ("", *names) for n in names)
    r = run("schemes", "--json")
    import json

    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["graham"]["allowed"]["quantizer"] == ["L2", "L3", "L4", "L5", "U4", "U5", "U8", "O4"]
    assert "weight_bits" not in rows["kbit"]["allowed"]   # an open integer is not an enumeration


def test_piped_tables_are_not_cut_to_80_columns(tmp_path):
    topo = tmp_path / "t.csv"
    topo.write_text("Layer, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                    "a_very_long_layer_name_that_would_be_folded_in_a_narrow_table, 16, 16, 3, 3, 8, 16, 1,\n")
    r = run("simulate", "--topology", str(topo), "--accelerator", "tpu_like")
    assert r.returncode == 0, r.stderr
    rows = [line for line in r.stdout.splitlines() if "a_very_long_layer_name_that_would_be_folded" in line]
    assert len(rows) == 1 and len(rows[0]) > 80 and "…" not in r.stdout


@pytest.mark.parametrize("args", [["--help"], ["models"], ["models", "--json"], ["schemes"], ["schemes", "--json"]])
def test_listing_verbs_do_not_import_torch(args):
    """The listings read declared data: importing torch (seconds) would make them slow to start."""
    code = ("import sys; from hwsim.cli import main\n"
            f"assert main({args!r}) == 0\n"
            "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
            "assert not bad, f'torch imported: {bad[:5]}'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**os.environ})
    assert r.returncode == 0, r.stderr[-2000:]
