"""The hostile-input corpus: command lines and sweep files a careless user or a hostile reviewer might
give hwsim. Every case must end in one ``error:`` line with exit 2 (3 for failed points), no traceback,
within 10 s and 500 MB. ``tests/test_hostile_corpus.py`` runs them; ``tests/hostile_worker.py`` is the
runner (it also works against an older checkout, to count how many cases that one got right).

A case is a dict: ``id``; ``argv`` (``{d}`` stands for the case's folder); ``files`` (name -> text or
bytes, written into the folder; ``ACC`` in a text is replaced by the test accelerator's path);
``block`` (modules made unimportable, as on an install without that extra); ``rc`` (2 unless said);
``expect`` (a fragment the error line must contain); ``absent`` (paths in the folder the case must not
create: a marker written by code that must not run), ``present`` (paths it must not remove or replace),
``json_out`` (stdout must be one JSON document); ``plain`` (stdout and stderr hold no control or bidi
character: user strings in tables are escaped); ``unchanged`` (files whose bytes the case must not alter). A case with ``rc`` 0 must succeed without an ``error:``
line (a ``note:`` line is allowed).
"""

from __future__ import annotations

from typing import Any

import hostile_files as hf

Case = dict[str, Any]

VALID = """\
name: ok
models: [lenet300]
datasets: [digits]
schemes:
  - fp32
  - {name: kbit, vary: {weight_bits: [2, 4]}}
recipes:
  - {epochs: 1, batch: 32, lr: 0.05}
tech: [45nm]
accelerators: [ACC]
"""

ACC = "name: acc\narray: {rows: 4, cols: 4}\nsram: {ifmap_kb: 8, filter_kb: 8, ofmap_kb: 8}\n"
LIT = """\
source: {citation: "A. Author, A paper, 2017"}
rows:
  - {id: r1, table: "Table 1", model: lenet300, dataset: digits, scheme: fp32, error: 0.05}
"""
NOT_A_DB = "this is not a results store\n"

_cases: list[Case] = []


def case(id: str, argv: list[str], files: dict[str, Any] | None = None, rc: int = 2, expect: str = "",
         block: list[str] | None = None, absent: list[str] | None = None, present: list[str] | None = None,
         json_out: bool = False, plain: bool = False, unchanged: list[str] | None = None) -> None:
    _cases.append({"id": id, "argv": argv, "files": files or {}, "rc": rc, "expect": expect,
                   "block": block or [], "absent": absent or [], "present": present or [], "json_out": json_out,
                   "plain": plain, "unchanged": unchanged or []})


def sweep_case(id: str, text: str | bytes, expect: str = "", extra: dict[str, Any] | None = None,
               args: list[str] | None = None) -> None:
    files = {"sweep.yaml": text, "acc.yaml": ACC, **(extra or {})}
    case("sweep/" + id, ["sweep", "{d}/sweep.yaml", "--dry-run", *(args or [])], files, expect=expect)


def edit(old: str, new: str, text: str = VALID) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def bomb(levels: int, width: int) -> str:
    lines = ["name: bomb", "a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    lines.append(f"models: *a{levels - 1}")
    return "\n".join(lines) + "\n"


# -- command lines ----------------------------------------------------------------------
VERBS = ("schemes", "models", "train", "count", "cost", "simulate", "sweep", "pareto", "report", "serve")
for v in VERBS:
    case(f"cli/{v}_unknown_option", [v, "--no-such-option"], expect="No such option")
for i, argv in enumerate([["bogus"], ["swep"], ["SWEEP"], ["-x"], [""], ["--verbose"], ["count2"],
                          ["--no-such-root-option"], ["sweep\x1b[2J"], ["r\u00e9port"]]):
    case(f"cli/unknown_verb_{i}", argv)
for v in ("count", "cost", "sweep", "pareto", "report"):
    case(f"cli/{v}_missing_argument", [v], expect="missing")
case("cli/report_missing_point", ["report", "{d}/x.db"], {"x.db": NOT_A_DB}, expect="--point")
case("cli/option_missing_value", ["count", "lenet300", "--batch"], expect="requires an argument")
case("cli/scheme_missing_value", ["count", "lenet300", "--scheme"], expect="requires an argument")

WRONG_TYPES = [
    ("count_batch_text", ["count", "lenet300", "--batch", "x"]),
    ("count_batch_float", ["count", "lenet300", "--batch", "1.5"]),
    ("count_classes_text", ["count", "lenet300", "--classes", "ten"]),
    ("count_steps_text", ["count", "lenet300", "--steps-per-epoch", "many"]),
    ("train_epochs_text", ["train", "lenet300", "--epochs", "abc"]),
    ("train_lr_text", ["train", "lenet300", "--lr", "fast"]),
    ("train_seed_text", ["train", "lenet300", "--seed", "s"]),
    ("train_limit_text", ["train", "lenet300", "--limit", "all"]),
    ("serve_port_text", ["serve", "--port", "http"]),
    ("serve_port_big", ["serve", "--port", "99999999"]),
    ("serve_port_zero", ["serve", "--port", "0"]),
    ("serve_refresh_small", ["serve", "--refresh-ms", "10"]),
    ("sweep_workers_text", ["sweep", "x.yaml", "--workers", "four"]),
    ("sweep_max_points_zero", ["sweep", "x.yaml", "--max-points", "0"]),
    ("sweep_budget_text", ["sweep", "x.yaml", "--budget", "lots"]),
    ("cost_batch_zero", ["cost", "lenet300", "--batch", "0"]),
    ("cost_rate_negative", ["cost", "lenet300", "--rate", "-1"]),
    ("cost_steps_zero", ["cost", "lenet300", "--steps-per-epoch", "0"]),
    ("simulate_batch_zero", ["simulate", "lenet300", "--batch", "0"]),
    ("simulate_batch_text", ["simulate", "lenet300", "--batch", "one"]),
    ("int_overflow", ["count", "lenet300", "--batch", "9" * 5000]),
]
for name, argv in WRONG_TYPES:
    case("cli/" + name, argv)

VALUES = [
    ("count_unknown_model", ["count", "lenet301"], "lenet301"),
    ("cost_unknown_model", ["cost", "nosuchnet", "--scheme", "fp32"], "nosuchnet"),
    ("train_unknown_model", ["train", "nosuchnet"], "nosuchnet"),
    ("simulate_unknown_model", ["simulate", "nosuchnet", "-a", "tpu_like", "--scheme", "fp32"], "nosuchnet"),
    ("count_unknown_scheme", ["count", "lenet300", "--scheme", "fp33"], "fp33"),
    ("cost_unknown_scheme", ["cost", "lenet300", "--scheme", "fp33"], "fp33"),
    ("train_unknown_scheme", ["train", "lenet300", "--scheme", "fp33", "--epochs", "1"], "fp33"),
    ("count_scheme_bad_param", ["count", "lenet300", "--scheme", "{name: kbit, nope: 1}"], "nope"),
    ("count_scheme_bad_bits", ["count", "lenet300", "--scheme", "{name: kbit, weight_bits: 0}"], "weight_bits"),
    ("count_scheme_list", ["count", "lenet300", "--scheme", "[1, 2]"], ""),
    ("count_scheme_unclosed", ["count", "lenet300", "--scheme", "{name: kbit"], ""),
    ("count_scheme_bomb", ["count", "lenet300", "--scheme",
                           "{name: &a [*a]}"], ""),
    ("count_scheme_deep", ["count", "lenet300", "--scheme", "[" * 5000 + "]" * 5000], ""),
    ("count_scheme_dup", ["count", "lenet300", "--scheme", "{name: kbit, name: twn}"], "duplicate"),
    ("count_unknown_phase", ["count", "lenet300", "--phase", "sideways"], "sideways"),
    ("count_unknown_device", ["count", "lenet300", "--device", "gpu9"], "gpu9"),
    ("count_unknown_optimizer", ["count", "lenet300", "--optimizer", "rmsprop"], "rmsprop"),
    ("count_input_zero", ["count", "lenet300", "--input", "0x0x0"], ""),
    ("count_input_text", ["count", "lenet300", "--input", "abc"], ""),
    ("count_input_negative", ["count", "resnet20", "--input", "-3x32x32"], ""),
    ("count_input_absurd", ["count", "resnet20", "--device", "cpu", "--input", "3x999999x999999"], ""),
    ("count_batch_absurd", ["count", "resnet20", "--device", "cpu", "--batch", "1000000000000"], ""),
    ("count_missing_model_file", ["count", "{d}/nothere.py:make"], ""),
    ("count_missing_onnx", ["count", "{d}/nothere.onnx"], ""),
    ("cost_unknown_tech", ["cost", "lenet300", "--tech", "3nm_magic"], "3nm_magic"),
    ("cost_bad_node", ["cost", "lenet300", "--node", "furlongs"], "furlongs"),
    ("cost_missing_hierarchy", ["cost", "lenet300", "--hierarchy", "{d}/nothere.yaml"], "nothere"),
    ("cost_unknown_accelerator", ["cost", "lenet300", "--scheme", "fp32", "--accelerator", "nosuch"], "nosuch"),
    ("cost_set_without_equals", ["cost", "lenet300", "--accelerator", "tpu_like", "--set", "array.rows"], ""),
    ("cost_set_bad_value", ["cost", "lenet300", "--accelerator", "tpu_like", "--set", "array.rows=abc"], ""),
    ("cost_set_unknown_field", ["cost", "lenet300", "--accelerator", "tpu_like", "--set", "array.nope=1"], ""),
    ("simulate_unknown_accelerator", ["simulate", "lenet300", "-a", "nosuch"], "nosuch"),
    ("simulate_missing_topology", ["simulate", "-a", "tpu_like", "--topology", "{d}/nothere.csv"], "nothere"),
    ("simulate_bad_topology_kind", ["simulate", "-a", "tpu_like", "--topology", "{d}/t.csv", "--topology-kind", "weird"], "weird"),
    ("simulate_bad_format", ["simulate", "lenet300", "--format", "xml"], "xml"),
    ("simulate_nothing", ["simulate"], ""),
    ("train_unknown_dataset", ["train", "lenet300", "--dataset", "nosuch"], "nosuch"),
    ("train_unknown_optimizer", ["train", "lenet300", "--optimizer", "rmsprop"], "optimizer"),
    ("train_missing_data_root", ["train", "lenet300", "--dataset", "mnist", "--data-root", "{d}/none"], ""),
    ("train_epochs_zero", ["train", "lenet300", "--epochs", "0"], ""),
    ("train_batch_zero", ["train", "lenet300", "--batch", "0"], ""),
    ("pareto_missing_db", ["pareto", "{d}/nothere.db"], "nothere"),
    ("pareto_not_a_db", ["pareto", "{d}/x.db"], ""),
    ("pareto_directory", ["pareto", "{d}"], ""),
    ("report_missing_db", ["report", "{d}/nothere.db", "-p", "abc"], "nothere"),
    ("report_not_a_db", ["report", "{d}/x.db", "-p", "abc"], ""),
    ("report_bad_format", ["report", "{d}/x.db", "-p", "abc", "--format", "pdf"], "pdf"),
    ("serve_missing_db", ["serve", "{d}/nothere.db"], "nothere"),
    ("serve_not_a_db", ["serve", "{d}/x.db"], ""),
    ("sweep_missing_file", ["sweep", "{d}/nothere.yaml"], "not found"),
    ("sweep_directory", ["sweep", "{d}"], ""),
    ("sweep_dev_null", ["sweep", "/dev/null"], ""),
    ("sweep_bad_backend", ["sweep", "{d}/x.yaml", "--backend", "slurm"], "slurm"),
    ("sweep_negative_workers", ["sweep", "{d}/x.yaml", "--workers", "-1"], "--workers"),
    ("sweep_address_without_ray", ["sweep", "{d}/x.yaml", "--address", "1.2.3.4:6379"], "--address"),
    ("long_argument", ["count", "x" * 100_000], ""),
    ("control_chars_in_model", ["count", "lenet\x1b[31m300\r\n"], ""),
    ("newline_in_path", ["sweep", "{d}/a\nb.yaml"], ""),
]
for name, argv, expect in VALUES:
    case("cli/" + name, argv, {"x.db": NOT_A_DB, "x.yaml": VALID.replace("ACC", "tpu_like"),
                               "t.csv": "Layer, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                                        "Num Filter, Strides,\nc1, 8, 8, 3, 3, 4, 8, 1,\n"}, expect=expect)

# -- the workload options, the same on every verb that takes a model ---------------------------
_VERB_ARGS = {"count": [], "cost": [], "simulate": ["-a", "tpu_like"], "train": ["--epochs", "1"]}
WORKLOAD_BAD = [
    ("phase_unknown", ["--phase", "sideways"], "--phase"),
    ("phase_contradicts_infer", ["--infer", "--phase", "train"], "--phase"),
    ("input_text", ["--input", "abc"], "--input"),
    ("input_zero", ["--input", "0x0x0"], "--input"),
    ("input_alias_conflict", ["--input", "1x28x28", "--input-shape", "3x32x32"], "--input"),
    ("scheme_list", ["--scheme", "[1, 2]"], "--scheme"),
    ("scheme_bad_bits", ["--scheme", "{name: kbit, weight_bits: 0}"], "weight_bits"),
    ("scheme_unclosed", ["--scheme", "{name: kbit"], "--scheme"),
    ("scheme_file_missing", ["--scheme", "{d}/nothere.yaml"], "nothere"),
    ("optimizer_unknown", ["--optimizer", "rmsprop"], "rmsprop"),
    ("classes_zero", ["--classes", "0"], "--classes"),
    ("batch_negative", ["-b", "-3"], "--batch"),
]
for verb, extra in _VERB_ARGS.items():
    for name, args, expect in WORKLOAD_BAD:
        if verb == "count" and name in ("phase_unknown", "input_text", "input_zero", "scheme_list",
                                        "scheme_bad_bits", "scheme_unclosed", "optimizer_unknown", "classes_zero"):
            continue   # count's own cases above
        case(f"cli/{verb}_{name}", [verb, "lenet300", *extra, *args], expect=expect)
SCHEME_FILES = {"bomb": bomb(9, 9), "selfref": "name: &a [*a]\n", "list": "- kbit\n", "dup": "name: kbit\nname: twn\n",
                "nul": "name: kbit\x00\n", "binary": b"\x89PNG\r\n\x1a\n", "python_tag": "name: !!python/name:os.system\n"}
for name, text in SCHEME_FILES.items():
    case(f"cli/cost_scheme_file_{name}", ["cost", "lenet300", "--scheme", "{d}/s.yaml"], {"s.yaml": text})
case("cli/cost_scheme_file_directory", ["cost", "lenet300", "--scheme", "{d}/sub.yaml"], {"sub.yaml/x": "x"},
     expect="--scheme")
case("cli/cost_input_rank_rejected", ["cost", "resnet20", "--input", "3x2x2x2x2"], expect="--input")
case("cli/simulate_tokens_into_a_cnn", ["simulate", "resnet20", "-a", "tpu_like", "--input", "tokens:16"],
     expect="--input")
case("cli/train_input_not_the_datasets", ["train", "lenet300", "--input", "3x32x32"], expect="--input")
case("cli/train_classes_not_the_datasets", ["train", "lenet300", "--classes", "3"], expect="--classes")
case("cli/cost_trace_file_with_batch", ["cost", "{d}/t.json", "--batch", "4"], {"t.json": "{}"}, expect="--batch")
case("cli/simulate_topology_with_scheme", ["simulate", "-a", "tpu_like", "--topology", "{d}/t.csv", "-s", "bnn"],
     {"t.csv": "Layer, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
               "c1, 8, 8, 3, 3, 4, 8, 1,\n"}, expect="--scheme")
case("cli/simulate_trace_file_garbage", ["simulate", "{d}/t.json", "-a", "tpu_like"], {"t.json": "[1, 2"})

# -- missing extras on a core install ----------------------------------------------------
STORE = "store.db"   # made by the test (an empty but valid results store)
case("extra/serve_without_dash", ["serve", "{d}/" + STORE], block=["dash", "dash_bootstrap_components",
                                                                     "dash_ag_grid", "plotly", "webapp"],
     expect="pip install 'hwsim[web]'")
case("extra/report_xlsx_without_openpyxl", ["report", "{d}/" + STORE, "-p", "abc", "--format", "xlsx"],
     block=["openpyxl"], expect="pip install 'hwsim[reports]'")
case("extra/search_without_optuna", ["sweep", "{d}/s.yaml", "--workers", "0"],
     {"s.yaml": VALID.replace("ACC", "tpu_like").replace(
         "name: ok", "name: ok\nsearch: {objectives: [accuracy, train_energy_pj_per_step], budget: 2}")},
     block=["optuna"], expect="pip install 'hwsim[search]'")
case("extra/ray_without_ray", ["sweep", "{d}/x.yaml", "--backend", "ray", "--workers", "1"],
     {"x.yaml": VALID.replace("ACC", "tpu_like")}, block=["ray"], expect="pip install 'hwsim[ray]'")

# -- sweep files: YAML ------------------------------------------------------------------
sweep_case("alias_bomb_9x9", bomb(9, 9), "aliases")
sweep_case("alias_bomb_5x20", bomb(5, 20), "aliases")
_ARGS_BOMB = "".join(f"{c}: &{c} [" + ", ".join([f"*{p}" if p else "1"] * 10) + "]\n"
                     for p, c in zip(["", "b", "c", "d", "e", "f"], ["b", "c", "d", "e", "f", "g"]))
sweep_case("alias_bomb_in_args", _ARGS_BOMB + edit("models: [lenet300]", "models: [{name: lenet300, args: {x: *g}}]"),
           "aliases")
sweep_case("self_alias_list", "name: ok\nmodels: &a [*a]\n", "alias")
sweep_case("self_alias_map", "name: ok\nmodels: &a {x: *a}\n", "alias")
sweep_case("self_alias_merge", "name: ok\nm: &a {<<: *a}\n", "")
sweep_case("self_alias_nested", "name: ok\nmodels: &a [[[[*a]]]]\n", "alias")
sweep_case("undefined_alias", "name: ok\nmodels: *nothere\n", "")
sweep_case("deep_list", "name: ok\nmodels: " + "[" * 20000 + "]" * 20000 + "\n", "deeper")
sweep_case("deep_map", "name: ok\nmodels: " + "{a: " * 2000 + "1" + "}" * 2000 + "\n", "deeper")
sweep_case("deep_block", "name: ok\nx:\n" + "".join(" " * i + "- \n" for i in range(1, 300)), "")
sweep_case("alias_chain_depth", "name: ok\na0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 200)),
           "deeper")
sweep_case("bigint_epochs", edit("epochs: 1", "epochs: " + "9" * 5000), "too long")
sweep_case("bigint_hex", edit("epochs: 1", "epochs: 0x" + "f" * 5000), "epochs")
sweep_case("bigint_bits", edit("weight_bits: [2, 4]", "weight_bits: [" + "1" * 4500 + "]"), "too long")
sweep_case("huge_int_in_range", edit("epochs: 1", "epochs: " + "9" * 100), "epochs")
sweep_case("float_inf_lr", edit("lr: 0.05", "lr: .inf"), "lr")
sweep_case("float_nan_lr", edit("lr: 0.05", "lr: .nan"), "lr")
sweep_case("nul_byte_value", edit("name: ok", "name: o\x00k"), "NUL")
sweep_case("nul_byte_key", edit("models:", "mod\x00els:"), "NUL")
sweep_case("nul_only", "\x00" * 100, "NUL")
sweep_case("binary_garbage", bytes(range(256)) * 4, "")
sweep_case("latin1_bytes", "name: caf\u00e9\n".encode("latin-1"), "")
sweep_case("utf16", VALID.encode("utf-16"), "")
sweep_case("bom_then_tab", b"\xef\xbb\xbf\tname: ok\n", "")
sweep_case("control_chars", edit("name: ok", "name: \"o\\x1b[2Jk\""), "")
sweep_case("python_object_tag", edit("name: ok", "name: !!python/object/apply:os.system [ls]"), "")
sweep_case("python_name_tag", edit("name: ok", "name: !!python/name:os.system"), "")
sweep_case("custom_tag", edit("name: ok", "name: !secret ok"), "")
sweep_case("binary_tag", edit("name: ok", "name: !!binary aGVsbG8="), "")
sweep_case("set_tag", edit("models: [lenet300]", "models: !!set {lenet300}"), "")
sweep_case("timestamp_name", edit("name: ok", "name: 2001-12-14"), "name")
sweep_case("two_documents", VALID + "---\nname: two\n", "")
sweep_case("file_too_large", "# " + "x" * (9 * 2**20) + "\n" + VALID, "larger")
sweep_case("long_line_name", edit("name: ok", "name: " + "a" * 200_000), "")
sweep_case("many_models", edit("models: [lenet300]", "models: [" + ", ".join(["lenet301"] * 50_000) + "]"), "")
for where, old, new in [
    ("top", "name: ok", "name: ok\nname: again"),
    ("models_key", "models: [lenet300]", "models: [lenet300]\nmodels: [resnet20]"),
    ("recipe", "epochs: 1, batch: 32", "epochs: 1, epochs: 2, batch: 32"),
    ("scheme", "{name: kbit, vary:", "{name: kbit, name: twn, vary:"),
    ("vary", "weight_bits: [2, 4]", "weight_bits: [2, 4], weight_bits: [8]"),
    ("accelerator", "accelerators: [ACC]", "accelerators: [{name: ACC, clock_mhz: 100, clock_mhz: 200}]"),
]:
    sweep_case(f"duplicate_key_{where}", edit(old, new), "duplicate key")

# -- sweep files: types and ranges (integers are strict) ---------------------------------
INT_FIELDS = [("epochs", "recipe"), ("batch", "recipe"), ("seed", "recipe"), ("limit", "recipe"),
              ("max_steps", "recipe"), ("batch", "pricing"), ("infer_batch", "pricing"),
              ("budget", "search"), ("population", "search")]
for field, where in INT_FIELDS:
    for bad, tag in (("true", "bool"), ('"8"', "string"), ("8.5", "float")):
        if where == "recipe":
            text = edit("lr: 0.05", f"lr: 0.05, {field}: {bad}") if field not in ("epochs", "batch") else \
                edit(f"{field}: {'1' if field == 'epochs' else '32'}", f"{field}: {bad}")
        elif where == "pricing":
            text = edit("name: ok", f"name: ok\npricing: {{{field}: {bad}}}")
        else:
            other = {"budget": "population: 4", "population": "budget: 4"}[field]
            text = edit("name: ok", f"name: ok\nsearch: {{objectives: [accuracy, error], {other}, {field}: {bad}}}")
        sweep_case(f"{where}_{field}_{tag}", text, field)
sweep_case("epochs_huge", edit("epochs: 1", "epochs: 1000000"), "epochs")
sweep_case("batch_huge", edit("batch: 32", "batch: 1000000000"), "batch")
sweep_case("seed_negative", edit("lr: 0.05", "lr: 0.05, seed: -1"), "seed")
sweep_case("weight_decay_negative", edit("lr: 0.05", "lr: 0.05, weight_decay: -0.1"), "weight_decay")

# -- sweep files: everything checkable before running -------------------------------------
sweep_case("grid_too_large",
           edit("accelerators: [ACC]", "accelerators: [{name: ACC, vary: {array.rows: [" + ", ".join(
               str(i) for i in range(1, 401)) + "], array.cols: [" + ", ".join(str(i) for i in range(1, 401)) + "]}}]"),
           "points")
sweep_case("grid_over_max_points", VALID, "--max-points", args=["--max-points", "2"])
sweep_case("vary_huge_scheme", edit("weight_bits: [2, 4]", "weight_bits: [" + ", ".join(["2"] * 1000) + "], "
                                    "act_bits: [" + ", ".join(["4"] * 1000) + "]"), "points")
sweep_case("model_width_negative", edit("models: [lenet300]", "models: [{name: resnet20, args: {width: -1}}]"), "width")
sweep_case("model_width_zero", edit("models: [lenet300]", "models: [{name: resnet20, args: {width: 0}}]"), "width")
sweep_case("model_width_text", edit("models: [lenet300]", "models: [{name: resnet20, args: {width: wide}}]"), "args")
sweep_case("model_width_absurd", edit("models: [lenet300]", "models: [{name: resnet20, args: {width: 100000}}]"),
           "GiB")
sweep_case("model_hidden_absurd", edit("models: [lenet300]",
                                       "models: [{name: lenet300, args: {hidden1: 10000000, hidden2: 10000000}}]"),
           "GiB")
sweep_case("model_hidden_negative", edit("models: [lenet300]", "models: [{name: lenet300, args: {hidden1: -5}}]"),
           "hidden1")
sweep_case("model_args_not_map", edit("models: [lenet300]", "models: [{name: lenet300, args: [1, 2]}]"), "args")
sweep_case("model_unknown_arg", edit("models: [lenet300]", "models: [{name: lenet300, args: {depth: 3}}]"), "depth")
sweep_case("model_spec_missing_file", edit("models: [lenet300]", "models: [nothere.py:make]"), "nothere")
sweep_case("model_onnx_missing", edit("models: [lenet300]", "models: [nothere.onnx]"), "nothere")
sweep_case("tech_path_missing", edit("tech: [45nm]", "tech: [nothere.yaml]"), "nothere")
sweep_case("tech_file_bomb", edit("tech: [45nm]", "tech: [t.yaml]"), "", {"t.yaml": bomb(9, 9)})
sweep_case("tech_file_garbage", edit("tech: [45nm]", "tech: [t.yaml]"), "", {"t.yaml": "[unclosed\n"})
sweep_case("tech_file_empty_map", edit("tech: [45nm]", "tech: [t.yaml]"), "", {"t.yaml": "{}\n"})
sweep_case("accelerator_path_missing", edit("accelerators: [ACC]", "accelerators: [nothere.yaml]"), "nothere")
sweep_case("accelerator_file_bomb", edit("accelerators: [ACC]", "accelerators: [b.yaml]"), "", {"b.yaml": bomb(9, 9)})
sweep_case("accelerator_file_selfref", edit("accelerators: [ACC]", "accelerators: [b.yaml]"), "",
           {"b.yaml": "name: b\narray: &a {rows: *a}\n"})
sweep_case("accelerator_file_garbage", edit("accelerators: [ACC]", "accelerators: [b.yaml]"), "",
           {"b.yaml": "name: [b\n"})
sweep_case("accelerator_file_list", edit("accelerators: [ACC]", "accelerators: [b.yaml]"), "", {"b.yaml": "- 1\n"})
sweep_case("accelerator_rows_negative", edit("accelerators: [ACC]", "accelerators: [{name: ACC, array.rows: -4}]"),
           "rows")
sweep_case("accelerator_rows_bool", edit("accelerators: [ACC]", "accelerators: [{name: ACC, array.rows: true}]"),
           "rows")
sweep_case("accelerator_unknown_field", edit("accelerators: [ACC]", "accelerators: [{name: ACC, array.nope: 4}]"),
           "nope")
sweep_case("hierarchy_missing", edit("name: ok", "name: ok\npricing: {memory: hierarchy, hierarchy: nothere.yaml}"),
           "nothere")
sweep_case("hierarchy_unknown_name", edit("name: ok", "name: ok\npricing: {memory: hierarchy, hierarchy: nosuch}"),
           "nosuch")
sweep_case("hierarchy_file_bomb", edit("name: ok", "name: ok\npricing: {memory: hierarchy, hierarchy: h.yaml}"), "",
           {"h.yaml": bomb(9, 9)})
sweep_case("literature_missing", edit("name: ok", "name: ok\nliterature: [nothere.yaml]"), "nothere")
sweep_case("literature_bomb", edit("name: ok", "name: ok\nliterature: [l.yaml]"), "aliases", {"l.yaml": bomb(9, 9)})
sweep_case("literature_dup_key", edit("name: ok", "name: ok\nliterature: [l.yaml]"), "duplicate",
           {"l.yaml": LIT.replace("error: 0.05", "error: 0.05, error: 0.1")})
sweep_case("literature_unknown_scheme", edit("name: ok", "name: ok\nliterature: [l.yaml]"), "fp33",
           {"l.yaml": LIT.replace("scheme: fp32", "scheme: fp33")})
sweep_case("literature_bad_batch", edit("name: ok", "name: ok\nliterature: [l.yaml]"), "batch",
           {"l.yaml": LIT.replace("error: 0.05", "error: 0.05, batch: true")})
sweep_case("include_bomb", edit("name: ok", "name: ok\ninclude: [i.yaml]"), "aliases", {"i.yaml": bomb(9, 9)})
sweep_case("include_cycle_two", edit("name: ok", "name: ok\ninclude: [i.yaml]"), "cycle",
           {"i.yaml": "name: inc\ninclude: [sweep.yaml]\n"})
sweep_case("include_directory", edit("name: ok", "name: ok\ninclude: [sub]"), "", {"sub/x.txt": "x"})
sweep_case("include_not_yaml", edit("name: ok", "name: ok\ninclude: [i.yaml]"), "", {"i.yaml": b"\x89PNG\r\n\x1a\n"})
sweep_case("unknown_dataset_near", edit("datasets: [digits]", "datasets: [digit]"), "digit")
sweep_case("scheme_vary_unknown_value", edit("{name: kbit, vary: {weight_bits: [2, 4]}}",
                                             "{name: graham, vary: {quantizer: [L2, Q9]}}"), "quantizer")
sweep_case("scheme_param_bool", edit("{name: kbit, vary: {weight_bits: [2, 4]}}", "{name: kbit, weight_bits: true}"),
           "weight_bits")

# inputs a model rejects, values out of range, and a run whose point fails (exit 3: the rest finishes)
case("cli/count_input_rank_rejected", ["count", "resnet20", "--input", "3x2x2x2x2"], expect="expected (C, H, W)")
case("cli/count_classes_zero", ["count", "lenet300", "--classes", "0"], expect="--classes")
case("cli/count_batch_huge", ["count", "lenet300", "--batch", "99999999999999999999999"], expect="--batch")
sweep_case("huge_scalar", edit("name: ok", "name: " + "x" * 200_000), "characters")
sweep_case("model_arg_negative", edit("models: [lenet300]", "models: [{name: lenet300, args: {hidden1: -1}}]"),
           "hidden1")
sweep_case("model_too_big_to_train", edit("models: [lenet300]",
                                          "models: [{name: lenet300, args: {hidden1: 100000000}}]"), "GiB")
NAN_MODEL = """\
from torch import nn


class Nan(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(x.flatten(1)) * float("nan")


def make(num_classes=10, in_shape=(1, 8, 8)):
    return Nan()
"""
case("run/sweep_point_diverges", ["sweep", "{d}/sweep.yaml", "--db", "{d}/r.db", "--workers", "0", "--no-progress",
                                  "--trust-code"],
     {"sweep.yaml": edit("recipes:\n  - {epochs: 1, batch: 32, lr: 0.05}",
                         "recipes:\n  - {epochs: 1, batch: 32, lr: 0.05, limit: 64}",
                         edit("schemes:\n  - fp32\n  - {name: kbit, vary: {weight_bits: [2, 4]}}", "schemes: [fp32]",
                              edit("models: [lenet300]", "models: [m.py:make]"))),
      "acc.yaml": ACC, "m.py": NAN_MODEL}, rc=3, expect="failed")


# -- code named by files runs only when trusted; a factory is a factory; user code is contained ----------
MARKER_MODEL = """\
import pathlib
pathlib.Path(__file__).with_name("marker").write_text("imported")
from torch import nn


def make(num_classes=10, in_shape=(1, 8, 8)):
    pathlib.Path(__file__).with_name("marker").write_text("called")
    return nn.Sequential(nn.Flatten(), nn.Linear(64, num_classes))
"""
_OS_SYSTEM = edit("models: [lenet300]", 'models: [{name: "os:system", args: {command: "touch marker"}}]')
sweep_case("code_os_system_dry_run", _OS_SYSTEM, "os:system")
_cases[-1]["absent"] = ["marker"]
case("sweep/code_os_system_trusted", ["sweep", "{d}/sweep.yaml", "--dry-run", "--trust-code"],
     {"sweep.yaml": _OS_SYSTEM, "acc.yaml": ACC}, expect="own module", absent=["marker"])
case("sweep/code_shutil_rmtree_trusted", ["sweep", "{d}/sweep.yaml", "--workers", "0", "--db", "{d}/r.db",
                                          "--trust-code", "--no-progress"],
     {"sweep.yaml": edit("models: [lenet300]", 'models: [{name: "shutil:rmtree", args: {path: victim}}]'),
      "acc.yaml": ACC, "victim/keep.txt": "x"}, expect="own module", present=["victim/keep.txt"])
for _name, _where in (("file", "sweep.yaml"), ("include", "i.yaml")):
    _text = edit("models: [lenet300]", "models: [m.py:make]")
    _files = {"m.py": MARKER_MODEL}
    if _name == "include":
        _files["i.yaml"] = _text.replace("name: ok", "name: inc")
        _text = edit("name: ok", "name: ok\ninclude: [i.yaml]")
    sweep_case(f"code_{_name}_model_untrusted", _text, "--trust-code", _files)
    _cases[-1]["absent"] = ["marker"]
    case(f"sweep/code_{_name}_model_trusted_dry_run", ["sweep", "{d}/sweep.yaml", "--dry-run", "--trust-code"],
         {"sweep.yaml": _text, "acc.yaml": ACC, **_files}, rc=0, absent=["marker"])
case("sweep/code_literature_model_untrusted", ["sweep", "{d}/sweep.yaml", "--dry-run"],
     {"sweep.yaml": edit("name: ok", "name: ok\nliterature: [l.yaml]"), "acc.yaml": ACC, "m.py": MARKER_MODEL,
      "l.yaml": LIT.replace("model: lenet300", "model: m.py:make")}, expect="--trust-code", absent=["marker"])
case("sweep/code_module_untrusted", ["sweep", "{d}/sweep.yaml", "--dry-run"],
     {"sweep.yaml": edit("models: [lenet300]", "models: [evilpkg.m:make]"), "acc.yaml": ACC,
      "evilpkg/__init__.py": "", "evilpkg/m.py": MARKER_MODEL}, expect="--trust-code", absent=["marker"])

FACTORIES = """\
import os
import sys

from torch import nn
from os import system  # noqa: F401


def net(num_classes=10):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, num_classes))


def exit0(num_classes=10):
    sys.exit(0)


def exit3(num_classes=10):
    sys.exit(3)


def abort(num_classes=10):
    os.abort()


def hard_exit(num_classes=10):
    os._exit(0)


def printer(num_classes=10):
    print("building the network")
    print("\x1b]0;TITLE\x07")
    return net(num_classes)


NOT_CALLABLE = 3


class NotAModule:
    pass
"""
for _f, _expect in (("exit0", "sys.exit(0)"), ("exit3", "sys.exit(3)"), ("abort", "os.abort"),
                    ("hard_exit", "os._exit"), ("system", "not a model factory"),
                    ("NotAModule", "not a torch.nn.Module class"), ("NOT_CALLABLE", "not a model factory")):
    case(f"cli/count_factory_{_f}", ["count", "{d}/m.py:" + _f, "--input", "1x8x8", "--json"],
         {"m.py": FACTORIES}, expect=_expect)
case("cli/count_factory_prints_json", ["count", "{d}/m.py:printer", "--input", "1x8x8", "--json"],
     {"m.py": FACTORIES}, rc=0, json_out=True)
case("cli/count_module_exits_at_import", ["count", "{d}/bye.py:make"],
     {"bye.py": "raise SystemExit('bye')\n"}, expect="bye.py")
case("cli/count_stdlib_factory", ["count", "os:system"], expect="own module")
case("run/sweep_factory_exits", ["sweep", "{d}/sweep.yaml", "--db", "{d}/r.db", "--workers", "0", "--no-progress",
                                 "--trust-code"],
     {"sweep.yaml": edit("schemes:\n  - fp32\n  - {name: kbit, vary: {weight_bits: [2, 4]}}", "schemes: [fp32]",
                         edit("models: [lenet300]", "models: [m.py:exit3]")),
      "acc.yaml": ACC, "m.py": FACTORIES}, rc=3, expect="failed")


# -- user strings printed in tables are escaped ------------------------------------------------------
ESC_TITLE = "\x1b]0;TITLE\x07"
ESC_LAYER_MODEL = f"""\
from torch import nn


def make(num_classes=10):
    net = nn.Sequential()
    net.add_module("flat{ESC_TITLE}", nn.Flatten())
    net.add_module("fc\u202egnpexe", nn.Linear(64, num_classes))
    return net
"""
case("cli/count_layer_names_escaped", ["count", "{d}/m.py:make", "--input", "1x8x8", "--phase", "infer"],
     {"m.py": ESC_LAYER_MODEL}, rc=0, plain=True)
case("sweep/dry_run_labels_escaped", ["sweep", "{d}/sweep.yaml", "--dry-run", "--trust-code"],
     {"sweep.yaml": edit("models: [lenet300]", 'models: ["m\\e]0;TITLE\\a\\u202e.py:make"]'), "acc.yaml": ACC,
      f"m{ESC_TITLE}\u202e.py": MARKER_MODEL}, rc=0, plain=True, absent=["marker"])


# -- model files are data: no unpickling, bounded size, one line ---------------------------------------
for _name, _make, _expect in (("weight_pickle", hf.pt2_weight_pickle, "pickle"),
                              ("sample_inputs_pickle", hf.pt2_sample_inputs_pickle, "unpickle"),
                              ("zip_bomb", hf.pt2_zip_bomb, "zip bomb"),
                              ("truncated", hf.pt2_truncated, "m.pt2"),
                              ("no_program", hf.pt2_no_program, "no readable program")):
    case(f"cli/count_pt2_{_name}", ["count", "{d}/m.pt2"], {"m.pt2": _make}, expect=_expect, absent=["marker"])
    case(f"sweep/pt2_{_name}", ["sweep", "{d}/sweep.yaml", "--dry-run"],
         {"sweep.yaml": edit("models: [lenet300]", "models: [m.pt2]"), "acc.yaml": ACC, "m.pt2": _make},
         expect=_expect, absent=["marker"])
case("cli/count_pt2_garbage", ["count", "{d}/m.pt2"], {"m.pt2": bytes(range(256)) * 64}, expect="m.pt2")
case("cli/count_onnx_negative_dim", ["count", "{d}/m.onnx"], {"m.onnx": hf.onnx_negative_dim}, expect="positive")
case("cli/count_onnx_50k_nodes", ["count", "{d}/m.onnx"], {"m.onnx": hf.onnx_many_nodes}, expect="nodes")


# -- stores: hwsim writes only its own, says so in one line before writing ------------------------------
case("store/sweep_into_foreign_sqlite", ["sweep", "{d}/sweep.yaml", "--db", "{d}/places.db", "--workers", "0"],
     {"sweep.yaml": VALID, "acc.yaml": ACC, "places.db": hf.foreign_sqlite}, expect="not a hwsim results store",
     unchanged=["places.db"])
case("store/sweep_into_text_file", ["sweep", "{d}/sweep.yaml", "--db", "{d}/notes.txt", "--workers", "0"],
     {"sweep.yaml": VALID, "acc.yaml": ACC, "notes.txt": "my notes\n" * 100}, expect="not a SQLite file",
     unchanged=["notes.txt"])
case("store/sweep_into_device", ["sweep", "{d}/sweep.yaml", "--db", "/dev/null", "--workers", "0"],
     {"sweep.yaml": VALID, "acc.yaml": ACC}, expect="not a regular file")
case("store/pareto_dropped_table", ["pareto", "{d}/s.db"], {"s.db": hf.store_dropped_table}, expect="metrics")


# -- physical quantities are finite and positive --------------------------------------------------------
for _field, _old, _new in (("ifmap_inf", "ifmap_kb: 8", "ifmap_kb: .inf"), ("ifmap_huge", "ifmap_kb: 8", "ifmap_kb: 1.0e+308"),
                           ("clock_inf", "name: acc", "name: acc\nclock_mhz: .inf"),
                           ("clock_huge", "name: acc", "name: acc\nclock_mhz: 1.0e+308"),
                           ("bandwidth_inf", "name: acc", "name: acc\ndram: {bandwidth_bytes_per_cycle: .inf}")):
    case(f"cli/simulate_{_field}", ["simulate", "lenet300", "-a", "{d}/acc.yaml"], {"acc.yaml": ACC.replace(_old, _new)},
         expect=_new.split(":")[-2].split("{")[-1].strip().split("\n")[-1])
    sweep_case(f"accelerator_{_field}", VALID, _new.split(":")[-2].split("{")[-1].strip().split("\n")[-1],
               {"acc.yaml": ACC.replace(_old, _new)})


def _tech(old: str, new: str) -> str:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "configs" / "tech" / "45nm.yaml").read_text()
    assert old in text, old
    return text.replace(old, new, 1)


for _name, _old, _new in (("value_huge", "value: 1.0}", "value: 1.0e+308}"), ("value_inf", "value: 1.0}", "value: .inf}"),
                          ("dram_huge", "dram: 640.0}", "dram: 1.0e+308}")):
    case(f"cli/cost_tech_{_name}", ["cost", "lenet300", "--tech", "{d}/t.yaml"], {"t.yaml": _tech(_old, _new)},
         expect="t.yaml")
    sweep_case(f"tech_{_name}", edit("tech: [45nm]", "tech: [t.yaml]"), "t.yaml", {"t.yaml": _tech(_old, _new)})


def cases() -> list[Case]:
    ids = [c["id"] for c in _cases]
    assert len(set(ids)) == len(ids), "duplicate case ids"
    return list(_cases)


def materialize(todo: list[Case], root) -> list[dict[str, Any]]:
    """Write each case's files under ``root/<n>/`` and return the worker's view of the cases."""
    from pathlib import Path

    out = []
    for n, c in enumerate(todo):
        d = Path(root) / f"c{n:03d}"
        d.mkdir(parents=True)
        for name, content in c["files"].items():
            f = d / name
            f.parent.mkdir(parents=True, exist_ok=True)
            if callable(content):   # a file built when written (tests/hostile_files.py)
                content = content()
            if isinstance(content, bytes):
                f.write_bytes(content)
            else:
                f.write_text(content.replace("ACC", str(d / "acc.yaml")), encoding="utf-8")
        if any(STORE in a for a in c["argv"]):
            from hwsim.store import Store

            Store(d / STORE).close()
        import hashlib

        sums = {n: hashlib.sha256((d / n).read_bytes()).hexdigest() for n in c.get("unchanged", [])}
        out.append({"id": c["id"], "cwd": str(d), "block": c["block"], "sha256": sums,
                    "argv": [a.replace("{d}", str(d)) for a in c["argv"]]})
    return out
