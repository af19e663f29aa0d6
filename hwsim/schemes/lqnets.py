"""LQ-Nets (Zhang, Yang, Ye, Hua, ECCV 2018; Shanbhag 2020): quantizers with a learned basis.

A K-bit value is ``v^T b`` with ``b`` in {-1,+1}^K (weights; {0,1}^K for the non-negative
activations, as in the LQ-Nets code); values go to the nearest level (thresholds = midpoints of
adjacent levels), gradients pass straight through, and after every optimizer step the basis takes
one QEM step ``v = (B B^T)^-1 B x`` averaged with momentum (per output channel for weights, per
layer for activations, from the layer's last batch). A quantized input is stashed as its J-bit
level index (:class:`hwsim.quant.layers.LQStashCodec`). A product of a K-bit and a J-bit LQ operand
is K*J bit-plane XNOR-popcounts (MAC type ``lq{K}x{J}``; with float inputs ``lq{K}x32``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from hwsim.formats import Format
from hwsim.schemes.base import Scheme, register_scheme


@register_scheme("lqnets")
class LQNets(Scheme):
    """K-bit weights and J-bit (or float32) activations over learned bases."""

    # Fields named weight_bits/act_bits in YAML; held as w_bits/a_bits because Scheme.weight_bits()
    # and act_bits() are methods.
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    family = "lq"
    citation = "LQ-Nets, Zhang, Yang, Ye, Hua, ECCV 2018 (Shanbhag 2020)"
    quantizes = "weights (K bits, basis per output channel) and inputs (J bits, basis per layer); first/last float"
    bits = "W1-4 A1-4 or 32, stash = A"
    stash = "layer inputs as J-bit codes (float32 with A32)"
    gradient = "STE (identity); basis by QEM step with moving average after each optimizer step"

    w_bits: int = Field(2, ge=1, le=4, alias="weight_bits")
    a_bits: int = Field(32, alias="act_bits")
    momentum: float = Field(0.9, ge=0, lt=1)
    keep_first_last: bool = True
    # Activation codes: {0,1}^J (LQ-Nets code, for non-negative inputs) or the seed's {-1,+1}^J.
    act_codes: Literal["01", "pm1"] = "01"

    @field_validator("a_bits")
    @classmethod
    def _act(cls, v: int) -> int:
        if not (1 <= v <= 4 or v == 32):
            raise ValueError("act_bits must be 1, 2, 3, 4 or 32 (no activation quantization)")
        return v

    def convert(self, model: Any) -> Any:
        from hwsim.quant.layers import LayerPlan, LQQuantizer, LQStashCodec, convert_layers

        quant_acts = self.a_bits != 32

        def plan(name, module, depth, n):
            if self.keep_first_last and depth in (0, n - 1):
                return None
            wq = LQQuantizer.for_weight(module.weight, self.w_bits, self.momentum)
            if not quant_acts or depth == 0:      # the first layer's input (the image) stays float
                return LayerPlan(weight_quantizer=wq, precision={"weight": Format("lq", self.w_bits),
                                                                 "note": self.name})
            aq = LQQuantizer.for_activation(self.a_bits, momentum=self.momentum, device=module.weight.device,
                                            encoding=self.act_codes)
            j = Format("lq", self.a_bits)
            return LayerPlan(weight_quantizer=wq, input_quantizer=aq, stash_codec=LQStashCodec(aq),
                             precision={"weight": Format("lq", self.w_bits), "input": j, "stash": j,
                                        "note": self.name})

        return convert_layers(model, plan)

    def on_step_end(self, model: Any, step: int) -> None:
        from hwsim.quant.layers import QLAYERS, LQQuantizer

        for m in model.modules():
            if isinstance(m, QLAYERS):
                if isinstance(m.weight_quantizer, LQQuantizer):
                    m.weight_quantizer.qem_update(m.weight)
                if isinstance(m.input_quantizer, LQQuantizer):
                    m.input_quantizer.qem_update()

    def weight_bits(self) -> int:
        return self.w_bits

    def act_bits(self) -> int:
        return self.a_bits
