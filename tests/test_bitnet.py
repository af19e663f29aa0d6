"""BitNet b1.58: the quantizers' math (Ma et al. 2024) and its MAC type on a transformer."""

from __future__ import annotations

import torch

from hwsim.count import trace
from hwsim.models.transformers import Config, Decoder
from hwsim.quant.bitnet import AbsmaxActivation, AbsmeanTernaryWeight, absmax_per_token, absmean_ternary
from hwsim.schemes import build_scheme


def test_absmean_ternary_by_hand():
    w = torch.tensor([[0.9, -0.05, 0.3], [-1.2, 0.6, 0.0]])
    codes, gamma = absmean_ternary(w)
    assert torch.isclose(gamma, torch.tensor(3.05 / 6))        # mean |W|
    # W / gamma = [1.77, -0.098, 0.59, -2.36, 1.18, 0]: round then clip to [-1, 1]
    assert codes.tolist() == [[1, 0, 1], [-1, 1, 0]]
    out = AbsmeanTernaryWeight()(w)
    assert torch.allclose(out, codes * gamma)


def test_absmax_per_token_by_hand():
    x = torch.tensor([[0.5, -1.0, 0.25], [2.0, 0.0, -0.01]])
    codes, gamma = absmax_per_token(x, 8)
    assert gamma.squeeze(-1).tolist() == [1.0, 2.0]            # max |x| per token (row)
    # x * 128 / gamma, rounded, clipped to [-127, 127]
    assert codes.tolist() == [[64, -127, 32], [127, 0, -1]]
    q = AbsmaxActivation(8)(x)
    assert torch.allclose(q, codes * gamma / 128)


def test_straight_through_gradients():
    w = torch.randn(4, 5, requires_grad=True)
    x = torch.randn(3, 5, requires_grad=True)
    (AbsmeanTernaryWeight()(w).sum() + AbsmaxActivation()(x).sum()).backward()
    assert torch.equal(w.grad, torch.ones_like(w)) and torch.equal(x.grad, torch.ones_like(x))


def test_bitnet_prices_matmuls_as_additions():
    cfg = Config(layers=1, dim=16, heads=2, hidden=32, vocab=32, context=16, norm="rms", mlp="swiglu",
                 positions="rope", bias=False)
    sch = build_scheme("bitnet")
    assert sch.act_bits() == 8 and sch.weight_bits() == 2
    tr = trace(Decoder(cfg), "bitnet", input_shape="tokens:8", batch=1, device="meta", model_name="tiny")
    fwd = {}
    for r in tr.records:
        if r.phase == "forward":
            for k, v in r.macs.items():
                fwd[k] = fwd.get(k, 0) + v
    # the 7 projections of the block: ternary (add/subtract/skip); the head stays float, and so do
    # the attention products (activation x activation)
    assert fwd["ternary"] == 8 * (4 * 16 * 16 + 3 * 16 * 32)
    assert fwd["fp32"] == 8 * 16 * 32 + 2 * 8 * 8 * 16
