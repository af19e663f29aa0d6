"""Ternary-weight schemes (Shanbhag 2020): TWN (Li, Zhang, Liu 2016) and TTQ (Zhu, Han, Mao, Dally 2017).

Both quantize weights only; layer inputs, the stash and all gradients stay float32. A ternary
weight times a float input is an add, a subtract or a skip (MAC type ``ternary``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from hwsim.formats import TERNARY
from hwsim.schemes.base import Scheme, register_scheme


@register_scheme("twn")
class TWN(Scheme):
    """w_t in {-alpha, 0, +alpha}: Delta = delta_factor * mean|W|, alpha = mean |W_i| over |W_i| > Delta."""

    family = "ternary"
    citation = "Ternary Weight Networks, Li, Zhang, Liu, arXiv 2016 (Shanbhag 2020)"
    quantizes = "weights: {-alpha, 0, +alpha} per layer, Delta = 0.7 mean|W|"
    bits = "W2 A32 stash32"
    stash = "layer inputs at float32"
    gradient = "STE (identity) to the full-precision weights"

    delta_factor: float = Field(0.7, gt=0)
    keep_first_last: bool = False

    def convert(self, model: Any) -> Any:
        from hwsim.quant.layers import LayerPlan, TWNWeight, convert_layers

        def plan(name, module, depth, n):
            if self.keep_first_last and depth in (0, n - 1):
                return None
            return LayerPlan(weight_quantizer=TWNWeight(self.delta_factor),
                             precision={"weight": TERNARY, "note": self.name})

        return convert_layers(model, plan)

    def weight_bits(self) -> int:
        return 2


@register_scheme("ttq")
class TTQ(Scheme):
    """w_t in {-W^n, 0, +W^p} with learned per-layer scales; threshold t * max|W~| on normalised weights."""

    family = "ternary"
    citation = "Trained Ternary Quantization, Zhu, Han, Mao, Dally, ICLR 2017 (Shanbhag 2020)"
    quantizes = "weights: {-W^n, 0, +W^p} per layer (first conv and last FC kept float, as in the paper)"
    bits = "W2 A32 stash32"
    stash = "layer inputs at float32; the 2-bit ternary code of the weights for the scale gradients"
    gradient = "dL/dW^p = sum over I_p, dL/dW^n = -sum over I_n; latent grads W^p g / g / W^n g"

    threshold: float = Field(0.05, gt=0, lt=1)
    keep_first_last: bool = True

    def convert(self, model: Any) -> Any:
        from hwsim.quant.layers import LayerPlan, TTQWeight, convert_layers

        def plan(name, module, depth, n):
            if self.keep_first_last and depth in (0, n - 1):
                return None
            # W^p, W^n are nn.Parameters of the quantizer: build the optimizer after convert().
            return LayerPlan(weight_quantizer=TTQWeight(module.weight, self.threshold),
                             precision={"weight": TERNARY, "note": self.name})

        return convert_layers(model, plan)

    def weight_bits(self) -> int:
        return 2
