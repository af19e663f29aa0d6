"""Prefill + decode with a KV cache: cache bytes per token and the MACs of one decode step."""

from __future__ import annotations

import pytest

from hwsim.count import trace
from hwsim.count.decode import decode_trace, inference, kv_bytes_per_token
from hwsim.errors import UserError
from hwsim.models.transformers import Config, Decoder

CFG = Config(layers=2, dim=32, heads=4, kv_heads=2, hidden=48, vocab=64, context=64, norm="rms", mlp="swiglu",
             positions="rope", bias=False)


def test_kv_bytes_per_token_anchors():
    # anchors.md: Llama-2-7B in fp16, 512 KiB per token
    assert kv_bytes_per_token(32, 32, 128, 16) == 512 * 1024
    # Llama-3-8B: 8 key/value heads (GQA), a quarter of that
    assert kv_bytes_per_token(32, 8, 128, 16) == 128 * 1024


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_decode_step_macs_and_cache(device):
    kv_len = 10
    tr = decode_trace(Decoder(CFG), kv_len=kv_len, batch=2, device=device, model_name="tiny")
    kv = CFG.n_kv * CFG.head_dim
    per_token = 2 * CFG.dim * CFG.dim + 2 * CFG.dim * kv + 3 * CFG.dim * CFG.hidden
    # one new token per sequence attends over kv_len + 1 keys: QK^T and PV, dim MACs each
    attn = 2 * (kv_len + 1) * CFG.dim
    assert sum(sum(r.macs.values()) for r in tr.records) == 2 * (CFG.layers * (per_token + attn) + CFG.dim * CFG.vocab)
    assert tr.meta.kv_cache.bytes_per_token == 2 * CFG.layers * kv * 4          # fp32
    reads = sum(r.traffic_bytes.get("kv_cache_read", 0) for r in tr.records)
    assert reads == tr.meta.kv_cache.bytes == 2 * kv_len * 2 * CFG.layers * kv * 4


def test_kv_cache_follows_the_scheme_activation_width():
    tr = decode_trace(Decoder(CFG), "bitnet", kv_len=4, model_name="tiny")
    assert tr.meta.kv_cache.bits == 8
    assert tr.meta.kv_cache.bytes_per_token == 2 * CFG.layers * CFG.n_kv * CFG.head_dim


def test_prefill_plus_decode_sums_the_steps():
    net = Decoder(CFG)
    res = inference(net, prompt=6, new_tokens=3)
    steps = [decode_trace(net, kv_len=k, model_name="tiny") for k in (6, 7, 8)]
    assert res.decode_macs == sum(sum(sum(r.macs.values()) for r in t.records) for t in steps)
    pre = trace(net, input_shape="tokens:6", mode="infer")
    assert res.prefill_macs == sum(sum(r.macs.values()) for r in pre.records)


def test_decode_needs_a_decoder():
    with pytest.raises(UserError):
        decode_trace("resnet20", kv_len=3)
