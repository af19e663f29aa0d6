"""BENN (Zhu et al. 2019, quoted in Xu 2019) as a composable ensemble scheme: K times the base network's
inference cost; bagging on bootstrap resamples (K base networks per training step), AdaBoost/SAMME
boosting (one per step, re-weighted examples, weighted vote), subagging; any base scheme; it learns digits."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

from hwsim.count import trace
from hwsim.data import load_dataset
from hwsim.errors import UserError
from hwsim.models import build_model
from hwsim.quant.ensemble import Ensemble, samme_alpha
from hwsim.schemes import build_scheme
from hwsim.train import TrainRecipe, train

KW = {"batch": 6, "input_shape": (1, 8, 8), "num_classes": 10, "device": "meta"}


def _net():
    return build_model("lenet5", num_classes=10, in_shape=(1, 8, 8))


@pytest.mark.parametrize("base", ["bnn", {"name": "mixed", "compose": ["twn", {"name": "graham", "quantizer": "L4"}]}])
@pytest.mark.parametrize("method,step_members", [("bagging", 3), ("boosting", 1), ("subagging", 1)])
def test_inference_k_times_training_step_by_method(base, method, step_members):
    one = build_scheme(base)
    three = build_scheme({"name": "benn", "members": 3, "base": base, "method": method})
    i1, i3 = trace(_net(), one, mode="infer", **KW), trace(_net(), three, mode="infer", **KW)
    assert {k: 3 * v for k, v in i1.totals()["macs"].items()} == i3.totals()["macs"]
    assert i3.model_size_bytes == 3 * i1.model_size_bytes
    t1, t3 = trace(_net(), one, mode="train", **KW), trace(_net(), three, mode="train", **KW)
    assert sum(t3.totals()["macs"].values()) == step_members * sum(t1.totals()["macs"].values())


def test_the_vote_is_priced():
    """The members' logits are combined on the accelerator too: a mean (bagging) or, for boosting, a
    per-member arg-max, the vote weights and their sum, more element-wise work than the mean."""
    def vote_ops(method):
        s = build_scheme({"name": "benn", "members": 3, "base": "fp32", "method": method})
        one = sum(trace(_net(), build_scheme("fp32"), mode="infer", **KW).totals()["elementwise"].values())
        return sum(trace(_net(), s, mode="infer", **KW).totals()["elementwise"].values()) - 3 * one
    bag, boost = vote_ops("bagging"), vote_ops("boosting")
    assert bag >= 2 * 6 * 10                   # (K - 1) adds and a scale per logit, batch 6 x 10 classes
    assert boost > bag


def test_members_are_independent_and_averaged():
    torch.manual_seed(0)
    ens = build_scheme({"name": "benn", "members": 3, "base": "fp32", "method": "subagging"}).convert(_net())
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


def test_bagging_draws_bootstrap_resamples_and_weighs_the_loss_by_them():
    torch.manual_seed(0)
    ens = build_scheme({"name": "benn", "members": 4, "base": "fp32"}).convert(_net())
    n = 2000
    ens.begin(n, epochs=3, device=torch.device("cpu"))
    c = ens.counts
    assert c.shape == (4, n) and (c.sum(1) == n).all()       # n draws each
    assert (c > 1).any(1).all()                              # with replacement: repeats ...
    missed = (c == 0).float().mean(1)                        # ... and about 1/e of the set left out
    assert ((missed - math.exp(-1)).abs() < 0.04).all()
    assert not torch.equal(c[0], c[1])                       # each member its own resample
    # the step's loss is each member's cross-entropy weighted by its multiplicities, over the batch
    x, y, idx = torch.randn(6, 1, 8, 8), torch.randint(0, 10, (6,)), torch.arange(6)
    ens.counts = torch.tensor([[0, 1, 2, 0, 0, 3], [1, 1, 1, 1, 1, 1], [0] * 6, [2, 0, 0, 0, 0, 0]])
    loss, _ = ens.loss(x, y, idx)
    with torch.no_grad():
        want = sum((ens.counts[k].float() * torch.nn.functional.cross_entropy(m(x), y, reduction="none")).sum()
                   for k, m in enumerate(ens.members)) / 6
    assert torch.allclose(loss, want)
    loss.backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in ens.members[2].parameters())  # drew none


class _Fixed(torch.nn.Module):
    """A member whose prediction is a fixed class per example (a table of logits)."""

    def __init__(self, classes_per_example):
        super().__init__()
        self.table = torch.nn.functional.one_hot(torch.tensor(classes_per_example), 3).float()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.table[x[:, 0].long()] + self.w


def test_boosting_samme_weights_and_weighted_vote_by_hand():
    y = torch.tensor([0, 1, 2, 0, 1])
    x = torch.arange(5).float().view(5, 1)
    # member 0 wrong on example 4 only; member 1 wrong on 0 and 1; member 2 wrong on 2, 3 and 4
    ens = Ensemble([_Fixed([0, 1, 2, 0, 0]), _Fixed([1, 2, 2, 0, 1]), _Fixed([0, 1, 0, 1, 0])], "boosting")
    ens.begin(5, epochs=3, device=torch.device("cpu"))
    assert ens.schedule == [1, 2, 3]
    ens.end_of_epoch(1, x, y)                   # member 0: error 1/5, C = 3
    a0 = math.log(4) + math.log(2)
    assert ens.alpha[0].item() == pytest.approx(a0) and ens.active == 1
    w = torch.tensor([1, 1, 1, 1, math.exp(a0)])                 # the mistake weighs exp(alpha)
    assert torch.allclose(ens.sample_weight, w * 5 / w.sum())
    ens.end_of_epoch(2, x, y)                   # member 1: weighted error 2 / (4 + 8) = 1/6
    assert ens.alpha[1].item() == pytest.approx(math.log(5) + math.log(2))
    ens.end_of_epoch(3, x, y)
    assert ens.alpha[2].item() == pytest.approx(samme_alpha(_err(ens, 2, x, y), 3)) and ens.alpha[2] > 0
    ens.eval()
    votes = torch.zeros(5, 3)
    for k in range(3):
        votes += ens.alpha[k] * ens.members[k].table
    assert torch.equal(ens(x).argmax(1), votes.argmax(1))
    assert samme_alpha(2 / 3, 3) == 0.0 and samme_alpha(0.7, 3) == 0.0    # no better than chance: no vote


def _err(ens, k, x, y):
    """Member k's error under the weights it was weighed with (recomputed from the recorded alphas)."""
    w = torch.ones(5)
    for j in range(k):
        wrong = (ens.members[j](x).argmax(1) != y).float()
        w = w * torch.exp(ens.alpha[j] * wrong)
    wrong = (ens.members[k](x).argmax(1) != y).float()
    return float((w * wrong).sum() / w.sum())


@pytest.mark.parametrize("method", ["bagging", "boosting"])
def test_learns_digits_and_literature_rows_build(method):
    ds = load_dataset("digits", seed=0)
    torch.manual_seed(0)
    s = build_scheme({"name": "benn", "members": 3, "base": "binaryconnect", "method": method})  # sign weights
    net = s.convert(_net())
    res = train(net, s, ds, TrainRecipe.parse({"epochs": 6, "batch_size": 32, "lr": 0.005, "optimizer": "adam",
                                               "device": "cpu"}))
    assert res.final_test_acc > 0.5                          # chance is 0.1
    if method == "boosting":
        assert (net.alpha > 0).all() and net.sample_weight.std() > 0     # every member voted and re-weighed
    rows = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs/literature/xu_benn.yaml").read_text())
    methods = {r["note"]: build_scheme(r["scheme"]).method for r in rows["rows"] if "BENN" in r["note"]}
    assert {k.split(" ")[0]: v for k, v in methods.items()} == {
        "BENN-Bag-5": "bagging", "BENN-Boost-5": "boosting", "BENN-Bag-8": "bagging", "BENN-Boost-8": "boosting"}
    with pytest.raises(UserError):
        build_scheme({"name": "benn", "base": {"name": "benn"}})
