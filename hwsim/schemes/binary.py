"""Binary schemes (Shanbhag 2020; Xu 2019): BinaryConnect (det./stoch.), BNN, BWN and XNOR-Net.

=================  =====================  ==================  ===================  ======================
scheme             weights (fwd, bwd)     layer inputs        stash (saved input)  gradient
=================  =====================  ==================  ===================  ======================
binaryconnect      sign(W), all layers    float32             float32              identity STE, clip W
binaryconnect_stoch  +1 w.p. hsig(W)      float32             float32              identity STE, clip W
bnn                sign(W), all layers    sign(x) but layer 0 1 bit (layer 0: 32)  Htanh STE, clip W
bwn                mean|W_c| sign(W)      float32             float32              chain rule + Htanh STE
xnor               mean|W_c| sign(W)      sign(x) * K, not 0  1 bit (layer 0: 32)  Htanh STE
=================  =====================  ==================  ===================  ======================

BNN and XNOR-Net binarize activations with sign, so a ReLU in front of a binarized layer would make
every input +1 (sign(0) = +1); as the BNN seed says ("we use Htanh(x) as our activation
function"), both replace every ``nn.ReLU`` module by :class:`hwsim.quant.layers.Htanh` (an
``nn.Hardtanh`` that stashes a 1-bit mask; a ReLU called functionally cannot be replaced, and
hwsim's built-in models register every ReLU as a module).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from hwsim.formats import BINARY, FP32
from hwsim.schemes.base import Scheme, register_scheme


@register_scheme("binaryconnect")
class BinaryConnect(Scheme):
    """Courbariaux et al. 2015: binary weights in forward and backward-data, full-precision updates."""

    family = "binary"
    citation = "BinaryConnect, Courbariaux, Bengio, David, NIPS 2015 (Shanbhag 2020)"
    quantizes = "weights of every layer: w_b = sign(w) (stochastic: +1 w.p. hard_sigmoid(w))"
    bits = "W1 A32 stash32"
    stash = "layer inputs at float32 (the binary weights are recomputed from the float32 master)"
    gradient = "dC/dw_b applied to the real-valued w (identity STE); w clipped to [-clip, clip] after each step"

    stochastic: bool = False
    clip: float = Field(1.0, gt=0)
    # Test-time weights: the paper tested deterministic runs with sign(w) and stochastic runs with
    # the real-valued w ("method 2"); None picks that, True/False forces real/binary.
    eval_real: bool | None = None
    # Binary values +-H with H = sqrt(1.5 / (fan_in + fan_out)) per layer, hard_sigmoid(w / H), w clipped to
    # [-clip H, clip H], as BinaryConnect's reference code does. False: +-1 and hard_sigmoid(w) literally,
    # which leaves p ~ 0.5 for typically initialised weights (the stochastic variant then cannot learn).
    glorot_scale: bool = True

    def _eval_real(self) -> bool:
        return self.stochastic if self.eval_real is None else self.eval_real

    def convert(self, model: Any) -> Any:
        from hwsim.quant.layers import Binarize, LayerPlan, convert_layers

        real = self._eval_real()
        prec = {"weight": BINARY, "weight_infer": FP32 if real else None, "note": self.name}

        def plan(name, module, depth, n):
            scale = glorot_bound(module.weight) if self.glorot_scale else None
            return LayerPlan(weight_quantizer=Binarize("identity", stochastic=self.stochastic, eval_real=real,
                                                       scale=scale),
                             precision=prec)

        return convert_layers(model, plan)

    def on_step_end(self, model: Any, step: int) -> None:
        from hwsim.quant.layers import Binarize, clip_weights_, quantized_layers

        clip_weights_(quantized_layers(model, Binarize), self.clip)

    def weight_bits(self) -> int:
        return 32 if self._eval_real() else 1


def glorot_bound(w) -> float:
    """BinaryConnect's per-layer H = sqrt(1.5 / (fan_in + fan_out)) (its reference code, ``H="Glorot"``)."""
    rf = 1
    for d in w.shape[2:]:
        rf *= int(d)
    fan_in, fan_out = int(w.shape[1]) * rf, int(w.shape[0]) * rf
    return (1.5 / (fan_in + fan_out)) ** 0.5


@register_scheme("binaryconnect_stoch")
class BinaryConnectStochastic(BinaryConnect):
    """BinaryConnect with stochastic binarization in training; tested with the real-valued weights."""

    bits = "W1 A32 stash32 (inference W32)"
    stochastic: bool = True


@register_scheme("bnn")
class BNN(Scheme):
    """Hubara et al. 2016: binary weights and activations, Htanh straight-through estimator."""

    family = "binary"
    citation = "Binarized Neural Networks, Hubara, Courbariaux, Soudry, El-Yaniv, Bengio, NIPS 2016 (Shanbhag 2020; Xu 2019)"
    quantizes = ("weights of every layer (sign), inputs of every layer but the first (sign); "
                 "ReLU modules replaced by Htanh")
    bits = "W1 A1 stash1 (first layer A32)"
    stash = "the binarized layer input at 1 bit (first layer: the float32 image); 1-bit STE masks"
    gradient = "Htanh STE g*1_{|x|<=1} for activations and weights; weights clipped to [-clip, clip]"

    clip: float = Field(1.0, gt=0)
    # The batch-norm input kept for backward: exact (float), or B-bit codes (changes the gradient).
    bn_stash: Literal["float", "int8", "int4", "int2", "recompute"] = "float"

    def convert(self, model: Any) -> Any:
        return _convert_binary_acts(model, self.name, xnor=False, bn_stash=self.bn_stash)

    def on_step_end(self, model: Any, step: int) -> None:
        from hwsim.quant.layers import Binarize, clip_weights_, quantized_layers

        clip_weights_(quantized_layers(model, Binarize), self.clip)

    def weight_bits(self) -> int:
        return 1

    def act_bits(self) -> int:
        return 1


@register_scheme("bwn")
class BWN(Scheme):
    """Rastegari et al. 2016, Binary-Weight-Network: W ~ alpha B, alpha = ||W_c||_1 / n per output channel."""

    family = "binary"
    citation = "XNOR-Net (BWN), Rastegari, Ordonez, Redmon, Farhadi, ECCV 2016 (Shanbhag 2020)"
    quantizes = "weights of every layer: alpha_c * sign(W), alpha_c = mean|W_c|"
    bits = "W1 A32 stash32"
    stash = "layer inputs at float32"
    gradient = "chain rule of mean|W| * sign(W) with the Htanh STE for sign"

    def convert(self, model: Any) -> Any:
        from hwsim.quant.layers import BWNWeight, LayerPlan, convert_layers

        def plan(name, module, depth, n):
            return LayerPlan(weight_quantizer=BWNWeight(), precision={"weight": BINARY, "note": self.name})

        return convert_layers(model, plan)

    def weight_bits(self) -> int:
        return 1


@register_scheme("xnor")
class XNOR(Scheme):
    """Rastegari et al. 2016, XNOR-Net: binary weights (alpha) and binary inputs scaled by K (beta)."""

    family = "binary"
    citation = "XNOR-Net, Rastegari, Ordonez, Redmon, Farhadi, ECCV 2016 (Shanbhag 2020)"
    quantizes = ("weights of every layer (alpha_c sign W), inputs of every layer but the first "
                 "(sign I, output scaled by K = mean_c|I| * k); ReLU modules replaced by Htanh")
    bits = "W1 A1 stash1 (first layer A32)"
    stash = "the binarized layer input at 1 bit (first layer: float32), 1-bit STE masks, K (1/C of the input)"
    gradient = "Htanh STE for sign(I) and sign(W); exact gradient through alpha; K constant in backward"

    def convert(self, model: Any) -> Any:
        return _convert_binary_acts(model, self.name, xnor=True)

    def weight_bits(self) -> int:
        return 1

    def act_bits(self) -> int:
        return 1


def _convert_binary_acts(model: Any, note: str, xnor: bool, bn_stash: str = "float") -> Any:
    """BNN / XNOR-Net: binary weights everywhere, binary inputs except for the first layer."""
    from torch import nn

    from hwsim.quant.layers import (
        Binarize,
        BWNWeight,
        Htanh,
        LayerPlan,
        XNORScale,
        convert_layers,
        optional_codec,
        replace_modules,
    )

    replace_modules(model, nn.ReLU, lambda old: Htanh())

    def plan(name, module, depth, n):
        wq = BWNWeight() if xnor else Binarize("htanh")
        if depth == 0:
            return LayerPlan(weight_quantizer=wq, precision={"weight": BINARY, "input": FP32, "stash": FP32,
                                                             "note": note})
        return LayerPlan(
            weight_quantizer=wq,
            input_quantizer=Binarize("htanh"),
            output_scale=XNORScale() if xnor else None,
            # SignCodec holds the +-1 input packed at 1 bit per value
            stash_codec=optional_codec("SignCodec"),
            precision={"weight": BINARY, "input": BINARY, "stash": BINARY, "note": note},
        )

    from hwsim.quant.saved_layers import bn_stash_codec, compress_saved

    # pools without float copies (exact); the Htanh modules already keep 1-bit masks
    return compress_saved(convert_layers(model, plan), bn_codec=bn_stash_codec(bn_stash), relu=False)
