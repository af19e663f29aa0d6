"""``fp32``: the full-precision baseline every other scheme is compared with."""

from __future__ import annotations

from typing import Any

from hwsim.schemes.base import Scheme, register_scheme


@register_scheme("fp32")
class FP32(Scheme):
    """No quantization: weights, inputs, stash and gradients at float32."""

    family = "fp32"
    citation = "baseline (Shanbhag 2020 'Full-precision' rows)"
    quantizes = "nothing"
    bits = "W32 A32 stash32"
    stash = "layer inputs at float32"
    gradient = "exact"

    def convert(self, model: Any) -> Any:
        from hwsim.quant.layers import convert_layers

        # Leaves every layer as it is; plain layers get hwsim_precision = FULL_PRECISION.
        return convert_layers(model, lambda name, module, depth, n: None, quantizes=False)
