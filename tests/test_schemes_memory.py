"""Schemes mcdonnell, graham, pruning, mixed: declarations, CPU/meta steps, training, validation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hwsim.errors import UserError
from hwsim.formats import BACKWARD_DATA, BACKWARD_WEIGHT, FORWARD, INFERENCE, Format
from hwsim.models import build_model
from hwsim.quant.graham import GrahamBatchNorm, log_grad8
from hwsim.quant.stash import CodebookCodec, StashReLU, StochasticBinaryCodec, measure_saved
from hwsim.schemes import build_scheme
from hwsim.schemes.mixed import precisions

LOG4, BIN = Format("log", 4), Format("binary", 1)


def _resnet(spec, width=1.0):
    torch.manual_seed(0)
    return build_scheme(spec).convert(build_model("resnet20", width=width))


def _step(model, device="cpu", shape=(2, 3, 16, 16)):
    model.to(device).train()
    x = torch.randn(shape, device=device)
    y = model(x)
    F.cross_entropy(y, torch.zeros(shape[0], dtype=torch.long, device=device)).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and g.shape == p.shape for g, p in zip(grads, model.parameters()))
    return y


# ----------------------------------------------------------------------------- mcdonnell


def test_mcdonnell_declarations_and_codecs():
    m = _resnet("mcdonnell")
    p = precisions(m)
    assert p["conv1"].stash == Format() and m.conv1.stash_codec is None          # the data stays fp32
    for name in ("layer1.0.conv1", "layer2.0.shortcut", "layer3.2.conv2", "fc"):
        assert p[name].stash == BIN and p[name].weight == Format() and p[name].input == Format()
        assert p[name].mac_type(FORWARD) == "fp32" and p[name].mac_type(BACKWARD_WEIGHT) == "sign_add"
        assert isinstance(m.get_submodule(name).stash_codec, StochasticBinaryCodec)
    assert isinstance(m.layer1[0].relu1, StashReLU)
    bw = precisions(_resnet({"name": "mcdonnell", "binary_weights": True}))
    assert bw["layer1.0.conv1"].weight == BIN and bw["layer1.0.conv1"].mac_type(FORWARD) == "sign_add"
    assert bw["conv1"].weight_infer == BIN
    at_test = precisions(_resnet({"name": "mcdonnell", "binary_weights_at_test": True}))
    assert at_test["fc"].weight == Format() and at_test["fc"].weight_infer == BIN
    assert at_test["fc"].mac_type(INFERENCE) == "sign_add"
    first = precisions(_resnet({"name": "mcdonnell", "binarize_first_layer": True}))
    assert first["conv1"].stash == BIN
    # model compression alone (the literature rows): fixed-scale sign weights, float stashes
    mc = _resnet({"name": "mcdonnell", "binary_weights": True, "binary_stash": False, "relu_mask_1bit": False})
    pc = precisions(mc)
    assert pc["layer1.0.conv1"].weight == BIN and pc["layer1.0.conv1"].stash == Format()
    assert mc.layer1[0].conv1.stash_codec is None and not isinstance(mc.layer1[0].relu1, StashReLU)


def test_mcdonnell_stash_is_one_bit_and_for_inference():
    m = _resnet("mcdonnell", width=0.5)
    ref = _resnet("fp32", width=0.5)
    x = torch.randn(4, 3, 16, 16)
    with measure_saved(m) as sb:
        m(x)
    with measure_saved(ref) as sr:
        ref(x)
    names = [n for n, _ in m.named_modules() if n != "conv1" and isinstance(_, (nn.Conv2d, nn.Linear))]
    ratio = sr.modules(names) / sb.modules(names)
    assert 28 <= ratio <= 32
    s = build_scheme({"name": "mcdonnell", "binary_weights": True, "binary_weights_at_test": True})
    mb = s.convert(build_model("resnet20"))
    dep = s.for_inference(mb)
    w = dep.layer2[0].conv1.weight
    assert len(w.unique()) == 2 and torch.allclose(w.abs(), torch.full_like(w, (2 / (16 * 9)) ** 0.5))
    assert dep is not mb and len(mb.layer2[0].conv1.weight.unique()) > 2   # training weights untouched


@pytest.mark.parametrize("spec,device", [
    ("mcdonnell", "cpu"), ("mcdonnell", "meta"),
    ({"name": "mcdonnell", "stochastic": False, "rescale": True, "binary_weights": True}, "cpu"),
    ({"name": "mcdonnell", "stochastic": False, "rescale": True, "binary_weights": True}, "meta")])
def test_mcdonnell_steps(spec, device):
    _step(_resnet(spec, width=0.5), device)


# -------------------------------------------------------------------------------- graham


@pytest.mark.parametrize("quant,fmt", [("L2", "log2"), ("L4", "log4"), ("L5", "log5"), ("U4", "int4"),
                                       ("U8", "int8"), ("O4", "codebook4")])
def test_graham_declarations(quant, fmt):
    f = Format.parse(fmt)
    m = _resnet({"name": "graham", "quantizer": quant})
    p = precisions(m)
    bns = [(n, b) for n, b in m.named_modules() if isinstance(b, nn.modules.batchnorm._BatchNorm)]
    assert type(bns[0][1]) is nn.BatchNorm2d and bns[0][1].hwsim_norm_precision.stash == Format()
    assert all(isinstance(b, GrahamBatchNorm) and b.hwsim_norm_precision.stash == f for _, b in bns[1:])
    # the layer after the first (fp32) BN, the stem and the classifier (after pooling) stay fp32
    for name in ("conv1", "layer1.0.conv1", "fc"):
        assert p[name].input == Format() and p[name].stash == Format()
    for name in ("layer1.0.conv2", "layer1.1.conv1", "layer2.0.conv1", "layer2.0.shortcut", "layer3.2.conv2"):
        assert p[name].input == f and p[name].stash == f
        assert isinstance(m.get_submodule(name).stash_codec, CodebookCodec)
    if f.kind == "log":
        assert p["layer1.1.conv1"].mac_type(FORWARD) == "shift_add"
    no_skip = precisions(_resnet({"name": "graham", "quantizer": quant, "skip_first_bn": False}))
    assert no_skip["layer1.0.conv1"].input == f


@pytest.mark.parametrize("quant,device", [("L3", "cpu"), ("O4", "cpu"), ("L3", "meta"), ("U5", "meta"),
                                          ("O4", "meta")])
def test_graham_steps(quant, device):
    _step(_resnet({"name": "graham", "quantizer": quant, "log_gradients": True}, width=0.5), device)


def test_graham_stash_shared_and_small():
    m = _resnet({"name": "graham", "quantizer": "L4"}, width=0.5)
    ref = _resnet("fp32", width=0.5)
    x = torch.randn(4, 3, 16, 16)
    with measure_saved(m) as sb:
        y = m(x)
    y.sum().backward()
    with measure_saved(ref) as sr:
        ref(x)
    bns = [n for n, b in m.named_modules() if isinstance(b, GrahamBatchNorm)]
    assert sr.modules(bns) / sb.modules(bns) >= 0.875 * 32 / 4
    # The ReLU after a Graham BN and the conv after it hold the BN's packed code (the same
    # storage, counted once in the total): the ReLU adds no new tensor, the conv only its table.
    new = {}
    for mod, _shape, _dtype, nbytes in sb.tensors:
        new[mod] = new.get(mod, 0) + nbytes
    assert "layer1.1.relu1" not in new and new["layer1.1.conv1"] == 8 * 16 * 4      # 8 channels x 16 levels
    assert sb.by_module["layer1.1.relu1"] == 4 * 8 * 16 * 16 // 2 + 16 * 4         # code + levels
    assert sb.total < sr.total / 5


def test_graham_log_gradients_reach_the_weight_layer_quantized():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3))
    net = build_scheme({"name": "graham", "log_gradients": True}).convert(net)
    assert precisions(net)["0"].grad == Format("log", 8)
    assert precisions(net)["0"].mac_type(BACKWARD_DATA) == "shift_add"
    x = torch.randn(2, 3, 6, 6)
    g = torch.randn(2, 4, 4, 4) * 1e-3
    net(x).backward(g)
    exp = torch.nn.grad.conv2d_weight(x, net[0].weight.shape, log_grad8(g))
    assert torch.allclose(net[0].weight.grad, exp, atol=1e-9)


def test_graham_fc_net_and_traced_feeds():
    from hwsim.quant.graham import layers_fed_by_bn

    m = build_model("graham_fc", in_shape=(1, 8, 8), n=5)
    assert layers_fed_by_bn(m) == {"fc1": None, "fc2": "bn1", "fc3": "bn2"}
    m = build_scheme({"name": "graham", "quantizer": "L3"}).convert(m)
    p = precisions(m)
    assert p["fc2"].input == Format() and p["fc3"].input == Format("log", 3)
    _step(m, shape=(6, 1, 8, 8))


# ------------------------------------------------------------------------------- pruning


def test_pruning_schedule_and_targets():
    s = build_scheme({"name": "pruning", "sparsity": 0.8, "start_epoch": 1, "end_epoch": 4, "frequency": 1})
    assert s.events() == [1, 2, 3, 4]
    fr = [s.fraction_at(e) for e in range(6)]
    assert fr[0] is None and fr[5] is None and fr[4] == 1.0
    assert fr[1] == pytest.approx(1 - 0.75**3) and fr[1] < fr[2] < fr[3] < fr[4]
    assert s.lr_scale(0) == 1.0 and s.lr_scale(1) == 0.1
    one = build_scheme({"name": "pruning", "schedule": "one_shot", "start_epoch": 2})
    assert one.events() == [2] and one.fraction_at(2) == 1.0
    grp = build_scheme({"name": "pruning", "sparsity": {"conv": 0.5, "fc": 0.9, "layer3.*": 0.7}})
    m = build_model("resnet20")
    assert grp.layer_target("fc", m.fc) == 0.9 and grp.layer_target("conv1", m.conv1) == 0.5
    only = build_scheme({"name": "pruning", "sparsity": {"layer3.*": 0.7}})
    assert only.layer_target("layer3.0.conv1", m.layer3[0].conv1) == 0.7
    assert only.layer_target("conv1", m.conv1) == 0.0


def test_pruning_mask_holds_through_training_updates():
    from hwsim.quant.prune import sparsity_of

    torch.manual_seed(0)
    s = build_scheme({"name": "pruning", "sparsity": 0.75, "schedule": "one_shot", "start_epoch": 0})
    m = s.convert(build_model("lenet300", in_shape=(1, 8, 8)))
    sp = sparsity_of(m)
    assert all(abs(v - 0.75) < 0.01 for v in sp.values())
    assert all(p.hwsim_precision.weight == Format() for _, p in m.named_modules() if hasattr(p, "hwsim_precision"))
    opt = torch.optim.SGD(m.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-3)
    zero_before = {n: (mod.weight == 0).clone() for n, mod in m.named_modules() if hasattr(mod, "hwsim_prune_mask")}
    for step in range(5):
        opt.zero_grad()
        F.cross_entropy(m(torch.randn(16, 1, 8, 8)), torch.randint(0, 10, (16,))).backward()
        for n, mod in m.named_modules():
            if n in zero_before:
                assert (mod.weight.grad[zero_before[n]] == 0).all()        # gradients masked
        opt.step()
        s.on_step_end(m, step + 1)
    for n, mod in m.named_modules():
        if n in zero_before:
            assert (mod.weight[zero_before[n]] == 0).all()
    g = build_scheme({"name": "pruning", "sparsity": 0.9, "start_epoch": 0, "end_epoch": 2})
    m2 = g.convert(build_model("lenet300", in_shape=(1, 8, 8)))
    first = sparsity_of(m2)["fc1"]
    g.on_epoch_end(m2, 1)
    mid = sparsity_of(m2)["fc1"]
    g.on_epoch_end(m2, 2)
    assert 0 < first < mid < sparsity_of(m2)["fc1"] == pytest.approx(0.9, abs=0.01)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_pruning_steps(device):
    _step(_resnet({"name": "pruning", "sparsity": {"conv": 0.5}}), device)


# --------------------------------------------------------------------------------- mixed


def test_mixed_overrides_and_composition():
    m = _resnet({"name": "mixed", "compose": ["twn", {"name": "graham", "quantizer": "L4"}],
                 "overrides": [{"layers": "first", "scheme": "fp32"}, {"layers": "last", "scheme": "fp32"},
                               {"layers": "layer3.*", "scheme": "mcdonnell"}]})
    p = precisions(m)
    assert p["conv1"] == p["fc"] and p["fc"].weight == Format() and p["fc"].stash == Format()
    assert p["layer1.1.conv1"].weight == Format("ternary", 2) and p["layer1.1.conv1"].input == LOG4
    assert p["layer1.1.conv1"].mac_type(FORWARD) == "ternary"
    assert p["layer3.0.conv1"].stash == BIN and p["layer3.0.conv1"].weight == Format()
    assert isinstance(m.layer2[0].bn1, GrahamBatchNorm)
    _step(m)


def test_mixed_bits_by_depth_and_depth_ranges():
    m = _resnet({"name": "mixed", "bits_by_depth": [8, 6, 4],
                 "overrides": [{"layers": "20-21", "scheme": "fp32"}]})
    p = list(precisions(m).values())
    assert p[0].weight == Format("int", 8) and p[0].input == Format()    # kbit keeps the image float
    assert p[1].weight == Format("int", 6) and p[1].input == Format("int", 6)
    assert all(q.weight == Format("int", 4) for q in p[2:20])
    assert p[20].weight == Format() and p[21].weight == Format()
    _step(m)
    base = precisions(_resnet({"name": "mixed", "base": {"name": "graham", "quantizer": "U4"},
                               "overrides": [{"layers": 3, "scheme": "fp32"}]}))
    assert list(base.values())[3].input == Format() and list(base.values())[4].input == Format("int", 4)
    # k-bit by depth composes on top of the base (pruning masks stay); an override replaces it
    pr = _resnet({"name": "mixed", "base": {"name": "pruning", "sparsity": 0.5, "schedule": "one_shot"},
                  "bits_by_depth": [8, 4], "overrides": [{"layers": "last", "scheme": "fp32"}]}, width=0.5)
    conv = pr.layer2[1].conv1
    assert conv.hwsim_precision.weight == Format("int", 4) and hasattr(conv, "hwsim_prune_mask")
    assert (conv.weight == 0).float().mean().item() == pytest.approx(0.5, abs=0.01)
    assert not hasattr(pr.fc, "hwsim_prune_mask") and pr.fc.hwsim_precision.weight == Format()
    _step(pr, "meta")


@pytest.mark.parametrize("spec,where", [
    ({"name": "mcdonnell", "stochastic": "sometimes"}, "scheme.stochastic"),
    ({"name": "mcdonnell", "noise": 1}, "scheme.noise"),
    ({"name": "graham", "quantizer": "L6"}, "scheme.quantizer"),
    ({"name": "graham", "skip_first_bn": "x"}, "scheme.skip_first_bn"),
    ({"name": "pruning", "sparsity": 1.0}, "scheme.sparsity"),
    ({"name": "pruning", "sparsity": {"conv": -0.1}}, "scheme.sparsity"),
    ({"name": "pruning", "start_epoch": 3, "end_epoch": 1}, "scheme.end_epoch"),
    ({"name": "pruning", "frequency": 0}, "scheme.frequency"),
    ({"name": "pruning", "retrain_lr_scale": 0}, "scheme.retrain_lr_scale"),
    ({"name": "mixed"}, "scheme"),
    ({"name": "mixed", "overrides": [{"layers": "4-2", "scheme": "fp32"}]}, "scheme.overrides.0.layers"),
    ({"name": "mixed", "overrides": [{"layers": "first", "scheme": "nope"}]}, "scheme.overrides.0.scheme"),
    ({"name": "mixed", "overrides": [{"layers": "first"}]}, "scheme.overrides.0.scheme"),
    ({"name": "mixed", "compose": ["twn", {"name": "graham", "quantizer": 4}]}, "scheme.compose"),
    ({"name": "mixed", "bits_by_depth": [8, 1]}, "scheme.bits_by_depth"),
])
def test_bad_hyper_parameters_name_the_field(spec, where):
    with pytest.raises(UserError) as e:
        build_scheme(spec)
    assert e.value.where == where


# ------------------------------------------------------------------------------ training


@pytest.mark.parametrize("model,spec", [
    ("lenet300", {"name": "mcdonnell", "binary_weights": True}),
    ("graham_fc", {"name": "graham", "quantizer": "L4"}),
    ("lenet300", {"name": "pruning", "sparsity": 0.8, "schedule": "one_shot"}),
    ("graham_fc", {"name": "mixed", "compose": ["twn", {"name": "graham", "quantizer": "O4"}],
                   "overrides": [{"layers": "last", "scheme": "fp32"}]}),
])
def test_quick_digits_run_above_chance(model, spec):
    from hwsim.data import load_dataset
    from hwsim.train import train

    torch.manual_seed(0)
    data = load_dataset("digits")
    kw = {"n": 6} if model == "graham_fc" else {}
    scheme = build_scheme(spec)
    net = scheme.convert(build_model(model, num_classes=10, in_shape=(1, 8, 8), **kw))
    res = train(net, scheme, data, {"epochs": 1, "batch_size": 32, "lr": 0.1, "device": "cpu"})
    assert res.final_test_acc > 0.5          # chance is 0.1


class _Untraceable(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        if x.sum() > 1e9:              # data-dependent control flow: torch.fx cannot trace this
            x = x * 0
        return self.conv1(self.pool(self.relu(self.bn(self.conv0(x)))))


def test_graham_through_maxpool_and_untraceable_fallback():
    from hwsim.quant.graham import layers_fed_by_bn

    m = _Untraceable()
    assert layers_fed_by_bn(m) is None
    m = build_scheme({"name": "graham", "quantizer": "L3", "skip_first_bn": False}).convert(m)
    p = precisions(m)
    assert p["conv0"].input == Format() and p["conv1"].input == Format("log", 3)   # fallback: all but the first
    x = torch.randn(4, 3, 8, 8)
    with measure_saved(m) as sb:
        y = m(x)
    y.sum().backward()
    # after max-pooling the tag is gone; the codec rebuilds the per-channel table, still 3 bits
    assert sb.by_module["conv1"] == (4 * 4 * 4 * 4 * 3 + 7) // 8 + 4 * 8 * 4
    vgg = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3))
    assert layers_fed_by_bn(vgg) == {"0": None, "4": "1"}
