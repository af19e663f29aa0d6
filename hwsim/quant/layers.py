"""Generic quantized layers, the quantizer modules they hold, and the one way schemes convert a model.

Layers
------
:class:`QConv2d` and :class:`QLinear` subclass ``nn.Conv2d`` / ``nn.Linear`` (so counting sees the
ordinary aten convolution / mm ops) and add four slots plus a declaration:

``weight_quantizer``  nn.Module or None: ``w = weight_quantizer(weight)`` before the GEMM
``input_quantizer``   nn.Module or None: ``x = input_quantizer(x)`` before the GEMM
``output_scale``      nn.Module or None: ``out = gemm(x, w) * output_scale(x_raw, layer) + bias``
                      (XNOR-Net's K; computed from the layer's un-quantized input)
``stash_codec``       None, or a codec of :mod:`hwsim.quant.stash`: the GEMM
                      then runs through ``stashed_conv2d`` / ``stashed_linear``, which hold the
                      saved input packed by the codec instead of as float32
``hwsim_precision``   a :class:`hwsim.formats.LayerPrecision`, what the hardware would feed each
                      GEMM per phase; the counter, energy model and accelerator read only this

Converting: the composable contract
-----------------------------------
``convert_layers(model, plan)`` walks ``model.named_modules()`` in registration order (= forward
order for hwsim's built-in models), numbers the weight layers (Conv2d/Linear and subclasses) by
depth ``0 .. n_layers-1`` and calls ``plan(name, module, depth, n_layers)`` for each:

* ``None``: the layer is left as it is (a plain layer without a declaration gets
  ``FULL_PRECISION`` so that every weight layer carries ``hwsim_precision``);
* a :class:`LayerPlan`: a plain ``nn.Conv2d`` / ``nn.Linear`` is replaced by a
  ``QConv2d`` / ``QLinear`` that shares its weight and bias Parameters; a layer that already is a
  ``QConv2d`` / ``QLinear`` is kept, and only the slots the plan sets (those not :data:`UNSET`)
  change. The declaration becomes ``dataclasses.replace(old_precision, **plan.precision)``: a
  scheme names only the LayerPrecision fields it owns.

So schemes compose by applying their converts in sequence (e.g. TWN weights, then a scheme that
sets the input quantizer and stash codec): each one changes only its own slots and fields.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hwsim.formats import BINARY, FULL_PRECISION, TERNARY, Format, LayerPrecision
from hwsim.quant import functions as qf


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
SLOTS = ("weight_quantizer", "input_quantizer", "output_scale", "stash_codec")


@dataclass
class LayerPlan:
    """What one scheme sets on one layer: slots (``UNSET`` = leave alone) and owned precision fields."""

    weight_quantizer: Any = UNSET
    input_quantizer: Any = UNSET
    output_scale: Any = UNSET
    stash_codec: Any = UNSET
    precision: dict[str, Format | str] = field(default_factory=dict)


class _QMixin:
    """Slots shared by QConv2d and QLinear."""

    def _adopt(self, m: nn.Module):
        """Take over ``m``'s Parameters (shared, not copied), train mode and precision declaration:
        the layer was built on meta, so it holds no memory of its own until here."""
        self.weight = m.weight
        if m.bias is not None:
            self.bias = m.bias
        self.train(m.training)
        if hasattr(m, "hwsim_precision"):
            self.hwsim_precision = m.hwsim_precision
        return self

    def _init_slots(self) -> None:
        self.weight_quantizer: nn.Module | None = None
        self.input_quantizer: nn.Module | None = None
        self.output_scale: nn.Module | None = None
        self.stash_codec: Any = None
        self.hwsim_precision: LayerPrecision = FULL_PRECISION

    def _operands(self, x: Tensor) -> tuple[Tensor, Tensor]:
        w = self.weight_quantizer(self.weight) if self.weight_quantizer is not None else self.weight
        xq = x
        if self.input_quantizer is not None:
            from hwsim.quant.stash import mark_quantized, quantizer_key

            xq = self.input_quantizer(x)
            mark_quantized(xq, x, quantizer_key(self.input_quantizer))
        return xq, w

    def _saved(self) -> tuple[Any, Any]:
        """(codec of the saved input, weight recompute): a deterministic weight quantizer's output
        is recomputed in backward from the Parameters rather than kept as a float copy (the
        recomputed operand is flagged as the layer's weight, so the counter still tells a linear
        layer's two backward products apart); a layer with such a quantizer and no codec keeps its
        input as is (FloatCodec). A stochastic quantizer's draw cannot be recomputed: kept."""
        from hwsim.quant.stash import FloatCodec

        q = self.weight_quantizer
        if q is None or not isinstance(self, (nn.Conv2d, nn.Linear)):
            return self.stash_codec, None
        if getattr(q, "stochastic", False) and q.training:
            # a draw: kept, at its code width where the quantizer names an exact codec
            return self.stash_codec or FloatCodec(), getattr(q, "code_codec", lambda: None)()
        return self.stash_codec or FloatCodec(), lambda: q(self.weight)

    def _finish(self, out: Tensor, x_raw: Tensor, bias: Tensor | None) -> Tensor:
        if self.output_scale is not None:
            out = out * self.output_scale(x_raw, self)
        if bias is not None:
            # channels: dim 1 of a convolution's output, the last dim of a linear layer's
            conv = isinstance(self, nn.modules.conv._ConvNd)
            out = out + (bias.reshape((1, -1) + (1,) * (out.dim() - 2)) if conv else bias)
        return out

    def extra_repr(self) -> str:  # pragma: no cover - cosmetic
        base = super().extra_repr()
        p = self.hwsim_precision
        return f"{base}, W={p.weight}, A={p.input}, stash={p.stash}"


class QConv2d(_QMixin, nn.Conv2d):
    """``nn.Conv2d`` with quantizer slots and a precision declaration (see module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._init_slots()

    @classmethod
    def from_float(cls, m: nn.Conv2d) -> QConv2d:
        q = cls(m.in_channels, m.out_channels, m.kernel_size, stride=m.stride, padding=m.padding,
                dilation=m.dilation, groups=m.groups, bias=m.bias is not None, padding_mode=m.padding_mode,
                device="meta", dtype=m.weight.dtype)
        return q._adopt(m)

    def forward(self, x: Tensor) -> Tensor:
        x_raw = x
        xq, w = self._operands(x)
        padding = self.padding
        if self.padding_mode != "zeros":
            xq = F.pad(xq, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            padding = 0
        split_bias = self.output_scale is not None
        bias = None if split_bias else self.bias
        codec, weight_fn = self._saved()
        if codec is None:
            out = F.conv2d(xq, w, bias, self.stride, padding, self.dilation, self.groups)
        else:
            from hwsim.quant.stash import stashed_conv2d

            out = stashed_conv2d(xq, w, bias, self.stride, padding, self.dilation, self.groups, codec, weight_fn)
            from hwsim.quant.stash import PRODUCER_TAG, get_tag

            tag = get_tag(out, PRODUCER_TAG)
            if tag is not None:
                tag.precision = self.hwsim_precision
        return self._finish(out, x_raw, self.bias if split_bias else None)


class QLinear(_QMixin, nn.Linear):
    """``nn.Linear`` with quantizer slots and a precision declaration (see module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._init_slots()

    @classmethod
    def from_float(cls, m: nn.Linear) -> QLinear:
        q = cls(m.in_features, m.out_features, bias=m.bias is not None, device="meta", dtype=m.weight.dtype)
        return q._adopt(m)

    def forward(self, x: Tensor) -> Tensor:
        x_raw = x
        xq, w = self._operands(x)
        split_bias = self.output_scale is not None
        bias = None if split_bias else self.bias
        codec, weight_fn = self._saved()
        if codec is None:
            out = F.linear(xq, w, bias)
        else:
            from hwsim.quant.stash import stashed_linear

            out = stashed_linear(xq, w, bias, codec, weight_fn)
        return self._finish(out, x_raw, self.bias if split_bias else None)


class _QConvNd(_QMixin):
    """Conv1d/Conv3d and transposed convolutions with the same slots as QConv2d."""

    _float: type[nn.Module]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._init_slots()

    @classmethod
    def from_float(cls, m: nn.Module) -> nn.Module:
        kw = dict(stride=m.stride, padding=m.padding, dilation=m.dilation, groups=m.groups, bias=m.bias is not None,
                  padding_mode=m.padding_mode, device="meta", dtype=m.weight.dtype)
        if m.transposed:
            kw["output_padding"] = m.output_padding
        return cls(m.in_channels, m.out_channels, m.kernel_size, **kw)._adopt(m)

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        x_raw = x
        xq, w = self._operands(x)
        split_bias = self.output_scale is not None
        bias = None if split_bias else self.bias
        n = len(self.kernel_size)
        padding: Any = self.padding
        if self.transposed:
            out_pad = self._output_padding(xq, output_size, self.stride, self.padding, self.kernel_size, n,
                                           self.dilation)
        else:
            out_pad = (0,) * n
            if self.padding_mode != "zeros":
                xq = F.pad(xq, self._reversed_padding_repeated_twice, mode=self.padding_mode)
                padding = (0,) * n
        if self.stash_codec is not None:
            from hwsim.quant.stash import stashed_convolution

            out = stashed_convolution(xq, w, bias, self.stride, padding, self.dilation, self.transposed, out_pad,
                                      self.groups, self.stash_codec)
        elif self.transposed:
            fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[n - 1]
            out = fn(xq, w, bias, self.stride, padding, out_pad, self.groups, self.dilation)
        else:
            fn = (F.conv1d, F.conv2d, F.conv3d)[n - 1]
            out = fn(xq, w, bias, self.stride, padding, self.dilation, self.groups)
        return self._finish(out, x_raw, self.bias if split_bias else None)


class QConv1d(_QConvNd, nn.Conv1d):
    pass


class QConv3d(_QConvNd, nn.Conv3d):
    pass


class QConvTranspose1d(_QConvNd, nn.ConvTranspose1d):
    pass


class QConvTranspose2d(_QConvNd, nn.ConvTranspose2d):
    pass


class QConvTranspose3d(_QConvNd, nn.ConvTranspose3d):
    pass


QLAYERS = (QConv2d, QLinear, QConv1d, QConv3d, QConvTranspose1d, QConvTranspose2d, QConvTranspose3d)
# the float layer types schemes take over -> their quantized counterpart
SWAPS: dict[type[nn.Module], type[nn.Module]] = {
    nn.Linear: QLinear, nn.modules.linear.NonDynamicallyQuantizableLinear: QLinear,
    nn.Conv1d: QConv1d, nn.Conv2d: QConv2d, nn.Conv3d: QConv3d,
    nn.ConvTranspose1d: QConvTranspose1d, nn.ConvTranspose2d: QConvTranspose2d, nn.ConvTranspose3d: QConvTranspose3d,
}
WEIGHT_LAYER_TYPES = (nn.Linear, nn.modules.conv._ConvNd)
Plan = Callable[[str, nn.Module, int, int], "LayerPlan | None"]


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every Linear, Conv1d/2d/3d and ConvTranspose layer (or subclass), in the
    order the forward pass calls them (traced with torch.fx; registration order where the model
    cannot be traced, and for layers the forward never calls)."""
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, WEIGHT_LAYER_TYPES)]
    order = forward_order(model)
    if not order or len(layers) < 2:
        return layers
    rank: dict[str, int] = {}
    for i, target in enumerate(order):
        rank.setdefault(target, i)

    def position(name: str) -> int:
        # a layer inside a leaf module (attention projections) takes its parent's place
        while name:
            if name in rank:
                return rank[name]
            name = name.rpartition(".")[0]
        return len(order)

    return [lay for _, lay in sorted(enumerate(layers), key=lambda il: (position(il[1][0]), il[0]))]


class _OrderTracer(torch.fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        from hwsim.quant.attention import LinearMultiheadAttention

        if isinstance(m, (*WEIGHT_LAYER_TYPES, nn.MultiheadAttention, LinearMultiheadAttention)):
            return True
        return super().is_leaf_module(m, qualname)


def forward_order(model: nn.Module) -> list[str] | None:
    """Module names in the order the forward pass calls them (torch.fx), or None if untraceable."""
    if isinstance(model, torch.fx.GraphModule):
        graph = model.graph
    else:
        try:
            graph = _OrderTracer().trace(model)
        except Exception:  # noqa: BLE001 - data-dependent control flow etc.: fall back to registration
            return None
    return [str(n.target) for n in graph.nodes if n.op == "call_module"]


def set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put ``new`` at the dotted path ``name`` (a non-empty path) of ``model``."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)




def _to_q(m: nn.Module) -> nn.Module:
    if isinstance(m, QLAYERS):
        return m
    return SWAPS[type(m)].from_float(m)


def _cannot_apply(m: nn.Module, cfg: LayerPlan) -> str | None:
    """Why ``cfg`` cannot run on layer ``m`` (the layer then stays float), or None."""
    if type(m) not in SWAPS and not isinstance(m, QLAYERS):
        return f"{type(m).__name__} is a subclass of a weight layer with its own forward; schemes swap only " \
               "the torch.nn layer types"
    if isinstance(cfg.output_scale, XNORScale) and isinstance(m, nn.modules.conv._ConvNd):
        if m.transposed:
            return "XNOR-Net's input scale K has no transposed-convolution form"
        if isinstance(m.padding, str):
            return f"XNOR-Net's input scale K needs numeric padding, not padding={m.padding!r}"
    return None


# weight-bearing modules no scheme swaps (their Parameters stay float whatever the scheme says)
_NOT_WEIGHT_LAYERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.Embedding, nn.EmbeddingBag,
                      *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()))


def _other_weight_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Weight layers no scheme swaps: recurrent layers and cells, ``nn.Bilinear``, and custom layers
    owning a matrix (or larger) Parameter named ``weight*`` (by the torch.nn convention, a layer's
    GEMM operand). Other Parameters (a class token, a position embedding, a layer scale, a relative
    position bias table) are no weight layer a scheme would convert."""
    from hwsim.quant.attention import LinearMultiheadAttention

    skip = (*WEIGHT_LAYER_TYPES, *_NOT_WEIGHT_LAYERS, nn.MultiheadAttention, LinearMultiheadAttention)
    out = []
    for name, m in model.named_modules():
        if isinstance(m, skip) or type(m).__module__.startswith("hwsim.quant"):
            continue
        if isinstance(m, (nn.RNNBase, nn.RNNCellBase, nn.Bilinear)) or any(
                p is not None and p.dim() >= 2 and k.startswith("weight") for k, p in m._parameters.items()):
            out.append((name, m))
    return out


def _is_hf_conv1d(m: nn.Module) -> bool:
    """Hugging Face's ``Conv1D`` (GPT-2): a Linear whose weight is stored transposed, (in, out)."""
    return type(m).__name__ == "Conv1D" and type(m).__module__.startswith("transformers") \
        and isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.dim() == 2


def conv1d_as_linear(model: nn.Module) -> int:
    """Replace every Hugging Face ``Conv1D`` by the ``nn.Linear`` it is (weight transposed, a view of
    the same storage; the same bias Parameter): equal outputs, and a layer schemes swap. Returns the count."""
    names = [n for n, m in model.named_modules() if n and _is_hf_conv1d(m)]
    for n in names:
        m = model.get_submodule(n)
        w, b = m.weight, m.bias
        lin = nn.Linear(w.shape[0], w.shape[1], bias=b is not None, device="meta", dtype=w.dtype)
        lin.weight = nn.Parameter(w.detach().t(), requires_grad=w.requires_grad)
        if b is not None:
            lin.bias = b
        set_submodule(model, n, lin)
    return len(names)


def stays_float(model: nn.Module) -> dict[str, str]:
    """layer name -> why the scheme left it float (set by :func:`convert_layers`)."""
    return {n: m.hwsim_stays_float for n, m in model.named_modules() if getattr(m, "hwsim_stays_float", None)}


def swap_attention(model: nn.Module) -> dict[str, nn.MultiheadAttention]:
    """Replace every ``nn.MultiheadAttention`` by its linear-layer equivalent; returns the originals."""
    from hwsim.quant.attention import LinearMultiheadAttention

    old = {n: m for n, m in model.named_modules() if n and isinstance(m, nn.MultiheadAttention)}
    for n, m in old.items():
        set_submodule(model, n, LinearMultiheadAttention(m))
    return old


# Which precision field each slot's object produces: a quantizer (or codec) carries its own
# ``fmt``, so a layer's declaration is taken from it and cannot drift from it.
_SLOT_FIELD = {"weight_quantizer": "weight", "input_quantizer": "input", "stash_codec": "stash"}


def _precision(old: LayerPrecision, fields: dict[str, Format | str], cfg: LayerPlan | None = None,
               where: str = "") -> LayerPrecision:
    kw = {k: (v if k == "note" or v is None else Format.parse(v, where=f"precision.{k}")) for k, v in fields.items()}
    for slot, fld in _SLOT_FIELD.items():
        obj = getattr(cfg, slot, UNSET) if cfg is not None else UNSET
        fmt = getattr(obj, "fmt", None) if obj is not UNSET and obj is not None else None
        if not isinstance(fmt, Format):
            continue
        if fld in kw and kw[fld] != fmt:
            raise ValueError(f"{where}: precision.{fld} is declared {kw[fld]} but its {slot} produces {fmt}")
        kw[fld] = fmt
    return dataclasses.replace(old, **kw)


def convert_layers(model: nn.Module, plan: Plan, quantizes: bool = True) -> nn.Module:
    """Apply ``plan`` to every weight layer (see the module docstring); returns the (possibly new) model.

    Every ``nn.MultiheadAttention`` first becomes :class:`hwsim.quant.attention.LinearMultiheadAttention`
    (equal outputs; its projections are layers every scheme, and every later scheme composed
    with it, sees by the same names). A layer the plan cannot apply to stays float, with the
    reason in its ``hwsim_stays_float`` (read by :func:`stays_float`, the trace and the CLI), and so
    does every weight layer of a type no scheme swaps (recurrent layers, ``nn.Bilinear``), unless the
    scheme ``quantizes`` nothing (fp32). Hugging Face ``Conv1D`` layers become ``nn.Linear`` first.
    """
    swap_attention(model)
    conv1d_as_linear(model)
    layers = weight_layers(model)
    n = len(layers)
    for depth, (name, m) in enumerate(layers):
        try:
            cfg = plan(name, m, depth, n)
            why = _cannot_apply(m, cfg) if cfg is not None else None
        except (TypeError, ValueError, NotImplementedError) as e:    # the scheme's own limits
            cfg, why = None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        if why is not None:
            cfg = None
            m.hwsim_stays_float = why
        if cfg is None:
            if not hasattr(m, "hwsim_precision"):
                m.hwsim_precision = FULL_PRECISION
            continue
        q = _to_q(m)
        for slot in SLOTS:
            value = getattr(cfg, slot)
            if value is not UNSET:
                setattr(q, slot, value)
        q.hwsim_precision = _precision(getattr(q, "hwsim_precision", FULL_PRECISION), cfg.precision, cfg, name)
        if q is not m:
            if name == "":
                model = q
            else:
                set_submodule(model, name, q)
    if quantizes:
        for _name, m in _other_weight_modules(model):
            m.hwsim_stays_float = f"{type(m).__name__} is not a layer type schemes swap (Linear, Conv1d/2d/3d, " \
                                  "ConvTranspose1d/2d/3d, MultiheadAttention)"
    return model


def changed_modules(model: nn.Module) -> list[str]:
    """Names of the modules a scheme changed: a weight layer declaring other than full precision
    or holding a quantizer/codec, a batch-norm declaring a reduced stash, a pruning mask, or a
    module of hwsim's own (unless its ``hwsim_changed()`` says it behaves as the original).
    Empty: the scheme leaves this model as fp32 would train it."""
    out = []
    full = dataclasses.replace(FULL_PRECISION, note="")
    for name, m in model.named_modules():
        p = getattr(m, "hwsim_precision", None)
        npr = getattr(m, "hwsim_norm_precision", None)
        own = type(m).__module__.startswith(("hwsim.quant.", "hwsim.schemes.")) and not isinstance(m, QLAYERS)
        if (isinstance(p, LayerPrecision) and dataclasses.replace(p, note="") != full) \
                or any(getattr(m, slot, None) is not None for slot in SLOTS) \
                or (npr is not None and not (npr.stash.is_full and npr.grad.is_full)) \
                or "hwsim_prune_mask" in dict(m.named_buffers(recurse=False)) \
                or (own and getattr(m, "hwsim_changed", lambda: True)()):
            out.append(name or "<root>")
    return out


def replace_modules(model: nn.Module, kind: type[nn.Module], factory: Callable[[nn.Module], nn.Module]) -> int:
    """Replace every submodule that is a ``kind`` (subclasses too) by ``factory(old)``; returns the count.

    Only registered modules can be replaced: an activation called functionally (``F.relu``) stays.
    """
    names = [n for n, m in model.named_modules() if n and isinstance(m, kind)]
    for n in names:
        set_submodule(model, n, factory(model.get_submodule(n)))
    return len(names)


def quantized_layers(model: nn.Module, quantizer_type: type[nn.Module] | tuple[type, ...]):
    """QConv2d/QLinear whose ``weight_quantizer`` is of ``quantizer_type`` (the layers a scheme owns)."""
    return [m for m in model.modules()
            if isinstance(m, QLAYERS) and isinstance(m.weight_quantizer, quantizer_type)]


@torch.no_grad()
def clip_weights_(layers, clip: float) -> None:
    """Clip real-valued (latent) weights to ``[-clip, clip]`` in place (BinaryConnect/BNN update rule).

    A layer whose quantizer has a ``scale`` H is clipped to ``[-clip H, clip H]``.
    """
    for m in layers:
        h = getattr(m.weight_quantizer, "scale", None) or 1.0
        m.weight.clamp_(-clip * h, clip * h)


# ----------------------------------------------------------------------------------------------
# Quantizer modules: thin, stateful wrappers around hwsim.quant.functions
# ----------------------------------------------------------------------------------------------


class Binarize(nn.Module):
    """``sign`` with a straight-through gradient: ``ste="htanh"`` (BNN, g 1_{|x|<=1}) or ``"identity"``
    (BinaryConnect). ``stochastic=True`` draws +1 with probability hard_sigmoid(x) in training; in
    evaluation it gives ``sign(x)``, or ``x`` itself with ``eval_real=True`` (BinaryConnect's
    stochastic runs were tested with the real-valued weights, the paper's "second method")."""

    def __init__(self, ste: str = "htanh", stochastic: bool = False, eval_real: bool = False,
                 scale: float | None = None):
        super().__init__()
        if ste not in ("htanh", "identity"):
            raise ValueError(f"ste must be htanh or identity, got {ste!r}")
        self.ste = ste
        self.stochastic = stochastic
        self.eval_real = eval_real
        # BinaryConnect's binary values are +-H, H the layer's Glorot bound, and hard_sigmoid acts on
        # w / H (the reference code's ``hard_sigmoid(W / H)``): the seed's formulas in units of H.
        self.scale = scale

    fmt = BINARY

    def code_codec(self) -> Any:
        """An exact 1-bit codec for this quantizer's outputs, +-1 or +-H."""
        from hwsim.quant.stash import LevelsCodec

        h = 1.0 if self.scale is None else float(self.scale)
        return LevelsCodec(torch.tensor([-h, h], device="cpu"), BINARY)

    def forward(self, x: Tensor) -> Tensor:
        if self.eval_real and not self.training:
            return x
        h = self.scale
        if h is not None:
            x = x / h
        if self.stochastic and self.training:
            y = qf.binarize_stochastic(x)
        else:
            y = qf.binarize_htanh(x) if self.ste == "htanh" else qf.binarize_identity(x)
        return y * h if h is not None else y

    def extra_repr(self) -> str:
        return f"ste={self.ste}, stochastic={self.stochastic}, eval_real={self.eval_real}, scale={self.scale}"


class Htanh(nn.Hardtanh):
    """``nn.Hardtanh(-1, 1)`` that keeps a 1-bit packed mask for backward instead of its float input.

    BNN's activation (Xu 2019: "we use Htanh(x) as our activation function").
    """

    def __init__(self):
        super().__init__(-1.0, 1.0)

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return qf.htanh(x)
        return F.hardtanh(x)


class BWNWeight(nn.Module):
    """BWN / XNOR-Net weights: ``alpha * sign(W)``, alpha = mean|W| per output channel."""

    fmt = BINARY

    def forward(self, w: Tensor) -> Tensor:
        return qf.bwn_quantize(w)


class XNORScale(nn.Module):
    """XNOR-Net's K: mean over channels of |I|, averaged over each k x k window (beta per position).

    K is treated as a constant in backward (computed from the detached input), so it adds nothing
    to the stash; the input gradient flows through sign(I) by the Htanh STE.
    """

    def forward(self, x: Tensor, layer: nn.Module) -> Tensor:
        x = x.detach()
        if isinstance(layer, nn.Conv2d):
            return qf.xnor_input_scale(x, layer.kernel_size, layer.stride, layer.padding, layer.dilation)
        if isinstance(layer, nn.modules.conv._ConvNd):      # Conv1d / Conv3d: the same K, one rank down/up
            a = x.abs().mean(dim=1, keepdim=True)
            n = len(layer.kernel_size)
            fits = all(s >= k for s, k in zip(a.shape[2:], layer.kernel_size))
            if fits and all(d == 1 for d in layer.dilation) and all(2 * p <= k for p, k in zip(layer.padding,
                                                                                               layer.kernel_size)):
                # averaging as a pool, not a convolution, so the counter sees no extra GEMM
                pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[n - 1]
                return pool(a, layer.kernel_size, layer.stride, layer.padding, count_include_pad=True)
            k = torch.full((1, 1, *layer.kernel_size), 1.0 / math.prod(layer.kernel_size), dtype=x.dtype,
                           device=x.device)
            return (F.conv1d, F.conv2d, F.conv3d)[n - 1](a, k, None, layer.stride, layer.padding, layer.dilation)
        return x.abs().mean(dim=-1, keepdim=True)       # linear: one K per input vector


class TWNWeight(nn.Module):
    """TWN ternary weights ``{-alpha, 0, +alpha}``, Delta = delta_factor * mean|W|."""

    fmt = TERNARY

    def __init__(self, delta_factor: float = 0.7):
        super().__init__()
        self.delta_factor = delta_factor

    def forward(self, w: Tensor) -> Tensor:
        return qf.twn_quantize(w, self.delta_factor)

    def extra_repr(self) -> str:
        return f"delta_factor={self.delta_factor}"


class TTQWeight(nn.Module):
    """TTQ ternary weights ``{-W^n, 0, +W^p}`` with learned scales (nn.Parameters of shape (1,)).

    Scales start at the mean |W| of each side of the threshold (meta-safe: tensor ops only).
    """

    fmt = TERNARY

    def __init__(self, weight: Tensor, threshold: float = 0.05):
        super().__init__()
        self.threshold = threshold
        with torch.no_grad():
            w = weight.detach()
            code = qf.ttq_code(w, threshold)
            pos = (code > 0).to(w.dtype)
            neg = (code < 0).to(w.dtype)
            wp = (w * pos).sum() / pos.sum().clamp_min(1)
            wn = -(w * neg).sum() / neg.sum().clamp_min(1)
        self.wp = nn.Parameter(wp.reshape(1).clone())
        self.wn = nn.Parameter(wn.reshape(1).clone())

    def forward(self, w: Tensor) -> Tensor:
        return qf.ttq_quantize(w, self.wp, self.wn, self.threshold)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}"


class LQQuantizer(nn.Module):
    """LQ-Nets quantizer with a learned basis ``v`` (buffer ``basis``: (C, K) or (1, K)).

    ``channel_dim=0`` for weights (one basis per output channel), ``None`` for activations (one per
    layer). ``encoding="pm1"`` codes in {-1,+1}^K (weights, the seed's B); ``"01"`` codes in {0,1}^K,
    which the LQ-Nets code uses for non-negative (post-ReLU) activations. In training, an activation
    quantizer records ``B B^T`` and ``B x`` of its last batch; :meth:`qem_update` (called from the
    scheme's ``on_step_end``) turns them, or the current weights, into the QEM basis step.
    """

    def __init__(self, bits: int, basis: Tensor, channel_dim: int | None, encoding: str = "pm1",
                 momentum: float = 0.9):
        super().__init__()
        if encoding not in ("pm1", "01"):
            raise ValueError(f"encoding must be pm1 or 01, got {encoding!r}")
        self.bits = bits
        self.fmt = Format("lq", bits)
        self.channel_dim = channel_dim
        self.encoding = encoding
        self.momentum = momentum
        self.register_buffer("basis", basis.detach().clone())
        self.register_buffer("codes", qf.lq_codes(bits, encoding, basis.dtype, basis.device), persistent=False)
        c = basis.shape[0]
        self.register_buffer("_bbt", torch.zeros(c, bits, bits, dtype=basis.dtype, device=basis.device),
                             persistent=False)
        self.register_buffer("_bx", torch.zeros(c, bits, dtype=basis.dtype, device=basis.device), persistent=False)
        self._have_stats = False

    @classmethod
    def for_weight(cls, weight: Tensor, bits: int, momentum: float = 0.9) -> LQQuantizer:
        w = weight.detach().reshape(weight.shape[0], -1)
        return cls(bits, qf.lq_init_basis(bits, w.std(dim=1, keepdim=True)), 0, "pm1", momentum)

    @classmethod
    def for_activation(cls, bits: int, scale: float = 1.0, momentum: float = 0.9, device=None,
                       encoding: str = "01") -> LQQuantizer:
        """One basis per layer. ``"01"``: levels ``0 .. sum(v)``, starting uniform on
        ``[0, 4 * 0.6745 * scale]``; ``"pm1"``: symmetric levels, top level ``2 * 0.6745 * scale``."""
        s = 2.0 * scale if encoding == "01" else scale
        basis = qf.lq_init_basis(bits, torch.full((1, 1), s, device=device))
        return cls(bits, basis, None, encoding, momentum)

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self.channel_dim is None and torch.is_grad_enabled():
            with torch.no_grad():
                bbt, bx = qf.lq_normal_equations(x.detach(), self.basis, self.codes, None)
                self._bbt.copy_(bbt)
                self._bx.copy_(bx)
                self._have_stats = True
        return qf.lq_quantize(x, self.basis, self.codes, self.channel_dim)

    @torch.no_grad()
    def qem_update(self, weight: Tensor | None = None) -> None:
        """One QEM step with moving average: from ``weight`` (weight quantizers) or the last batch."""
        if self.channel_dim is not None:
            if weight is None:
                raise ValueError("a weight quantizer needs the weight for its QEM step")
            self.basis.copy_(qf.lq_qem_step(weight.detach(), self.basis, self.codes, self.channel_dim,
                                            self.momentum))
        elif self._have_stats:
            v_new = qf.lq_solve_basis(self._bbt, self._bx)
            self.basis.mul_(self.momentum).add_((1 - self.momentum) * v_new)
            self._have_stats = False

    def extra_repr(self) -> str:
        return f"bits={self.bits}, encoding={self.encoding}, per_channel={self.channel_dim is not None}"


class UniformWeight(nn.Module):
    """Symmetric per-output-channel k-bit weights (STE)."""

    def __init__(self, bits: int):
        super().__init__()
        self.bits = bits
        self.fmt = Format("int", bits)

    def forward(self, w: Tensor) -> Tensor:
        return qf.uniform_weight(w, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


class UniformActivation(nn.Module):
    """DoReFa k-bit activations on ``[0, clip]`` (STE through round, clip gradient outside)."""

    def __init__(self, bits: int, clip: float = 1.0):
        super().__init__()
        self.bits = bits
        self.clip = clip
        self.fmt = Format("int", bits)

    def forward(self, x: Tensor) -> Tensor:
        return qf.uniform_activation(x, self.bits, self.clip)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, clip={self.clip}"


def optional_codec(name: str, *args: Any, **kwargs: Any) -> Any:
    """``hwsim.quant.stash.<name>(*args, **kwargs)`` if the stash module provides it, else None.

    Schemes use it to hold their stash packed (SignCodec for BNN/XNOR, KBitCodec for kbit); without
    the codec the layer still *declares* its stash format, but the buffer kept is float32.
    """
    import importlib

    try:
        mod = importlib.import_module("hwsim.quant.stash")
    except ModuleNotFoundError as e:
        if e.name != "hwsim.quant.stash":
            raise
        return None
    cls = getattr(mod, name, None)
    return None if cls is None else cls(*args, **kwargs)


class LQStashCodec:
    """Stash codec for an LQ-Nets activation quantizer's output: the J-bit level index, bit-packed.

    The levels are read from the quantizer's current basis at encode time and saved beside the
    codes (2^J floats), so decoding is exact even after the basis moves. Duck-types
    :class:`hwsim.quant.stash.Codec` (``encode -> Packed``, ``decode``).
    """

    exact = True

    def __init__(self, quantizer: LQQuantizer):
        from hwsim.formats import Format

        self.quantizer = quantizer
        self.bits = quantizer.bits
        self.fmt = Format("lq", quantizer.bits)

    def encode(self, x: Tensor):
        from hwsim.quant.pack import pack
        from hwsim.quant.stash import Packed, PackedMeta

        levels, _ = qf.lq_levels(self.quantizer.basis.detach(), self.quantizer.codes)   # (1, L)
        idx = qf.lq_assign(x.detach().reshape(1, -1), levels)
        return Packed((pack(idx, self.bits), levels.reshape(-1).to(x.dtype)), PackedMeta(x.shape, x.dtype))

    def decode(self, p) -> Tensor:
        from hwsim.quant.pack import unpack

        shape = p.meta.shape
        codes = unpack(p.tensors[0], self.bits, shape.numel()).view(shape)
        return p.tensors[1][codes.long()].to(p.meta.dtype)

    def roundtrip(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def __repr__(self) -> str:
        return f"LQStashCodec({self.bits})"
