"""``mcdonnell``: stochastic binary quantization of the activations stored for backward.

McDonnell, Wang & van Schaik, "Reduced-memory training and deployment of deep residual
networks by stochastic binary quantization" (McDonnell 2017):

* "Forward propagation remains unchanged"; "we keep ReLU activations, A, for forward pass";
  "we convert to a single bit, A_q, only for use in the backward pass":
  ``A_q = I(A + noise > 1)``. Here noise ~ Uniform[0, 1), so P(A_q = 1) = clamp(A, 0, 1)
  (see :class:`hwsim.quant.stash.StochasticBinaryCodec`); backward uses A_q in {0, 1}.
* Every weight layer's saved input is held packed at 1 bit; the weight gradient is computed
  from it (inexact, in the spirit of feedback alignment); the input gradient is exact.
* Binary weights ("model compression"): "use the sign of weights for FP and BP, use
  full-precision weights for updates", "no need to normalise": sign(W) times a *fixed*
  per-layer scale, here He et al.'s init std sqrt(2 / fan_in).

Model compression alone (the slides' "Model Compression for CIFAR" tables: sign weights, standard
training) is ``{binary_weights: true, binary_stash: false, relu_mask_1bit: false}``: fixed-scale sign
weights, float stashes.

Hyper-parameters beyond the brief: ``binarize_first_layer`` (default False: the first layer's
input is the data, not a hidden-unit activation, so it stays fp32), ``rescale`` (one fp32 scale
per stash keeping the tensor's sum) and ``relu_mask_1bit`` (ReLU modules keep a 1-bit mask
instead of their float output; exact, a pure memory saving).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Literal

from pydantic import field_validator

from hwsim.formats import BINARY
from hwsim.schemes.base import BN_STASH_LOSSY, Scheme, register_scheme

if TYPE_CHECKING:
    from torch import nn


@register_scheme("mcdonnell")
class McDonnell(Scheme):
    family = "stochastic"
    citation = "McDonnell, Wang & van Schaik 2017, stochastic binary quantization"
    quantizes = "nothing in forward (optionally weights: fixed-scale sign)"
    bits = "W32 (W1 with binary_weights) A32 stash1"
    stash = "weight-layer inputs as A_q = I(A + noise > 1), 1 bit packed"
    gradient = "weight gradient from the 1-bit stash; input gradient exact; sign weights: identity STE"

    binary_weights: bool = False
    binary_weights_at_test: bool = False
    binary_stash: bool = True          # False: model compression alone, stashes kept at fp32
    stochastic: bool = True
    rescale: bool = False
    binarize_first_layer: bool = False
    relu_mask_1bit: bool = True
    # The batch-norm input kept for backward: exact (float, McDonnell's method leaves batch-norm
    # alone), or B-bit codes (changes the gradient).
    bn_stash: Literal["float", "int8", "int4", "int2", "recompute"] = "float"

    @field_validator("bn_stash")
    @classmethod
    def _bn_stash(cls, v: str) -> str:
        if v == "recompute":
            # backward would rebuild the batch-norm input from A_q, not from A
            raise ValueError(f"recompute {BN_STASH_LOSSY}mcdonnell keeps A_q = I(A + noise > 1), not A")
        return v

    def convert(self, model: Any) -> Any:
        from hwsim.quant.fixed_scale import FixedScaleSign, fixed_scale
        from hwsim.quant.layers import LayerPlan, convert_layers
        from hwsim.quant.stash import StochasticBinaryCodec, replace_relus

        def plan(name: str, module: nn.Module, depth: int, n: int) -> LayerPlan:
            lp = LayerPlan(precision={"note": self.name})
            if self.binary_stash and (depth > 0 or self.binarize_first_layer):
                lp.stash_codec = StochasticBinaryCodec(self.stochastic, self.rescale)
                lp.precision["stash"] = BINARY
            if self.binary_weights:
                lp.weight_quantizer = FixedScaleSign(fixed_scale(module.weight))
                lp.precision["weight"] = BINARY
            if self.binary_weights or self.binary_weights_at_test:
                lp.precision["weight_infer"] = BINARY
                lp.precision["weight_store"] = BINARY
            return lp

        from hwsim.quant.saved_layers import bn_stash_codec, compress_saved

        model = convert_layers(model, plan)
        if self.relu_mask_1bit:
            replace_relus(model, pack_mask=True)
            # with the ReLU keeping only its mask, a max-pool after it would keep a float copy
            compress_saved(model, relu=False, pools=True)
        return compress_saved(model, bn_codec=bn_stash_codec(self.bn_stash), relu=False, pools=False)

    def for_inference(self, model: Any) -> Any:
        """With ``binary_weights_at_test``: a copy whose weights are sign(W) times the fixed scale."""
        if not self.binary_weights_at_test:
            return model
        import torch

        from hwsim.quant import functions as qf
        from hwsim.quant.fixed_scale import FixedScaleSign, fixed_scale
        from hwsim.quant.layers import weight_layers

        out = copy.deepcopy(model)
        with torch.no_grad():
            for _, m in weight_layers(out):
                m.weight.copy_(qf.sign(m.weight) * fixed_scale(m.weight))
                if isinstance(getattr(m, "weight_quantizer", None), FixedScaleSign):
                    m.weight_quantizer = None      # already binarized
        return out

    def weight_bits(self) -> int:
        return 1 if (self.binary_weights or self.binary_weights_at_test) else 32
