"""BENN (Xu 2019) as a composable ensemble scheme: K times the base network's inference cost, one base
network's training step, independent members, any base scheme, and it learns digits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from hwsim.count import trace
from hwsim.data import load_dataset
from hwsim.errors import UserError
from hwsim.models import build_model
from hwsim.quant.ensemble import Ensemble
from hwsim.schemes import build_scheme
from hwsim.train import TrainRecipe, train

KW = {"batch": 6, "input_shape": (1, 8, 8), "num_classes": 10, "device": "meta"}


def _net():
    return build_model("lenet5", num_classes=10, in_shape=(1, 8, 8))


@pytest.mark.parametrize("base", ["bnn", {"name": "mixed", "compose": ["twn", {"name": "graham", "quantizer": "L4"}]}])
def test_inference_costs_k_times_training_step_once(base):
    one, three = build_scheme(base), build_scheme({"name": "benn", "members": 3, "base": base})
    i1, i3 = trace(_net(), one, mode="infer", **KW), trace(_net(), three, mode="infer", **KW)
    assert {k: 3 * v for k, v in i1.totals()["macs"].items()} == i3.totals()["macs"]
    assert i3.model_size_bytes == 3 * i1.model_size_bytes
    t1, t3 = trace(_net(), one, mode="train", **KW), trace(_net(), three, mode="train", **KW)
    assert sum(t3.totals()["macs"].values()) == sum(t1.totals()["macs"].values())


def test_members_are_independent_and_averaged():
    torch.manual_seed(0)
    ens = build_scheme({"name": "benn", "members": 3, "base": "fp32"}).convert(_net())
    assert isinstance(ens, Ensemble) and len(ens.members) == 3
    w = [m.conv1.weight for m in ens.members]
    assert not torch.equal(w[0], w[1])                       # each member its own initialisation
    x = torch.randn(5, 1, 8, 8)
    ens.eval()
    assert torch.allclose(ens(x), torch.stack([m(x) for m in ens.members]).mean(0))
    ens.train()
    out = ens(x)
    out[0].sum().backward()                                  # example 0 goes through member 0 only
    g0, g1 = ens.members[0].conv1.weight.grad, ens.members[1].conv1.weight.grad
    assert g0 is not None and g0.abs().sum() > 0 and (g1 is None or g1.abs().sum() == 0)


def test_learns_digits_and_literature_rows_build():
    ds = load_dataset("digits", seed=0)
    torch.manual_seed(0)
    s = build_scheme({"name": "benn", "members": 3, "base": "binaryconnect"})    # sign weights, as BENN's members
    net = s.convert(_net())
    res = train(net, s, ds, TrainRecipe.parse({"epochs": 6, "batch_size": 32, "lr": 0.005, "optimizer": "adam",
                                               "device": "cpu"}))
    assert res.final_test_acc > 0.5                          # chance is 0.1
    rows = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs/literature/xu_benn.yaml").read_text())
    for r in rows["rows"]:
        build_scheme(r["scheme"])
    with pytest.raises(UserError):
        build_scheme({"name": "benn", "base": {"name": "benn"}})
