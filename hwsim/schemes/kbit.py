"""``kbit``: uniform k-bit weights and activations (DoReFa-Net style; Zhou et al. 2016, in Shanbhag 2020's table).

Weights: symmetric per output channel, ``s = max|W_c| / (2^(k-1) - 1)``, ``w_q = s round(W / s)``.
Activations: clipped to ``[0, act_clip]`` and rounded to ``2^k - 1`` steps. Straight-through
gradients. ``grad_bits`` below 32 quantizes each layer's output gradient as DoReFa-Net does (k-bit,
stochastic rounding, scaled by its per-example maximum; Zhou et al. 2016, eq. 12), so both backward
GEMMs read G-bit gradients and are priced as integer GEMMs (int G x W, int G x stash). The first and last layers stay float by default (DoReFa's convention). The stash is
the quantized input, held at ``stash_bits`` (default: ``act_bits``) by a LevelsCodec; the
activation quantizer and the ReLUs keep 1-bit masks, pools keep no float copy, quantized
weights are recomputed in backward, and ``bn_stash`` picks how batch-norm inputs are kept.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from hwsim.errors import UserError
from hwsim.formats import FP32, Format
from hwsim.schemes.base import BN_STASH_LOSSY, Scheme, register_scheme


@register_scheme("kbit")
class KBit(Scheme):
    """Uniform integer weights (int{k}) and activations (int{j}) with a straight-through estimator."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    family = "int"
    citation = "DoReFa-Net, Zhou et al. 2016 (cited in Shanbhag 2020's LQ-Nets table)"
    quantizes = "weights (symmetric per channel, k bits), inputs (clip [0, act_clip], j bits); first/last float"
    bits = "Wk Aj stash=j (G grad_bits)"
    stash = "layer inputs as j-bit integers (or stash_bits)"
    gradient = "STE through round; zero gradient outside [0, act_clip]; output gradients at grad_bits (DoReFa)"

    w_bits: int = Field(8, ge=2, le=16, alias="weight_bits")
    a_bits: int = Field(8, ge=2, le=32, alias="act_bits")
    stash_bits: int | None = Field(None, ge=1, le=32)
    # DoReFa's G: bits of the output gradient both backward GEMMs read (32: float gradients)
    grad_bits: int = Field(32, ge=2, le=32)
    act_clip: float = Field(1.0, gt=0)
    keep_first_last: bool = True
    # The batch-norm input kept for backward: exact (float), or B-bit codes (changes the gradient).
    bn_stash: Literal["float", "int8", "int4", "int2", "recompute"] = "float"

    @field_validator("stash_bits")
    @classmethod
    def _stash(cls, v: int | None, info: ValidationInfo) -> int | None:
        a = info.data.get("a_bits")
        if v is not None and a is not None and v > a:
            raise ValueError(f"stash_bits ({v}) cannot exceed act_bits ({a})")
        return v

    @field_validator("bn_stash")
    @classmethod
    def _bn_stash(cls, v: str, info: ValidationInfo) -> str:
        s, a = info.data.get("stash_bits"), info.data.get("a_bits")
        if v == "recompute" and s is not None and a is not None and s < a:
            raise ValueError(f"recompute {BN_STASH_LOSSY}stash_bits {s} < act_bits {a} rounds the inputs it keeps")
        return v

    def _stash_bits(self) -> int:
        return self.a_bits if self.stash_bits is None else self.stash_bits

    def convert(self, model: Any) -> Any:
        import torch

        from hwsim.quant.layers import (
            LayerPlan,
            UniformActivation,
            UniformWeight,
            convert_layers,
            optional_codec,
        )

        s = self._stash_bits()
        codec = None
        if self.a_bits < 32 and s <= 8:
            # The quantized input lies on the grid k * act_clip / (2^j - 1): a fixed table of
            # 2^s levels on [0, act_clip] holds it exactly when s == j.
            codec = optional_codec("LevelsCodec", torch.linspace(0, self.act_clip, 2**s), Format("int", s))
        if s < self.a_bits and codec is None:
            # The declaration would claim a stash the buffers do not hold.
            raise UserError("scheme.stash_bits", "a stash narrower than act_bits needs at most 8 bits "
                            "and hwsim.quant.stash.LevelsCodec")

        def plan(name, module, depth, n):
            if self.keep_first_last and depth in (0, n - 1):
                return None
            wq = UniformWeight(self.w_bits)
            prec: dict[str, Format | str] = {"weight": Format("int", self.w_bits), "note": self.name}
            if self.grad_bits < 32:
                prec["grad"] = Format("int", self.grad_bits)
            if self.a_bits == 32 or depth == 0:   # the first layer's input (the image) stays float
                return LayerPlan(weight_quantizer=wq, precision=prec | {"input": FP32, "stash": FP32})
            prec |= {"input": Format("int", self.a_bits), "stash": Format("int", s)}
            return LayerPlan(weight_quantizer=wq, input_quantizer=UniformActivation(self.a_bits, self.act_clip),
                             stash_codec=codec, precision=prec)

        from hwsim.quant.saved_layers import bn_stash_codec, compress_saved

        # ReLU masks at 1 bit and pools without float copies: exact, only memory changes
        model = compress_saved(convert_layers(model, plan), bn_codec=bn_stash_codec(self.bn_stash))
        if self.grad_bits < 32:
            from hwsim.quant.functions import DoReFaGradQuantizer
            from hwsim.quant.microscaling import quantize_output_gradient

            for m in model.modules():
                p = getattr(m, "hwsim_precision", None)
                if p is None or p.note != self.name or p.grad.is_full:
                    continue
                m.grad_quantizer = DoReFaGradQuantizer(self.grad_bits)
                if not getattr(m, "_hwsim_grad_hook", False):
                    m.register_forward_hook(quantize_output_gradient)
                    m._hwsim_grad_hook = True
        return model

    def weight_bits(self) -> int:
        return self.w_bits

    def act_bits(self) -> int:
        return self.a_bits
