"""Built-in transformers: published parameter counts (meta tensors) and exact per-token counts."""

from __future__ import annotations

import pytest
import torch

from hwsim.count import trace
from hwsim.models import build_model
from hwsim.models.transformers import Config, Decoder

PUBLISHED = {
    "vit_b16": 86_567_656,        # timm vit_base_patch16_224
    "bert_base": 109_482_240,     # bert-base-uncased BertModel (with pooler)
    "gpt2_small": 124_439_808,    # GPT-2 124M, head tied to the token embedding
    "llama2_7b": 6_738_415_616,   # Llama-2-7b
    "llama3_8b": 8_030_261_248,   # Meta-Llama-3-8B
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_parameter_counts_match_published(name):
    with torch.device("meta"):
        net = build_model(name)
    assert sum(p.numel() for p in net.parameters()) == PUBLISHED[name]


TINY_LLAMA = Config(layers=2, dim=32, heads=4, kv_heads=2, hidden=48, vocab=64, context=64, norm="rms",
                    mlp="swiglu", positions="rope", bias=False)
TINY_GPT = Config(layers=2, dim=32, heads=4, hidden=128, vocab=64, context=64)


def _macs(tr, phase):
    return sum(sum(r.macs.values()) for r in tr.records if r.phase == phase)


def _forward_macs(cfg: Config, s: int) -> int:
    """Per sequence of s tokens: projections, MLP, head, and Q K^T + P V over the full s x s matrix."""
    kv = cfg.n_kv * cfg.head_dim
    proj = 2 * cfg.dim * cfg.dim + 2 * cfg.dim * kv
    mlp = (3 if cfg.mlp == "swiglu" else 2) * cfg.dim * cfg.hidden
    attn = 2 * s * cfg.dim                      # heads x head_dim = dim, per token
    return cfg.layers * s * (proj + mlp + attn) + s * cfg.dim * cfg.vocab


@pytest.mark.parametrize("cfg", [TINY_LLAMA, TINY_GPT], ids=["llama", "gpt"])
@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_decoder_counts_are_hand_derived(cfg, device):
    s = 16
    tr = trace(Decoder(cfg, tied=cfg.positions == "learned"), input_shape="tokens:16", batch=2, device=device,
               optimizer="sgd", model_name="tiny")
    fwd = 2 * _forward_macs(cfg, s)
    assert _macs(tr, "forward") == fwd
    # training: backward twice the forward, less the first layer's input gradient (there is none:
    # the embedding's output gradient is the end) -- every GEMM here has both gradients
    assert _macs(tr, "backward_data") + _macs(tr, "backward_weight") == 2 * fwd
    weights = fwd - 2 * cfg.layers * s * 2 * s * cfg.dim       # projections, MLP and head only
    assert _macs(tr, "backward_weight") == weights
    assert not tr.meta.unsupported_ops


def test_tied_head_is_stored_once():
    tr = trace("gpt2_small", input_shape="tokens:8", mode="infer")
    assert tr.model_size_bytes == 4 * PUBLISHED["gpt2_small"]       # fp32, the shared matrix once
