"""Per-aten-op counting formulas, in a registry keyed by op (the pattern of ``torch.utils.flop_counter``).

Each formula is a small pure function of the op's arguments' *shapes* (and, for the
backward of a linear layer, of which operand is the layer's weight) that returns a list
of :class:`Work` items: GEMM work (MACs, with the roles of the operands so the caller
can price them at the layer's declared widths) or element-wise work (operations and
bytes at the tensors' real dtype widths).

MAC formulas (one MAC = one multiply-accumulate = two flop_counter FLOPs):
  mm(a[M,K], b[K,N])                    M*K*N
  addmm(c, a, b) / bmm / baddbmm        as mm (the bias add is not a MAC, as in flop_counter)
  convolution(x[N,C,H,W], w[K,C/g,R,S]) N*K*P*Q*(C/g)*R*S   (P, Q: output size; transposed: H, W)
  convolution_backward                  grad_input (output_mask[0]) and grad_weight (output_mask[1])
                                        each cost exactly the forward MACs (groups included: flop_counter
                                        counts a grouped grad_weight g times too high)
  attention(q[B,H,L,D], k[B,H,S,D], v[B,H,S,Dv])  forward B*H*L*S*(D+Dv) (Q K^T and P V, the full L x S
                                        matrix, causal or not, as the kernels issue it); backward
                                        B*H*L*S*(2D+2Dv): dV, dP, dQ, dK, twice the forward, whichever
                                        kernel runs (the math path issues exactly that; a flash kernel also
                                        recomputes Q K^T, which flop_counter adds, and has no CPU formula)
  embedding                             0 MACs: a gather (its rows are traffic); its backward adds rows
Element-wise rule: one operation per element of the larger of the first tensor operand and
the first result (a reduction costs its input, a broadcast its output). Views, copies and
tensor creation do no arithmetic and count nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from math import prod
from typing import Any

import torch

aten = torch.ops.aten

# Roles of GEMM operands; the traffic model maps them to tensor classes per phase.
GEMM_FWD = "forward"
GEMM_DATA = "backward_data"
GEMM_WEIGHT = "backward_weight"


@dataclass
class Work:
    """What one aten op did.

    GEMM work: ``gemm`` is forward | backward_data | backward_weight, ``macs`` the MACs and
    ``operands`` the element counts by role (weight, input, output, grad_output, grad_input,
    grad_weight, stash). Element-wise work: ``elementwise`` names the op class,
    ``elems`` the operations, ``read_bytes`` / ``write_bytes`` what it moved at dtype width.
    """

    gemm: str | None = None
    macs: int = 0
    operands: dict[str, int] = field(default_factory=dict)
    elementwise: str | None = None
    elems: int = 0
    read_bytes: int = 0
    write_bytes: int = 0
    # tensors a sparsity probe may look at: role -> tensor (real runs only)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    # backward element-wise work that produces a parameter's gradient (embedding rows)
    weight_grad: bool = False
    # an op with no formula and not known to be element-wise: counted as element-wise, and reported
    unknown: bool = False


@dataclass
class OpContext:
    """What a formula may know besides the op: phase and the issuing layer's weight operand."""

    phase: str
    weight_key: Any = None            # storage key of the weight operand seen in forward
    weight_shape: tuple[int, ...] | None = None
    # storage keys and shapes of every parameter of the issuing module (nn.MultiheadAttention
    # multiplies by its in/out projection weights itself, without calling a Linear)
    param_keys: frozenset = frozenset()
    param_shapes: frozenset = frozenset()
    storage_key: Callable[[Any], Any] | None = None


Formula = Callable[[OpContext, tuple, dict, Any], list[Work]]
FORMULAS: dict[Any, Formula] = {}


def register_formula(*targets: Any) -> Callable[[Formula], Formula]:
    """Register ``fn`` for aten op packets (``aten.mm``); a packet may be registered once."""

    def deco(fn: Formula) -> Formula:
        for t in targets:
            if t in FORMULAS:
                raise RuntimeError(f"duplicate counting formula for {t}")
            FORMULAS[t] = fn
        return fn

    return deco


def _numel(t: Any) -> int:
    return int(t.numel()) if isinstance(t, torch.Tensor) else 0


def _nbytes(t: Any) -> int:
    return int(t.numel()) * t.element_size() if isinstance(t, torch.Tensor) else 0


# -- GEMMs -------------------------------------------------------------------------


def mm_macs(a_shape, b_shape) -> int:
    m, k = a_shape
    k2, n = b_shape
    assert k == k2, f"mm: inner dimensions differ ({k} vs {k2})"
    return m * k * n


def _mm_work(ctx: OpContext, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> list[Work]:
    macs = mm_macs(a.shape, b.shape)
    if ctx.phase in ("forward", "inference"):
        # F.linear: x @ W^T, the weight is the second operand
        return [Work(gemm=GEMM_FWD, macs=macs, operands={"input": a.numel(), "weight": b.numel(),
                                                          "output": out.numel()},
                     tensors={"input": a, "weight": b})]
    if ctx.phase == "update":
        return [Work(elementwise="update", elems=macs, read_bytes=_nbytes(a) + _nbytes(b),
                     write_bytes=_nbytes(out))]
    # backward: the product that reads the layer's weight is backward-data; the one that
    # yields a weight-shaped result without reading the weight is backward-weight.
    ws = tuple(ctx.weight_shape or ())
    key_a = key_b = None
    if (ctx.weight_key is not None or ctx.param_keys) and ctx.storage_key is not None:
        key_a, key_b = ctx.storage_key(a), ctx.storage_key(b)
    weights = ({ctx.weight_key} if ctx.weight_key is not None else set()) | ctx.param_keys
    shapes = {tuple(x) for x in ctx.param_shapes} | ({ws} if ws else set())
    shapes |= {x[::-1] for x in shapes}
    if key_a is not None and weights & {key_a, key_b}:
        is_data = True
    else:
        # no operand is a parameter: a weight gradient is shaped like a parameter; anything
        # else is an activation x activation product's gradient (backward-data)
        is_data = tuple(out.shape) not in shapes
    if key_a is not None and is_data:
        if key_a in weights:     # a @ g: the weight is the first operand
            a, b = b, a
        return [Work(gemm=GEMM_DATA, macs=macs, operands={"grad_output": a.numel(), "weight": b.numel(),
                                                           "grad_input": out.numel()},
                     tensors={"grad_output": a, "weight": b})]
    if not (ws and tuple(out.shape) in (ws, ws[::-1])):
        ws = next((tuple(x) for x in ctx.param_shapes if tuple(out.shape) in (tuple(x), tuple(x)[::-1])), ws)
    if is_data:
        grad, weight = (b, a) if key_a is not None and key_a == ctx.weight_key else (a, b)
        return [Work(gemm=GEMM_DATA, macs=macs, operands={"grad_output": grad.numel(), "weight": weight.numel(),
                                                           "grad_input": out.numel()},
                     tensors={"grad_output": grad, "weight": weight})]
    # grad_weight = g^T @ x  (result shaped like W)  or  x^T @ g  (result shaped like W^T)
    grad, stash = (a, b) if ws and tuple(out.shape) == ws else (b, a)
    return [Work(gemm=GEMM_WEIGHT, macs=macs, operands={"grad_output": grad.numel(), "stash": stash.numel(),
                                                         "grad_weight": out.numel()},
                 tensors={"grad_output": grad, "stash": stash})]


@register_formula(aten.mm)
def mm_formula(ctx: OpContext, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    return _mm_work(ctx, args[0], args[1], out)


@register_formula(aten.addmm)
def addmm_formula(ctx: OpContext, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    return _mm_work(ctx, args[1], args[2], out)


def _bmm_work(ctx: OpContext, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> list[Work]:
    bs, m, k = a.shape
    n = b.shape[2]
    # activation x activation products (attention): both operands are inputs
    return [Work(gemm=GEMM_FWD if ctx.phase in ("forward", "inference") else GEMM_DATA, macs=bs * m * k * n,
                 operands={"input": a.numel() + b.numel(), "output": out.numel()})]


@register_formula(aten.bmm)
def bmm_formula(ctx: OpContext, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    return _bmm_work(ctx, args[0], args[1], out)


@register_formula(aten.baddbmm)
def baddbmm_formula(ctx: OpContext, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    return _bmm_work(ctx, args[1], args[2], out)


def conv_macs(x_shape, w_shape, out_shape, transposed: bool = False) -> int:
    """N * K * P * Q * (C/g) * R * S; for a transposed conv the spatial size is the input's."""
    n = x_shape[0]
    spatial = (x_shape if transposed else out_shape)[2:]
    c_out, c_in_per_group, *kernel = w_shape
    return n * prod(spatial) * prod(kernel) * c_out * c_in_per_group


@register_formula(aten.convolution, aten._convolution, aten._slow_conv2d_forward, aten.convolution_overrideable)
def conv_formula(ctx: OpContext, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    x, w = args[0], args[1]
    transposed = bool(args[6]) if len(args) > 6 else False
    macs = conv_macs(x.shape, w.shape, out.shape, transposed)
    return [Work(gemm=GEMM_FWD, macs=macs, operands={"input": x.numel(), "weight": w.numel(), "output": out.numel()},
                 tensors={"input": x, "weight": w})]


@register_formula(aten.convolution_backward)
def conv_backward_formula(ctx: OpContext, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    grad_out, x, w = args[0], args[1], args[2]
    transposed = bool(args[7])
    output_mask = args[10]
    macs = conv_macs(x.shape, w.shape, grad_out.shape, transposed)
    work = []
    if output_mask[0]:
        work.append(Work(gemm=GEMM_DATA, macs=macs,
                         operands={"grad_output": grad_out.numel(), "weight": w.numel(), "grad_input": x.numel()},
                         tensors={"grad_output": grad_out, "weight": w}))
    if output_mask[1]:
        work.append(Work(gemm=GEMM_WEIGHT, macs=macs,
                         operands={"grad_output": grad_out.numel(), "stash": x.numel(), "grad_weight": w.numel()},
                         tensors={"grad_output": grad_out, "stash": x}))
    if len(output_mask) > 2 and output_mask[2]:
        work.append(Work(elementwise="bias_grad", elems=grad_out.numel(), read_bytes=_nbytes(grad_out),
                         write_bytes=_nbytes(out[2])))
    return work


def attention_macs(q_shape, k_shape, v_shape, backward: bool = False) -> int:
    """Q K^T and P V over the full L x S score matrix; backward dV, dP, dQ, dK (per query head:
    grouped key/value heads are shared, not cheaper). A flash kernel's recomputation of the scores
    is a memory-for-compute choice of the kernel, not of the network: it is not counted, so the
    figures agree with the decomposed math path and with the 12 L d s per token of the literature."""
    *bh, lq, d = q_shape
    s, dv = k_shape[-2], v_shape[-1]
    per = prod(bh) * lq * s
    return per * 2 * (d + dv) if backward else per * (d + dv)


ATTENTION_FWD = [getattr(aten, n) for n in ("_scaled_dot_product_flash_attention_for_cpu",
                                            "_scaled_dot_product_flash_attention",
                                            "_scaled_dot_product_efficient_attention",
                                            "_scaled_dot_product_cudnn_attention") if hasattr(aten, n)]
_ATTENTION_BWD = [getattr(aten, n + "_backward") for n in ("_scaled_dot_product_flash_attention_for_cpu",
                                                           "_scaled_dot_product_flash_attention",
                                                           "_scaled_dot_product_efficient_attention",
                                                           "_scaled_dot_product_cudnn_attention")
                  if hasattr(aten, n + "_backward")]


@register_formula(*ATTENTION_FWD)
def attention_formula(ctx: OpContext, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    q, k, v = args[0], args[1], args[2]
    o = out[0] if isinstance(out, (tuple, list)) else out
    scores = prod(q.shape[:-1]) * k.shape[-2]
    return [Work(gemm=GEMM_FWD if ctx.phase in ("forward", "inference") else GEMM_DATA,
                 macs=attention_macs(q.shape, k.shape, v.shape),
                 operands={"input": q.numel() + k.numel() + v.numel(), "output": o.numel()}),
            # the softmax over the scores, fused in the kernel: operations, no traffic of its own
            Work(elementwise="softmax", elems=int(scores))]


@register_formula(*_ATTENTION_BWD)
def attention_backward_formula(ctx: OpContext, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    g, q, k, v = args[0], args[1], args[2], args[3]
    scores = prod(q.shape[:-1]) * k.shape[-2]
    return [Work(gemm=GEMM_DATA, macs=attention_macs(q.shape, k.shape, v.shape, backward=True),
                 operands={"grad_output": g.numel(), "weight": 0,
                           "grad_input": q.numel() + k.numel() + v.numel()}),
            Work(elementwise="softmax", elems=int(scores))]


@register_formula(aten.embedding)
def embedding_formula(ctx: OpContext, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    idx = args[1]
    # a gather: no arithmetic; the rows it reads and writes are traffic
    return [Work(elementwise="embedding", elems=0, read_bytes=_nbytes(out) + _nbytes(idx),
                 write_bytes=_nbytes(out))]


@register_formula(aten.embedding_dense_backward)
def embedding_backward_formula(ctx: OpContext, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    g, idx = args[0], args[1]
    # each gradient row is added into the weight gradient's row: one add per element
    return [Work(elementwise="embedding", elems=_numel(g), read_bytes=_nbytes(g) + _nbytes(idx),
                 write_bytes=_nbytes(out), weight_grad=True)]


# -- recurrent layers --------------------------------------------------------------
# G gate rows (4H LSTM, 3H GRU, H plain RNN), I input size, H hidden size, T*N steps x batch.
#   forward        T*N*G*(I + H)                     (input and recurrent projections)
#   backward data  T*N*G*I if the input needs a gradient, plus G*H per step whose hidden state
#                  needs one: (T-1)*N*G*H, and N*G*H more for an initial state that needs a gradient
#   backward weight T*N*G*(I + H)
# The same MACs the decomposed path (meta tensors, GRU and plain RNN on CPU) issues as mm/addmm.


def _rnn_sizes(x: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor) -> tuple[int, int, int, int]:
    g, i = int(w_ih.shape[0]), int(w_ih.shape[1])
    h = int(w_hh.shape[1])
    return int(x.numel()) // max(i, 1), g, i, h


@register_formula(aten.mkldnn_rnn_layer)
def mkldnn_rnn_layer_formula(ctx: OpContext, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    x, w_ih, w_hh = args[0], args[1], args[2]
    tn, g, i, h = _rnn_sizes(x, w_ih, w_hh)
    y = out[0]
    return [Work(gemm=GEMM_FWD, macs=tn * g * (i + h),
                 operands={"input": x.numel(), "weight": w_ih.numel() + w_hh.numel(), "output": y.numel()}),
            # per step: two bias adds and a nonlinearity per gate row, five state updates per unit
            Work(elementwise="rnn_cell", elems=tn * (3 * g + 5 * h), read_bytes=_nbytes(x),
                 write_bytes=sum(_nbytes(t) for t in out[:3]))]


@register_formula(aten.mkldnn_rnn_layer_backward)
def mkldnn_rnn_layer_backward_formula(ctx: OpContext, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    x, w_ih, w_hh, hx = args[0], args[1], args[2], args[5]
    tn, g, i, h = _rnn_sizes(x, w_ih, w_hh)
    n = int(hx.shape[-2]) if hx.dim() >= 2 else 1
    data = (tn * g * i if x.requires_grad else 0) + (tn - n) * g * h + (n * g * h if hx.requires_grad else 0)
    return [Work(gemm=GEMM_DATA, macs=data, operands={"grad_output": tn * h, "weight": w_ih.numel() + w_hh.numel(),
                                                      "grad_input": x.numel()}),
            Work(gemm=GEMM_WEIGHT, macs=tn * g * (i + h),
                 operands={"grad_output": tn * g, "stash": x.numel() + tn * h,
                           "grad_weight": w_ih.numel() + w_hh.numel()}),
            Work(elementwise="rnn_cell", elems=tn * (3 * g + 5 * h), read_bytes=_nbytes(x),
                 write_bytes=_nbytes(out[0]))]


def _cell_formula(ctx: OpContext, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    """``lstm_cell``/``gru_cell``/``rnn_*_cell``(x, hx, w_ih, w_hh, ...): one step, N*G*(I + H)."""
    x, w_ih, w_hh = args[0], args[2], args[3]
    n, g = int(x.numel()) // int(w_ih.shape[1]), int(w_ih.shape[0])
    return [Work(gemm=GEMM_FWD, macs=n * g * (int(w_ih.shape[1]) + int(w_hh.shape[1])),
                 operands={"input": x.numel(), "weight": w_ih.numel() + w_hh.numel(),
                           "output": sum(_numel(t) for t in _tensors(out))})]


for _cell in ("lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell"):
    if hasattr(aten, _cell):
        register_formula(getattr(aten, _cell))(_cell_formula)


# Fused gate kernels (CUDA's LSTM/GRU cells): the projections ran before as mm/addmm; the cell itself is
# element-wise: one operation per gate pre-activation element.
_FUSED_CELLS = [getattr(aten, n) for n in ("_thnn_fused_lstm_cell", "_thnn_fused_gru_cell",
                                           "_thnn_fused_lstm_cell_backward_impl", "_thnn_fused_lstm_cell_backward",
                                           "_thnn_fused_gru_cell_backward", "_thnn_differentiable_lstm_cell_backward",
                                           "_thnn_differentiable_gru_cell_backward") if hasattr(aten, n)]


@register_formula(*_FUSED_CELLS)
def fused_cell_formula(ctx: OpContext, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    ins = _tensors(args)
    return [Work(elementwise="rnn_cell", elems=int(ins[0].numel()) if ins else 0,
                 read_bytes=sum(_nbytes(t) for t in ins), write_bytes=sum(_nbytes(t) for t in _tensors(out)))]


# -- bilinear / trilinear ---------------------------------------------------------
@register_formula(aten._trilinear)
def trilinear_formula(ctx: OpContext, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    """``_trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim)`` (``nn.Bilinear``: x1^T W_k x2) as its
    kernel runs it: i1*i2 contracted over the summed dims i3 lacks, then that with i3 over the rest.
    MACs: the size of the i1*i2 product space, plus the size of the second product space.
    nn.Bilinear(I1, I2, O) on N rows: N*O*I1*I2 + N*O*I2."""
    i1, i2, i3 = args[0], args[1], args[2]
    e1, e2, e3, sumdim = (list(a) for a in args[3:7])
    nd = i1.dim() + len(e1)

    def full(t: torch.Tensor, expand: list[int]) -> list[int]:
        sizes, it = [], iter(t.shape)
        for d in range(nd):
            sizes.append(1 if d in expand else int(next(it)))
        return sizes

    s1, s2, s3 = full(i1, e1), full(i2, e2), full(i3, e3)
    first = [d for d in sumdim if s3[d] == 1]
    pair = [max(a, b) for a, b in zip(s1, s2)]
    macs1 = prod(pair)
    rest = [1 if d in first else pair[d] for d in range(nd)]
    macs2 = prod(max(a, b) for a, b in zip(rest, s3))
    reads_param = bool(ctx.param_keys) and ctx.storage_key is not None and any(
        ctx.storage_key(t) in ctx.param_keys for t in (i1, i2, i3))
    if ctx.phase in ("forward", "inference"):
        role = GEMM_FWD
    else:
        role = GEMM_DATA if reads_param else GEMM_WEIGHT
    return [Work(gemm=role, macs=int(macs1 + macs2),
                 operands={"input": i1.numel() + i3.numel(), "weight": i2.numel(), "output": _numel(out)})]


# -- attention fast paths (eval, no grad) -------------------------------------------------
def _mha_fast_macs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, e: int, heads: int) -> tuple[int, int, int]:
    """(projection MACs, attention MACs, scores) of a batch-first multi-head attention on (B, L, E)."""
    b, lq = int(q.shape[0]), int(q.shape[-2])
    s = int(k.shape[-2])
    proj = b * lq * e * e + 2 * b * s * e * e + b * lq * e * e      # q, k, v projections and the output one
    d = e // heads
    att = attention_macs((b, heads, lq, d), (b, heads, s, d), (b, heads, s, d))
    return proj, att, b * heads * lq * s


@register_formula(aten._native_multi_head_attention)
def native_mha_formula(ctx: OpContext, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    q, k, v, e, heads = args[0], args[1], args[2], int(args[3]), int(args[4])
    proj, att, scores = _mha_fast_macs(q, k, v, e, heads)
    return [Work(gemm=GEMM_FWD, macs=proj + att, operands={"input": q.numel() + k.numel() + v.numel(),
                                                           "weight": 4 * e * e, "output": _numel(out[0])}),
            Work(elementwise="softmax", elems=int(scores))]


@register_formula(aten._transformer_encoder_layer_fwd)
def encoder_layer_fast_formula(ctx: OpContext, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    """nn.TransformerEncoderLayer's fused inference kernel: self-attention, then the two-layer MLP."""
    x, e, heads = args[0], int(args[1]), int(args[2])
    ffn_w1 = args[14]
    f = int(ffn_w1.shape[0])
    tokens = int(x.numel()) // e
    proj, att, scores = _mha_fast_macs(x, x, x, e, heads)
    mlp = 2 * tokens * e * f
    return [Work(gemm=GEMM_FWD, macs=proj + att + mlp,
                 operands={"input": x.numel(), "weight": 4 * e * e + 2 * e * f, "output": _numel(out)}),
            Work(elementwise="softmax", elems=int(scores)),
            # two norms, two residual adds, the MLP's activation
            Work(elementwise="norm", elems=2 * tokens * e), Work(elementwise="add", elems=2 * tokens * e),
            Work(elementwise="activation", elems=tokens * f)]


# -- element-wise work ---------------------------------------------------------------

# Ops that do no arithmetic: views, metadata, copies, creation.
NO_WORK = {
    getattr(aten, n) for n in (
        "view", "_unsafe_view", "reshape", "_reshape_alias", "t", "transpose", "permute", "expand", "alias",
        "detach", "as_strided", "slice", "select", "squeeze", "unsqueeze", "unbind", "split", "split_with_sizes",
        "chunk", "flatten", "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones", "ones_like",
        "full", "full_like", "new_empty", "new_zeros", "new_ones", "new_full", "new_empty_strided",
        "scalar_tensor", "lift_fresh", "lift_fresh_copy", "_to_copy", "copy_", "copy", "clone", "contiguous",
        "fill_", "fill", "zero_", "set_", "resize_", "_local_scalar_dense", "item", "arange", "lift",
        "randn", "rand", "randint", "normal_", "uniform_", "_has_compatible_shallow_copy_type", "cat", "stack",
        "pad", "constant_pad_nd", "unsafe_split", "unsafe_split_with_sizes", "unsafe_chunk", "index_select", "gather", "unfold", "view_as", "expand_as", "flip", "roll",
        "index", "index_put_", "index_put", "masked_fill_", "slice_backward", "select_backward", "to",
    ) if hasattr(aten, n)
}

# aten op name -> element-wise class reported in records (the op's own name otherwise).
_CLASSES: dict[str, tuple[str, ...]] = {
    "batchnorm": ("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_functional",
                  "_native_batch_norm_legit_no_training", "native_batch_norm_backward", "batch_norm_backward",
                  "_batch_norm_with_update", "_batch_norm_no_update", "cudnn_batch_norm",
                  "cudnn_batch_norm_backward", "native_group_norm", "native_group_norm_backward"),
    "norm": ("native_layer_norm", "native_layer_norm_backward", "_fused_rms_norm", "_fused_rms_norm_backward",
             "rms_norm"),
    "softmax": ("_softmax", "_softmax_backward_data", "_safe_softmax"),
    "activation": ("relu", "relu_", "threshold_backward", "hardtanh", "hardtanh_", "hardtanh_backward",
                   "leaky_relu", "leaky_relu_backward", "gelu", "gelu_backward", "sigmoid", "sigmoid_backward",
                   "tanh", "tanh_backward", "silu", "silu_backward", "elu", "elu_backward", "softplus",
                   "softplus_backward"),
    "pool": ("max_pool2d_with_indices", "max_pool2d_with_indices_backward", "avg_pool2d", "avg_pool2d_backward",
             "_adaptive_avg_pool2d", "_adaptive_avg_pool2d_backward", "adaptive_max_pool2d",
             "adaptive_max_pool2d_backward", "max_pool1d", "avg_pool1d", "max_pool2d"),
    "quantize": ("sign", "sgn", "round", "floor", "ceil", "trunc", "frac", "clamp", "clamp_", "clamp_min",
                 "clamp_max", "clamp_min_", "clamp_max_", "where", "ge", "gt", "le", "lt", "eq", "ne", "abs",
                 "log2", "exp2", "pow", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
                 "bitwise_left_shift", "bitwise_right_shift", "__lshift__", "__rshift__", "bernoulli",
                 "bernoulli_", "logical_and", "logical_or", "logical_not", "heaviside", "remainder", "fmod"),
    "loss": ("_log_softmax", "_log_softmax_backward_data", "nll_loss_forward", "nll_loss_backward",
             "nll_loss2d_forward", "nll_loss2d_backward",
             "mse_loss", "mse_loss_backward"),
    "add": ("add", "add_", "sub", "sub_", "rsub", "sum", "mean", "cumsum"),
    "mul": ("mul", "mul_", "div", "div_", "reciprocal", "addcmul", "addcmul_", "addcdiv", "addcdiv_",
            "lerp", "lerp_", "sqrt", "rsqrt", "exp", "log", "max", "min", "maximum", "minimum", "amax", "amin",
            "var", "std", "var_mean", "norm", "linalg_vector_norm"),
}
OP_CLASS: dict[str, str] = {name: cls for cls, names in _CLASSES.items() for name in names}


# Ops without a formula that are known to be element-wise (besides those tagged pointwise or
# reduction, and those in _CLASSES): any other op is counted as element-wise and reported as
# having no counting formula (``unsupported_ops``), so work hwsim cannot price is never a silent 0.
KNOWN_ELEMENTWISE = frozenset({
    "tril", "triu", "hardswish", "hardswish_backward", "hardsigmoid_backward", "mish", "mish_backward",
    "log_sigmoid_forward", "log_sigmoid_backward", "glu", "glu_backward", "_prelu_kernel", "_prelu_kernel_backward",
    "hardshrink", "softshrink", "elu_backward", "native_dropout", "native_dropout_backward", "_fused_dropout",
    "_masked_scale", "cumsum", "cumprod", "sort", "argsort", "topk", "scatter", "scatter_add", "scatter_reduce",
    "index_add", "index_copy", "index_fill", "_unsafe_index", "_unsafe_index_put", "masked_scatter", "masked_select",
    "nonzero", "bincount", "multinomial", "repeat", "repeat_interleave", "tile", "linspace", "logspace",
    "randperm", "rand_like", "randn_like", "randint_like", "normal", "exponential_", "geometric_", "bernoulli_",
    "reflection_pad1d", "reflection_pad2d", "reflection_pad3d", "replication_pad1d", "replication_pad2d",
    "replication_pad3d", "reflection_pad2d_backward", "replication_pad2d_backward", "im2col", "col2im",
    "max_pool3d_with_indices", "max_pool3d_with_indices_backward", "avg_pool3d", "avg_pool3d_backward",
    "_adaptive_avg_pool3d", "_adaptive_avg_pool3d_backward", "adaptive_max_pool1d", "max_pool1d_with_indices",
    "avg_pool1d", "softmax", "log_softmax", "_softmax", "logsumexp", "binary_cross_entropy",
    "binary_cross_entropy_backward", "binary_cross_entropy_with_logits", "smooth_l1_loss", "smooth_l1_loss_backward",
    "huber_loss", "huber_loss_backward", "l1_loss", "kl_div", "native_batch_norm_legit", "_weight_norm_interface",
    "embedding_renorm_", "isin", "unique_dim", "_unique2", "searchsorted", "bucketize", "one_hot", "diag",
    "diag_embed", "diagonal_backward", "narrow", "squeeze_", "unsqueeze_", "t_", "transpose_", "as_strided_",
    "_foreach_add", "_foreach_add_", "_foreach_mul", "_foreach_mul_", "_foreach_addcmul_", "_foreach_addcdiv_",
    "_foreach_sqrt", "_foreach_div_", "_foreach_lerp_", "_foreach_neg", "_foreach_maximum_",
    "_cdist_forward", "_pdist_forward", "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d",
    "upsample_linear1d", "upsample_bilinear2d", "upsample_bicubic2d", "upsample_trilinear3d",
    "_upsample_bilinear2d_aa", "_upsample_nearest_exact1d", "_upsample_nearest_exact2d", "_upsample_nearest_exact3d",
    "upsample_nearest1d_backward", "upsample_nearest2d_backward", "upsample_nearest3d_backward",
    "upsample_linear1d_backward", "upsample_bilinear2d_backward", "upsample_bicubic2d_backward",
    "upsample_trilinear3d_backward", "_upsample_nearest_exact2d_backward", "grid_sampler_2d",
    "grid_sampler_2d_backward", "affine_grid_generator", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle",
    "native_channel_shuffle", "_pack_padded_sequence", "_pad_packed_sequence", "_make_dep_token",
    "_assert_async", "_assert_scalar", "_functional_assert_async", "sym_constrain_range_for_size",
    "_assert_tensor_metadata", "record_stream", "resize_as_", "_copy_from_and_resize", "_copy_from",
    "_reshape_copy", "_index_put_impl_", "put_", "masked_fill", "_conj", "_neg_view", "_efficientzerotensor",
    # in-place forms (a packed sequence's backward scatters its gradient rows back in place)
    "scatter_", "scatter_add_", "scatter_reduce_", "index_add_", "index_copy_", "index_fill_", "index_reduce",
    "index_reduce_", "masked_scatter_", "cumsum_", "cumprod_",
})
_FREE_TAGS = (torch.Tag.pointwise, torch.Tag.reduction, torch.Tag.view_copy, torch.Tag.inplace_view,
              torch.Tag.nondeterministic_seeded)


def is_known_elementwise(func: Any) -> bool:
    """Whether an op without a formula is element-wise by nature (see :data:`KNOWN_ELEMENTWISE`)."""
    name = getattr(func._overloadpacket, "__name__", str(func)).split(".")[-1]
    if name in OP_CLASS or name in KNOWN_ELEMENTWISE or name.startswith("_foreach_"):
        return True
    return any(t in _FREE_TAGS for t in getattr(func, "tags", ()))


def op_class(func_packet: Any) -> str:
    name = getattr(func_packet, "__name__", str(func_packet)).split(".")[-1]
    return OP_CLASS.get(name, name)


def _tensors(tree: Any) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    stack = [tree]
    while stack:
        x = stack.pop()
        if isinstance(x, torch.Tensor):
            out.append(x)
        elif isinstance(x, (list, tuple)):
            stack.extend(reversed(x))
        elif isinstance(x, dict):
            stack.extend(x.values())
    return out


def elementwise_work(cls: str, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    """Generic element-wise formula: ops = max(numel(first operand), numel(first result))."""
    ins = _tensors(args) + _tensors(kwargs)
    outs = _tensors(out)
    first_in = ins[0].numel() if ins else 0
    first_out = outs[0].numel() if outs else 0
    elems = max(first_in, first_out)
    if elems == 0:
        return []
    return [Work(elementwise=cls, elems=int(elems), read_bytes=sum(_nbytes(t) for t in ins),
                 write_bytes=sum(_nbytes(t) for t in outs[:1]), tensors={"reads": ins})]


def count_op(ctx: OpContext, func: Any, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    """Work of one aten op: its registered formula, nothing for views/copies, else element-wise."""
    packet = func._overloadpacket
    formula = FORMULAS.get(packet)
    if formula is not None:
        return formula(ctx, args, kwargs, out)
    if packet in NO_WORK:
        return []
    cls = "update" if ctx.phase == "update" else op_class(packet)
    work = elementwise_work(cls, args, kwargs, out)
    if ctx.phase != "update" and not is_known_elementwise(func):
        for w in work or [Work(elementwise=cls)]:
            w.unknown = True
        return work or [Work(elementwise=cls, unknown=True)]
    return work
