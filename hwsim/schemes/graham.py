"""``graham``: low-precision batch-normalized activations (Graham 2017).

Every ``nn.BatchNorm1d/2d`` (optionally all but the first, ``skip_first_bn``, as in Graham's
ImageNet runs, Table 4; or all but the first ``float_bns`` in module order, as his retrofitted
DenseNets' "3 out of 4 dense blocks" = all but the first 14, Tables 5-6) becomes :class:`hwsim.quant.graham.GrahamBatchNorm`:
``BN(x) = a * Q(N(x)) + b`` with Q one row of Table 1. For backward the network keeps only:

* the BN: the b-bit packed code of Q(N(x)) and 1/sqrt(Var(x) + eps) per channel, used in
  eq. (2) with Q(N(x)) in place of N(x);
* the ReLU after it: nothing. ``nn.ReLU`` modules become :class:`hwsim.quant.stash.StashReLU`,
  which recomputes the Affine-ReLU mask ``a q + b > 0`` from the BN's packed code in backward
  (Section 1.4, "recalculating the Affine-ReLU transformation as needed");
* the weight layer after it: a :class:`hwsim.quant.stash.CodebookCodec` stores a reference to
  the same packed code with the per-channel table ``relu(a level + b)`` (2^b entries per
  channel), so the layer's input costs no new bytes either.

A ReLU called functionally (``F.relu``) cannot be replaced and keeps its float output; a layer
whose input is not exactly coded (e.g. after average pooling) keeps a float copy (the codec's
fallback), and its declaration says so: the layers fed by a quantized BN are found by tracing
the model with ``torch.fx`` (through ReLU and max-pooling, which keep the values in the
per-channel codebook).

Declarations: such a layer has ``input`` and ``stash`` ``log{b}`` (L2..L5: the forward becomes
shift-and-add, Section 1.5.1: ReLU(BN(x)) w = (aw) L(N(x)) + bw), ``int{b}`` (U4, U5, U8) or
``codebook4`` (O4); each quantized BN carries ``hwsim_norm_precision = NormPrecision(stash=...)``.
With ``log_gradients`` the gradient reaching every weight layer's output is rounded to
{+-2^(k/2): k = -127..0} (Section 2.5) and the layers declare ``grad = log8``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from hwsim.formats import Format, NormPrecision
from hwsim.schemes.base import Scheme, register_scheme

if TYPE_CHECKING:
    import torch
    from torch import nn

LOG8 = Format("log", 8)


def _set(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


@register_scheme("graham")
class Graham(Scheme):
    family = "graham"
    citation = "Graham 2017, Low-precision batch-normalized activations"
    quantizes = "batch-normalized activations Q(N(x)) (Table 1), inside every BN but optionally the first"
    bits = "W32 A{b} (log/uniform/other) stash{b}"
    stash = "Q(N(x)) packed at b bits + 1/sqrt(var+eps) per channel; ReLU and next layer share it"
    gradient = "eq. (2) with Q(N(x)) for N(x) (straight through Q); optional 8-bit log gradients"

    quantizer: Literal["L2", "L3", "L4", "L5", "U4", "U5", "U8", "O4"] = "L4"
    skip_first_bn: bool = True
    float_bns: int | None = Field(None, ge=0)   # leading BNs kept float; None: 1 with skip_first_bn, else 0
    log_gradients: bool = False

    def n_float(self) -> int:
        return self.float_bns if self.float_bns is not None else int(self.skip_first_bn)

    def fmt(self) -> Format:
        from hwsim.quant.graham import QUANTIZERS

        return QUANTIZERS[self.quantizer].fmt

    def convert(self, model: Any) -> Any:
        from hwsim.quant.graham import BATCH_NORMS, GrahamBatchNorm, layers_fed_by_bn
        from hwsim.quant.layers import LayerPlan, convert_layers
        from hwsim.quant.stash import CodebookCodec, replace_relus

        fmt = self.fmt()
        feeds = layers_fed_by_bn(model)
        bns = [(n, m) for n, m in model.named_modules()
               if isinstance(m, BATCH_NORMS) and not isinstance(m, GrahamBatchNorm)]
        quantized = set()
        for i, (name, bn) in enumerate(bns):
            if i < self.n_float():
                bn.hwsim_norm_precision = NormPrecision()
                continue
            g = GrahamBatchNorm.from_bn(bn, self.quantizer)
            g.hwsim_norm_precision = NormPrecision(stash=fmt, extra={"quantizer": self.quantizer})
            _set(model, name, g)
            quantized.add(name)
        replace_relus(model, pack_mask=False)

        def plan(name: str, module: nn.Module, depth: int, n: int) -> LayerPlan | None:
            if feeds is None:            # untraceable: assume a cromulent net (all but the first layer)
                fed = depth > 0
            else:
                fed = feeds.get(name) in quantized
            prec: dict[str, Format | str] = {}
            lp = LayerPlan(precision=prec)
            if fed:
                lp.stash_codec = CodebookCodec(fmt.bits, fmt)
                prec.update(input=fmt, stash=fmt)
            if self.log_gradients:
                prec["grad"] = LOG8
            if not prec:
                return None
            prec["note"] = f"graham {self.quantizer}"
            return lp

        model = convert_layers(model, plan)
        if self.log_gradients:
            from hwsim.quant.layers import weight_layers

            for _, m in weight_layers(model):
                m.register_forward_hook(_log_grad_hook)
        return model

    def act_bits(self) -> int:
        return self.fmt().bits


def _log_grad_hook(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
    from hwsim.quant.graham import quantize_grad_log8

    return quantize_grad_log8(output)
