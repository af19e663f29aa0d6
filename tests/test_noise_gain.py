"""Sakr & Shanbhag's noise gains on a trained ResNet-20 (digits): the bound holds against measured
mismatches, and the allocation meets uniform 8-bit accuracy within its target at fewer total bits.
Bounds, not one seed's figures: two training seeds, tolerances of whole test examples."""

from __future__ import annotations

import pytest
import torch

from hwsim import noise_gain as ng
from hwsim.data import load_dataset
from hwsim.models import build_model
from hwsim.schemes import build_scheme
from hwsim.train import TrainRecipe, train

TARGET = 0.02


@pytest.fixture(scope="module", params=[0, 1])
def trained(request):
    seed = request.param
    ds = load_dataset("digits", seed=seed)
    torch.manual_seed(seed)
    net = build_model("resnet20", num_classes=10, in_shape=(1, 8, 8))
    train(net, build_scheme("fp32"), ds, TrainRecipe.parse({"epochs": 4, "batch_size": 32, "lr": 0.05,
                                                             "weight_decay": 1e-4, "seed": seed, "device": "cpu"}))
    return ds, net, ng.noise_gains(net, ds.train_x[:128], seed=seed)


def test_bound_is_above_measured_mismatch(trained):
    ds, net, gains = trained
    slack = 1 / len(ds.test_y)
    for bits in (4, 5, 6, 8):
        u = ng.uniform(gains, bits)
        measured = 1 - ng.evaluate_bits(net, gains, u, ds.test_x, ds.test_y).agreement
        assert measured <= u.bound + slack, bits
    # the bound falls 4x per extra bit (Delta^2)
    assert ng.uniform(gains, 6).bound == pytest.approx(ng.uniform(gains, 5).bound / 4)


def test_allocation_meets_uniform8_within_bound_at_fewer_bits(trained):
    ds, net, gains = trained
    alloc, u8 = ng.allocate(gains, TARGET), ng.uniform(gains, 8)
    assert alloc.bound <= TARGET
    assert alloc.total_bits(gains) < 0.9 * u8.total_bits(gains)
    acc_alloc = ng.evaluate_bits(net, gains, alloc, ds.test_x, ds.test_y).accuracy
    acc_u8 = ng.evaluate_bits(net, gains, u8, ds.test_x, ds.test_y).accuracy
    assert acc_alloc >= acc_u8 - TARGET


def test_bits_follow_noise_gains():
    """Equalisation: a tensor with 16x the gain of another gets 2 more bits (log2 sqrt 16)."""
    g = [ng.LayerGain("a", 16.0, 1.0, 1.0, 1.0, 10, 10), ng.LayerGain("b", 1.0, 4.0, 1.0, 1.0, 10, 10)]
    al = ng.allocate(g, 0.01)
    assert al.act_bits[0] - al.act_bits[1] == 2 and al.weight_bits[1] - al.weight_bits[0] == 1
    assert al.bound <= 0.01 < ng.bound(g, [b - 1 for b in al.act_bits], [b - 1 for b in al.weight_bits])
    spec = al.mixed_spec()
    assert build_scheme(spec).name == "mixed" and spec["overrides"][0]["scheme"]["act_bits"] == al.act_bits[0]
