"""One input, one code: a tensor read by two layers (a projection shortcut and its block's first
convolution) is stashed once, as one code (one random sample for a stochastic code)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hwsim.count import trace
from hwsim.quant.stash import measure_saved
from hwsim.schemes import build_scheme

KBIT4 = {"name": "kbit", "weight_bits": 4, "act_bits": 4}
SCHEMES = ["mcdonnell", KBIT4, "bnn", "xnor", "fp32", {"name": "actnn", "bits": 2}]


class Block(nn.Module):
    """A stem, then a downsampling residual block with a 1x1 projection shortcut."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.bn0 = nn.BatchNorm2d(8)
        self.relu0 = nn.ReLU()
        self.conv1 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.shortcut = nn.Conv2d(8, 16, 1, stride=2)
        self.bns = nn.BatchNorm2d(16)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.relu0(self.bn0(self.stem(x)))
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        y = self.relu2(y + self.bns(self.shortcut(x)))
        return self.fc(self.pool(y).flatten(1))


def _net() -> nn.Module:
    torch.manual_seed(0)
    return Block()


def _weight_layer_stash(tr) -> int:
    names = {lay.name for lay in tr.layers if lay.op in ("conv2d", "linear")}
    return sum(r.traffic_bytes.get("stash_write", 0) for r in tr.records if r.layer in names)


@pytest.mark.parametrize("spec", SCHEMES, ids=str)
def test_one_input_one_code_all_memory_figures_agree(spec):
    x = torch.randn(2, 3, 8, 8)
    cpu = trace(_net(), spec, input_shape=(3, 8, 8), batch=2, device="cpu", data=(x, torch.arange(2)))
    meta = trace(_net(), spec, input_shape=(3, 8, 8), batch=2, device="meta")
    net = build_scheme(spec).convert(_net())
    net.train()
    with measure_saved(net) as sb:
        loss = nn.functional.cross_entropy(net(x), torch.arange(2))
    assert cpu.stash_bytes == meta.stash_bytes == sb.total
    # the block input is stashed by conv1 and read by the shortcut too: counted once by every figure
    for tr in (cpu, meta):
        held = _weight_layer_stash(tr)
        values = tr.meta.step.weight_input_stash_bytes
        name = spec if isinstance(spec, str) else spec["name"]
        if name in ("mcdonnell", "kbit", "bnn", "fp32"):
            assert held == values
        else:   # side tensors beside the codes: per-group ranges (actnn), xnor's K per position
            assert values < held < values + tr.meta.step.weight_input_values * 4 // 8
    saved_by = {}
    for mod, shape, dtype, nbytes in sb.tensors:
        saved_by.setdefault(mod, []).append((shape, dtype, nbytes))
    del loss
    if spec != "fp32":
        # the shortcut keeps no code of its own: its input's code is conv1's
        assert not [t for t in saved_by.get("shortcut", []) if t[1] == "uint8"]


def test_stochastic_code_is_one_sample_for_both_readers():
    """McDonnell's stochastic binarization draws once per tensor: conv1 and the shortcut save the
    very same packed buffer."""
    net = build_scheme("mcdonnell").convert(_net())
    net.train()
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        net(torch.randn(2, 3, 8, 8)).sum().backward()
    codes = [t for t in saved if t.dtype == torch.uint8 and t.numel() == 2 * 8 * 8 * 8 // 8]
    # stem output (the block input): one packed code, saved twice by reference, plus relu0's mask
    storages = {t.untyped_storage().data_ptr() for t in codes}
    assert len(codes) >= 3 and len(storages) == 2


@pytest.mark.parametrize("spec", ["mcdonnell", KBIT4, "bnn"], ids=str)
def test_resnet18_weight_layer_stash_equals_weight_input_stash(spec):
    """ResNet-18, one image (meta): the weight layers' stash equals McDonnell's figure (the
    shortcuts' inputs were coded a second time: mcdonnell 856,192 B against 812,288 B, kbit W4A4
    +175,616 B)."""
    tr = trace("resnet18", spec, batch=1, device="meta")
    assert _weight_layer_stash(tr) == tr.meta.step.weight_input_stash_bytes
    if spec == "mcdonnell":
        assert tr.meta.step.weight_input_stash_bytes == 812_288


def test_a_tensor_fed_to_two_steps_gets_a_fresh_code_each_step():
    """The code is shared only between readers of a tensor computed in this forward: the same
    batch fed twice is coded (sampled) anew each time."""
    from hwsim.quant.stash import StochasticBinaryCodec, encode_once

    codec = StochasticBinaryCodec()
    batch = torch.rand(4, 8, 6, 6)
    assert encode_once(codec, batch) is not encode_once(codec, batch)
    w = torch.ones((), requires_grad=True)
    act = batch * w                       # an activation of this forward
    assert encode_once(codec, act) is encode_once(codec, act)
    first = encode_once(codec, act)
    with torch.no_grad():
        act.add_(0)                       # modified in place: its code is made again
    assert encode_once(codec, act) is not first
