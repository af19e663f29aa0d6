"""Graham's Table 1 quantizers, Table 2, log gradients and the low-precision batch-norm (Graham 2017)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hwsim.quant.graham import (
    L2,
    L3,
    L4,
    L5,
    O4,
    QUANTIZERS,
    U4,
    U5,
    U8,
    GrahamBatchNorm,
    log_grad8,
    quantize_grad_log8,
)
from hwsim.quant.pack import packed_nbytes
from hwsim.quant.stash import measure_saved

D = torch.float64

# Table 1: (function, scale c, exponent range, base, +1/2 in the exponent)
LOG_ROWS = {"L2": (L2, 1.034, (-1, 0), 2.0, True), "L3": (L3, 1.316, (-1, 2), 2.0, False),
            "L4": (L4, 1.36, (-3, 4), 2.0, False), "L5": (L5, 1.177, (-6, 9), math.sqrt(2), False)}


def test_level_sets_as_table_1_says():
    pm = lambda v: sorted([-x for x in v] + list(v))  # noqa: E731
    assert L4(torch.linspace(-40, 40, 100001)).unique().tolist() == pm([2.0**k for k in range(-3, 5)])
    assert L3(torch.linspace(-40, 40, 100001)).unique().tolist() == pm([0.5, 1, 2, 4])
    assert torch.allclose(L2(torch.linspace(-9, 9, 10001, dtype=D)).unique(),
                          torch.tensor(pm([2**-0.5, 2**0.5]), dtype=D))
    assert torch.allclose(L5(torch.linspace(-40, 40, 200001, dtype=D)).unique(),
                          torch.tensor(pm([2 ** (k / 2) for k in range(-6, 10)]), dtype=D))
    assert torch.allclose(U4(torch.linspace(-9, 9, 10001, dtype=D)).unique(),
                          torch.tensor([(k + 0.5) / 2 for k in range(-8, 8)], dtype=D))
    assert U5(torch.linspace(-9, 9, 10001)).unique().numel() == 32
    assert U8(torch.linspace(-20, 20, 100001)).unique().numel() == 256
    assert torch.allclose(O4(torch.linspace(-9, 9, 10001, dtype=D)).unique(),
                          torch.tensor(pm([1.29 ** (j + 0.5) - 1 for j in range(8)]), dtype=D))
    for name, q in QUANTIZERS.items():
        assert q.levels().numel() == 2**q.bits, name


@pytest.mark.parametrize("name", sorted(LOG_ROWS))
def test_log_quantizers_floor_at_exact_powers_and_clamp(name):
    fn, c, (lo, hi), base, half = LOG_ROWS[name]
    off = 0.5 if half else 0.0
    for k in range(lo - 2, hi + 3):
        edge = base**k / c                      # c * x = base^k exactly at the edge
        above = torch.tensor([edge * (1 + 1e-12), -edge * (1 + 1e-12)], dtype=D)
        below = torch.tensor([edge * (1 - 1e-12), -edge * (1 - 1e-12)], dtype=D)
        ka, kb = min(max(k, lo), hi), min(max(k - 1, lo), hi)     # floor, then clamp
        assert fn(above).tolist() == pytest.approx([base ** (ka + off), -(base ** (ka + off))], rel=1e-12)
        assert fn(below).tolist() == pytest.approx([base ** (kb + off), -(base ** (kb + off))], rel=1e-12)
    # clamping at both ends and sign(0) = +1 (0 -> the smallest positive level)
    big, tiny = torch.tensor([1e30, -1e30], dtype=D), torch.tensor([1e-30, -1e-30, 0.0], dtype=D)
    assert fn(big).tolist() == pytest.approx([base ** (hi + off), -(base ** (hi + off))])
    assert fn(tiny).tolist() == pytest.approx([base ** (lo + off), -(base ** (lo + off)), base ** (lo + off)])


@pytest.mark.parametrize("fn,s,lo,hi", [(U4, 2, -8, 7), (U5, 3, -16, 15), (U8, 8, -128, 127)])
def test_uniform_quantizers_floor_and_clamp(fn, s, lo, hi):
    for k in (lo - 3, lo, -1, 0, 1, hi, hi + 3):
        edge = k / s
        exp_at = (0.5 + min(max(k, lo), hi)) / s
        exp_below = (0.5 + min(max(k - 1, lo), hi)) / s
        assert fn(torch.tensor([edge], dtype=D)).item() == pytest.approx(exp_at, rel=1e-12)
        assert fn(torch.tensor([edge - 1e-9], dtype=D)).item() == pytest.approx(exp_below, rel=1e-12)
    assert fn(torch.tensor([0.0], dtype=D)).item() == pytest.approx(0.5 / s)


def test_o4_edges_and_range():
    a = 1.29
    for j in range(-1, 10):
        edge = a**j - 1                              # log_a(1 + |x|) = j exactly
        if edge <= 0:                                # j = 0: x = 0, tested below
            continue
        jj = min(max(j, 0), 7)
        got = O4(torch.tensor([edge * (1 + 1e-9), -edge * (1 + 1e-9)], dtype=D)).tolist()
        assert got == pytest.approx([a ** (jj + 0.5) - 1, -(a ** (jj + 0.5) - 1)], rel=1e-9)
    assert O4(torch.tensor([0.0, 1e9], dtype=D)).tolist() == pytest.approx([a**0.5 - 1, a**7.5 - 1])
    assert 5.5 < a**7.5 - 1 < 6.0                   # "range of approximately [-6, 6]"


def test_float32_outputs_are_exactly_levels():
    x = torch.randn(10000) * 4
    for name, q in QUANTIZERS.items():
        lv = q.levels(torch.float32)
        y = q(x)
        assert y.dtype == torch.float32
        assert torch.isin(y, lv).all(), name


@pytest.mark.parametrize("name,corr", [("L2", 0.918), ("L3", 0.965), ("L4", 0.981)])
def test_table_2_standard_gaussian(name, corr):
    g = torch.Generator().manual_seed(2017)
    x = torch.randn(2_000_000, generator=g, dtype=D)
    n = (x - x.mean()) / x.std()                    # N(X)
    y = QUANTIZERS[name](n)
    r = torch.corrcoef(torch.stack([x, y]))[0, 1].item()
    assert abs(r - corr) <= 0.002
    assert abs(y.std().item() - 1.000) <= 0.002


def test_log_grad8_levels():
    g = torch.tensor([0.0, 1e-30, -3e-7, 0.01, -0.7, 5.0], dtype=D)
    q = log_grad8(g)
    assert q[0] == 0
    k = torch.round(2 * torch.log2(q[1:].abs()))
    assert torch.allclose(q[1:].abs(), 2 ** (k / 2))
    assert ((k >= -127) & (k <= 0)).all()
    assert q[1].item() == pytest.approx(2 ** -63.5) and q[-1].item() == 1.0   # clamped at both ends
    assert torch.equal(torch.sign(q[1:]), torch.sign(g[1:]))
    assert abs(q[3].item() / 0.01 - 1) <= 2**0.25 - 1 + 1e-12             # nearest level on a sqrt2 grid
    x = torch.randn(3, 4, requires_grad=True)
    (gx,) = torch.autograd.grad(quantize_grad_log8(x), x, torch.full((3, 4), 0.3))
    assert torch.allclose(gx, torch.full((3, 4), 2 ** (round(2 * math.log2(0.3)) / 2)))


# ------------------------------------------------------------------------------- batch-norm


def _bn_pair(quant, c=4):
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    ref = nn.BatchNorm2d(c)
    ref.load_state_dict(bn.state_dict())
    return GrahamBatchNorm.from_bn(bn, quant), ref


@pytest.mark.parametrize("quant", sorted(QUANTIZERS))
def test_graham_bn_forward_and_eq2_backward(quant):
    g, ref = _bn_pair(quant)
    x = (torch.randn(8, 4, 5, 5) * 3 + 1).requires_grad_()
    z = g(x)
    q = QUANTIZERS[quant]
    mu = x.detach().mean((0, 2, 3), keepdim=True)
    var = x.detach().var((0, 2, 3), unbiased=False, keepdim=True)
    n = (x.detach() - mu) / torch.sqrt(var + g.eps)
    qn = q(n)
    a, b = g.weight.detach().view(1, -1, 1, 1), g.bias.detach().view(1, -1, 1, 1)
    assert torch.allclose(z, a * qn + b, atol=1e-6)
    gz = torch.randn_like(z)
    gx, ga, gb = torch.autograd.grad(z, [x, g.weight, g.bias], gz)
    gn = gz * a
    m = lambda t: t.mean((0, 2, 3), keepdim=True)  # noqa: E731
    exp = (gn - m(gn) - qn * m(qn * gn)) / torch.sqrt(var + g.eps)      # eq. (2) with Q(N(x)) for N(x)
    assert torch.allclose(gx, exp, atol=1e-5)
    assert torch.allclose(ga, (gz * qn).sum((0, 2, 3)), atol=1e-4)
    assert torch.allclose(gb, gz.sum((0, 2, 3)), atol=1e-5)
    ref(x.detach())                                  # running statistics as torch's BN
    assert torch.allclose(g.running_mean, ref.running_mean) and torch.allclose(g.running_var, ref.running_var)


def test_graham_bn_close_to_bn_for_fine_quantizer_and_eval_mode():
    g, ref = _bn_pair("U8")
    x = torch.randn(16, 4, 6, 6, requires_grad=True)
    gz = torch.randn(16, 4, 6, 6)
    (gx,) = torch.autograd.grad(g(x), x, gz)
    (rx,) = torch.autograd.grad(ref(x), x, gz)
    assert torch.nn.functional.cosine_similarity(gx.flatten(), rx.flatten(), dim=0) > 0.999
    g.eval()
    y = g(x)
    n = (x - g.running_mean.view(1, -1, 1, 1)) / torch.sqrt(g.running_var.view(1, -1, 1, 1) + g.eps)
    assert torch.allclose(y, g.weight.view(1, -1, 1, 1) * U8(n) + g.bias.view(1, -1, 1, 1), atol=1e-6)


def test_graham_bn_1d_meta_and_saved_bytes():
    bn = GrahamBatchNorm(6, "L5")
    x = torch.randn(10, 6, requires_grad=True)
    bn(x).sum().backward()
    assert x.grad.shape == x.shape
    xm = torch.empty(4, 6, 8, 8, device="meta", requires_grad=True)
    bm = GrahamBatchNorm(6, "L4").to("meta")
    bm(xm).sum().backward()
    assert xm.grad.shape == xm.shape
    # bytes held: 4-bit code + 1/sqrt(var) per channel + the 16 levels, vs torch BN's float input
    g, ref = _bn_pair("L4", 16)
    x = torch.randn(32, 16, 8, 8, requires_grad=True)
    with measure_saved(g) as sg:
        yg = g(x)       # outputs kept: what counts is what the graph holds when the block ends
    with measure_saved(ref) as sr:
        yr = ref(x)
    del yg, yr
    assert sg.total == packed_nbytes(x.numel(), 4) + 16 * 4 + 16 * 4
    assert sr.total >= x.numel() * 4
    assert sr.total / sg.total >= 0.875 * 32 / 4
