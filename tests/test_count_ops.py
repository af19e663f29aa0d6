"""Exact counts for every common op family, forward and backward, on real and meta tensors,
against hand-derived formulas and against torch.utils.flop_counter where it is right."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from hwsim.count import trace

DEVICES = ["cpu", "meta"]


def _macs(tr, phase, layer=None):
    return sum(sum(r.macs.values()) for r in tr.records if r.phase == phase and (layer is None or r.layer == layer))


def _ew(tr, phase, cls, layer=None):
    return sum(r.elementwise.get(cls, 0) for r in tr.records
               if r.phase == phase and (layer is None or r.layer == layer))


class _Scaled(nn.Module):
    """Scales its input by a parameter first, so the layer under test computes its input gradient."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.s = nn.Parameter(torch.ones(()))
        self.layer = layer

    def forward(self, x):
        return self.layer(x * self.s)


# (layer, input shape without batch, hand-derived forward MACs per sample)
CONVS = {
    "grouped": (lambda: nn.Conv2d(8, 12, 3, padding=1, groups=4), (8, 6, 6), 12 * 6 * 6 * (8 // 4) * 9),
    "depthwise": (lambda: nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8), (8, 6, 6), 8 * 3 * 3 * 1 * 9),
    "conv1d": (lambda: nn.Conv1d(4, 6, 5), (4, 20), 6 * 16 * 4 * 5),
    "conv3d": (lambda: nn.Conv3d(2, 4, 3), (2, 5, 5, 5), 4 * 27 * 2 * 27),
    # transposed: every input position scatters C_out/g x kernel products for each input channel
    "convT1d": (lambda: nn.ConvTranspose1d(4, 6, 3, stride=2), (4, 7), 7 * 4 * 6 * 3),
    "convT2d_groups": (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2), (4, 5, 5), 25 * 4 * 3 * 9),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", list(CONVS))
def test_conv_family_forward_and_backward(kind, device):
    make, shape, per_sample = CONVS[kind]
    torch.manual_seed(0)
    tr = trace(_Scaled(make()), input_shape=shape, batch=2, device=device, optimizer="sgd")
    fwd = 2 * per_sample
    assert _macs(tr, "forward", "layer") == fwd
    # grad_input and grad_weight each cost the forward MACs, groups included
    assert _macs(tr, "backward_data", "layer") == fwd
    assert _macs(tr, "backward_weight", "layer") == fwd


def _flop_counter(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """(forward, backward) MACs by torch.utils.flop_counter (FLOPs / 2)."""
    fc = FlopCounterMode(display=False)
    with fc:
        out = model(x)
    fwd = fc.get_total_flops()
    with fc:
        out.sum().backward()
    return fwd // 2, fc.get_total_flops() // 2


@pytest.mark.parametrize("kind", ["conv1d", "conv3d", "convT1d"])
def test_conv_agrees_with_flop_counter_where_it_is_right(kind):
    make, shape, _ = CONVS[kind]
    torch.manual_seed(0)
    layer = make()
    tr = trace(_Scaled(layer), input_shape=shape, batch=2, device="cpu", optimizer="sgd")
    fwd, bwd = _flop_counter(layer, torch.randn(2, *shape, requires_grad=True))
    assert _macs(tr, "forward", "layer") == fwd
    assert _macs(tr, "backward_data", "layer") + _macs(tr, "backward_weight", "layer") == bwd


@pytest.mark.parametrize("kind,groups", [("grouped", 4), ("depthwise", 8)])
def test_flop_counter_overcounts_grouped_conv_backward_by_the_group_count(kind, groups):
    make, shape, per_sample = CONVS[kind]
    layer = make()
    tr = trace(_Scaled(layer), input_shape=shape, batch=2, device="cpu", optimizer="sgd")
    fwd, bwd = _flop_counter(layer, torch.randn(2, *shape, requires_grad=True))
    ours = _macs(tr, "backward_data", "layer") + _macs(tr, "backward_weight", "layer")
    assert fwd == _macs(tr, "forward", "layer") == 2 * per_sample       # forward: it is right
    assert ours == 2 * fwd                                                # hand-derived: 2 x forward
    # flop_counter: grad_input right, grad_weight g times too high
    assert bwd == fwd + groups * fwd
    assert _macs(tr, "backward_weight", "layer") == fwd


class _Attention(nn.Module):
    def __init__(self, heads: int, causal: bool):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.s = nn.Parameter(torch.ones(()))

    def forward(self, x):                       # x: (B, L, H*D) -> q = k = v
        b, length, e = x.shape
        q = (x * self.s).view(b, length, self.heads, e // self.heads).transpose(1, 2)
        return F.scaled_dot_product_attention(q, q, q, is_causal=self.causal).transpose(1, 2).reshape(b, length, e)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("causal", [False, True])
def test_scaled_dot_product_attention(device, causal):
    tr = trace(_Attention(4, causal), input_shape=(16, 32), batch=2, device=device, optimizer="sgd")
    b, h, length, d = 2, 4, 16, 8
    fwd = b * h * length * length * (d + d)          # Q K^T and P V, the full L x L matrix
    assert _macs(tr, "forward") == fwd
    assert _macs(tr, "backward_data") == 2 * fwd      # dV, dP, dQ, dK
    assert _ew(tr, "forward", "softmax") == b * h * length * length
    assert not tr.meta.unsupported_ops


def test_flop_counter_misses_cpu_attention():
    m = _Attention(4, False)
    x = torch.randn(2, 16, 32, requires_grad=True)
    fc = FlopCounterMode(display=False)
    with fc:
        m(x)
    assert fc.get_total_flops() == 0                  # the CPU flash kernel has no formula there
    tr = trace(m, input_shape=(16, 32), batch=2, device="cpu")
    assert _macs(tr, "forward") == 2 * 4 * 16 * 16 * 16


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("need_weights", [False, True])
def test_multihead_attention_backward_weight_label(device, need_weights):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.att = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            x = x * 1.0
            return self.att(x, x, x, need_weights=need_weights)[0]

    net = Net()
    x = torch.randn(2, 5, 8, requires_grad=True)
    tr = trace(_Scaled(net), input_shape=(5, 8), batch=2, device=device, optimizer="sgd")
    proj = 10 * 4 * 64                                  # 10 tokens x (q, k, v, out) x 8x8
    attn = 2 * 2 * 5 * 5 * (4 + 4)                      # batch 2 x 2 heads x 5x5 x (QK^T + PV)
    assert _macs(tr, "forward") == proj + attn
    # the in/out projections' weight gradients are backward-weight; the attention products have none
    assert _macs(tr, "backward_weight") == proj
    assert _macs(tr, "backward_data") == proj + 2 * attn
    # and so are its biases' gradients: a sum over the 10 tokens of q, k, v (24) and out (8) rows
    assert _ew(tr, "backward_weight", "bias_grad", "layer.att") == 10 * 24 + 10 * 8
    if device == "cpu" and not need_weights:
        fwd, bwd = _flop_counter(net, x)
        assert fwd == proj                              # flop_counter misses the attention on CPU


class _Products(nn.Module):
    def __init__(self):
        super().__init__()
        self.s = nn.Parameter(torch.ones(()))

    def forward(self, x):                               # x: (B, 6, 4)
        x = x * self.s
        a = torch.bmm(x, x.transpose(1, 2))             # B x 6x4 @ 4x6
        c = torch.baddbmm(a, a, a)                      # B x 6x6 @ 6x6
        d = torch.einsum("bij,bjk->bik", c, x)          # B x 6x6 @ 6x4
        e = x.unsqueeze(1).expand(-1, 3, -1, -1) @ x.unsqueeze(1).transpose(-1, -2).expand(-1, 3, -1, -1)
        return d.sum() + e.sum()


@pytest.mark.parametrize("device", DEVICES)
def test_bmm_baddbmm_einsum_matmul(device):
    tr = trace(_Products(), input_shape=(6, 4), batch=2, device=device, optimizer="sgd")
    fwd = 2 * (6 * 4 * 6 + 6 * 6 * 6 + 6 * 6 * 4 + 3 * 6 * 4 * 6)
    assert _macs(tr, "forward") == fwd
    assert _macs(tr, "backward_data") == 2 * fwd       # two operand gradients per product
    x = torch.randn(2, 6, 4, requires_grad=True)
    assert _flop_counter(_Products(), x) == (fwd, 2 * fwd)


class _Lm(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.ln = nn.LayerNorm(16)
        self.rms = nn.RMSNorm(16)
        self.gelu = nn.GELU()
        self.silu = nn.SiLU()

    def forward(self, tokens):
        h = self.emb(tokens)
        h = self.silu(self.gelu(self.rms(self.ln(h))))
        return torch.softmax(h, -1)


@pytest.mark.parametrize("device", DEVICES)
def test_embedding_norms_activations_softmax(device):
    tr = trace(_Lm(), input_shape="tokens:12", batch=2, device=device, optimizer="sgd")
    n = 2 * 12 * 16
    assert sum(sum(r.macs.values()) for r in tr.records) == 0
    emb_fwd = next(r for r in tr.records if r.layer == "emb" and r.phase == "forward")
    assert emb_fwd.elementwise == {"embedding": 0}                 # a gather: no arithmetic
    assert emb_fwd.traffic_bytes["output"] == n * 4                # its rows are written
    assert emb_fwd.traffic_bytes["input"] == n * 4 + 2 * 12 * 8    # rows and int64 ids read
    # the embedding's gradient adds rows into its weight gradient: backward-weight work
    assert _ew(tr, "backward_weight", "embedding", "emb") == n
    for layer in ("ln", "rms"):
        assert _ew(tr, "forward", "norm", layer) >= n
        assert set(next(r for r in tr.records if r.layer == layer and r.phase == "forward").elementwise) == {"norm"}
    assert _ew(tr, "forward", "activation", "gelu") == n
    assert _ew(tr, "forward", "activation", "silu") == n
    assert _ew(tr, "forward", "softmax") == n
    assert _ew(tr, "backward_data", "softmax") == n


# (layer, input shape, op in the trace, the shape the table shows: output channels K are the module's)
CONV_SHAPES = {
    "conv1d": (lambda: nn.Conv1d(4, 6, 5), (4, 20), "conv1d", {"C": 4, "W": 20, "K": 6, "Q": 16, "S": 5}),
    "conv3d": (lambda: nn.Conv3d(2, 4, 3), (2, 5, 5, 5), "conv3d",
               {"C": 2, "D": 5, "K": 4, "O": 3, "P": 3, "Q": 3, "T": 3}),
    "convT1d": (lambda: nn.ConvTranspose1d(4, 6, 3, stride=2), (4, 7), "convtranspose1d",
                {"C": 4, "W": 7, "K": 6, "Q": 15, "S": 3, "stride": 2}),
    "convT2d_groups": (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2), (4, 5, 5), "convtranspose2d",
                       {"C": 4, "H": 5, "K": 6, "P": 11, "Q": 11, "R": 3, "groups": 2}),
    "convT3d": (lambda: nn.ConvTranspose3d(2, 4, 2, stride=2), (2, 3, 3, 3), "convtranspose3d",
                {"C": 2, "D": 3, "K": 4, "O": 6, "T": 2}),
}


@pytest.mark.parametrize("scheme", [None, "fp32"])
@pytest.mark.parametrize("kind", list(CONV_SHAPES))
def test_conv_nd_and_transposed_layers_keep_their_op_and_shape(kind, scheme):
    """A transposed convolution is not a conv2d: its op is named, its K is its output channels (its
    weight's dim 0 is the input channels), and the accelerator model runs the GEMMs of the MACs counted.
    Unconverted (no scheme) it is still a weight layer: depth, shape, and its input in the weight-input stash."""
    from hwsim.cli_verbs.count import _shape_text
    from hwsim.hardware import simulate_trace

    make, shape, op, want = CONV_SHAPES[kind]
    tr = trace(_Scaled(make()), scheme, input_shape=shape, batch=2, device="meta", optimizer="sgd")
    li = next(la for la in tr.layers if la.name == "layer")
    assert li.op == op and li.depth == 0
    assert tr.meta.step.weight_input_stash_bytes == 4 * 2 * math.prod(shape)
    assert {k: li.shape[k] for k in want} == want
    assert f"-> {want['K']}x" in _shape_text(li.op, li.shape)
    rep = simulate_trace(tr, "tpu_like")
    for phase in ("forward", "backward_data", "backward_weight"):
        sim = sum(r.macs for r in rep.rows if r.layer == "layer" and r.phase == phase and r.unit == "array")
        assert sim == _macs(tr, phase, "layer") > 0, phase
