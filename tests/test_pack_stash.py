"""Bit-packing, stash codecs, stashed conv/linear and the saved-bytes measurement."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hwsim.quant.graham import QUANTIZERS, GrahamCodec
from hwsim.quant.pack import pack, packed_nbytes, unpack
from hwsim.quant.stash import (
    CodebookCodec,
    FloatCodec,
    KBitCodec,
    SignCodec,
    StashReLU,
    StochasticBinaryCodec,
    measure_saved,
    stash_relu,
    stashed_conv2d,
    stashed_linear,
)

# ------------------------------------------------------------------------------------- packing


@settings(max_examples=60, deadline=None)
@given(bits=st.integers(1, 8), numel=st.integers(0, 300), seed=st.integers(0, 2**16))
def test_pack_roundtrip_and_size(bits, numel, seed):
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 2**bits, (numel,), generator=g)
    p = pack(codes, bits)
    assert p.dtype == torch.uint8
    assert p.numel() == math.ceil(numel * bits / 8) == packed_nbytes(numel, bits)
    assert torch.equal(unpack(p, bits, numel), codes)


def test_pack_any_shape_and_meta():
    codes = torch.randint(0, 8, (3, 5, 7))
    assert torch.equal(unpack(pack(codes, 3), 3, codes.numel()).view(3, 5, 7), codes)
    m = torch.empty(4, 3, 5, dtype=torch.int64, device="meta")
    p = pack(m, 5)
    assert p.device.type == "meta" and p.numel() == packed_nbytes(60, 5) == 38
    assert unpack(p, 5, 60).shape == (60,)


def test_pack_rejects_bad_bits_and_sizes():
    with pytest.raises(ValueError):
        pack(torch.zeros(3, dtype=torch.int64), 9)
    with pytest.raises(ValueError):
        unpack(torch.zeros(3, dtype=torch.uint8), 4, 100)


# -------------------------------------------------------------------------------------- codecs


def test_sign_codec_exact_on_pm1():
    x = torch.where(torch.rand(2, 3, 4, 4) > 0.5, 1.0, -1.0)
    c = SignCodec()
    p = c.encode(x)
    assert p.tensors[0].numel() == math.ceil(x.numel() / 8)
    assert torch.equal(c.decode(p), x)


def test_kbit_codec_fixed_range_exact_and_minmax_error_bound():
    levels = 15
    x = torch.randint(0, levels + 1, (2, 4, 5, 5)).float() / levels      # DoReFa 4-bit grid on [0, 1]
    c = KBitCodec(4, lo=0.0, hi=1.0)
    assert torch.allclose(c.roundtrip(x), x, atol=1e-7, rtol=0)
    y = torch.randn(3, 4, 6, 6)
    for per_channel in (False, True):
        c = KBitCodec(4, per_channel=per_channel)
        p = c.encode(y)
        assert p.tensors[0].numel() == packed_nbytes(y.numel(), 4)
        step = p.tensors[2]
        assert ((c.decode(p) - y).abs() <= step / 2 + 1e-6).all()


@pytest.mark.parametrize("name", sorted(QUANTIZERS))
def test_graham_codec_exact_for_quantizer_outputs(name):
    q = QUANTIZERS[name]
    x = q(torch.randn(4, 3, 6, 6) * 3)
    c = GrahamCodec(name)
    p = c.encode(x)
    assert c.bits == q.bits and p.tensors[0].numel() == packed_nbytes(x.numel(), q.bits)
    assert torch.equal(c.decode(p), x)


def test_codebook_codec_exact_per_channel_and_fallback():
    from hwsim.quant.graham import L4

    n = torch.randn(8, 5, 4, 4)
    a, b = torch.rand(5) + 0.5, torch.randn(5) * 0.3
    y = torch.relu(L4(n) * a.view(1, -1, 1, 1) + b.view(1, -1, 1, 1))
    c = CodebookCodec(4)
    p = c.encode(y)
    assert not p.meta.raw and p.tensors[0].numel() == packed_nbytes(y.numel(), 4)
    assert torch.equal(c.decode(p), y)
    z = torch.randn(8, 5, 4, 4)                        # 128 distinct values per channel > 16
    p = c.encode(z)
    assert p.meta.raw and torch.equal(c.decode(p), z)
    with pytest.raises(ValueError):
        CodebookCodec(4, fallback="error").encode(z)


def test_stochastic_binary_codec_statistics():
    torch.manual_seed(0)
    a = torch.tensor([0.0, 0.25, 0.5, 0.9, 1.0, 2.5]).repeat(40000, 1)
    c = StochasticBinaryCodec()
    p = c.encode(a)
    assert p.tensors[0].numel() == packed_nbytes(a.numel(), 1) and len(p.tensors) == 1
    aq = c.decode(p)
    assert set(aq.unique().tolist()) <= {0.0, 1.0}
    # P(A_q = 1) = clamp(A, 0, 1) with uniform noise
    assert torch.allclose(aq.mean(0), a[0].clamp(0, 1), atol=0.01)
    det = StochasticBinaryCodec(stochastic=False).roundtrip(a[:1])
    assert det.tolist() == [[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]]
    r = StochasticBinaryCodec(rescale=True)
    assert torch.allclose(r.roundtrip(a).sum(), a.sum(), rtol=1e-5)


# ---------------------------------------------------------------------- stashed conv / linear


class Recording(StochasticBinaryCodec):
    """Keeps what backward decoded, to compare with autograd on that tensor."""

    def decode(self, p):
        self.seen = super().decode(p)
        return self.seen


CONV_CASES = [dict(stride=1, padding=1, dilation=1, groups=1), dict(stride=2, padding=0, dilation=1, groups=1),
              dict(stride=1, padding=2, dilation=2, groups=2)]


@pytest.mark.parametrize("conf", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_stashed_conv2d_gradients(conf, bias):
    torch.manual_seed(1)
    x = torch.relu(torch.randn(3, 4, 9, 9)).requires_grad_()
    w = torch.randn(6, 4 // conf["groups"], 3, 3, requires_grad=True)
    b = torch.randn(6, requires_grad=True) if bias else None
    codec = Recording()
    y = stashed_conv2d(x, w, b, conf["stride"], conf["padding"], conf["dilation"], conf["groups"], codec)
    ref = F.conv2d(x, w, b, conf["stride"], conf["padding"], conf["dilation"], conf["groups"])
    assert torch.equal(y, ref)                                        # forward unchanged
    g = torch.randn_like(y)
    gx, gw, *gb = torch.autograd.grad(y, [x, w] + ([b] if bias else []), g)
    # autograd on the decoded input gives the same weight gradient; the input gradient is exact
    xh = codec.seen.clone().requires_grad_()
    r = F.conv2d(xh, w, b, conf["stride"], conf["padding"], conf["dilation"], conf["groups"])
    rgx, rgw, *rgb = torch.autograd.grad(r, [xh, w] + ([b] if bias else []), g)
    assert torch.allclose(gw, rgw, atol=1e-5)
    assert torch.allclose(gx, rgx, atol=1e-5)
    if bias:
        assert torch.allclose(gb[0], rgb[0], atol=1e-5)


@pytest.mark.parametrize("codec,make", [
    (FloatCodec(), lambda s: torch.randn(s)),
    (SignCodec(), lambda s: torch.where(torch.randn(s) >= 0, 1.0, -1.0)),
    (GrahamCodec("L4"), lambda s: QUANTIZERS["L4"](torch.randn(s))),
    (KBitCodec(3, lo=0.0, hi=1.0), lambda s: torch.randint(0, 8, s).float() / 7),
])
def test_exact_codecs_give_exact_gradients(codec, make):
    torch.manual_seed(2)
    x = make((2, 3, 7, 7)).requires_grad_()
    w = torch.randn(5, 3, 3, 3, requires_grad=True)
    g = torch.randn(2, 5, 7, 7)
    got = torch.autograd.grad(stashed_conv2d(x, w, None, 1, 1, 1, 1, codec), [x, w], g)
    exp = torch.autograd.grad(F.conv2d(x, w, None, 1, 1), [x, w], g)
    for a, b in zip(got, exp):
        assert torch.allclose(a, b, atol=1e-5)
    xl = make((4, 6, 10)).requires_grad_()
    wl = torch.randn(7, 10, requires_grad=True)
    bl = torch.randn(7, requires_grad=True)
    gl = torch.randn(4, 6, 7)
    got = torch.autograd.grad(stashed_linear(xl, wl, bl, codec), [xl, wl, bl], gl)
    exp = torch.autograd.grad(F.linear(xl, wl, bl), [xl, wl, bl], gl)
    for a, b in zip(got, exp):
        assert torch.allclose(a, b, atol=1e-5)


def test_stashed_ops_on_meta_and_without_grad():
    x = torch.empty(2, 3, 8, 8, device="meta", requires_grad=True)
    w = torch.empty(4, 3, 3, 3, device="meta", requires_grad=True)
    y = stashed_conv2d(x, w, None, 1, 1, 1, 1, StochasticBinaryCodec())
    y.sum().backward()
    assert x.grad.shape == x.shape and w.grad.shape == w.shape
    xl = torch.empty(5, 6, device="meta", requires_grad=True)
    wl = torch.empty(3, 6, device="meta", requires_grad=True)
    stashed_linear(xl, wl, None, KBitCodec(4)).sum().backward()
    assert wl.grad.shape == wl.shape
    with torch.no_grad():   # no autograd: plain op, nothing encoded
        assert stashed_conv2d(torch.randn(1, 3, 4, 4), torch.randn(2, 3, 1, 1), None, codec=SignCodec()).shape == (1, 2, 4, 4)


# ---------------------------------------------------------------------------- measured bytes


def _conv1_bytes(codec):
    """A real step of conv-ReLU-conv; the second conv is H1's QConv2d holding ``codec``."""
    from hwsim.quant.layers import QConv2d

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1))
    q = QConv2d.from_float(net[2])
    q.stash_codec = codec
    net[2] = q
    x = torch.randn(16, 3, 16, 16)
    with measure_saved(net) as sb:
        y = net(x)
    y.square().mean().backward()
    assert q.weight.grad is not None and net[0].weight.grad is not None
    return sb.by_module["2"], sb


def test_one_bit_stash_is_really_packed():
    fp32, sb32 = _conv1_bytes(None)
    one, sb1 = _conv1_bytes(StochasticBinaryCodec())
    assert fp32 == 16 * 32 * 16 * 16 * 4                       # the float input; the weight is a parameter
    assert one == 16 * 32 * 16 * 16 // 8
    assert 28 <= fp32 / one <= 32
    assert sb32.params == sb1.params == (32 * 3 * 9 + 32 * 32 * 9) * 4   # weights counted apart, once
    # whole step: a plain nn.ReLU keeps its float output (which fp32's conv shares), so here the
    # packed stash adds its bytes; StashReLU (1-bit mask) removes that float copy too
    assert sb1.total == sb32.total + one


def test_measure_saved_deduplicates_and_attributes():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 1))
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    with measure_saved(net) as sb:
        y = net(x)
    y.sum().backward()
    relu_out = 2 * 4 * 6 * 6 * 4
    # ReLU saves its output; conv 2 saves the same tensor: one copy in the total, shown in both modules
    assert sb.by_module["1"] == relu_out and sb.by_module["2"] == relu_out
    assert sb.total == 2 * 3 * 8 * 8 * 4 + relu_out
    assert sb.params == sum(p.numel() * 4 for p in net.parameters() if p.dim() == 4)


# ------------------------------------------------------------------------------------ ReLU


def test_stash_relu_mask_and_affine_paths():
    x = torch.randn(4, 3, 5, 5, requires_grad=True)
    with measure_saved() as sb:
        y = stash_relu(x)
    assert sb.total == packed_nbytes(x.numel(), 1)
    g = torch.randn_like(y)
    (gx,) = torch.autograd.grad(y, x, g)
    assert torch.equal(y, torch.relu(x)) and torch.equal(gx, g * (x > 0))

    from hwsim.quant.graham import GrahamBatchNorm

    bn = GrahamBatchNorm(3, "L3")
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    xb = torch.randn(4, 3, 5, 5, requires_grad=True)
    with measure_saved(bn) as sb_bn:
        zb = bn(xb)     # kept: what counts is what the graph still holds when the block ends
    with measure_saved(bn) as sb:
        z = bn(xb)
        r = StashReLU(pack_mask=False)(z)
    # BN keeps the 3-bit code, 1/sqrt(var+eps) and its 8 levels; the ReLU adds nothing new
    assert sb_bn.total == packed_nbytes(xb.numel(), 3) + 3 * 4 + 8 * 4 == sb.total
    del zb
    gz = torch.autograd.grad(r, z, g, retain_graph=True)[0]
    assert torch.equal(gz, g * (z > 0))
    p = CodebookCodec(3).encode(r)
    assert p.meta.shared and torch.equal(CodebookCodec(3).decode(p), r)
