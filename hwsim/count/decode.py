"""Inference as prefill plus per-token decode with a KV cache.

``prefill``: :func:`hwsim.count.trace` in ``mode="infer"`` on the prompt (``tokens:N``).
``decode_trace``: one decode step, one new token per sequence attending over a KV cache of
``kv_len`` earlier tokens (a built-in decoder: :class:`hwsim.models.transformers.Decoder`).
The cache holds keys and values of every layer at the scheme's activation width:

    KV bytes per token = 2 x layers x kv_heads x head_dim x bits / 8

(Llama-2-7B at 16 bits: 2 x 32 x 32 x 128 x 2 = 524,288 bytes = 512 KiB). Each decode step reads
the whole cache: its attention layers' inference records carry ``kv_cache_read`` (the cache at that
width) and ``kv_cache_write`` (the new token's keys and values). The attention kernel's own operand
traffic (``input``) still counts the keys and values at the tensors' width.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from hwsim.count import api
from hwsim.count.mode import CountingMode, KernelAttention
from hwsim.errors import UserError
from hwsim.formats import INFERENCE, PHASES
from hwsim.models.spec import Tokens
from hwsim.trace import KVCacheUse, Trace, TraceMeta


def kv_bytes_per_token(layers: int, kv_heads: int, head_dim: int, bits: int) -> int:
    """Keys and values of one token in every layer, at ``bits`` per value."""
    return 2 * layers * kv_heads * head_dim * bits // 8


def decoder_config(net: Any, where: str = "model") -> Any:
    """The :class:`hwsim.models.transformers.Config` of a decoder that takes a KV cache, or a user error."""
    return _cfg(net, where)


def is_decoder(net: Any) -> bool:
    cfg = getattr(net, "cfg", None)
    return cfg is not None and hasattr(cfg, "n_kv") and hasattr(net, "lm_head")


def _cfg(net: Any, where: str) -> Any:
    cfg = getattr(net, "cfg", None)
    if cfg is None or not hasattr(cfg, "n_kv"):
        raise UserError(where, "decode with a KV cache needs a built-in decoder (gpt2_small, llama2_7b, "
                        "llama3_8b or hwsim.models.transformers.Decoder)")
    return cfg


def check_context(cfg: Any, tokens: int, where: str) -> None:
    """A decoder with learned positions (GPT-2) has an embedding for ``cfg.context`` positions only."""
    if cfg.positions == "learned" and tokens > cfg.context:
        raise UserError(where, f"prompt + new tokens = {tokens} is more than the model's {cfg.context} "
                               "learned positions")


def decode_trace(model: Any, scheme: Any = None, *, kv_len: int, batch: int = 1, device: str = "meta",
                 kv_bits: int | None = None, model_name: str | None = None) -> Trace:
    """Count one decode step: ``batch`` new tokens over a KV cache of ``kv_len`` tokens.

    The cache's width is ``kv_bits``, by default the scheme's activation bits (fp32: 32)."""
    t0 = time.perf_counter()
    if not isinstance(kv_len, int) or kv_len < 0:
        raise UserError("kv_len", f"the KV-cache length must be a non-negative integer, got {kv_len!r}")
    api._check_args("infer", "sgd", batch)
    dev = str(device)
    net, sch, name, shape, notes, _ = api._resolve_model(model, scheme, dev, Tokens((1,)), None, model_name)
    cfg = _cfg(net, "model")
    check_context(cfg, kv_len + 1, "kv_len")
    if sch is not None:
        net = sch.for_inference(net)
    bits = int(kv_bits or (sch.act_bits() if sch is not None else 32))
    from hwsim.models.transformers import KVCache

    cache = KVCache(cfg, batch, kv_len, device=dev)
    x, _ = api._make_input(net, Tokens((1,)), batch, dev, None,
                           None if dev == "meta" else torch.Generator(device=dev).manual_seed(0))
    cm = CountingMode(net, probe=dev != "meta")
    cm.attach()
    try:
        with KernelAttention():
            api._run_infer(cm, net, x, cache=cache)
    finally:
        cm.detach()
    per_layer_token = 2 * cfg.n_kv * cfg.head_dim * bits // 8
    for lt in cm.layers.values():
        if lt.name.endswith(".attn") and INFERENCE in lt.macs:
            c = lt._c(lt.traffic, INFERENCE)
            c["kv_cache_read"] += per_layer_token * kv_len * batch
            c["kv_cache_write"] += per_layer_token * batch
    api._weight_inputs(cm)
    tr = Trace(model=name, scheme=(sch.name if sch is not None else "fp32"), batch=batch, input_shape=[1],
               mode="infer")
    api._records(tr, cm)
    tr.param_count = int(sum(p.numel() for p in net.parameters()))
    tr.model_size_bytes = api._model_size(net)
    per_token = kv_bytes_per_token(cfg.layers, cfg.n_kv, cfg.head_dim, bits)
    tr.meta = TraceMeta(
        device=dev, notes=tuple(notes), unsupported_ops=dict(cm.unsupported), input="decode",
        kv_cache=KVCacheUse(tokens=kv_len, bits=bits, kv_heads=cfg.n_kv, bytes_per_token=per_token,
                            bytes=per_token * kv_len * batch),
        seconds=round(time.perf_counter() - t0, 4),
        phases=tuple(p for p in PHASES if any(r.phase == p for r in tr.records)))
    return tr


def inference(model: Any, scheme: Any = None, *, prompt: int, new_tokens: int, batch: int = 1,
              device: str = "meta", kv_bits: int | None = None) -> GenerationCounts:
    """Prefill of ``prompt`` tokens, then ``new_tokens`` decode steps: their MACs and KV-cache bytes.

    Decode steps are counted at the first, middle and last cache length; MACs and reads are affine
    in the cache length, so the total is their exact sum (trapezoid over an arithmetic series)."""
    if new_tokens < 1 or prompt < 1:
        raise UserError("inference", "prompt and new_tokens must be positive")
    pre = api.trace(model, scheme, batch=batch, input_shape=f"tokens:{prompt}", mode="infer", device=device)
    first = decode_trace(model, scheme, kv_len=prompt, batch=batch, device=device, kv_bits=kv_bits)
    last = decode_trace(model, scheme, kv_len=prompt + new_tokens - 1, batch=batch, device=device,
                        kv_bits=kv_bits) if new_tokens > 1 else first

    def macs(tr: Trace) -> int:
        return sum(sum(r.macs.values()) for r in tr.records)

    def kv_read(tr: Trace) -> int:
        return sum(r.traffic_bytes.get("kv_cache_read", 0) for r in tr.records)

    assert first.meta.kv_cache is not None and last.meta.kv_cache is not None
    return GenerationCounts(
        prefill_macs=macs(pre),
        decode_macs=(macs(first) + macs(last)) * new_tokens // 2,
        decode_kv_read_bytes=(kv_read(first) + kv_read(last)) * new_tokens // 2,
        first_decode_macs=macs(first), last_decode_macs=macs(last),
        kv_cache_bytes_per_token=first.meta.kv_cache.bytes_per_token,
        kv_cache_bytes_final=last.meta.kv_cache.bytes_per_token * (prompt + new_tokens) * batch,
        prefill=pre, decode_first=first, decode_last=last)


@dataclass(frozen=True)
class GenerationCounts:
    """Prefill and ``new_tokens`` decode steps (:func:`inference`): MACs, KV-cache bytes, and the
    prefill and first and last decode steps' traces."""

    prefill_macs: int
    decode_macs: int
    decode_kv_read_bytes: int
    first_decode_macs: int
    last_decode_macs: int
    kv_cache_bytes_per_token: int
    kv_cache_bytes_final: int
    prefill: Trace
    decode_first: Trace
    decode_last: Trace
