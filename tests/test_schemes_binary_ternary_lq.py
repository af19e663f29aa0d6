"""Schemes fp32, BinaryConnect, BNN, BWN, XNOR-Net, TWN, TTQ, LQ-Nets and kbit: conversion, precision
declarations per layer, CPU and meta forward+backward, training on sklearn digits, user errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from hwsim.errors import UserError
from hwsim.formats import FULL_PRECISION, Format
from hwsim.quant import functions as qf
from hwsim.quant.layers import (
    UNSET,
    Binarize,
    LayerPlan,
    LQQuantizer,
    QConv2d,
    QLinear,
    TWNWeight,
    UniformActivation,
    convert_layers,
    weight_layers,
)
from hwsim.schemes import build_scheme


def small_net(device=None, hidden: int = 16) -> nn.Sequential:
    """conv-BN-ReLU-conv-BN-ReLU-pool-FC-BN-ReLU-FC-BN (BinaryConnect/BNN put BN after the last layer too)."""
    d = {"device": device}
    return nn.Sequential(
        nn.Conv2d(1, hidden, 3, padding=1, **d), nn.BatchNorm2d(hidden, **d), nn.ReLU(),
        nn.Conv2d(hidden, hidden, 3, padding=1, **d), nn.BatchNorm2d(hidden, **d), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(hidden * 16, 64, **d), nn.BatchNorm1d(64, **d), nn.ReLU(),
        nn.Linear(64, 10, **d), nn.BatchNorm1d(10, **d),
    )


F32, B1, T2 = "float32", "binary1", "ternary2"
FP = (F32, F32, F32)
BIN_W = (B1, F32, F32)
BIN_WA = (B1, B1, B1)

# (weight, input, stash) per depth of small_net's 4 weight layers
EXPECTED = {
    "fp32": [FP] * 4,
    "binaryconnect": [BIN_W] * 4,
    "binaryconnect_stoch": [BIN_W] * 4,
    "bnn": [BIN_W] + [BIN_WA] * 3,
    "bwn": [BIN_W] * 4,
    "xnor": [BIN_W] + [BIN_WA] * 3,
    "twn": [(T2, F32, F32)] * 4,
    "ttq": [FP, (T2, F32, F32), (T2, F32, F32), FP],
    "lqnets": [FP, ("lq2", F32, F32), ("lq2", F32, F32), FP],
    "lqnets_a2": [FP, ("lq3", "lq2", "lq2"), ("lq3", "lq2", "lq2"), FP],
    "lqnets_pm1": [("lq2", F32, F32)] + [("lq2", "lq2", "lq2")] * 3,
    "kbit": [FP, ("int4", "int4", "int4"), ("int4", "int4", "int4"), FP],
}
SPECS = {
    "lqnets_a2": {"name": "lqnets", "weight_bits": 3, "act_bits": 2},
    "lqnets_pm1": {"name": "lqnets", "weight_bits": 2, "act_bits": 2, "act_codes": "pm1", "keep_first_last": False},
    "kbit": {"name": "kbit", "weight_bits": 4, "act_bits": 4},
}
FORWARD_MAC = {
    "fp32": ["fp32"] * 4, "binaryconnect": ["sign_add"] * 4, "bnn": ["sign_add"] + ["xnor_popcount"] * 3,
    "twn": ["ternary"] * 4, "lqnets_a2": ["fp32", "lq2x3", "lq2x3", "fp32"], "kbit": ["fp32", "int4x4", "int4x4", "fp32"],
}


def spec_of(key: str):
    return SPECS.get(key, key)


@pytest.mark.parametrize("key", list(EXPECTED))
def test_precision_declarations_per_layer(key):
    scheme = build_scheme(spec_of(key))
    model = scheme.convert(small_net())
    layers = weight_layers(model)
    assert len(layers) == 4
    got = [tuple(str(f) for f in (m.hwsim_precision.weight, m.hwsim_precision.input, m.hwsim_precision.stash))
           for _, m in layers]
    assert got == EXPECTED[key]
    for (_, m), exp in zip(layers, EXPECTED[key]):
        # a layer declaring anything below float32 is a QConv2d/QLinear with a quantizer in that slot
        assert isinstance(m, (QConv2d, QLinear)) == (exp != FP)
        if exp[0] != F32:
            assert m.weight_quantizer is not None
        if exp[1] != F32:
            assert m.input_quantizer is not None
        assert m.hwsim_precision.grad == Format("float", 32)
    if key in FORWARD_MAC:
        assert [m.hwsim_precision.mac_type("forward") for _, m in layers] == FORWARD_MAC[key]


def test_bnn_backward_mac_types_and_deployed_weights():
    model = build_scheme("bnn").convert(small_net())
    p = weight_layers(model)[1][1].hwsim_precision
    assert p.mac_type("backward_data") == "sign_add"        # fp32 grad x binary weight
    assert p.mac_type("backward_weight") == "sign_add"      # fp32 grad x binary stash
    assert p.mac_type("inference") == "xnor_popcount"
    stoch = weight_layers(build_scheme("binaryconnect_stoch").convert(small_net()))[0][1].hwsim_precision
    det = weight_layers(build_scheme("binaryconnect").convert(small_net()))[0][1].hwsim_precision
    assert str(stoch.deployed_weight) == "float32" and str(det.deployed_weight) == "binary1"


@pytest.mark.parametrize("key", list(EXPECTED))
@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_forward_backward_cpu_and_meta(key, device):
    torch.manual_seed(0)
    scheme = build_scheme(spec_of(key))
    model = scheme.convert(small_net(device))
    x = torch.randn(4, 1, 8, 8, device=device)
    out = model(x)
    assert out.shape == (4, 10) and out.device.type == device
    out.square().sum().backward()
    for p in model.parameters():
        assert p.grad is not None and p.grad.shape == p.shape
    if device == "cpu":
        assert all(torch.isfinite(p.grad).all() for p in model.parameters())
        scheme.on_step_end(model, 0)
        scheme.on_epoch_end(model, 0)


@pytest.mark.parametrize("key", ["bnn", "xnor", "ttq", "lqnets_a2", "kbit", "binaryconnect"])
def test_resnet20_on_meta(key):
    from hwsim.models import build_model

    model = build_model("resnet20").to("meta")
    model = build_scheme(spec_of(key)).convert(model)
    layers = weight_layers(model)
    assert len(layers) == 22                                 # 19 convs + 2 shortcut convs + fc
    model(torch.empty(2, 3, 32, 32, device="meta")).sum().backward()
    if key in ("bnn", "xnor"):
        assert not any(isinstance(m, nn.ReLU) for m in model.modules())
        assert all(m.hwsim_precision.mac_type("forward") == "xnor_popcount" for _, m in layers[1:])


def _digits():
    from hwsim.data import load_dataset

    return load_dataset("digits")


# (spec key, Adam learning rate, accuracy that must be beaten; chance = 0.1). Each floor sits well below
# the lowest of 6 seeds (benchmarks/accuracy_spread.py: e.g. ttq 0.587-0.980, binaryconnect_stoch
# 0.444-0.702), since another CPU moves a run as much as another seed: they prove learning.
TRAIN = [
    ("fp32", 1e-2, 0.85), ("binaryconnect", 1e-2, 0.8), ("binaryconnect_stoch", 1e-1, 0.3), ("bnn", 1e-2, 0.75),
    ("bwn", 1e-2, 0.8), ("xnor", 1e-2, 0.75), ("twn", 1e-2, 0.85), ("ttq", 1e-2, 0.4),
    ("lqnets_a2", 1e-2, 0.85), ("kbit", 1e-2, 0.85),
]



def digits_accuracy(key: str, lr: float, seed: int = 0) -> float:
    """Test accuracy of small_net under scheme ``key`` after 5 epochs of Adam on digits."""
    torch.manual_seed(seed)
    ds = _digits()
    scheme = build_scheme(spec_of(key))
    model = scheme.convert(small_net())
    opt = torch.optim.Adam(model.parameters(), lr=lr)      # after convert: TTQ scales are parameters
    gen = torch.Generator().manual_seed(seed)
    step = 0
    for epoch in range(5):
        model.train()
        perm = torch.randperm(ds.n_train, generator=gen)
        for i in range(0, ds.n_train, 64):
            idx = perm[i:i + 64]
            loss = F.cross_entropy(model(ds.train_x[idx]), ds.train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            scheme.on_step_end(model, step)
            step += 1
        scheme.on_epoch_end(model, epoch)
    model.eval()
    with torch.no_grad():
        return (model(ds.test_x).argmax(1) == ds.test_y).float().mean().item()


@pytest.mark.parametrize("key,lr,floor", TRAIN, ids=[t[0] for t in TRAIN])
def test_training_on_digits_beats_chance(key, lr, floor):
    acc = digits_accuracy(key, lr)
    print(f"digits test accuracy {key}: {acc:.3f}")        # docs/schemes.md quotes these (pytest -s)
    assert acc > floor, f"{key}: test accuracy {acc:.3f}"


# ------------------------------------------------------------------------------------ behaviours


def test_conversion_shares_parameters_and_keeps_values():
    net = small_net()
    w0 = net[0].weight
    model = build_scheme("twn").convert(net)
    assert model[0].weight is w0 and isinstance(model[0], QConv2d)
    plain = small_net()
    plain.load_state_dict({k: v for k, v in model.state_dict().items()})
    model.eval()
    plain.eval()
    x = torch.randn(3, 1, 8, 8)
    # fp32 leaves the layers alone: same output as the plain network
    assert torch.equal(build_scheme("fp32").convert(plain)(x), plain(x))


def test_bnn_replaces_relu_clips_weights_and_binarizes_inputs():
    scheme = build_scheme("bnn")
    model = scheme.convert(small_net())
    assert sum(isinstance(m, nn.Hardtanh) for m in model.modules()) == 3
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    layers = [m for _, m in weight_layers(model)]
    with torch.no_grad():
        layers[1].weight[0, 0, 0, 0] = 3.0
        layers[3].weight[0, 0] = -2.5
    assert layers[1].weight.abs().max() > 1 and layers[3].weight.abs().max() > 1
    scheme.on_step_end(model, 0)
    assert all(m.weight.abs().max() <= 1 for m in layers)
    seen = {}
    layers[2].register_forward_pre_hook(lambda mod, args: seen.setdefault("x", args[0]))
    model(torch.randn(4, 1, 8, 8))
    xq = layers[2].input_quantizer(seen["x"])
    assert set(xq.unique().tolist()) <= {-1.0, 1.0}


@pytest.mark.parametrize("name", ["bnn", "xnor"])
def test_binary_stash_is_exact_and_one_bit_when_codec_present(name):
    stash = pytest.importorskip("hwsim.quant.stash")
    torch.manual_seed(1)
    model = build_scheme(name).convert(small_net())
    layers = [m for _, m in weight_layers(model)]
    assert layers[0].stash_codec is None
    assert all(isinstance(m.stash_codec, stash.SignCodec) for m in layers[1:])
    ref = build_scheme(name).convert(small_net())
    ref.load_state_dict(model.state_dict())
    for m in weight_layers(ref):
        m[1].stash_codec = None
    x = torch.randn(8, 1, 8, 8)
    out = model(x)
    assert torch.allclose(out, ref(x), atol=1e-5)
    out.sum().backward()
    ref(x).sum().backward()
    for (n, a), (_, b) in zip(model.named_parameters(), ref.named_parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-5), n


def test_kbit_and_lq_stash_codecs_are_exact_for_quantized_inputs():
    pytest.importorskip("hwsim.quant.stash")
    torch.manual_seed(2)
    model = build_scheme(SPECS["kbit"]).convert(small_net())
    m = weight_layers(model)[1][1]
    xq = m.input_quantizer(torch.relu(torch.randn(4, 16, 8, 8)) * 0.7)
    assert torch.allclose(m.stash_codec.roundtrip(xq), xq, atol=1e-6)
    assert m.stash_codec.bits == 4
    model = build_scheme(SPECS["lqnets_a2"]).convert(small_net())
    m = weight_layers(model)[1][1]
    xq = m.input_quantizer(torch.relu(torch.randn(4, 16, 8, 8)))
    assert len(xq.unique()) <= 4
    enc = m.stash_codec.encode(xq)
    assert enc.tensors[0].numel() == (xq.numel() * 2 + 7) // 8
    assert torch.equal(m.stash_codec.decode(enc), xq)


def test_binaryconnect_stochastic_train_vs_eval():
    torch.manual_seed(3)
    model = build_scheme("binaryconnect_stoch").convert(small_net())
    conv = model[0]
    h = conv.weight_quantizer.scale                     # BinaryConnect's H = sqrt(1.5 / (fan_in + fan_out))
    fan_in, fan_out = conv.weight[0].numel(), conv.weight.shape[0] * conv.weight[0, 0].numel()
    assert h == pytest.approx((1.5 / (fan_in + fan_out)) ** 0.5)
    w1, w2 = conv.weight_quantizer(conv.weight), conv.weight_quantizer(conv.weight)
    assert torch.allclose(w1.abs(), torch.full_like(w1, h)) and not torch.equal(w1, w2)
    # p(+H) = hard_sigmoid(w / H): a weight at +H is always +H, at -H always -H
    with torch.no_grad():
        conv.weight[0] = h
        conv.weight[1] = -h
    w3 = conv.weight_quantizer(conv.weight)
    assert (w3[0] == h).all() and (w3[1] == -h).all()
    model.eval()
    assert torch.equal(conv.weight_quantizer(conv.weight), conv.weight)      # tested with real weights
    det = build_scheme("binaryconnect").convert(small_net()).eval()
    assert torch.allclose(det[0].weight_quantizer(det[0].weight), qf.sign(det[0].weight) * det[0].weight_quantizer.scale)
    lit = build_scheme({"name": "binaryconnect", "glorot_scale": False}).convert(small_net()).eval()
    assert torch.equal(lit[0].weight_quantizer(lit[0].weight), qf.sign(lit[0].weight))


def test_lqnets_on_step_end_moves_bases_towards_lower_error():
    torch.manual_seed(4)
    scheme = build_scheme({"name": "lqnets", "weight_bits": 2, "act_bits": 2, "momentum": 0.0})
    model = scheme.convert(small_net())
    m = weight_layers(model)[1][1]
    wq, aq = m.weight_quantizer, m.input_quantizer
    assert isinstance(wq, LQQuantizer) and wq.basis.shape == (16, 2) and aq.basis.shape == (1, 2)
    with torch.no_grad():
        m.weight.mul_(3)                       # the initial basis no longer fits the weights
    err0 = qf.lq_error(m.weight.detach(), wq.basis, wq.codes, 0)
    a0 = aq.basis.clone()
    model.train()
    model(torch.randn(16, 1, 8, 8))
    scheme.on_step_end(model, 0)
    assert qf.lq_error(m.weight.detach(), wq.basis, wq.codes, 0) < err0
    assert not torch.equal(aq.basis, a0)


def test_convert_layers_composes_and_merges_only_owned_fields():
    model = build_scheme("twn").convert(small_net())
    seen = []

    def plan(name, module, depth, n):
        seen.append((name, depth, n))
        if depth == 1:
            return LayerPlan(input_quantizer=UniformActivation(4), precision={"input": "int4", "stash": "int4"})
        return None

    model = convert_layers(model, plan)
    assert seen == [("0", 0, 4), ("3", 1, 4), ("8", 2, 4), ("11", 3, 4)]
    m = model[3]
    assert isinstance(m.weight_quantizer, TWNWeight) and isinstance(m.input_quantizer, UniformActivation)
    p = m.hwsim_precision
    assert (str(p.weight), str(p.input), str(p.stash), p.note) == ("ternary2", "int4", "int4", "twn")
    assert LayerPlan().weight_quantizer is UNSET
    # setting a slot to None clears it
    model = convert_layers(model, lambda n_, m_, d, k: LayerPlan(weight_quantizer=None) if d == 1 else None)
    assert model[3].weight_quantizer is None and isinstance(model[3].input_quantizer, UniformActivation)


def test_convert_layers_root_layer_and_unsupported_subclass():
    root = convert_layers(nn.Linear(3, 2), lambda *a: LayerPlan(weight_quantizer=Binarize()))
    assert isinstance(root, QLinear)

    class MyConv(nn.Conv2d):
        pass

    # a subclass with its own forward is not swapped: it stays float and says why (no TypeError)
    net = convert_layers(nn.Sequential(MyConv(1, 1, 1)), lambda *a: LayerPlan())
    assert type(net[0]) is MyConv and net[0].hwsim_precision == FULL_PRECISION
    assert "MyConv" in net[0].hwsim_stays_float


def test_spec_round_trip():
    for spec in ["fp32", "bnn", {"name": "ttq", "threshold": 0.1}, SPECS["lqnets_a2"],
                 {"name": "kbit", "weight_bits": 6, "act_bits": 8, "stash_bits": 4}]:
        s = build_scheme(spec)
        again = build_scheme(s.spec())
        assert again.spec() == s.spec() and type(again) is type(s)
    s = build_scheme(SPECS["lqnets_a2"])
    assert s.spec()["weight_bits"] == 3 and (s.weight_bits(), s.act_bits()) == (3, 2)
    assert (build_scheme("bnn").weight_bits(), build_scheme("bnn").act_bits()) == (1, 1)
    assert build_scheme("twn").weight_bits() == 2


@pytest.mark.parametrize("spec,where", [
    ("binarycnnect", "scheme"),
    ({"name": "twn", "delta_factor": 0}, "scheme.delta_factor"),
    ({"name": "ttq", "threshold": 1.5}, "scheme.threshold"),
    ({"name": "binaryconnect", "clip": -1}, "scheme.clip"),
    ({"name": "lqnets", "weight_bits": 5}, "scheme.weight_bits"),
    ({"name": "lqnets", "act_bits": 8}, "scheme.act_bits"),
    ({"name": "lqnets", "act_codes": "pm2"}, "scheme.act_codes"),
    ({"name": "kbit", "act_bits": 4, "stash_bits": 6}, "scheme.stash_bits"),
    ({"name": "bnn", "delta_factor": 0.7}, "scheme.delta_factor"),
])
def test_bad_scheme_specs_are_user_errors(spec, where):
    with pytest.raises(UserError) as e:
        build_scheme(spec)
    assert e.value.where == where
    if spec == "binarycnnect":
        assert "did you mean binaryconnect" in e.value.what


@pytest.mark.parametrize("key", ["bnn", "lqnets_a2"])
def test_hwsim_train_loop_runs_scheme_hooks(key):
    from hwsim.train import train

    scheme = build_scheme(spec_of(key))
    model = scheme.convert(small_net())
    res = train(model, scheme, _digits(), {"epochs": 3, "batch_size": 64, "lr": 0.01, "optimizer": "adam",
                                           "device": "cpu", "seed": 0})
    assert res.final_test_acc > 0.7
    if key == "bnn":      # clipped by on_step_end after every step
        assert all(m.weight.abs().max() <= 1 for _, m in weight_layers(model))
