"""Today's low-precision training formats: BF16, FP8, OCP MX (MXFP8, MXFP6, MXFP4, MXINT8) and NVFP4.

One scheme, :class:`LowPrecisionFormats` (``formats``), takes a format per GEMM operand:
``weight``, ``activation`` (the layer input, also its stash) and ``grad`` (the layer's output
gradient, read by both backward GEMMs), plus ``master`` (the weights the optimizer updates: fp32,
bf16 or fp16, whose rounding is applied after every step). The named schemes are its presets:

=========  ===============  ===============  ===============  ==============================================
scheme     weight           activation       gradient         source
=========  ===============  ===============  ===============  ==============================================
bf16       bf16             bf16             bf16             mixed-precision baseline (FP32 master weights)
fp8        fp8_e4m3         fp8_e4m3         fp8_e5m2         Micikevicius et al. 2022 (per-tensor scaling)
mxfp8      mxfp8_e4m3       mxfp8_e4m3       mxfp8_e4m3       Mishra et al. 2025, "Recipes for pre-training
                                                              LLMs with MXFP8" (E4M3 for every tensor)
mxfp6      mxfp6_e2m3       mxfp6_e2m3       mxfp6_e3m2       Rouhani et al. 2023 (E3M2 for the wider range
                                                              gradients need)
mxfp4      mxfp4_e2m1       mxfp4_e2m1       mxfp4_e2m1       OCP MX v1.0
mxint8     mxint8           mxint8           mxint8           OCP MX v1.0
nvfp4      nvfp4            nvfp4            nvfp4            NVIDIA 2025 (E2M1, E4M3 per 16, FP32 per tensor)
=========  ===============  ===============  ===============  ==============================================

Any field can be overridden (``{name: mxfp4, activation: mxfp8, master: bf16}``: MXFP4 weights,
MXFP8 activations, BF16 master weights), and the scheme composes with the others through
``mixed``'s ``compose`` (it sets only the weight and input quantizers, the stash codec, the
output-gradient quantizer and the precision fields weight, input, stash, grad, master).
The optimizer's state has its own formats: ``moment1`` (SGD's momentum, Adam's first moment) and
``moment2`` (Adam's second moment), fp32 by default; FP8-LM (Peng et al. 2023) keeps an FP8 first
moment and an FP16 second moment beside FP16 master weights (``{master: fp16, moment1: fp8_e4m3,
moment2: fp16}``). They are rounded after every optimizer step and priced at their widths.
The first and last weight layers are held at ``first_last`` (default bf16; fp32 leaves them as
they are) when ``keep_first_last`` (the presets below 16 bits), as FP8 and MX training recipes keep
them in higher precision.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from hwsim.errors import UserError
from hwsim.formats import FP32, Format
from hwsim.minifloat import KINDS
from hwsim.schemes.base import Scheme, register_scheme


def _narrow(v: str, field: str) -> str:
    try:
        f = Format.parse(v, where=field)
    except UserError as e:
        raise ValueError(e.what) from None
    if f.kind not in KINDS and not f.is_full:
        raise ValueError(f"{v!r} is not one of fp32, bf16, fp8_e4m3, fp8_e5m2, fp6_e3m2, fp6_e2m3, fp4_e2m1, "
                         "mxfp8_e4m3, mxfp8_e5m2, mxfp6_e3m2, mxfp6_e2m3, mxfp4, mxint8, nvfp4")
    return str(f)


@register_scheme("formats")
class LowPrecisionFormats(Scheme):
    """A narrow float format per GEMM operand (weights, activations, output gradients) and for the
    master weights; quantise-dequantise emulation bit for bit to the formats' specifications."""

    family = "float"
    citation = "Micikevicius et al. 2022 (FP8); OCP MX v1.0 and Rouhani et al. 2023 (MX); NVIDIA 2025 (NVFP4)"
    quantizes = "weights, layer inputs and output gradients of every weight layer (first/last optional)"
    bits = "per field"
    stash = "layer inputs at the activation format (element codes + block scales)"
    gradient = "straight-through quantisers; output gradients rounded to the grad format"

    weight: str = "fp32"
    activation: str = "fp32"
    grad: str = "fp32"
    master: Literal["fp32", "bf16", "fp16"] = "fp32"
    moment1: Literal["fp32", "bf16", "fp16", "fp8_e4m3", "fp8_e5m2"] = Field(
        "fp32", description="optimizer state: SGD's momentum buffer, Adam's first moment")
    moment2: Literal["fp32", "bf16", "fp16", "fp8_e4m3", "fp8_e5m2"] = Field(
        "fp32", description="optimizer state: Adam's second moment")
    scaling: Literal["current", "delayed"] = Field("current", description="per-tensor scale of FP8/FP6/FP4 "
                                                   "operands: from this tensor's amax, or the last amax_history")
    amax_history: int = Field(16, ge=1, le=1024)
    keep_first_last: bool = False
    first_last: str = Field("bf16", description="format of the first and last weight layers under "
                            "keep_first_last (fp32: left as they are)")
    compress_saved: bool = True

    @field_validator("weight", "activation", "grad", "first_last")
    @classmethod
    def _fmt(cls, v: str, info) -> str:
        return _narrow(v, info.field_name)

    def formats(self) -> dict[str, Format]:
        return {k: Format.parse(getattr(self, k)) for k in ("weight", "activation", "grad", "master")}

    def optimizer_state_formats(self) -> dict[str, Format]:
        return {k: f for k in ("moment1", "moment2") if not (f := Format.parse(getattr(self, k))).is_full}

    def convert(self, model: Any) -> Any:
        from torch import nn

        from hwsim.quant.layers import LayerPlan, convert_layers
        from hwsim.quant.microscaling import FormatCodec, GradQuantizer, ScaledCast, quantize_output_gradient

        f = self.formats()
        conv_types = (nn.modules.conv._ConvNd,)

        edge = Format.parse(self.first_last)

        def plan(name, module, depth, n):
            fmt = f
            if self.keep_first_last and depth in (0, n - 1):
                if edge.is_full:
                    return None
                fmt = {"weight": edge, "activation": edge, "grad": edge, "master": f["master"]}
            return layer_plan(module, fmt)

        def layer_plan(module, f):
            conv = isinstance(module, conv_types)
            prec: dict[str, Format | str] = {"weight": f["weight"], "grad": f["grad"], "master": f["master"],
                                             "note": self.name}
            slots: dict[str, nn.Module] = {}
            if not f["weight"].is_full:
                slots["weight_quantizer"] = ScaledCast(f["weight"], "weight", "current", self.amax_history)
            if not f["activation"].is_full:
                q = ScaledCast(f["activation"], "conv" if conv else "linear", self.scaling, self.amax_history)
                slots |= {"input_quantizer": q, "stash_codec": FormatCodec(f["activation"], conv, q)}
                prec |= {"input": f["activation"], "stash": f["activation"]}
            else:
                prec |= {"input": FP32, "stash": FP32}
            return LayerPlan(precision=prec, **slots)

        model = convert_layers(model, plan)
        if self.compress_saved and not f["activation"].is_full:
            from hwsim.quant.saved_layers import compress_saved

            # ReLU masks at 1 bit and pools without float copies (exact): the float ReLU output
            # would otherwise stay saved beside the layer's narrow stash
            model = compress_saved(model)
        if not f["grad"].is_full:
            for m in model.modules():
                p = getattr(m, "hwsim_precision", None)
                if p is None or p.note != self.name or p.grad.is_full:
                    continue
                m.grad_quantizer = GradQuantizer(p.grad, isinstance(m, conv_types), self.scaling,
                                                 self.amax_history)
                if not getattr(m, "_hwsim_grad_hook", False):
                    m.register_forward_hook(quantize_output_gradient)
                    m._hwsim_grad_hook = True
        return model

    def on_step_end(self, model: Any, step: int) -> None:
        if self.master == "fp32":
            return
        import torch

        # BF16/FP16 master weights: what the optimizer wrote is rounded (round to nearest even)
        dt = torch.bfloat16 if self.master == "bf16" else torch.float16
        with torch.no_grad():
            for m in model.modules():
                p = getattr(m, "hwsim_precision", None)
                if p is not None and p.note == self.name:
                    m.weight.copy_(m.weight.to(dt).to(m.weight.dtype))

    def weight_bits(self) -> int:
        return Format.parse(self.weight).bits

    def act_bits(self) -> int:
        return Format.parse(self.activation).bits


def _preset(name: str, weight: str, activation: str, grad: str, keep: bool, citation: str, doc: str) -> type:
    fields = {"weight": weight, "activation": activation, "grad": grad, "keep_first_last": keep}
    def b(name: str) -> str:
        f = Format.parse(name)
        return f"{f} ({f.bits_per_element:g} bits/element)"

    # bits per element include the block scale's share (MXFP8 8.25, MXFP6 6.25, MXFP4 4.25, NVFP4 4.5)
    bits = f"W {b(weight)}, A {b(activation)}, G {b(grad)}, stash = A"
    ns = {
        "__doc__": doc, "__module__": __name__, "citation": citation, "bits": bits,
        "__annotations__": {"weight": str, "activation": str, "grad": str, "keep_first_last": bool},
        **fields,
    }
    cls = type(name.upper() + "Scheme", (LowPrecisionFormats,), ns)
    return register_scheme(name)(cls)


BF16 = _preset("bf16", "bf16", "bf16", "bf16", False,
               "Kalamkar et al. 2019, A Study of BFLOAT16 for Deep Learning Training (BF16 GEMMs, FP32 master)",
               "BF16 weights, activations and gradients; FP32 master weights.")
FP8 = _preset("fp8", "fp8_e4m3", "fp8_e4m3", "fp8_e5m2", True, "Micikevicius et al., FP8 Formats for Deep "
              "Learning, 2022", "FP8: E4M3 forward, E5M2 gradients, per-tensor scaling (current or delayed).")
MXFP8 = _preset("mxfp8", "mxfp8_e4m3", "mxfp8_e4m3", "mxfp8_e4m3", True, "OCP MX v1.0; Mishra et al., Recipes "
                "for Pre-training LLMs with MXFP8, 2025", "MXFP8 (E4M3 elements, E8M0 scale per 32) everywhere.")
MXFP6 = _preset("mxfp6", "mxfp6_e2m3", "mxfp6_e2m3", "mxfp6_e3m2", True, "OCP MX v1.0; Rouhani et al., "
                "Microscaling Data Formats for Deep Learning, 2023", "MXFP6: E2M3 forward, E3M2 gradients.")
MXFP4 = _preset("mxfp4", "mxfp4_e2m1", "mxfp4_e2m1", "mxfp4_e2m1", True, "OCP MX v1.0; Rouhani et al. 2023",
                "MXFP4 (E2M1 elements, E8M0 scale per 32) everywhere.")
MXINT8 = _preset("mxint8", "mxint8", "mxint8", "mxint8", True, "OCP MX v1.0; Rouhani et al. 2023",
                 "MXINT8 (int8 x 2^-6 elements, E8M0 scale per 32) everywhere.")
NVFP4 = _preset("nvfp4", "nvfp4", "nvfp4", "nvfp4", True, "NVIDIA, Pretraining Large Language Models with "
                "NVFP4, 2025", "NVFP4: E2M1 elements, E4M3 scale per 16, FP32 scale per tensor.")
