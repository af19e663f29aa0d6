"""Multi-head attention on four ordinary linear layers, so a scheme can swap its projections.

``nn.MultiheadAttention`` keeps its input projection as one bare ``in_proj_weight`` Parameter and
runs it inside ``F.multi_head_attention_forward``: no layer module a scheme could replace.
:class:`LinearMultiheadAttention` is the same computation on ``q_proj``, ``k_proj``, ``v_proj``
and ``out_proj`` (``nn.Linear``), holding views of the original Parameters (no copy), with the
same call signature and results (equal in float up to summation order).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _linear_on(weight: Tensor, bias: Tensor | None) -> nn.Linear:
    """An ``nn.Linear`` whose Parameters are ``weight`` / ``bias`` (views share their storage)."""
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device="meta", dtype=weight.dtype)
    lin.weight = nn.Parameter(weight.detach(), requires_grad=weight.requires_grad)
    if bias is not None:
        lin.bias = nn.Parameter(bias.detach(), requires_grad=bias.requires_grad)
    return lin


class LinearMultiheadAttention(nn.Module):
    """``nn.MultiheadAttention`` with its projections as four ``nn.Linear`` layers (see module doc)."""

    # nn.TransformerEncoderLayer's inference fast path would multiply by these fused projections itself,
    # bypassing the four layers a scheme converts; without them it takes its ordinary path (this forward)
    in_proj_weight = None
    in_proj_bias = None
    _qkv_same_embed_dim = False

    def __init__(self, mha: nn.MultiheadAttention):
        super().__init__()
        e = mha.embed_dim
        self.embed_dim, self.num_heads, self.head_dim = e, mha.num_heads, mha.head_dim
        self.kdim, self.vdim = mha.kdim, mha.vdim
        self.dropout, self.batch_first, self.add_zero_attn = mha.dropout, mha.batch_first, mha.add_zero_attn
        b = mha.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        if mha._qkv_same_embed_dim:
            w = mha.in_proj_weight
            wq, wk, wv = w[:e], w[e:2 * e], w[2 * e:]
        else:
            wq, wk, wv = mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight
        self.q_proj, self.k_proj, self.v_proj = _linear_on(wq, bq), _linear_on(wk, bk), _linear_on(wv, bv)
        self.out_proj = _linear_on(mha.out_proj.weight, mha.out_proj.bias)
        self.bias_k, self.bias_v = mha.bias_k, mha.bias_v
        self.train(mha.training)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None = None,
                need_weights: bool = True, attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        unbatched = query.dim() == 2
        if unbatched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        n, tgt, _ = query.shape
        h, d = self.num_heads, self.head_dim
        q, k, v = self.q_proj(query), self.k_proj(key), self.v_proj(value)
        if self.bias_k is not None:
            k = torch.cat([k, self.bias_k.reshape(1, 1, -1).expand(n, 1, -1)], dim=1)
            v = torch.cat([v, self.bias_v.reshape(1, 1, -1).expand(n, 1, -1)], dim=1)
            attn_mask = F.pad(attn_mask, (0, 1)) if attn_mask is not None else None
            key_padding_mask = F.pad(key_padding_mask, (0, 1)) if key_padding_mask is not None else None
        q = q.reshape(n, tgt, h, d).transpose(1, 2)
        k = k.reshape(n, -1, h, d).transpose(1, 2)
        v = v.reshape(n, -1, h, d).transpose(1, 2)
        if self.add_zero_attn:
            k = torch.cat([k, k.new_zeros(n, h, 1, d)], dim=2)
            v = torch.cat([v, v.new_zeros(n, h, 1, d)], dim=2)
            attn_mask = F.pad(attn_mask, (0, 1)) if attn_mask is not None else None
            key_padding_mask = F.pad(key_padding_mask, (0, 1)) if key_padding_mask is not None else None
        src = k.shape[2]
        if attn_mask is None and is_causal:
            attn_mask = torch.ones(tgt, src, dtype=torch.bool, device=q.device).triu(1)
        mask = self._additive_mask(attn_mask, key_padding_mask, n, tgt, src, q.dtype)
        p = self.dropout if self.training else 0.0
        if need_weights:
            scores = (q * math.sqrt(1.0 / d)) @ k.transpose(-2, -1)
            if mask is not None:
                scores = scores + mask
            attn = scores.softmax(dim=-1)
            out = (F.dropout(attn, p) if p > 0 else attn) @ v
            weights: Tensor | None = attn.mean(dim=1) if average_attn_weights else attn
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
            weights = None
        out = self.out_proj(out.transpose(1, 2).reshape(n, tgt, self.embed_dim))
        if unbatched:
            return out.squeeze(0), (weights.squeeze(0) if weights is not None else None)
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def _additive_mask(self, attn_mask: Tensor | None, key_padding_mask: Tensor | None, n: int, tgt: int, src: int,
                       dtype: torch.dtype) -> Tensor | None:
        """Both masks as one float mask broadcasting to (N, H, L, S): bool True = masked (-inf)."""
        def additive(m: Tensor) -> Tensor:
            if m.dtype == torch.bool:
                return torch.zeros(m.shape, dtype=dtype, device=m.device).masked_fill(m, float("-inf"))
            return m.to(dtype)

        mask = None
        if attn_mask is not None:
            mask = additive(attn_mask)
            if mask.dim() == 3:                       # (N * H, L, S)
                mask = mask.reshape(n, self.num_heads, tgt, src)
        if key_padding_mask is not None:
            kpm = additive(key_padding_mask).reshape(n, 1, 1, src)
            mask = kpm if mask is None else mask + kpm
        return mask

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"
