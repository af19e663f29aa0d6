"""``hwsim retrofit`` (Graham Tables 5-6): the fp32 network kept as a store artefact and read weights-only,
the swap keeps the trained statistics, fine-tuning, and the shape of the tables on digits with bounds that
hold across seeds (a destructive quantizer loses more than a mild one; fine-tuning wins most of it back)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from hwsim.data import load_dataset
from hwsim.errors import UserError
from hwsim.models import build_model
from hwsim.quant.graham import GrahamBatchNorm
from hwsim.retrofit import artefact_dir, count_bns, load_state, pretrained, retrofit_one
from hwsim.schemes import build_scheme
from hwsim.train import TrainRecipe, evaluate

RECIPE = TrainRecipe.parse({"epochs": 4, "batch_size": 32, "lr": 0.05, "weight_decay": 1e-4, "device": "cpu"})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    ds = load_dataset("digits", seed=0)
    art = artefact_dir(tmp_path_factory.mktemp("store") / "r.db")
    net, path, here = pretrained("resnet20", ds, RECIPE, artefacts=art)
    return ds, art, net, path, here


def test_checkpoint_is_a_store_artefact_reloaded_weights_only(trained):
    ds, art, net, path, here = trained
    assert here and path.startswith(str(art))
    again, path2, here2 = pretrained("resnet20", ds, RECIPE, artefacts=art)
    assert not here2 and path2 == path
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))


def test_pickled_code_is_refused(tmp_path):
    import argparse

    p = tmp_path / "evil.pt"
    torch.save({"w": argparse.Namespace(x=1)}, p)     # an arbitrary class: unpickling it would run its code
    with pytest.raises(UserError, match="weights-only"):
        load_state(build_model("resnet20", num_classes=10, in_shape=(1, 8, 8)), p)


def test_float_bns_counts():
    net = build_model("densenet121", num_classes=10, in_shape=(1, 8, 8))
    assert count_bns(net) == 121

    def n_graham(spec):
        m = build_scheme(spec).convert(build_model("densenet121", num_classes=10, in_shape=(1, 8, 8)))
        return sum(isinstance(x, GrahamBatchNorm) for x in m.modules())

    assert n_graham({"name": "graham", "quantizer": "L4", "skip_first_bn": False}) == 121
    assert n_graham({"name": "graham", "quantizer": "L4"}) == 120
    assert n_graham({"name": "graham", "quantizer": "L4", "float_bns": 14}) == 107   # Graham's "3 of 4 blocks"


def test_table_shape_on_digits(trained):
    ds, _, net, _, _ = trained
    base = evaluate(net, ds.test_x, ds.test_y)
    assert base > 0.8
    l5_raw, _, _ = retrofit_one(net, "L5", 0, ds, 0, RECIPE)
    l2_raw, l2_tuned, _ = retrofit_one(net, "L2", 0, ds, 40, RECIPE)
    # the swap keeps the trained network: L5 (5-bit log) costs at most a few points with no retraining
    assert l5_raw > base - 0.05
    # L2 is destructive (Graham's Table 3: L2 "clearly inhibits proper training") and loses more than L5
    assert base - l2_raw > (base - l5_raw) + 0.03
    # brief fine-tuning wins most of it back
    assert l2_tuned - l2_raw > 0.5 * (base - l2_raw)
    # the network handed in is untouched
    assert not any(isinstance(m, GrahamBatchNorm) for m in net.modules())


@pytest.mark.parametrize("argv,where", [
    (["resnet20", "--scheme", "bnn"], "--scheme"),
    (["resnet20", "-q", "L7"], "--quantizer"),
    (["resnet20", "--steps", "-1"], "--steps"),
])
def test_user_mistakes_are_one_line(argv, where):
    r = subprocess.run([sys.executable, "-m", "hwsim.cli", "retrofit", *argv], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and r.stderr.strip().startswith(f"error: {where}") and "Traceback" not in r.stderr


def test_fp32_training_options_declared_once():
    """retrofit and precision take the same fp32-training options, from one declaration, and those options
    reach the verb: a missing checkpoint, a zero batch or epoch count is one line naming the option."""
    import typer

    from hwsim.cli import app
    from hwsim.cli_verbs._common import TRAIN_PANEL

    cmd = typer.main.get_command(app)
    panels = {}
    for verb in ("retrofit", "precision"):
        opts = [p for p in cmd.commands[verb].params if getattr(p, "rich_help_panel", None) == TRAIN_PANEL]
        panels[verb] = [(tuple(p.opts), p.default, p.help) for p in opts]
    assert panels["retrofit"] == panels["precision"]
    assert {o[0][0] for o in panels["retrofit"]} == {"--dataset", "--data-root", "--epochs", "--lr", "--batch",
                                                     "--seed", "--db", "--checkpoint"}
    for verb in ("retrofit", "precision"):
        for argv, where in ((["--checkpoint", "missing.pt"], "--checkpoint"), (["--batch", "0"], "--batch"),
                            (["-e", "0"], "--epochs")):
            r = subprocess.run([sys.executable, "-m", "hwsim.cli", verb, "resnet20", *argv], capture_output=True,
                               text=True, timeout=120)
            assert r.returncode == 2 and r.stderr.strip().startswith(f"error: {where}"), (verb, argv, r.stderr)
