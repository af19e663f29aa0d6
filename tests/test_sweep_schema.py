"""Malformed sweep files: each gives one line ``error: FILE[:LINE]: ...``, exit code 2, no traceback.

The cases are generated from one valid file by small edits (wrong types, unknown names,
missing keys, bad ranges, YAML syntax errors, empty file, ...). Most run the CLI in-process
(``hwsim.cli.main``) for speed; a few run it as a subprocess to prove the exit code and that
no traceback is printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# the valid sweep file, its accelerator and literature file: the same ones the hostile-input corpus edits
from hostile_corpus import ACC, VALID
from hostile_corpus import LIT as LIT_OK

from hwsim.cli import main


def sub(old: str, new: str):
    def f(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)
    return f


def const(text: str):
    return lambda _t: text


# (case id, edit of VALID, expected line or None, a fragment of the message)
CASES = [
    ("empty", const(""), 1, "empty file"),
    ("only_comment", const("# nothing here\n"), 1, "empty file"),
    ("yaml_unclosed_flow", sub("models: [lenet300]", "models: [lenet300"), None, "YAML syntax error"),
    ("yaml_bad_indent", sub("  - fp32", "    - fp32\n  bad: [1"), None, "YAML syntax error"),
    ("yaml_tab", sub("  - fp32", "\t- fp32"), None, "YAML syntax error"),
    ("yaml_python_tag", sub("name: ok", "name: !!python/object:os.system ok"), 1, "is not allowed here"),
    ("yaml_unclosed_quote", sub("name: ok", 'name: "ok'), None, "YAML syntax error"),
    ("top_level_list", const("- a\n- b\n"), 1, "mapping"),
    ("top_level_scalar", const("just text\n"), 1, "mapping"),
    ("non_string_key", sub("name: ok", "name: ok\n1: x"), None, "keys must be strings"),
    ("unknown_top_key", sub("name: ok", "name: ok\nmodles: [x]"), 2, "unknown key"),
    ("missing_name", sub("name: ok\n", ""), None, "required key missing"),
    ("empty_name", sub("name: ok", "name: ''"), 1, "at least 1 character"),
    ("bad_name_chars", sub("name: ok", "name: a/b c"), 1, "pattern"),
    ("name_is_list", sub("name: ok", "name: [a]"), 1, "valid string"),
    ("bad_combine", sub("name: ok", "name: ok\ncombine: cartesian"), 2, "grid"),
    ("models_not_list", sub("models: [lenet300]", "models: lenet300"), 2, "valid list"),
    ("model_is_int", sub("models: [lenet300]", "models: [123]"), 2, "models[0]"),
    ("unknown_model", sub("models: [lenet300]", "models: [lenet301]"), 2, "unknown model 'lenet301'"),
    ("model_unknown_arg", sub("models: [lenet300]", "models: [{name: lenet300, args: {depth: 3}}]"), 2,
     "takes no argument 'depth'"),
    ("model_entry_extra_key", sub("models: [lenet300]", "models: [{name: lenet300, width: 3}]"), 2, "unknown key"),
    ("model_entry_no_name", sub("models: [lenet300]", "models: [{args: {}}]"), 2, "required key missing"),
    ("unknown_dataset", sub("datasets: [digits]", "datasets: [digitz]"), 3, "unknown dataset 'digitz'"),
    ("dataset_not_list", sub("datasets: [digits]", "datasets: 5"), 3, "valid list"),
    ("unknown_scheme", sub("  - fp32", "  - fp33"), 5, "unknown scheme 'fp33'"),
    ("unknown_scheme_in_map", sub("name: kbit,", "name: kbyte,"), 6, "unknown scheme 'kbyte'"),
    ("scheme_bad_param", sub("weight_bits: [2, 4]", "wbits: [2, 4]"), 6, "schemes[1]"),
    ("scheme_param_type", sub("weight_bits: [2, 4]", "weight_bits: [two]"), 6, "weight_bits"),
    ("scheme_vary_empty", sub("weight_bits: [2, 4]", "weight_bits: []"), 6, "empty list"),
    ("scheme_vary_not_list", sub("weight_bits: [2, 4]", "weight_bits: 4"), 6, "valid list"),
    ("scheme_map_no_name", sub("{name: kbit, vary:", "{vary:"), 6, "required key missing"),
    ("scheme_is_number", sub("  - fp32", "  - 3.5"), 5, "schemes[0]"),
    ("epochs_zero", sub("epochs: 1", "epochs: 0"), 8, "greater than or equal to 1"),
    ("epochs_text", sub("epochs: 1", "epochs: three"), 8, "valid integer"),
    ("epochs_float", sub("epochs: 1", "epochs: 1.5"), 8, "epochs"),
    ("batch_negative", sub("batch: 32", "batch: -1"), 8, "batch"),
    ("lr_zero", sub("lr: 0.05", "lr: 0"), 8, "greater than 0"),
    ("lr_huge", sub("lr: 0.05", "lr: 1e9"), 8, "less than or equal to 100"),
    ("bad_optimizer", sub("lr: 0.05", "lr: 0.05, optimizer: rmsprop"), 8, "sgd"),
    ("momentum_range", sub("lr: 0.05", "lr: 0.05, momentum: 1.5"), 8, "momentum"),
    ("recipe_unknown_key", sub("lr: 0.05", "lr: 0.05, lrate: 1"), 8, "unknown key"),
    ("recipes_empty", sub("recipes:\n  - {epochs: 1, batch: 32, lr: 0.05}", "recipes: []"), 7, "at least one recipe"),
    ("recipe_not_map", sub("  - {epochs: 1, batch: 32, lr: 0.05}", "  - fast"), 8, "recipes[0]"),
    ("unknown_tech", sub("tech: [45nm]", "tech: [7nm]"), 9, "unknown tech '7nm'"),
    ("tech_empty", sub("tech: [45nm]", "tech: []"), 9, "at least 1 item"),
    ("unknown_accelerator", sub("accelerators: [ACC]", "accelerators: [no_such_array]"), 10,
     "unknown accelerator 'no_such_array'"),
    ("accelerators_missing", sub("accelerators: [ACC]\n", ""), None, "at least one accelerator"),
    ("grid_missing_datasets", sub("datasets: [digits]\n", ""), None, "missing datasets"),
    ("list_without_points", sub("name: ok", "name: ok\ncombine: list"), None, "needs a 'points' list"),
    ("points_with_grid", sub("name: ok", "name: ok\npoints: [{model: lenet300}]"), None, "only read with combine: list"),
    ("point_unknown_key", sub("name: ok", "name: ok\ncombine: list\npoints: [{modl: lenet300}]"), 3, "unknown key"),
    ("point_ambiguous_axis", lambda t: t.replace("name: ok", "name: ok\ncombine: list\npoints:\n  - {model: lenet300}"),
     4, "leaves out 'scheme'"),
    ("zip_lengths", lambda t: t.replace("name: ok", "name: ok\ncombine: zip").replace(
        "models: [lenet300]", "models: [lenet300, lenet300]"), 3, "1 or 3 entries"),
    ("include_missing", sub("name: ok", "name: ok\ninclude: [nothere.yaml]"), 2, "file not found"),
    ("include_self", sub("name: ok", "name: ok\ninclude: [sweep.yaml]"), 2, "include cycle"),
    ("literature_missing", sub("name: ok", "name: ok\nliterature: [nolit.yaml]"), 2, "file not found"),
    ("literature_row_no_figure", sub("name: ok", "name: ok\nliterature: [lit_nofig.yaml]"), 3, "exactly one of"),
    ("literature_row_both", sub("name: ok", "name: ok\nliterature: [lit_both.yaml]"), 3, "exactly one of"),
    ("literature_bad_accuracy", sub("name: ok", "name: ok\nliterature: [lit_range.yaml]"), 3, "less than or equal to 1"),
    ("literature_unknown_model", sub("name: ok", "name: ok\nliterature: [lit_model.yaml]"), 3, "unknown model"),
    ("literature_no_citation", sub("name: ok", "name: ok\nliterature: [lit_nocite.yaml]"), 1, "citation"),
    ("search_unknown_objective", sub("name: ok", "name: ok\nsearch: {objectives: [accuracy, joules], budget: 4}"),
     2, "unknown objective 'joules'"),
    ("search_one_objective", sub("name: ok", "name: ok\nsearch: {objectives: [accuracy], budget: 4}"), 2,
     "at least 2 items"),
    ("search_budget_zero", sub("name: ok", "name: ok\nsearch: {objectives: [accuracy, error], budget: 0}"), 2,
     "budget"),
    ("search_no_budget", sub("name: ok", "name: ok\nsearch: {objectives: [accuracy, error]}"), 2, "required key"),
    ("search_with_zip", sub("name: ok", "name: ok\ncombine: zip\nsearch: {objectives: [accuracy, error], budget: 3}"),
     None, "combine: grid"),
    ("pricing_batch_zero", sub("name: ok", "name: ok\npricing: {batch: 0}"), 2, "greater than or equal to 1"),
    ("pricing_unknown_key", sub("name: ok", "name: ok\npricing: {batchsize: 8}"), 2, "unknown key"),
    ("bad_accuracy_source", sub("name: ok", "name: ok\naccuracy: maybe"), 2, "train"),
    ("store_not_string", sub("name: ok", "name: ok\nstore: [a.db]"), 2, "valid string"),
    ("description_is_map", sub("name: ok", "name: ok\ndescription: {a: 1}"), 2, "valid string"),
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "acc.yaml").write_text(ACC)
    (tmp_path / "lit_nofig.yaml").write_text(LIT_OK.replace(", error: 0.05", ""))
    (tmp_path / "lit_both.yaml").write_text(LIT_OK.replace("error: 0.05", "error: 0.05, accuracy: 0.95"))
    (tmp_path / "lit_range.yaml").write_text(LIT_OK.replace("error: 0.05", "accuracy: 95"))
    (tmp_path / "lit_model.yaml").write_text(LIT_OK.replace("model: lenet300", "model: lenet999"))
    (tmp_path / "lit_nocite.yaml").write_text(LIT_OK.replace('citation: "A. Author, A paper, 2017"', "cite: x"))
    return tmp_path


def write(folder: Path, text: str) -> Path:
    f = folder / "sweep.yaml"
    f.write_text(text.replace("ACC", str(folder / "acc.yaml")))
    return f


def test_at_least_50_cases():
    assert len(CASES) >= 50
    assert len({c[0] for c in CASES}) == len(CASES)


def test_valid_file_passes(folder: Path, capsys):
    f = write(folder, VALID)
    assert main(["sweep", str(f), "--dry-run", "--json"]) == 0
    assert '"label"' in capsys.readouterr().out


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed(case, folder: Path, capsys):
    _, edit, line, fragment = case
    f = write(folder, edit(VALID))
    rc = main(["sweep", str(f), "--dry-run"])
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    msg = lines[0]
    assert msg.startswith("error: ") and "Traceback" not in err
    # the place: the file (or the literature file it names), and the line where we know it
    assert ".yaml" in msg, msg
    if line is not None:
        assert f".yaml:{line}:" in msg, msg
    assert fragment in msg, msg


def test_missing_file_and_bad_flags(folder: Path, capsys):
    assert main(["sweep", str(folder / "absent.yaml")]) == 2
    assert "sweep file not found" in capsys.readouterr().err
    f = write(folder, VALID)
    assert main(["sweep", str(f), "--backend", "slurm"]) == 2
    assert "error: --backend" in capsys.readouterr().err
    assert main(["sweep", str(f), "--workers", "-1"]) == 2
    assert "error: --workers" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["empty", "unknown_scheme", "yaml_unclosed_flow", "epochs_zero"])
def test_malformed_subprocess(name, folder: Path):
    case = next(c for c in CASES if c[0] == name)
    f = write(folder, case[1](VALID))
    r = subprocess.run([sys.executable, "-m", "hwsim.cli", "sweep", str(f)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: ")
    assert case[3] in r.stderr


def test_expansion_builds_each_scheme_once_not_once_per_point(monkeypatch):
    """Expanding a sweep builds a scheme once per scheme entry (its resolved parameters) and once per
    scheme name (its defaults, for the label), however many models, data sets and accelerators it meets."""
    import hwsim.schemes
    from hwsim.sweep import expand

    real, built = hwsim.schemes.build_scheme, []

    def counting(spec, *a, **k):
        built.append(spec)
        return real(spec, *a, **k)

    monkeypatch.setattr(hwsim.schemes, "build_scheme", counting)
    expand._scheme_defaults.cache_clear()
    sw, pts = expand.load_points(Path(__file__).resolve().parents[1] / "configs/sweeps/quickstart.yaml")
    names = {p.scheme.name for p in pts}
    entries = {json.dumps(p.scheme.spec(), sort_keys=True) for p in pts}
    assert len(pts) > 2 * len(entries)        # the grid meets each scheme several times
    assert len(built) <= len(entries) + len(names)


def test_checking_a_priced_sweep_of_built_in_networks_imports_no_torch():
    """A sweep of built-in networks at their defaults that trains nothing is read, checked and its axes
    resolved without torch (a search whose traces come from the trace cache never needs it); a network
    given arguments is still built on meta tensors, so a bad argument is still the user's error."""
    root = Path(__file__).resolve().parents[1]
    code = ("import sys; from pathlib import Path; from hwsim.sweep.schema import load_sweep; "
            "from hwsim.sweep.expand import grid_axes; p = Path(sys.argv[1]); sw, lm = load_sweep(p); "
            "ax = grid_axes(sw, lm, p.resolve().parent); "
            "print(len(ax['accelerators']), 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(root / "configs/sweeps/hardware_search.yaml")],
                       capture_output=True, text=True, timeout=300, check=True)
    assert r.stdout.split() == ["648", "False"], r.stdout + r.stderr


def test_a_network_given_arguments_is_still_built_before_the_run(folder: Path, capsys):
    f = write(folder, VALID.replace("models: [lenet300]", "models: [{name: lenet300, args: {hidden1: -1}}]")
              + "accuracy: none\n")
    assert main(["sweep", str(f), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "models[0].args" in err and "hidden1" in err and err.count("\n") == 1
