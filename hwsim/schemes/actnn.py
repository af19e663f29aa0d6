"""``actnn``: every tensor still saved in float for backward held at 2, 4 or 8 bits (ActNN style).

Chen et al., ActNN (ICML 2021): activations compressed for backward only (the forward is
unchanged), per group with stochastic rounding, 2 bits for ResNet-50 at negligible accuracy
loss. Here, on top of whatever the model already is (alone, or last in ``mixed.compose``):

* weight layers whose input is still kept in float get a :class:`hwsim.quant.stash.GroupCodec`
  (a layer already keeping a code, e.g. BNN's 1-bit sign, keeps it);
* batch-norms (PyTorch's) keep their input through a codec of ``bn_bits`` (default max(bits, 4);
  Graham's keep their code);
* ReLUs keep a 1-bit mask, max-pools a packed window index, adaptive pooling nothing
  (these three are exact).

Per group of ``group`` values: b-bit codes plus lo and scale in fp32. The forward pass and the
MAC types are unchanged; only the weight gradient and batch-norm gradient see the noise.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from hwsim.schemes.base import Scheme, register_scheme


@register_scheme("actnn")
class ActNN(Scheme):
    """Compressed saved activations: b-bit per-group codes with stochastic rounding."""

    family = "memory"
    citation = "ActNN, Chen et al., ICML 2021 (compressed activations for training)"
    quantizes = "nothing in forward; tensors saved for backward that are still float"
    bits = "W32 A32 stash{b} (on top of the model's own scheme)"
    stash = "float saved tensors as b-bit per-group codes (+ lo, scale per group; batch-norm inputs at bn_bits); masks 1 bit"
    gradient = "weight and batch-norm gradients from the decoded (unbiased, noisy) activations"

    bits_: Literal[2, 4, 8] = Field(2, alias="bits")
    # Batch-norm inputs at their own width, default max(bits, 4): their gradient is the most
    # sensitive to the noise (backward multiplies the noisy normalized input by a batch mean); at
    # 2 bits ResNet-20 on digits fell to 0.10-0.46 test accuracy, at 4 bits it kept fp32's
    # (docs/schemes_memory.md).
    bn_bits: Literal[2, 4, 8] | None = None

    def batchnorm_bits(self) -> int:
        return self.bn_bits or max(self.bits_, 4)
    group: int = Field(256, ge=8, le=65536)
    stochastic: bool = True

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    def codec(self, bits: int | None = None) -> Any:
        from hwsim.quant.stash import GroupCodec

        return GroupCodec(bits or self.bits_, self.group, self.stochastic)

    def convert(self, model: Any) -> Any:
        from hwsim.quant.layers import LayerPlan, convert_layers
        from hwsim.quant.saved_layers import compress_saved

        codec = self.codec()

        def plan(name: str, module: Any, depth: int, n: int) -> LayerPlan | None:
            if getattr(module, "stash_codec", None) is not None:
                return None
            return LayerPlan(stash_codec=codec)

        return compress_saved(convert_layers(model, plan), bn_codec=self.codec(self.batchnorm_bits()))
