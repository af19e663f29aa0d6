"""Each quantizer of hwsim.quant.functions against its seed formula, edge values and STE gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hwsim.quant import functions as qf
from hwsim.quant.layers import LQQuantizer, QConv2d, QLinear, TTQWeight, XNORScale

# ------------------------------------------------------------------------------------------- sign


def test_sign_maps_zero_to_plus_one():
    x = torch.tensor([-2.0, -1e-9, -0.0, 0.0, 1e-9, 3.0])
    assert qf.sign(x).tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0, 1.0]
    assert torch.sign(torch.tensor(0.0)).item() == 0.0  # why we do not use torch.sign


def test_htanh_ste_gradient_is_mask_abs_le_1():
    x = torch.tensor([-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5], requires_grad=True)
    g = torch.arange(1.0, 8.0)
    y = qf.binarize_htanh(x)
    assert y.tolist() == [-1, -1, -1, 1, 1, 1, 1]
    y.backward(g)
    assert x.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0]


@pytest.mark.parametrize("fn", [qf.binarize_htanh, qf.htanh])
def test_htanh_ste_saves_only_a_packed_one_bit_mask(fn):
    from hwsim.quant.pack import unpack

    saved = []

    def keep(t):
        saved.append(t)
        return t

    x = (torch.randn(50) * 1.5).requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
        y = fn(x)
    assert [(t.dtype, t.numel()) for t in saved] == [(torch.uint8, 7)]       # ceil(50 / 8) bytes
    assert torch.equal(unpack(saved[0], 1, 50).bool(), x.detach().abs() <= 1)
    g = torch.randn(50)
    y.backward(g)
    assert torch.equal(x.grad, g * (x.detach().abs() <= 1))


def test_htanh_values_match_hardtanh():
    x = torch.tensor([-3.0, -1.0, -0.2, 0.0, 0.7, 1.0, 2.0])
    assert torch.equal(qf.htanh(x), F.hardtanh(x))


def test_identity_ste():
    x = torch.tensor([-3.0, 0.0, 0.2, 4.0], requires_grad=True)
    y = qf.binarize_identity(x)
    assert y.tolist() == [-1.0, 1.0, 1.0, 1.0]
    y.backward(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert x.grad.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_hard_sigmoid_values():
    x = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    assert qf.hard_sigmoid(x).tolist() == [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


def test_stochastic_binarization_probabilities():
    gen = torch.Generator().manual_seed(1234)
    p = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    x = p.repeat(40000, 1)
    b = qf.binarize_stochastic(x, generator=gen)
    assert set(b.unique().tolist()) == {-1.0, 1.0}
    frac = (b == 1).float().mean(0)
    expected = qf.hard_sigmoid(p)
    # endpoints are exact; interior within 4 sigma of a binomial(40000, p)
    assert frac[0] == 0 and frac[4] == 1 and frac[5] == 1
    sigma = (expected * (1 - expected) / 40000).sqrt()
    assert torch.all((frac - expected).abs() <= 4 * sigma + 1e-12)
    xg = torch.tensor([-2.0, 0.3, 5.0], requires_grad=True)
    qf.binarize_stochastic(xg).backward(torch.tensor([1.0, 2.0, 3.0]))
    assert xg.grad.tolist() == [1.0, 2.0, 3.0]


# -------------------------------------------------------------------------------------- BWN / XNOR


def test_bwn_alpha_is_mean_abs_per_output_channel_and_optimal():
    torch.manual_seed(0)
    w = torch.randn(4, 3, 3, 3)
    alpha = qf.bwn_alpha(w)
    assert alpha.shape == (4, 1, 1, 1)
    for c in range(4):
        assert alpha[c].item() == pytest.approx(w[c].abs().sum().item() / w[c].numel(), rel=1e-6)
    wq = qf.bwn_quantize(w)
    assert torch.allclose(wq, alpha * qf.sign(w))
    # alpha*, B* minimise J = ||W - alpha B||^2 per channel
    j_opt = ((w - wq) ** 2).sum(dim=(1, 2, 3))
    for f in (0.9, 1.1):
        assert torch.all(((w - f * wq) ** 2).sum(dim=(1, 2, 3)) > j_opt)
    flipped = wq.clone()
    flipped[:, 0, 0, 0] *= -1
    assert torch.all(((w - flipped) ** 2).sum(dim=(1, 2, 3)) > j_opt)


def test_bwn_gradient_chain_rule_with_htanh_ste():
    torch.manual_seed(1)
    w = (torch.randn(3, 5) * 0.8).requires_grad_()
    g = torch.randn(3, 5)
    qf.bwn_quantize(w).backward(g)
    wd = w.detach()
    n = wd.shape[1]
    alpha = wd.abs().mean(1, keepdim=True)
    expected = g * alpha * (wd.abs() <= 1) + qf.sign(wd) / n * (g * qf.sign(wd)).sum(1, keepdim=True)
    assert torch.allclose(w.grad, expected, atol=1e-6)


def test_bwn_keeps_two_bits_per_weight_for_backward():
    saved = []
    w = torch.randn(8, 4, 3, 3, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        qf.bwn_quantize(w)
    assert [(t.dtype, t.numel()) for t in saved] == [(torch.uint8, 36), (torch.uint8, 36), (torch.float32, 8)]


@pytest.mark.parametrize("k,stride,padding,dilation", [(3, 1, 1, 1), (3, 2, 0, 1), (5, 1, 2, 1), (3, 1, 2, 2)])
def test_xnor_k_is_channel_mean_abs_convolved_with_box_filter(k, stride, padding, dilation):
    torch.manual_seed(2)
    x = torch.randn(2, 4, 9, 9)
    K = qf.xnor_input_scale(x, k, stride, padding, dilation)
    a = x.abs().sum(1, keepdim=True) / 4
    box = torch.full((1, 1, k, k), 1.0 / (k * k))
    ref = F.conv2d(a, box, stride=stride, padding=padding, dilation=dilation)
    assert K.shape == ref.shape
    assert torch.allclose(K, ref, atol=1e-6)
    assert torch.allclose(qf.xnor_input_scale(x.flatten(1), 1), x.flatten(1).abs().mean(1, keepdim=True))


def test_xnor_conv_output_is_binary_conv_times_k_times_alpha():
    from hwsim.quant.layers import Binarize, BWNWeight

    torch.manual_seed(3)
    conv = QConv2d(3, 5, 3, padding=1, bias=True)
    conv.weight_quantizer, conv.input_quantizer, conv.output_scale = BWNWeight(), Binarize(), XNORScale()
    x = torch.randn(2, 3, 6, 6)
    sw, alpha = qf.sign(conv.weight.detach()), qf.bwn_alpha(conv.weight.detach())
    K = qf.xnor_input_scale(x, 3, 1, 1)
    ref = F.conv2d(qf.sign(x), sw, padding=1) * K * alpha.view(1, -1, 1, 1) + conv.bias.detach().view(1, -1, 1, 1)
    assert torch.allclose(conv(x), ref, atol=1e-5)


# ------------------------------------------------------------------------------------------ TWN


def test_twn_threshold_alpha_and_ties():
    w = torch.tensor([0.7, -0.7, 2.6, -0.5, 0.5], dtype=torch.float64)
    assert qf.twn_threshold(w, 0.7).item() == 0.7          # mean|W| = 1 exactly
    wt = qf.twn_quantize(w, 0.7)
    assert wt.tolist() == [0.0, 0.0, 2.6, 0.0, 0.0]       # |W| == Delta -> 0; alpha = 2.6 (one survivor)
    torch.manual_seed(4)
    w = torch.randn(64, 9, dtype=torch.float64)
    delta = 0.7 * w.abs().mean()
    keep = w.abs() > delta
    alpha = w.abs()[keep].mean()
    wt = qf.twn_quantize(w, 0.7)
    assert torch.allclose(torch.unique(wt), torch.stack([-alpha, alpha.new_zeros(()), alpha]), rtol=1e-12)
    assert torch.equal(wt != 0, keep)
    assert torch.equal(torch.sign(wt[keep]), torch.sign(w[keep]))
    # alpha is the least-squares scale for that support
    t = wt / alpha
    err = ((w - alpha * t) ** 2).sum()
    assert ((w - 1.05 * alpha * t) ** 2).sum() > err and ((w - 0.95 * alpha * t) ** 2).sum() > err


def test_twn_delta_factor_changes_sparsity_and_ste():
    torch.manual_seed(5)
    w = torch.randn(1000)
    z1 = (qf.twn_quantize(w, 0.3) == 0).float().mean()
    z2 = (qf.twn_quantize(w, 1.0) == 0).float().mean()
    assert z1 < z2
    wg = w.clone().requires_grad_()
    g = torch.randn(1000)
    qf.twn_quantize(wg, 0.7).backward(g)
    assert torch.equal(wg.grad, g)


# ------------------------------------------------------------------------------------------ TTQ


def test_ttq_code_threshold_on_normalised_weights():
    w = torch.tensor([2.0, 0.1, -0.1, 0.1001, -0.1001, -1.0, 0.0])
    # W~ = W / 2; Delta = 0.05 * max|W~| = 0.05 -> |W~| == 0.05 (|W| == 0.1) is a tie -> 0
    assert qf.ttq_code(w, 0.05).tolist() == [1, 0, 0, 1, -1, -1, 0]
    assert qf.ttq_code(w, 0.05).dtype == torch.int8


def test_ttq_forward_and_gradients_match_zhu_et_al():
    torch.manual_seed(6)
    w = torch.randn(200, requires_grad=True)
    wp = torch.tensor([0.8], requires_grad=True)
    wn = torch.tensor([1.3], requires_grad=True)
    g = torch.randn(200)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        y = qf.ttq_quantize(w, wp, wn, 0.05)
    assert [(t.dtype, t.numel()) for t in saved] == [(torch.uint8, 50), (torch.float32, 1), (torch.float32, 1)]
    code = qf.ttq_code(w.detach(), 0.05)
    pos, neg, zero = code > 0, code < 0, code == 0
    assert torch.all(y[pos] == 0.8) and torch.all(y[neg] == -1.3) and torch.all(y[zero] == 0)
    y.backward(g)
    assert wp.grad.item() == pytest.approx(g[pos].sum().item(), abs=1e-5)
    assert wn.grad.item() == pytest.approx(-g[neg].sum().item(), abs=1e-5)
    expected = torch.where(pos, 0.8 * g, torch.where(neg, 1.3 * g, g))
    assert torch.allclose(w.grad, expected)


def test_ttq_scales_start_at_mean_abs_of_each_side():
    torch.manual_seed(7)
    w = torch.randn(300)
    q = TTQWeight(w, 0.05)
    code = qf.ttq_code(w, 0.05)
    assert q.wp.item() == pytest.approx(w[code > 0].mean().item(), rel=1e-5)
    assert q.wn.item() == pytest.approx(w[code < 0].abs().mean().item(), rel=1e-5)
    assert q.wp.requires_grad and q.wn.requires_grad


# ----------------------------------------------------------------------------------------- LQ-Nets


def test_lq_levels_are_all_basis_combinations():
    codes = qf.lq_codes(2)
    lev, _ = qf.lq_levels(torch.tensor([[0.5, 1.0]]), codes)
    assert lev.tolist() == [[-1.5, -0.5, 0.5, 1.5]]
    lev01, _ = qf.lq_levels(torch.tensor([[0.5, 1.0]]), qf.lq_codes(2, "01"))
    assert lev01.tolist() == [[0.0, 0.5, 1.0, 1.5]]
    assert qf.lq_codes(3).shape == (8, 3)


def test_lq_quantize_nearest_level_with_midpoint_ties_and_ste():
    v = torch.tensor([[0.5, 1.0]])
    x = torch.tensor([-2.0, -1.0, -0.9, 0.0, 0.2, 0.99, 1.0, 1.01, 3.0], requires_grad=True)
    q = qf.lq_quantize(x, v, qf.lq_codes(2), None)
    # thresholds -1, 0, 1; x in (t_l, t_{l+1}] -> level l+1, so a tie goes to the lower level
    assert q.tolist() == [-1.5, -1.5, -0.5, -0.5, 0.5, 0.5, 0.5, 1.5, 1.5]
    q.backward(torch.arange(9.0))
    assert x.grad.tolist() == list(map(float, range(9)))


def test_lq_per_channel_basis():
    v = torch.tensor([[0.5, 1.0], [0.1, 0.2]])
    w = torch.tensor([[1.4, -0.6], [0.25, -0.05]])
    q = qf.lq_quantize(w, v, qf.lq_codes(2), 0)
    assert torch.allclose(q, torch.tensor([[1.5, -0.5], [0.3, -0.1]]))


def test_lq_normal_equations_match_explicit_b():
    torch.manual_seed(8)
    x = torch.randn(3, 50, dtype=torch.float64)
    v = torch.tensor([[0.3, 0.9, 0.1]] * 3, dtype=torch.float64)
    codes = qf.lq_codes(3, dtype=torch.float64)
    x2, b = qf.lq_bits_of(x, v, codes, 0)
    bbt, bx = qf.lq_normal_equations(x, v, codes, 0)
    assert torch.allclose(bbt, b @ b.transpose(1, 2))
    assert torch.allclose(bx, (b @ x2.unsqueeze(-1)).squeeze(-1))
    v_new = qf.lq_solve_basis(bbt, bx, ridge=0.0)
    for c in range(3):
        ls = torch.linalg.lstsq(b[c].T, x2[c]).solution
        assert torch.allclose(v_new[c], ls, atol=1e-8)
    # B^T v - x uses B's columns as codes: the error is the quantization error
    q = qf.lq_quantize(x, v, codes, 0)
    assert qf.lq_error(x, v, codes, 0).item() == pytest.approx(((q - x) ** 2).sum().item())


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_lq_qem_steps_decrease_quantization_error(bits):
    torch.manual_seed(9)
    w = torch.randn(6, 200) * torch.linspace(0.1, 2.0, 6).unsqueeze(1)
    codes = qf.lq_codes(bits)
    v = qf.lq_init_basis(bits, torch.full((6, 1), 0.01))           # a poor start
    errs = [qf.lq_error(w, v, codes, 0).item()]
    for _ in range(6):
        v = qf.lq_qem_step(w, v, codes, 0, momentum=0.0)
        errs.append(qf.lq_error(w, v, codes, 0).item())
    assert all(b <= a + 1e-4 for a, b in zip(errs, errs[1:]))
    assert errs[-1] < 0.5 * errs[0]
    # momentum: v <- m v + (1 - m) v_new
    v0 = qf.lq_init_basis(bits, torch.full((6, 1), 0.5))
    v_full = qf.lq_qem_step(w, v0, codes, 0, momentum=0.0)
    assert torch.allclose(qf.lq_qem_step(w, v0, codes, 0, momentum=0.9), 0.9 * v0 + 0.1 * v_full, atol=1e-6)


@pytest.mark.parametrize("encoding", ["01", "pm1"])
def test_lq_activation_quantizer_records_stats_and_updates_basis(encoding):
    torch.manual_seed(10)
    q = LQQuantizer.for_activation(2, momentum=0.0, encoding=encoding)
    assert q.codes.min().item() == (0.0 if encoding == "01" else -1.0)
    x = torch.relu(torch.randn(4000)) * 3
    before = ((q(x) - x) ** 2).sum()      # training mode: records B B^T, B x of this batch
    q.qem_update()
    q.eval()
    after = ((q(x) - x) ** 2).sum()
    assert after < before
    v0 = q.basis.clone()
    q(x)
    q.qem_update()                        # nothing recorded in eval: basis unchanged
    assert torch.equal(q.basis, v0)


# ------------------------------------------------------------------------------------------ k-bit


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_uniform_weight_symmetric_per_channel(bits):
    torch.manual_seed(11)
    w = torch.randn(5, 40) * torch.linspace(0.1, 3, 5).unsqueeze(1)
    wq = qf.uniform_weight(w, bits)
    qmax = 2 ** (bits - 1) - 1
    s = w.abs().amax(1, keepdim=True) / qmax
    codes = wq / s
    assert torch.allclose(codes, codes.round(), atol=1e-4)
    assert codes.abs().max() <= qmax + 1e-4
    assert torch.allclose(wq.abs().amax(1), w.abs().amax(1))
    assert torch.all((wq - w).abs() <= s / 2 + 1e-6)


def test_uniform_activation_levels_clip_and_gradient():
    x = torch.tensor([-1.0, 0.0, 0.1, 0.34, 0.5, 0.99, 1.0, 1.7], requires_grad=True)
    y = qf.uniform_activation(x, 2, clip=1.0)
    assert torch.allclose(y, torch.tensor([0.0, 0.0, 0.0, 1 / 3, 2 / 3, 1.0, 1.0, 1.0]))
    y.backward(torch.ones(8))
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]


# ------------------------------------------------------------------------------------------ meta


def test_every_function_runs_forward_and_backward_on_meta():
    dev = "meta"
    w = torch.empty(8, 4, 3, 3, device=dev, requires_grad=True)
    x = torch.empty(2, 4, 6, 6, device=dev, requires_grad=True)
    wp = torch.empty(1, device=dev, requires_grad=True)
    wn = torch.empty(1, device=dev, requires_grad=True)
    codes = qf.lq_codes(3, device=dev)
    v = torch.empty(8, 3, device=dev)
    outs = [
        qf.binarize_htanh(x), qf.binarize_identity(w), qf.binarize_stochastic(w), qf.bwn_quantize(w),
        qf.twn_quantize(w), qf.ttq_quantize(w, wp, wn), qf.lq_quantize(w, v, codes, 0),
        qf.lq_quantize(x, v[:1], codes, None), qf.uniform_weight(w, 4), qf.uniform_activation(x, 4),
        qf.xnor_input_scale(x, 3, 1, 1), qf.htanh(x),
    ]
    for o in outs:
        assert o.device.type == "meta"
    sum(o.sum() for o in outs).backward()
    assert w.grad is not None and w.grad.device.type == "meta" and wp.grad.shape == (1,)
    assert qf.lq_qem_step(w, v, codes, 0).shape == (8, 3)


def test_xnor_linear_on_3d_input_scales_per_vector_and_adds_bias_on_features():
    from hwsim.quant.layers import Binarize, BWNWeight

    torch.manual_seed(12)
    lin = QLinear(6, 4)
    lin.weight_quantizer, lin.input_quantizer, lin.output_scale = BWNWeight(), Binarize(), XNORScale()
    x = torch.randn(2, 3, 6)
    w = qf.bwn_quantize(lin.weight.detach())
    ref = F.linear(qf.sign(x), w) * x.abs().mean(-1, keepdim=True) + lin.bias.detach()
    assert torch.allclose(lin(x), ref, atol=1e-5)
