"""Quantizer functions and their straight-through gradients, one per formula of the seeds.

Every function here is a pure tensor function: no ``.item()`` and no Python branch on tensor
values, so it runs on ``device="meta"`` tensors, which is how the counter prices paper-scale
networks. Each autograd Function saves only what its backward needs (a 1-bit mask or a 2-bit
ternary code, bit-packed with :func:`hwsim.quant.pack.pack`), so the saved-tensor hooks see the
true stash of the quantizer.

Sources (the seed documents):
  002  BinaryConnect (Courbariaux et al. 2015), BNN (Hubara et al. 2016), XNOR-Net / BWN
       (Rastegari et al. 2016), TWN (Li et al. 2016), TTQ (Zhu et al. 2017), LQ-Nets (Zhang et al. 2018)
  003  BNN details: Sign, hard sigmoid, the Htanh straight-through estimator g * 1_{|x|<=1}
The k-bit uniform quantizers follow DoReFa-Net (Zhou et al. 2016), cited in Shanbhag 2020's LQ-Nets table.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor

from hwsim.quant.microscaling import OutputGradientQuantizer
from hwsim.quant.pack import pack, unpack
from hwsim.quant.stash import shared_code

HTANH_MASK = ("htanh_mask",)    # 1_{|x| <= 1}: one per input tensor (shared_code)

# ----------------------------------------------------------------------------------------------
# Binary
# ----------------------------------------------------------------------------------------------


def sign(x: Tensor) -> Tensor:
    """Deterministic binarization (Shanbhag 2020, Xu 2019): ``+1 if x >= 0 else -1``.

    Unlike ``torch.sign`` this maps 0 to +1, so the result is always one of two values (1 bit).
    """
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


class _SignHtanhSTE(torch.autograd.Function):
    """Forward ``sign(x)``; backward the gradient of Htanh(x) = clip(x, -1, 1): ``g * 1_{|x|<=1}``.

    Seed 003: "g_{a_k} = g_{a_k^b} 1_{|a_k| <= 1}  (STE) ... STE = the gradient on Htanh(x)".
    Saves only the 1-bit mask, packed 8 per byte.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.from_param = held_anyway(x)
        ctx.save_for_backward(x if ctx.from_param else shared_code(x, HTANH_MASK, lambda: pack(x.abs() <= 1, 1)))
        ctx.shape = x.shape
        return sign(x)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        if ctx.from_param:
            (x,) = ctx.saved_tensors
            return g * (x.abs() <= 1).to(g.dtype)
        return g * _unpack_mask(ctx).to(g.dtype)


def held_anyway(x: Tensor) -> bool:
    """A Parameter is held until the update, which runs after backward: a weight quantizer saves
    it (no stash) and recomputes its mask or code from it in backward, rather than keeping a
    code of it."""
    return isinstance(x, torch.nn.Parameter)


def _unpack_mask(ctx) -> Tensor:
    (packed,) = ctx.saved_tensors
    return unpack(packed, 1, ctx.shape.numel()).view(ctx.shape).bool()


class _Htanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(shared_code(x, HTANH_MASK, lambda: pack(x.abs() <= 1, 1)))
        ctx.shape = x.shape
        # aten.hardtanh / threshold_backward, so the counter sees an activation's forward and backward
        # (the mask packing around them is the fused, quantize-class work)
        return F.hardtanh(x, -1.0, 1.0)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        return torch.ops.aten.threshold_backward(g, _unpack_mask(ctx).to(g.dtype), 0.5)


def htanh(x: Tensor) -> Tensor:
    """BNN's activation ``Htanh(x) = clip(x, -1, 1)`` (Xu 2019), gradient ``g * 1_{|x|<=1}``.

    Same values as ``F.hardtanh``, but what it keeps for backward is the 1-bit packed mask, not
    the float32 input (which is all the hardware needs).
    """
    return _Htanh.apply(x)


def binarize_htanh(x: Tensor) -> Tensor:
    """``sign(x)`` with the Htanh straight-through gradient ``g * 1_{|x|<=1}`` (BNN, XNOR-Net)."""
    return _SignHtanhSTE.apply(x)


class _SignIdentitySTE(torch.autograd.Function):
    """Forward ``sign(x)``; backward identity (BinaryConnect: dC/dw_b is applied to w). Saves nothing."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return sign(x)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        return g


def binarize_identity(x: Tensor) -> Tensor:
    """BinaryConnect deterministic ``w_b = +1 if w >= 0 else -1``; the update uses dC/dw_b for w."""
    return _SignIdentitySTE.apply(x)


def hard_sigmoid(x: Tensor) -> Tensor:
    """``sigma(x) = clip((x + 1) / 2, 0, 1)`` (Shanbhag 2020, BinaryConnect's "hard sigmoid")."""
    return ((x + 1) / 2).clamp(0, 1)


class _StochasticSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, u: Tensor) -> Tensor:
        return torch.where(u < hard_sigmoid(x), torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, g: Tensor):
        return g, None


def binarize_stochastic(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """BinaryConnect stochastic binarization: ``+1`` with probability ``p = hard_sigmoid(x)``, else ``-1``.

    ``u ~ U[0, 1)``; ``w_b = +1 if u < p``, so p = 0 never and p = 1 always gives +1.
    Gradient: identity (straight-through), as BinaryConnect applies dC/dw_b to w.
    """
    if generator is None:
        u = torch.rand_like(x)
    else:
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return _StochasticSign.apply(x, u)


# ----------------------------------------------------------------------------------------------
# BWN / XNOR-Net
# ----------------------------------------------------------------------------------------------


def bwn_alpha(w: Tensor) -> Tensor:
    """BWN scale per output channel: ``alpha* = ||W||_1 / n`` = mean |W| over all but dim 0 (Shanbhag 2020).

    Returned with shape ``(C_out, 1, ..., 1)`` so that ``alpha * sign(W)`` broadcasts.
    """
    dims = tuple(range(1, w.dim()))
    return w.abs().mean(dim=dims, keepdim=True) if dims else w.abs()


class _BWN(torch.autograd.Function):
    """``alpha * sign(W)``; saves the packed sign bits, the packed Htanh mask and alpha (2 bits per
    weight), or only the Parameter W itself, from which backward recomputes all three."""

    @staticmethod
    def forward(ctx, w: Tensor) -> Tensor:
        alpha = bwn_alpha(w)
        ctx.from_param = held_anyway(w)
        if ctx.from_param:
            ctx.save_for_backward(w)
        else:
            ctx.save_for_backward(pack(w >= 0, 1), pack(w.abs() <= 1, 1), alpha)
        ctx.shape = w.shape
        return alpha * sign(w)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        n = ctx.shape.numel()
        if ctx.from_param:
            (w,) = ctx.saved_tensors
            alpha, s, m = bwn_alpha(w), sign(w).to(g.dtype), (w.abs() <= 1).to(g.dtype)
        else:
            sbits, mbits, alpha = ctx.saved_tensors
            s = unpack(sbits, 1, n).view(ctx.shape).to(g.dtype) * 2 - 1
            m = unpack(mbits, 1, n).view(ctx.shape).to(g.dtype)
        dims = tuple(range(1, g.dim()))
        per_channel = n // ctx.shape[0] if dims else 1
        gs = (g * s).sum(dim=dims, keepdim=True) if dims else g * s
        return g * alpha * m + s * gs / per_channel


def bwn_quantize(w: Tensor) -> Tensor:
    """BWN: ``W ~ alpha * B`` with ``B* = sign(W)``, ``alpha* = ||W||_1 / n`` per output channel.

    Gradient: the chain rule of ``mean|W| * sign(W)`` with the Htanh STE for sign:
    ``dC/dW_i = g_i alpha 1_{|W_i|<=1} + sign(W_i) / n * sum_j g_j sign(W_j)`` (XNOR-Net writes the
    simplified ``g (1/n + alpha 1_{|W|<=1})``). Keeps 2 bits per weight for backward.
    """
    return _BWN.apply(w)


def xnor_input_scale(x: Tensor, kernel_size, stride=1, padding=0, dilation=1) -> Tensor:
    """XNOR-Net activation scale K (Shanbhag 2020, beta per spatial position).

    ``A = sum_c |I_c| / c`` (mean over input channels), ``K = A * k`` with ``k`` a kernel_size
    averaging filter (all elements ``1/(w*h)``), at the convolution's stride/padding/dilation, so K
    has the output's spatial shape: ``(N, 1, H_out, W_out)``. For a linear layer (2-D input) K is
    the per-sample mean ``|I|``: ``(N, 1)``. The averaging is done as ``avg_pool2d`` (zero padding
    counted, = convolution with the constant filter) so the counter does not see an extra GEMM.
    Differentiable; :class:`hwsim.quant.layers.XNORScale` detaches it (K is a constant in backward).
    """
    a = x.abs().mean(dim=1, keepdim=True)
    if x.dim() == 2:
        return a
    if isinstance(padding, str):
        raise ValueError("XNOR-Net input scaling needs numeric padding")
    ks = _pair(kernel_size)
    dl = _pair(dilation)
    if dl == (1, 1):
        return F.avg_pool2d(a, ks, stride=stride, padding=padding, count_include_pad=True)
    k = torch.full((1, 1, *ks), 1.0 / (ks[0] * ks[1]), dtype=x.dtype, device=x.device)
    return F.conv2d(a, k, stride=stride, padding=padding, dilation=dilation)


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


# ----------------------------------------------------------------------------------------------
# Ternary: TWN, TTQ
# ----------------------------------------------------------------------------------------------


def twn_threshold(w: Tensor, delta_factor: float = 0.7) -> Tensor:
    """TWN: ``Delta = delta_factor * E|W|`` per layer (Li et al.: Delta* ~= 0.7 * mean|W|)."""
    return delta_factor * w.abs().mean()


class _TWN(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w: Tensor, delta_factor: float) -> Tensor:
        delta = twn_threshold(w, delta_factor)
        keep = w.abs() > delta
        # alpha* = mean of |W_i| over I_Delta = {i : |W_i| > Delta}
        alpha = (w.abs() * keep).sum() / keep.sum().clamp_min(1)
        return alpha * (sign(w) * keep)

    @staticmethod
    def backward(ctx, g: Tensor):
        return g, None


def twn_quantize(w: Tensor, delta_factor: float = 0.7) -> Tensor:
    """TWN (Shanbhag 2020): ``w_t = +alpha if W > Delta; 0 if |W| <= Delta; -alpha if W < -Delta``.

    ``Delta = delta_factor * mean|W|``, ``alpha = mean_{|W_i| > Delta} |W_i|`` (minimiser of
    ``||W - alpha w_t||^2`` for that support). A tie ``|W| == Delta`` goes to 0. Gradient: STE
    (identity), per the seed "training of the network uses STE".
    """
    return _TWN.apply(w, float(delta_factor))


class _TTQ(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w: Tensor, wp: Tensor, wn: Tensor, threshold: float) -> Tensor:
        code = ttq_code(w, threshold)
        ctx.from_param, ctx.threshold = held_anyway(w), threshold
        # the ternary code at 2 bits, or the Parameter it is recomputed from
        ctx.save_for_backward(w if ctx.from_param else pack(code + 1, 2), wp, wn)
        ctx.shape = w.shape
        pos = (code > 0).to(w.dtype)
        neg = (code < 0).to(w.dtype)
        return wp * pos - wn * neg

    @staticmethod
    def backward(ctx, g: Tensor):
        saved, wp, wn = ctx.saved_tensors
        if ctx.from_param:
            code = ttq_code(saved, ctx.threshold)
        else:
            code = unpack(saved, 2, ctx.shape.numel()).view(ctx.shape) - 1
        pos = (code > 0).to(g.dtype)
        neg = (code < 0).to(g.dtype)
        zero = 1 - pos - neg
        grad_w = g * (wp * pos + zero + wn * neg)
        grad_wp = (g * pos).sum().reshape(wp.shape)
        grad_wn = -(g * neg).sum().reshape(wn.shape)
        return grad_w, grad_wp, grad_wn, None


def ttq_code(w: Tensor, threshold: float = 0.05) -> Tensor:
    """TTQ intermediate ternary code in {-1, 0, +1} (int8).

    S1: normalise ``W~ = W / max|W|``; S2: ``Delta = t * max|W~|``; ``+1 if W~ > Delta``,
    ``-1 if W~ < -Delta``, else 0 (ties go to 0).
    """
    wt = w / w.abs().amax().clamp_min(torch.finfo(w.dtype).tiny)
    delta = threshold * wt.abs().amax()
    return (wt > delta).to(torch.int8) - (wt < -delta).to(torch.int8)


def ttq_quantize(w: Tensor, wp: Tensor, wn: Tensor, threshold: float = 0.05) -> Tensor:
    """TTQ (Zhu et al., Shanbhag 2020): ``w_t = W^p if W~ > Delta; 0 if |W~| <= Delta; -W^n if W~ < -Delta``.

    ``W^p, W^n > 0`` are learned per layer. Gradients (Zhu et al. eq. 7-8):
    ``dL/dW^p = sum_{i in I_p} g_i``, ``dL/dW^n = sum_{i in I_n} -g_i`` (the level is ``-W^n``),
    latent ``dL/dW~ = W^p g on I_p, 1 g on I_z, W^n g on I_n``.
    """
    return _TTQ.apply(w, wp, wn, float(threshold))


# ----------------------------------------------------------------------------------------------
# LQ-Nets: learned basis quantizer
# ----------------------------------------------------------------------------------------------


def lq_codes(bits: int, encoding: str = "pm1", dtype=torch.float32, device=None) -> Tensor:
    """All ``2^K`` binary codes ``b`` as rows, shape ``(2^K, K)``; entries in {-1,+1} or {0,1}."""
    rows = list(itertools.product((0.0, 1.0), repeat=bits))
    b = torch.tensor(rows, dtype=dtype, device=device)
    return b * 2 - 1 if encoding == "pm1" else b


def lq_levels(v: Tensor, codes: Tensor) -> tuple[Tensor, Tensor]:
    """Levels ``v^T b`` for every code, sorted ascending; returns ``(levels, codes_sorted)``.

    ``v``: ``(C, K)`` (one basis per channel) -> levels ``(C, 2^K)``, codes ``(C, 2^K, K)``.
    """
    lev = v @ codes.T
    lev, order = lev.sort(dim=-1)
    return lev, codes[order]


def lq_assign(x: Tensor, levels: Tensor) -> Tensor:
    """Index of the nearest level: ``Q(x) = v^T e_l if x in (t_l, t_{l+1}]``, t = midpoints of levels.

    ``x``: ``(C, N)``, ``levels``: ``(C, L)`` sorted -> ``(C, N)`` int64 index. Dense compares
    (``L <= 16``) rather than searchsorted, so it runs on meta tensors.
    """
    t = (levels[:, 1:] + levels[:, :-1]) / 2
    return (x.unsqueeze(-1) > t.unsqueeze(1)).sum(dim=-1)


class _LQ(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x2: Tensor, levels: Tensor) -> Tensor:
        return levels.gather(1, lq_assign(x2, levels))

    @staticmethod
    def backward(ctx, g: Tensor):
        return g, None


def lq_quantize(x: Tensor, v: Tensor, codes: Tensor, channel_dim: int | None) -> Tensor:
    """LQ-Nets quantizer (Shanbhag 2020): ``Q(x, v) = v^T e_l`` for the level nearest to x; STE (identity).

    ``v``: ``(C, K)`` with ``channel_dim`` the dimension of x it indexes (weights: 0, per output
    channel) or ``(1, K)`` and ``channel_dim=None`` (per layer, activations).
    """
    levels, _ = lq_levels(v.detach(), codes)
    x2 = _to_rows(x, channel_dim)
    q2 = _LQ.apply(x2, levels)
    return _from_rows(q2, x, channel_dim)


def lq_bits_of(x: Tensor, v: Tensor, codes: Tensor, channel_dim: int | None) -> tuple[Tensor, Tensor]:
    """The optimal assignment B for fixed v: rows x as ``(C, N)`` and their codes ``(C, K, N)``."""
    levels, codes_sorted = lq_levels(v, codes)
    x2 = _to_rows(x, channel_dim)
    idx = lq_assign(x2, levels)                                       # (C, N)
    b = torch.gather(codes_sorted, 1, idx.unsqueeze(-1).expand(*idx.shape, codes.shape[1]))
    return x2, b.transpose(1, 2)                                      # (C, K, N)


def lq_normal_equations(x: Tensor, v: Tensor, codes: Tensor, channel_dim: int | None) -> tuple[Tensor, Tensor]:
    """``B B^T`` (C, K, K) and ``B x`` (C, K) for the nearest-level assignment B of x under basis v.

    Every column of B is the code of one level, so ``B B^T = sum_l n_l b_l b_l^T`` and
    ``B x = sum_l b_l (sum of x assigned to l)``: O(N) with per-level counts and sums (scatter-add),
    never the ``(K, N)`` matrix B itself, and no GEMM for the counter to mistake for the layer's.
    """
    levels, codes_sorted = lq_levels(v, codes)                        # (C, L), (C, L, K)
    x2 = _to_rows(x, channel_dim)
    idx = lq_assign(x2, levels)
    counts = torch.zeros_like(levels).scatter_add_(1, idx, torch.ones_like(x2))
    sums = torch.zeros_like(levels).scatter_add_(1, idx, x2)
    bbt = (codes_sorted.unsqueeze(-1) * codes_sorted.unsqueeze(-2) * counts[..., None, None]).sum(1)
    bx = (codes_sorted * sums.unsqueeze(-1)).sum(1)
    return bbt, bx


def lq_solve_basis(bbt: Tensor, bx: Tensor, ridge: float = 1e-6) -> Tensor:
    """QEM basis step: ``v* = (B B^T)^-1 B x`` per channel (a small ridge keeps a rank-deficient B solvable)."""
    k = bbt.shape[-1]
    eye = torch.eye(k, dtype=bbt.dtype, device=bbt.device)
    scale = bbt.diagonal(dim1=-2, dim2=-1).mean(-1).clamp_min(1.0)[..., None, None]
    return torch.linalg.solve(bbt + ridge * scale * eye, bx.unsqueeze(-1)).squeeze(-1)


def lq_qem_step(x: Tensor, v: Tensor, codes: Tensor, channel_dim: int | None, momentum: float = 0.9) -> Tensor:
    """One quantization-error-minimisation step of LQ-Nets (Zhang et al. Alg. 1).

    Minimises ``||B^T v - x||^2`` alternately: (1) B = nearest-level codes for fixed v;
    (2) ``v_new = (B B^T)^-1 B x``; returns the moving average ``momentum * v + (1 - momentum) * v_new``.
    """
    bbt, bx = lq_normal_equations(x, v, codes, channel_dim)
    return momentum * v + (1 - momentum) * lq_solve_basis(bbt, bx)


def lq_error(x: Tensor, v: Tensor, codes: Tensor, channel_dim: int | None) -> Tensor:
    """``||B^T v - x||^2`` with B the nearest-level assignment (the quantity QEM decreases)."""
    x2, b = lq_bits_of(x, v, codes, channel_dim)
    return ((b * v.unsqueeze(-1)).sum(1) - x2).pow(2).sum()


def lq_init_basis(bits: int, scale: Tensor) -> Tensor:
    """Initial basis ``v_k = scale * 2 * 0.6745 / (2^K - 1) * 2^k`` (k = 0..K-1), as in the LQ-Nets code.

    With pm1 codes the levels are then uniform with the top level ``2 * 0.6745 * scale``
    (``scale`` = the per-channel standard deviation for weights). ``scale``: ``(C, 1)``.
    """
    base = torch.tensor([2.0**k for k in range(bits)], dtype=scale.dtype, device=scale.device)
    return scale * (2 * 0.6745 / (2**bits - 1)) * base


def _to_rows(x: Tensor, channel_dim: int | None) -> Tensor:
    if channel_dim is None:
        return x.reshape(1, -1)
    return x.movedim(channel_dim, 0).reshape(x.shape[channel_dim], -1)


def _from_rows(x2: Tensor, like: Tensor, channel_dim: int | None) -> Tensor:
    if channel_dim is None:
        return x2.reshape(like.shape)
    moved = like.movedim(channel_dim, 0).shape
    return x2.reshape(moved).movedim(0, channel_dim)


# ----------------------------------------------------------------------------------------------
# k-bit uniform (DoReFa-style)
# ----------------------------------------------------------------------------------------------


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return torch.round(x)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        return g


def round_ste(x: Tensor) -> Tensor:
    """``round(x)`` with identity gradient."""
    return _RoundSTE.apply(x)


def uniform_weight(w: Tensor, bits: int) -> Tensor:
    """Symmetric per-output-channel k-bit weights: ``s = max|W_c| / (2^(k-1) - 1)``, ``w_q = s round(W/s)``.

    Integer codes in ``[-(2^(k-1)-1), 2^(k-1)-1]``; gradient: STE (identity) through round.
    """
    qmax = 2 ** (bits - 1) - 1
    dims = tuple(range(1, w.dim()))
    m = w.detach().abs().amax(dim=dims, keepdim=True) if dims else w.detach().abs()
    s = m.clamp_min(torch.finfo(w.dtype).tiny) / qmax
    return round_ste(w / s) * s


def uniform_activation(x: Tensor, bits: int, clip: float = 1.0) -> Tensor:
    """DoReFa k-bit activations: ``a = clip(x, 0, c)``, ``a_q = round(a (2^k - 1) / c) c / (2^k - 1)``.

    Gradient: STE through round, and ``1_{0 <= x <= c}`` through the clip (PyTorch's clamp gradient).
    """
    return _UniformActivation.apply(x, int(bits), float(clip))


class _UniformActivation(torch.autograd.Function):
    """The DoReFa activation as one function: the same values and gradients, bit for bit, as
    ``round_ste(clamp(x, 0, c) n/c) c/n``, but what it keeps for backward is the 1-bit packed mask
    ``0 <= x <= c``, not the float input."""

    @staticmethod
    def forward(ctx, x: Tensor, bits: int, clip: float) -> Tensor:
        n = 2**bits - 1
        # one mask per input and clip, however many layers quantize that input
        ctx.save_for_backward(shared_code(x, ("clip_mask", clip), lambda: pack((x >= 0) & (x <= clip), 1)))
        ctx.shape, ctx.bits, ctx.clip = x.shape, bits, clip
        return torch.round(x.clamp(0, clip) * (n / clip)) * (clip / n)

    @staticmethod
    def backward(ctx, g: Tensor):
        # the chain rule of the unfused formula, rounding included: the two scalar products, then clamp's mask
        n = 2**ctx.bits - 1
        gq = g * (ctx.clip / n) * (n / ctx.clip)
        return torch.where(_unpack_mask(ctx), gq, torch.zeros((), dtype=g.dtype, device=g.device)), None, None


def dorefa_gradient(g: Tensor, bits: int, noise: Tensor | None = None) -> Tensor:
    """DoReFa-Net's k-bit gradient (Zhou et al. 2016, eq. 12), applied to a layer's output gradient:
    ``2 m [quantize_k(g / 2m + 1/2 + N(k)) - 1/2]`` with ``m = max|g|`` over all but the batch axis and
    ``N(k) = sigma / (2^k - 1)``, ``sigma ~ U(-1/2, 1/2)`` (stochastic rounding); codes in ``[0, 2^k - 1]``."""
    n = 2**bits - 1
    dims = tuple(range(1, g.dim()))
    m = (g.abs().amax(dim=dims, keepdim=True) if dims else g.abs()).clamp_min(torch.finfo(g.dtype).tiny)
    sigma = torch.rand_like(g) - 0.5 if noise is None else noise
    code = torch.round((g / (2 * m) + 0.5) * n + sigma).clamp_(0, n)
    return 2 * m * (code / n - 0.5)


class DoReFaGradQuantizer(OutputGradientQuantizer):
    """The layer's output gradient becomes DoReFa's k-bit gradient (:func:`dorefa_gradient`)."""

    def __init__(self, bits: int):
        super().__init__()
        self.bits = int(bits)

    def quantize_gradient(self, g: Tensor) -> Tensor:
        return dorefa_gradient(g, self.bits)
