"""Transformers at paper scale, plain torch (no downloads): ViT-B/16, BERT-base, GPT-2 small and a
Llama-style decoder (RMSNorm, SwiGLU, RoPE, grouped-query attention) with Llama-2-7B and Llama-3-8B
shapes. Every projection is an ``nn.Linear`` (the schemes swap it); attention runs through
``F.scaled_dot_product_attention``. Parameter counts equal the published ones (tests on meta tensors).

A decoder takes a KV cache for one decode step: ``net(tokens, cache=KVCache(...))`` attends over
the cached keys/values plus the new token's (see :mod:`hwsim.count.decode`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from hwsim.models.spec import Tokens


@dataclass(frozen=True)
class Config:
    layers: int
    dim: int
    heads: int
    hidden: int
    vocab: int = 0
    context: int = 1024
    kv_heads: int = 0                 # 0: as many as query heads
    norm: str = "layer"               # layer | rms
    mlp: str = "gelu"                 # gelu | swiglu
    positions: str = "learned"        # learned | rope
    bias: bool = True
    causal: bool = True
    post_norm: bool = False           # BERT: normalize after the residual add
    rope_theta: float = 10000.0
    eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def n_kv(self) -> int:
        return self.kv_heads or self.heads


GPT2_SMALL = Config(layers=12, dim=768, heads=12, hidden=3072, vocab=50257, context=1024)
BERT_BASE = Config(layers=12, dim=768, heads=12, hidden=3072, vocab=30522, context=512, causal=False,
                   post_norm=True, eps=1e-12)
VIT_B16 = Config(layers=12, dim=768, heads=12, hidden=3072, context=197, causal=False, eps=1e-6)
LLAMA2_7B = Config(layers=32, dim=4096, heads=32, hidden=11008, vocab=32000, context=4096, norm="rms",
                   mlp="swiglu", positions="rope", bias=False)
LLAMA3_8B = Config(layers=32, dim=4096, heads=32, kv_heads=8, hidden=14336, vocab=128256, context=8192,
                   norm="rms", mlp="swiglu", positions="rope", bias=False, rope_theta=500000.0)
LLAMA_CONFIGS = {"llama2_7b": LLAMA2_7B, "llama3_8b": LLAMA3_8B}
# the registered names (tests of the image classifiers' conventions leave these out)
TRANSFORMERS = ("vit_b16", "bert_base", "gpt2_small", "llama2_7b", "llama3_8b")


class KVCache:
    """Keys and values of ``length`` earlier tokens per layer: (batch, kv_heads, length, head_dim)."""

    def __init__(self, cfg: Config, batch: int, length: int, dtype: torch.dtype = torch.float32,
                 device: str | torch.device = "meta"):
        shape = (batch, cfg.n_kv, length, cfg.head_dim)
        self.length = length
        self.kv = [(torch.zeros(shape, dtype=dtype, device=device), torch.zeros(shape, dtype=dtype, device=device))
                   for _ in range(cfg.layers)]


def _norm(cfg: Config) -> nn.Module:
    return nn.RMSNorm(cfg.dim, eps=cfg.eps) if cfg.norm == "rms" else nn.LayerNorm(cfg.dim, eps=cfg.eps)


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        kv = cfg.n_kv * cfg.head_dim
        self.q_proj = nn.Linear(cfg.dim, cfg.dim, bias=cfg.bias)
        self.k_proj = nn.Linear(cfg.dim, kv, bias=cfg.bias)
        self.v_proj = nn.Linear(cfg.dim, kv, bias=cfg.bias)
        self.out_proj = nn.Linear(cfg.dim, cfg.dim, bias=cfg.bias)

    def forward(self, x: torch.Tensor, rope: tuple | None = None, past: tuple | None = None) -> torch.Tensor:
        c = self.cfg
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, c.heads, c.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, s, c.n_kv, c.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, s, c.n_kv, c.head_dim).transpose(1, 2)
        if rope is not None:
            q, k = _rope(q, *rope), _rope(k, *rope)
        if past is not None:            # one decode step: the cached keys/values come first
            k, v = torch.cat((past[0], k), dim=2), torch.cat((past[1], v), dim=2)
        if c.n_kv != c.heads:           # grouped-query attention: each key/value head serves heads / kv_heads
            rep = c.heads // c.n_kv
            k = k[:, :, None].expand(b, c.n_kv, rep, *k.shape[2:]).reshape(b, c.heads, *k.shape[2:])
            v = v[:, :, None].expand(b, c.n_kv, rep, *v.shape[2:]).reshape(b, c.heads, *v.shape[2:])
        o = F.scaled_dot_product_attention(q, k, v, is_causal=c.causal and past is None and s > 1)
        return self.out_proj(o.transpose(1, 2).reshape(b, s, c.dim))


class MLP(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.swiglu = cfg.mlp == "swiglu"
        if self.swiglu:
            self.gate_proj = nn.Linear(cfg.dim, cfg.hidden, bias=cfg.bias)
            self.act = nn.SiLU()
        else:
            self.act = nn.GELU(approximate="tanh")
        self.up_proj = nn.Linear(cfg.dim, cfg.hidden, bias=cfg.bias)
        self.down_proj = nn.Linear(cfg.hidden, cfg.dim, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.swiglu:
            return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))
        return self.down_proj(self.act(self.up_proj(x)))


class Block(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.post = cfg.post_norm
        self.norm1 = _norm(cfg)
        self.attn = Attention(cfg)
        self.norm2 = _norm(cfg)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, rope: tuple | None = None, past: tuple | None = None) -> torch.Tensor:
        if self.post:
            x = self.norm1(x + self.attn(x, rope, past))
            return self.norm2(x + self.mlp(x))
        x = x + self.attn(self.norm1(x), rope, past)
        return x + self.mlp(self.norm2(x))


class Decoder(nn.Module):
    """GPT-2 (learned positions, LayerNorm, GELU, tied head) or Llama (RoPE, RMSNorm, SwiGLU, GQA)."""

    def __init__(self, cfg: Config, tied: bool = False):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.dim)
        self.pos = nn.Embedding(cfg.context, cfg.dim) if cfg.positions == "learned" else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = _norm(cfg)
        self.lm_head = nn.Linear(cfg.dim, cfg.vocab, bias=False)
        if tied:
            self.lm_head.weight = self.embed.weight

    def _rope(self, start: int, s: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        hd = self.cfg.head_dim
        inv = 1.0 / (self.cfg.rope_theta ** (torch.arange(0, hd, 2, device=device, dtype=torch.float32) / hd))
        ang = torch.outer(torch.arange(start, start + s, device=device, dtype=torch.float32), inv)
        ang = torch.cat((ang, ang), dim=-1)
        return ang.cos(), ang.sin()

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        s = tokens.shape[1]
        start = cache.length if cache is not None else 0
        h = self.embed(tokens)
        rope = None
        if self.pos is not None:
            h = h + self.pos(torch.arange(start, start + s, device=tokens.device))
        else:
            rope = self._rope(start, s, tokens.device)
        for i, blk in enumerate(self.blocks):
            h = blk(h, rope, cache.kv[i] if cache is not None else None)
        return self.lm_head(self.norm(h))


class Bert(nn.Module):
    """BERT-base encoder (word, position and segment embeddings, post-norm blocks, pooler)."""

    def __init__(self, cfg: Config = BERT_BASE, num_classes: int = 0):
        super().__init__()
        self.embed = nn.Embedding(cfg.vocab, cfg.dim)
        self.pos = nn.Embedding(cfg.context, cfg.dim)
        self.segment = nn.Embedding(2, cfg.dim)
        self.embed_norm = nn.LayerNorm(cfg.dim, eps=cfg.eps)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.pooler = nn.Linear(cfg.dim, cfg.dim)
        self.pool_act = nn.Tanh()
        self.head = nn.Linear(cfg.dim, num_classes) if num_classes else None

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        s = tokens.shape[1]
        pos = torch.arange(s, device=tokens.device)
        h = self.embed(tokens) + self.pos(pos) + self.segment(torch.zeros_like(tokens))
        h = self.embed_norm(h)
        for blk in self.blocks:
            h = blk(h)
        pooled = self.pool_act(self.pooler(h[:, 0]))
        return self.head(pooled) if self.head is not None else pooled


class ViT(nn.Module):
    """ViT-B/16 (Dosovitskiy et al. 2021): 16x16 patches, class token, pre-norm blocks, linear head."""

    def __init__(self, cfg: Config = VIT_B16, num_classes: int = 1000, image: int = 224, patch: int = 16):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, cfg.dim, patch, stride=patch)
        n = (image // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, cfg.dim))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.eps)
        self.head = nn.Linear(cfg.dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.patch_embed(x).flatten(2).transpose(1, 2)
        h = torch.cat((self.cls_token.expand(h.shape[0], -1, -1), h), dim=1) + self.pos_embed
        for blk in self.blocks:
            h = blk(h)
        return self.head(self.norm(h)[:, 0])


def vit_b16(num_classes: int = 1000, in_shape=(3, 224, 224)):
    return ViT(num_classes=num_classes, image=int(in_shape[-1]))


def bert_base(num_classes: int = 0, in_shape=Tokens((512,))):
    return Bert(num_classes=num_classes)


def gpt2_small(num_classes: int = 50257, in_shape=Tokens((1024,))):
    return Decoder(GPT2_SMALL, tied=True)


def llama2_7b(num_classes: int = 32000, in_shape=Tokens((4096,)), layers: int = 32):
    return Decoder(Config(**{**LLAMA2_7B.__dict__, "layers": layers}))


def llama3_8b(num_classes: int = 128256, in_shape=Tokens((8192,)), layers: int = 32):
    return Decoder(Config(**{**LLAMA3_8B.__dict__, "layers": layers}))
