"""Schemes take over every weight layer type: Linear, Conv1d/2d/3d, ConvTranspose1d/2d/3d and the
projections of nn.MultiheadAttention; first/last-layer rules follow the forward pass; a layer a
scheme cannot apply to stays float and says so (trace, CLI), and --strict makes that an error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from hwsim.count import summary, trace
from hwsim.formats import BINARY, FP32, TERNARY
from hwsim.quant.attention import LinearMultiheadAttention
from hwsim.quant.layers import (
    QLAYERS,
    LayerPlan,
    QConv1d,
    QConvTranspose2d,
    QLinear,
    convert_layers,
    stays_float,
    weight_layers,
)
from hwsim.schemes import build_scheme

ROOT = Path(__file__).resolve().parents[1]

LAYERS = {
    "conv1d": (lambda: nn.Conv1d(4, 6, 3, padding=1, groups=2), (2, 4, 9)),
    "conv2d": (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1), (2, 4, 8, 8)),
    "conv3d": (lambda: nn.Conv3d(2, 4, 3, padding=1), (2, 2, 4, 5, 5)),
    "convT1d": (lambda: nn.ConvTranspose1d(4, 6, 3, stride=2, output_padding=1), (2, 4, 7)),
    "convT2d": (lambda: nn.ConvTranspose2d(4, 6, 2, stride=2, groups=2), (2, 4, 5, 5)),
    "convT3d": (lambda: nn.ConvTranspose3d(2, 4, 2, stride=2), (2, 2, 3, 3, 3)),
    "reflect": (lambda: nn.Conv1d(3, 3, 3, padding=2, padding_mode="reflect"), (2, 3, 8)),
}


def _wrap(layer: nn.Module) -> nn.Module:
    # a layer in the middle: first/last-layer rules do not keep it float
    c_in = layer.in_channels
    nd = len(layer.kernel_size)
    conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[nd - 1]
    return nn.Sequential(conv(c_in, c_in, 1), layer, conv(layer.out_channels, layer.out_channels, 1))


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_an_empty_plan_swaps_every_type_and_keeps_float_numerics(kind):
    make, shape = LAYERS[kind]
    torch.manual_seed(0)
    ref = make()
    x = torch.randn(*shape)
    want = ref(x)
    q = convert_layers(ref, lambda *a: LayerPlan())
    assert isinstance(q, QLAYERS) and isinstance(q, type(ref))
    assert q.weight is ref.weight                  # Parameters shared, not copied
    torch.testing.assert_close(q(x), want)


@pytest.mark.parametrize("kind", ["conv1d", "conv3d", "convT1d", "convT2d", "convT3d"])
@pytest.mark.parametrize("scheme, weight_fmt, mac", [("bnn", BINARY, "xnor_popcount"), ("twn", TERNARY, "ternary"),
                                                     ({"name": "kbit", "weight_bits": 4, "act_bits": 4,
                                                       "keep_first_last": False}, None, "int4x4")])
def test_schemes_apply_to_each_layer_type(kind, scheme, weight_fmt, mac):
    make, shape = LAYERS[kind]
    sch = build_scheme(scheme)
    torch.manual_seed(0)
    net = sch.convert(_wrap(make()))
    mid = net[1]
    assert isinstance(mid, QLAYERS) and not stays_float(net)
    # precision is data: what the layer declares is what its quantizer makes
    w = mid.weight_quantizer(mid.weight).detach()
    if weight_fmt is BINARY:
        assert mid.hwsim_precision.weight == BINARY and set(w.unique().tolist()) <= {-1.0, 1.0}
    elif weight_fmt is TERNARY:
        assert mid.hwsim_precision.weight == TERNARY and w.unique().numel() <= 3
    else:
        # symmetric 4-bit levels with one scale per slice of dim 0
        assert mid.hwsim_precision.weight.bits == 4 and all(c.unique().numel() <= 16 for c in w)
    x = torch.randn(*shape)
    net(x).sum().backward()                         # trains: gradients reach the latent weights
    assert mid.weight.grad is not None and mid.weight.grad.abs().sum() > 0
    tr = trace(sch.convert(_wrap(make())), None, input_shape=shape[1:], batch=shape[0], convert=False)
    name = [li for li in tr.layers if li.depth == 1][0].name
    fwd = {r.layer: r.macs for r in tr.records if r.phase == "forward"}
    assert set(fwd[name]) == {mac}


def test_packed_stash_of_a_conv1d_gives_the_same_gradients():
    from hwsim.quant.layers import Binarize, optional_codec

    codec = optional_codec("SignCodec")
    if codec is None:
        pytest.skip("no SignCodec")
    torch.manual_seed(0)
    grads = []
    for c in (None, codec):
        torch.manual_seed(1)
        layer = QConv1d.from_float(nn.Conv1d(4, 6, 3, padding=1))
        layer.input_quantizer, layer.stash_codec = Binarize("htanh"), c
        x = torch.randn(2, 4, 9, requires_grad=True)
        layer(x).square().sum().backward()
        grads.append((layer.weight.grad.clone(), x.grad.clone()))
    torch.testing.assert_close(grads[0], grads[1])


# -- multi-head attention --------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{}, {"batch_first": True}, {"kdim": 6, "vdim": 5}, {"add_bias_kv": True},
                                {"add_zero_attn": True}, {"bias": False}])
def test_linear_attention_equals_multihead_attention(kw):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, **kw).eval()
    lin = LinearMultiheadAttention(mha).eval()
    n, t = 3, 4
    shape = (n, t) if kw.get("batch_first") else (t, n)
    q = torch.randn(*shape, 8)
    k = torch.randn(*shape, kw.get("kdim", 8))
    v = torch.randn(*shape, kw.get("vdim", 8))
    causal = nn.Transformer.generate_square_subsequent_mask(t)
    pad = torch.zeros(n, t, dtype=torch.bool)
    pad[0, -1] = True
    for need in (True, False):
        for masks in ({}, {"attn_mask": causal}, {"key_padding_mask": pad}, {"attn_mask": causal.bool()}):
            with torch.no_grad():
                a, b = mha(q, k, v, need_weights=need, **masks), lin(q, k, v, need_weights=need, **masks)
            torch.testing.assert_close(b[0], a[0], atol=1e-5, rtol=1e-5)
            if need:
                torch.testing.assert_close(b[1], a[1], atol=1e-5, rtol=1e-5)


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 8)
        self.att = nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        h = self.inp(x)
        h, _ = self.att(h, h, h, need_weights=False)
        return self.head(h.mean(1))


def test_schemes_quantize_attention_projections():
    """Before: TypeError: cannot quantize NonDynamicallyQuantizableLinear."""
    torch.manual_seed(0)
    net = build_scheme("bnn").convert(_Block())
    assert isinstance(net.att, LinearMultiheadAttention)
    names = [n for n, _ in weight_layers(net)]
    assert names == ["inp", "att.q_proj", "att.k_proj", "att.v_proj", "att.out_proj", "head"]
    assert all(isinstance(m, QLinear) and m.hwsim_precision.weight == BINARY for _, m in weight_layers(net))
    net(torch.randn(2, 5, 6)).sum().backward()
    tr = trace(_Block(), "bnn", input_shape=(5, 6), batch=2)
    fwd = summary(tr)["macs_by_phase"]["forward"]
    # batch 2 x 5 tokens: inp 6*8 (float input: sign_add), q/k/v/out 4 * 8*8 and head 8*3 (binary x binary)
    assert fwd["sign_add"] == 10 * 48
    assert fwd["xnor_popcount"] == 10 * 4 * 64 + 2 * 24


def test_attention_swap_counts_what_multihead_attention_counts():
    net = build_scheme("fp32").convert(_Block())
    assert isinstance(net.att, LinearMultiheadAttention)
    assert all(m.hwsim_precision.weight == FP32 for _, m in weight_layers(net))
    plain = summary(trace(_Block(), None, input_shape=(5, 6), batch=2))          # nn.MultiheadAttention as is
    fp32 = summary(trace(_Block(), "fp32", input_shape=(5, 6), batch=2))         # on four linear layers
    def total(s, *phases):
        return sum(sum(s["macs_by_phase"].get(p, {}).values()) for p in phases)

    assert total(plain, "forward") == total(fp32, "forward")
    assert total(plain, "backward_data", "backward_weight") == total(fp32, "backward_data", "backward_weight")
    # 10 tokens: projections 4 x 8x8, attention QK^T and AV 2 x (2 heads x 5 x 5 x 4), head 2 rows x 8x3
    proj, attn, head, inp = 10 * 4 * 64, 2 * (2 * 2 * 5 * 5 * 4), 2 * 24, 10 * 48
    assert total(fp32, "forward") == inp + proj + attn + head
    # the projections' weight gradients are backward-weight work; the attention products' are not
    assert total(fp32, "backward_weight") == inp + proj + head
    assert total(fp32, "backward_data") == proj + 2 * attn + head


@pytest.mark.parametrize("spec", [
    {"name": "mixed", "base": "bnn", "overrides": [{"layers": "att.*", "scheme": "fp32"}]},
    {"name": "mixed", "base": "fp32", "overrides": [{"layers": "att.q_proj", "scheme": "twn"}]},
    {"name": "mixed", "bits_by_depth": [8, 4, 2]},
])
def test_mixed_selects_attention_projections(spec):
    net = build_scheme(spec).convert(_Block())
    prec = {n: m.hwsim_precision.weight for n, m in weight_layers(net)}
    assert list(prec) == ["inp", "att.q_proj", "att.k_proj", "att.v_proj", "att.out_proj", "head"]
    if spec.get("base") == "bnn":
        assert prec["inp"] == BINARY and prec["att.k_proj"] == FP32 and prec["head"] == BINARY
    elif spec.get("base") == "fp32":
        assert prec["att.q_proj"] == TERNARY and prec["att.k_proj"] == FP32
    else:
        assert [f.bits for f in prec.values()] == [8, 4, 2, 2, 2, 2]
    net(torch.randn(2, 5, 6)).sum().backward()


# -- position in the graph ---------------------------------------------------------------------
class _Reordered(nn.Module):
    """Registered head-first; the forward pass runs conv, fc1, head."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(16, 4)
        self.fc1 = nn.Linear(8 * 2 * 2, 16)
        self.conv = nn.Conv2d(1, 8, 3, padding=1)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        h = nn.functional.adaptive_avg_pool2d(h, 2).flatten(1)
        return self.head(torch.relu(self.fc1(h)))


def test_first_and_last_layer_rules_follow_the_forward_pass():
    assert [n for n, _ in weight_layers(_Reordered())] == ["conv", "fc1", "head"]
    net = build_scheme("ttq").convert(_Reordered())        # TTQ keeps the first and last layer float
    assert type(net.conv) is nn.Conv2d and type(net.head) is nn.Linear
    assert net.fc1.hwsim_precision.weight == TERNARY
    bnn = build_scheme("bnn").convert(_Reordered())          # BNN's first layer reads the float input
    assert bnn.conv.hwsim_precision.input == FP32 and bnn.head.hwsim_precision.input == BINARY


# -- stays float ------------------------------------------------------------------------------
class _Odd(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3, padding=1)
        self.up = nn.ConvTranspose1d(4, 4, 2, stride=2)
        self.rnn = nn.GRU(4, 4, batch_first=True)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        h = self.up(torch.relu(self.conv(x)))
        h, _ = self.rnn(h.transpose(1, 2))
        return self.fc(h.mean(1))


def test_layers_a_scheme_cannot_apply_to_stay_float_and_say_so():
    net = build_scheme("xnor").convert(_Odd())
    why = stays_float(net)
    assert set(why) == {"up", "rnn"}
    assert "transposed" in why["up"] and "GRU" in why["rnn"]
    assert type(net.up) is nn.ConvTranspose1d and net.up.hwsim_precision.weight == FP32
    tr = trace(_Odd(), "xnor", input_shape=(3, 6), batch=2)
    info = {li.name: li for li in tr.layers}
    assert "transposed" in info["up"].stays_float and info["fc"].stays_float == ""
    assert set(tr.meta.stays_float) == {"up", "rnn"}
    assert {r.layer: r.macs for r in tr.records if r.phase == "forward"}["up"] == {"fp32": 2 * 6 * 4 * 4 * 2}
    # the same network under BNN: the transposed convolution is taken over, the GRU is not
    assert set(stays_float(build_scheme("bnn").convert(_Odd()))) == {"rnn"}
    assert stays_float(build_scheme("fp32").convert(_Odd())) == {}
    assert isinstance(build_scheme("bnn").convert(_Odd()).up, nn.ConvTranspose1d)


def test_a_scheme_error_on_one_layer_is_no_raw_typeerror():
    def plan(name, module, depth, n):
        if depth == 1:
            raise TypeError("cannot do this one")
        return LayerPlan(precision={"weight": "binary1"})

    net = convert_layers(_Odd(), plan)
    assert stays_float(net)["up"] == "TypeError: cannot do this one"
    assert isinstance(net.conv, QConv1d) and not isinstance(net.up, QConvTranspose2d)


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "hwsim.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_cli_table_and_strict(tmp_path):
    f = tmp_path / "odd.py"
    f.write_text("import torch\nfrom torch import nn\n"
                 "def make():\n"
                 "    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),\n"
                 "                         nn.ConvTranspose2d(4, 4, 2, stride=2), nn.Flatten(), nn.Linear(4 * 64, 2))\n"
                 "make.input_shape = (3, 4, 4)\n")
    ok = _cli("count", f"{f}:make", "--scheme", "xnor")
    assert ok.returncode == 0, ok.stderr
    assert "(stays float)" in ok.stdout
    assert "stays float under xnor: 2: XNOR-Net's input scale K has no transposed-convolution form" in ok.stdout
    strict = _cli("count", f"{f}:make", "--scheme", "xnor", "--strict")
    assert strict.returncode == 2
    lines = strict.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --strict: 1 layer(s) stay float under xnor: 2 (")
    assert _cli("count", f"{f}:make", "--scheme", "bnn", "--strict").returncode == 0


def test_store_rows_mark_layers_that_stay_float():
    from hwsim.pipeline import trace_layer_rows

    rows = trace_layer_rows(trace(_Odd(), "xnor", input_shape=(3, 6), batch=2))
    flagged = {la for la, ph, name, v in rows if name == "stays_float" and v == 1.0}
    assert flagged == {"up", "rnn"}
    assert not [r for r in trace_layer_rows(trace(_Odd(), "bnn", input_shape=(3, 6))) if r[2] == "stays_float"
                and r[0] != "rnn"]
