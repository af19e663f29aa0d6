"""BitNet b1.58 (Ma et al. 2024): ternary absmean weights, 8-bit absmax per-token activations.

Every weight layer but the output head (kept in high precision, as in the paper) multiplies
ternary weights by int8 activations: MAC type ``ternary`` (add, subtract or skip), so counting,
energy and the accelerator price its matrix multiplies as additions. A quantized layer keeps its
input for backward as the a_bits codes and one fp32 scale per token (exact), and recomputes its
ternary weight from the Parameter. Quantizer math: :mod:`hwsim.quant.bitnet`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from hwsim.formats import FP32, TERNARY, Format
from hwsim.schemes.base import Scheme, register_scheme


@register_scheme("bitnet")
class BitNet(Scheme):
    """W1.58 A8: W~ = RoundClip(W / mean|W|, -1, 1); x~ = Clip(round(x 128 / max|x|)) per token."""

    family = "ternary"
    citation = "Ma et al. 2024, The Era of 1-bit LLMs: All Large Language Models are in 1.58 Bits (BitNet b1.58)"
    quantizes = "weights ternary by absmean; layer inputs 8-bit absmax per token"
    bits = "W1.58 A8 stash8"
    stash = "layer inputs as their 8-bit codes and a scale per token"
    gradient = "straight-through estimator for both quantizers"

    a_bits: int = Field(8, ge=2, le=16)
    keep_first: bool = False
    keep_last: bool = True

    def convert(self, model: Any) -> Any:
        from hwsim.quant.bitnet import AbsmaxActivation, AbsmeanTernaryWeight, TokenCodec
        from hwsim.quant.layers import LayerPlan, convert_layers

        # the codes are kept packed up to 8 bits; wider activations are kept in float
        codec = TokenCodec(self.a_bits) if self.a_bits <= 8 else None

        def plan(name, module, depth, n):
            if (self.keep_first and depth == 0) or (self.keep_last and depth == n - 1):
                return None
            return LayerPlan(weight_quantizer=AbsmeanTernaryWeight(),
                             input_quantizer=AbsmaxActivation(self.a_bits), stash_codec=codec,
                             precision={"weight": TERNARY, "input": Format("int", self.a_bits),
                                        "stash": codec.fmt if codec else FP32, "note": self.name})

        return convert_layers(model, plan)

    def weight_bits(self) -> int:
        return 2

    def act_bits(self) -> int:
        return self.a_bits
