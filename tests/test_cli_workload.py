"""One workload vocabulary on every verb that takes a model (count, cost, simulate, train): the same
options with the same defaults and help, equivalent spellings giving the same figures, old spellings as
hidden aliases, bad values as one error line naming the option, and the evaluation route underneath."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hwsim.cli import app, main
from hwsim.workload import DEFAULT_BATCH, WorkloadOptions

MODEL_VERBS = ("count", "cost", "simulate", "train")
WORKLOAD = ("--batch", "--input", "--phase", "--scheme", "--classes", "--optimizer")
# verb -> what makes it print one machine-readable result for lenet5
JSON_ARGS = {"count": ["--json"], "cost": ["--json"], "simulate": ["-a", "tpu_like", "--format", "json"]}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def result(capsys, verb: str, *args: str) -> dict:
    rc, out, err = run(capsys, verb, "lenet5", *args, *JSON_ARGS[verb])
    assert rc == 0, err
    d = json.loads(out)
    d.pop("assumptions", None)   # cost: file paths and rule texts, the same either way
    d.get("trace", {}).get("meta", {}).pop("seconds", None)   # count: how long it took
    return d


def _params(verb: str) -> dict[str, dict]:
    import typer

    cmd = typer.main.get_command(app).commands[verb]
    return {p.name: {k: repr(getattr(p, k, None)) for k in ("opts", "secondary_opts", "default", "help", "hidden",
                                                            "type", "show_default", "min", "max", "metavar")}
            | {"opts": tuple(p.opts)}
            for p in cmd.params if p.param_type_name == "option"}


def test_every_model_verb_declares_the_same_workload_options():
    decls = {v: _params(v) for v in MODEL_VERBS}
    first = decls["count"]
    names = [n for n, p in first.items() if any(o in WORKLOAD for o in p["opts"])]
    assert sorted(o for n in names for o in first[n]["opts"] if o.startswith("--")) == sorted(WORKLOAD)
    for verb, params in decls.items():
        for n in names + ["input_shape_alias", "infer_alias"]:
            assert params[n] == first[n], (verb, n)   # same spelling, default, help and visibility
    assert first["batch"]["opts"] == ("--batch", "-b") and first["scheme"]["opts"] == ("--scheme", "-s")
    assert first["input_shape_alias"]["hidden"] == first["infer_alias"]["hidden"] == "True"
    assert str(DEFAULT_BATCH) in str(first["batch"]["show_default"])


def test_defaults_are_the_same_on_count_cost_and_simulate(capsys):
    c = result(capsys, "count")["trace"]
    assert (c["batch"], c["mode"], c["scheme"]) == (DEFAULT_BATCH, "train", "fp32")
    e = result(capsys, "cost")
    assert (e["batch"], e["scheme"]) == (DEFAULT_BATCH, "fp32") and "forward" in e["by_phase"]
    s = result(capsys, "simulate")
    assert {r["phase"] for r in s["rows"]} >= {"forward", "backward_data", "backward_weight"}
    assert s == result(capsys, "simulate", "-b", str(DEFAULT_BATCH), "--phase", "train", "-s", "fp32")


@pytest.mark.parametrize("verb", ["count", "cost", "simulate"])
def test_equivalent_spellings_give_the_same_result(capsys, verb):
    base = result(capsys, verb, "--input", "1x28x28", "-b", "2", "-s", "twn")
    assert base == result(capsys, verb, "--input", "1,28,28", "--batch", "2", "--scheme", "twn")
    assert base == result(capsys, verb, "--input-shape", "1,28,28", "-b", "2", "--scheme", "{name: twn}")
    assert base != result(capsys, verb, "--input", "1x32x32", "-b", "2", "-s", "twn")
    inf = result(capsys, verb, "-b", "2", "-s", "twn", "--phase", "infer")
    assert inf == result(capsys, verb, "-b", "2", "-s", "twn", "--infer")
    assert inf != result(capsys, verb, "-b", "2", "-s", "twn")


@pytest.mark.parametrize("verb", ["count", "cost"])
def test_scheme_mapping_inline_and_from_a_file(capsys, tmp_path, verb):
    f = tmp_path / "kbit4.yaml"
    f.write_text("name: kbit\nweight_bits: 4\n")
    inline = result(capsys, verb, "-b", "2", "--scheme", "{name: kbit, weight_bits: 4}")
    assert inline == result(capsys, verb, "-b", "2", "--scheme", str(f))
    assert inline != result(capsys, verb, "-b", "2", "--scheme", "{name: kbit, weight_bits: 2}")


def test_optimizer_and_classes_reach_the_trace(capsys):
    sgd = result(capsys, "count", "-b", "2", "--optimizer", "sgd")["trace"]
    adam = result(capsys, "count", "-b", "2", "--optimizer", "adam")["trace"]
    assert sgd["meta"]["optimizer"] == "sgd" and adam["meta"]["optimizer"] == "adam"
    c7 = result(capsys, "cost", "-b", "2", "--classes", "7")
    assert c7 != result(capsys, "cost", "-b", "2")


BAD = [
    (["--phase", "sideways"], "error: --phase: "),
    (["--infer", "--phase", "train"], "error: --phase: "),
    (["--input", "abc"], "error: --input: "),
    (["--input", "0x28x28"], "error: --input: "),
    (["--input", "1x28x28", "--input-shape", "1x8x8"], "error: --input: "),
    (["--scheme", "[1, 2]"], "error: --scheme: "),
    (["--scheme", "{name: kbit"], "error: --scheme"),
    (["--scheme", "{name: kbit, weight_bits: 0}"], "error: --scheme.weight_bits: "),
    (["--scheme", "fp33"], "error: --scheme: "),
    (["--scheme", "nothere.yaml"], "error: --scheme: scheme file not found"),
    (["--optimizer", "rmsprop"], "error: --optimizer: "),
    (["--batch", "0"], "--batch/-b"),
    (["--classes", "0"], "--classes"),
]


@pytest.mark.parametrize("verb", MODEL_VERBS)
@pytest.mark.parametrize("args,expect", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_value_is_one_line_naming_the_option(capsys, verb, args, expect):
    extra = ["-a", "tpu_like"] if verb == "simulate" else ["--epochs", "1"] if verb == "train" else []
    rc, _, err = run(capsys, verb, "lenet5", *extra, *args)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and expect in lines[0], err


@pytest.mark.parametrize("verb", ["cost", "simulate"])
def test_a_trace_file_fixes_the_workload(capsys, tmp_path, verb):
    rc, out, _ = run(capsys, "count", "lenet5", "-b", "2", "--json")
    f = tmp_path / "t.json"
    f.write_text(out)
    extra = ["-a", "tpu_like"] if verb == "simulate" else []
    assert run(capsys, verb, str(f), *extra)[0] == 0
    rc, _, err = run(capsys, verb, str(f), *extra, "-b", "4")
    assert rc == 2 and err.startswith("error: --batch: ") and "fixes" in err


def test_a_model_rejecting_the_input_names_input(capsys):
    for verb, extra in (("count", []), ("cost", []), ("simulate", ["-a", "tpu_like"])):
        rc, _, err = run(capsys, verb, "resnet20", *extra, "--input", "3x2x2x2x2")
        assert rc == 2 and err.startswith("error: --input: "), (verb, err)


def test_simulate_counts_through_the_evaluation_route(capsys, monkeypatch):
    import hwsim.evaluate as ev

    seen = []
    real_trace, real_sim = ev.trace_workload, ev.simulate_traces

    def trace_workload(workload, **kw):
        seen.append(("trace_workload", workload.batch, workload.scheme.name, kw))
        return real_trace(workload, **kw)

    def simulate_traces(traces, acc):
        seen.append(("simulate_traces",))
        return real_sim(traces, acc)

    monkeypatch.setattr(ev, "trace_workload", trace_workload)
    monkeypatch.setattr(ev, "simulate_traces", simulate_traces)
    assert run(capsys, "simulate", "lenet5", "-a", "tpu_like", "-b", "3", "-s", "bnn", "--phase", "infer")[0] == 0
    assert seen == [("trace_workload", 3, "bnn", {"train": False, "infer": True}), ("simulate_traces",)]


def test_trace_workload_builds_on_meta_and_falls_back_to_cpu(monkeypatch):
    from hwsim.evaluate import trace_workload
    from hwsim.schemes import build_scheme
    from hwsim.workload import Workload

    built = []
    real = Workload.build_network

    def spy(self, device=None):
        built.append(device)
        if device == "meta" and len(built) == 1:
            raise RuntimeError("Tensor.item() cannot be called on meta tensors")   # as a value-needing scheme
        return real(self, device)

    wl = Workload("lenet5", build_scheme("twn"), (1, 28, 28), 10, batch=2)
    monkeypatch.setattr(Workload, "build_network", spy)
    tr = trace_workload(wl, train=False)
    assert built == ["meta", None] and tr.infer is not None
    built.clear()
    built.append("first call done")
    trace_workload(wl, train=False)
    assert built[1:] == ["meta"]
    net = real(wl, "meta")
    assert all(p.is_meta for p in net.parameters())


def test_workload_options_to_workload():
    w = WorkloadOptions(batch=8, input="1,28,28", phase="infer", scheme="{name: kbit, weight_bits: 4}",
                        optimizer="adam").workload("lenet5")
    assert (w.batch, w.infer_batch, w.input_shape, w.num_classes, w.optimizer) == (8, 8, (1, 28, 28), 10, "adam")
    assert w.scheme.name == "kbit" and w.scheme.spec()["weight_bits"] == 4
    d = WorkloadOptions().workload("resnet20")
    assert (d.batch, d.input_shape, d.scheme.name, d.optimizer) == (DEFAULT_BATCH, (3, 32, 32), "fp32", "sgd_momentum")
    assert WorkloadOptions().given() == [] and WorkloadOptions(batch=2).given() == ["--batch"]


def test_train_takes_the_same_options(capsys):
    rc, out, err = run(capsys, "train", "lenet5", "--epochs", "1", "--limit", "64", "-b", "16", "--phase", "infer",
                       "-s", "{name: kbit, weight_bits: 4}", "--optimizer", "sgd", "--input", "1,8,8",
                       "--classes", "10", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["scheme"] == "kbit" and set(d["summary"]["macs_by_phase"]) == {"inference"}
    assert d["summary"]["batch"] == 16


def test_train_maps_the_optimizer_vocabulary_onto_its_recipe():
    from hwsim.train import TrainRecipe
    from hwsim.workload import OPTIMIZERS, optimizer_of

    for name, opt in OPTIMIZERS.items():
        recipe = TrainRecipe.parse(opt.recipe_fields())
        assert optimizer_of(recipe.model_dump()) == optimizer_of(recipe) == name   # the recipe means what the name says


def test_trace_file_and_topology_verbs_start_without_torch(tmp_path, capsys):
    rc, out, _ = run(capsys, "count", "lenet5", "-b", "2", "--json")
    (tmp_path / "t.json").write_text(out)
    (tmp_path / "t.csv").write_text("Layer, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                                    "Num Filter, Strides,\nc1, 8, 8, 3, 3, 4, 8, 1,\n")
    code = ("import sys; from hwsim.cli import main\n"
            f"assert main(['simulate', {str(tmp_path / 't.json')!r}, '-a', 'tpu_like', '-f', 'csv']) == 0\n"
            f"assert main(['simulate', '--topology', {str(tmp_path / 't.csv')!r}, '-a', 'tpu_like']) == 0\n"
            f"assert main(['cost', {str(tmp_path / 't.json')!r}, '--json']) == 0\n"
            "assert main(['report', '--help']) == 0 and main(['serve', '--help']) == 0\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**os.environ})
    assert r.returncode == 0, r.stderr[-2000:]


def test_count_goes_through_the_workload_and_trace_workload(capsys, monkeypatch):
    """`hwsim count` counts the Workload with trace_workload, as cost and simulate do: hwsim.count.trace is
    handed the built network, never a model name to resolve on its own."""
    import hwsim.count.api as api
    import hwsim.evaluate as ev

    calls, handed = [], []
    real_tw, real_resolve = ev.trace_workload, api._resolve_model

    def tw(workload, *a, **k):
        calls.append((workload.model, k.get("train"), k.get("infer")))
        return real_tw(workload, *a, **k)

    def resolve(model, *a, **k):
        handed.append(type(model).__name__)
        return real_resolve(model, *a, **k)

    monkeypatch.setattr(ev, "trace_workload", tw)
    monkeypatch.setattr(api, "_resolve_model", resolve)
    for phase in ("train", "infer"):
        rc, out, err = run(capsys, "count", "lenet5", "-b", "2", "--phase", phase, "--json")
        assert rc == 0, err
        assert json.loads(out)["trace"]["mode"] == phase and json.loads(out)["trace"]["model"] == "lenet5"
    assert calls == [("lenet5", True, False), ("lenet5", False, True)]
    assert handed and "str" not in handed
