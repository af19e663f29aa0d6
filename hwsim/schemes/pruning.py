"""``pruning``: magnitude pruning with a kept mask (Han et al., Shanbhag 2020: "prune low-weight
connections", then "re-train sparse network"; the schedule is Zhu & Gupta's gradual one).

Each weight layer gets a buffer ``hwsim_prune_mask`` (1 = kept). At each pruning event the
``s`` fraction of the layer's weights with the smallest magnitude (ties broken by index) is
masked, ``s`` being the layer's current target; masks only grow (a pruned weight stays pruned).
The mask is kept through training: the weight's gradient is multiplied by it (a tensor hook)
and ``on_step_end`` re-zeroes the masked weights after every optimizer update (momentum or
weight decay cannot bring them back).

Schedule (events at the *start* of 0-based epoch e, i.e. after e epochs are done: ``convert``
runs e = 0, and ``on_epoch_end(model, e)``, called by :func:`hwsim.train.train` with e = epochs
done, runs e): events at ``t_k = start_epoch + k * frequency`` for k = 0..K,
``K = floor((end_epoch - start_epoch) / frequency)``;

    gradual:  s_k = s_f * (1 - (1 - (k + 1) / (K + 1))^3)     (Zhu & Gupta 2017, cubic; s_K = s_f)
    one_shot: s_0 = s_f at start_epoch.

``lr_scale(epoch)`` is ``retrain_lr_scale`` from the first event on (Han: re-train with 1/10 of
the original learning rate), 1 before; a training loop multiplies its learning rate by it.
Precision stays fp32; zero-skipping is measured by the counter from the real (zeroed) weights.

Dropout after pruning (``rescale_dropout``, default on; Han et al. 2015, Section 3.1, eq. 2):
dropout acts on neurons while pruning removes connections, so the retraining rate of each
``nn.Dropout`` becomes ``D_r = D_o sqrt(C_ir / C_io)``, with C_io and C_ir the connections (weights)
of the layer whose inputs it drops (the next weight layer in module order) before pruning and now. The original rate is kept on the module (``hwsim_dropout_original``).

Structured sparsity (``pattern: "N:M"``, e.g. ``"2:4"``): every layer whose inputs per output
channel split into groups of M keeps at most N of each group (its target is 1 - N/M; ``sparsity``
is then ignored). The gradual schedule prunes unstructured up to the last event, which applies the
N:M mask; accelerators that skip zero weights run such a layer's forward in N/M of the cycles.

Storage (``storage: dense | bitmask | csr | relative``, default ``relative``; optional
``codebook_bits`` k and ``huffman``): how a pruned layer's weights are stored, by
:mod:`hwsim.quant.sparse_formats`. The model size and the weight bytes each GEMM reads follow the
chosen format, its index and codebook overheads included (:func:`stored_weight_bytes`).
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from hwsim.quant.sparse_formats import StorageSpec
from hwsim.schemes.base import Scheme, register_scheme

if TYPE_CHECKING:
    from torch import nn

def _check_fraction(v: float, where: str) -> float:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 <= float(v) < 1.0:
        raise ValueError(f"{where}sparsity must be a number in [0, 1), got {v!r}")
    return float(v)


@register_scheme("pruning")
class Pruning(Scheme):
    family = "pruning"
    citation = "Han et al. 2015/2016 (Shanbhag 2020: prune low-weight connections, re-train); Zhu & Gupta 2017"
    quantizes = "nothing: a fraction of weights is set to zero and kept at zero"
    bits = "W32 A32 stash32 (sparse weights)"
    stash = "layer inputs at float32"
    gradient = "masked: pruned weights receive no gradient"

    sparsity: float | dict[str, float] = 0.9
    schedule: Literal["gradual", "one_shot"] = "gradual"
    start_epoch: int = Field(0, ge=0)
    end_epoch: int = Field(10, ge=0)
    frequency: int = Field(1, ge=1)
    retrain_lr_scale: float = Field(0.1, gt=0, le=1)
    pattern: str = "unstructured"
    storage: Literal["dense", "bitmask", "csr", "relative"] = "relative"
    codebook_bits: int | None = Field(None, ge=1, le=16)
    huffman: bool = False
    rescale_dropout: bool = True

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        if v != "unstructured" and _nm(v) is None:
            raise ValueError(f"pattern is 'unstructured' or 'N:M' with 0 < N < M (e.g. '2:4'), got {v!r}")
        return v

    @property
    def nm(self) -> tuple[int, int] | None:
        return _nm(self.pattern)

    @field_validator("huffman")
    @classmethod
    def _huffman(cls, v: bool, info: ValidationInfo) -> bool:
        if v and (info.data.get("storage") != "relative" or not info.data.get("codebook_bits")):
            raise ValueError("huffman coding needs storage: relative and codebook_bits (Deep Compression's pipeline)")
        return v

    @field_validator("sparsity")
    @classmethod
    def _sparsity(cls, v: Any) -> Any:
        if isinstance(v, dict):
            if not v:
                raise ValueError("sparsity mapping is empty")
            return {str(k): _check_fraction(x, f"sparsity[{k!r}]: ") for k, x in v.items()}
        return _check_fraction(v, "")

    @field_validator("end_epoch")
    @classmethod
    def _epochs(cls, v: int, info: ValidationInfo) -> int:
        start = info.data.get("start_epoch")
        if start is not None and v < start:
            raise ValueError(f"end_epoch ({v}) must be >= start_epoch ({start})")
        return v

    # -- targets -----------------------------------------------------------------------------
    def layer_target(self, name: str, module: nn.Module) -> float:
        """Final sparsity of one layer: the number, or the first matching mapping key
        (exact name, then ``conv`` / ``fc`` groups, then globs); unmatched layers are not pruned.
        With an N:M ``pattern``, 1 - N/M for every layer whose inputs per output split into groups of M."""
        if self.nm is not None:
            n, m = self.nm
            return 1.0 - n / m if module.weight[0].numel() % m == 0 else 0.0
        if not isinstance(self.sparsity, dict):
            return self.sparsity
        if name in self.sparsity:
            return self.sparsity[name]
        from torch import nn

        group = "conv" if isinstance(module, nn.Conv2d) else "fc"
        if group in self.sparsity:
            return self.sparsity[group]
        for pat, s in self.sparsity.items():
            if fnmatch.fnmatchcase(name, pat):
                return s
        return 0.0

    def events(self) -> list[int]:
        if self.schedule == "one_shot":
            return [self.start_epoch]
        k_max = (self.end_epoch - self.start_epoch) // self.frequency
        return [self.start_epoch + k * self.frequency for k in range(k_max + 1)]

    def fraction_at(self, epoch: int) -> float | None:
        """Fraction of the final sparsity reached at the event at the start of ``epoch`` (None: no event)."""
        ev = self.events()
        if epoch not in ev:
            return None
        k, n = ev.index(epoch), len(ev)
        return 1.0 if self.schedule == "one_shot" else 1.0 - (1.0 - (k + 1) / n) ** 3

    def lr_scale(self, epoch: int) -> float:
        """Han et al. retrain a trained network after pruning at a fraction of the rate: from
        ``start_epoch`` on, when dense epochs came first. Pruning from scratch (start_epoch 0) has no
        retraining phase and keeps the recipe's rate."""
        return self.retrain_lr_scale if 0 < self.start_epoch <= epoch else 1.0

    # -- scheme hooks -------------------------------------------------------------------------
    def convert(self, model: Any) -> Any:
        import torch

        from hwsim.quant.layers import LayerPlan, convert_layers, weight_layers
        from hwsim.quant.prune import MASK, ensure_grad_mask

        # Pruned layers become QConv2d/QLinear (no slot set, fp32 declaration) so that a scheme
        # composed after this one keeps the same module object, and with it the mask buffer.
        def plan(name: str, module: nn.Module, depth: int, n: int) -> LayerPlan | None:
            return LayerPlan() if self.layer_target(name, module) > 0 else None

        model = convert_layers(model, plan)
        for name, m in weight_layers(model):
            target = self.layer_target(name, m)
            if target <= 0 or hasattr(m, MASK):
                continue
            m.register_buffer(MASK, torch.ones_like(m.weight, requires_grad=False))
            m.hwsim_prune_target = target
            m.hwsim_prune_nm = self.nm
            m.hwsim_weight_storage = StorageSpec(self.storage, "conv" if m.weight.dim() > 2 else "fc", 32,
                                                 self.codebook_bits, self.huffman)
            m.register_forward_pre_hook(ensure_grad_mask)
        self.prune(model, 0)
        return model

    def prune(self, model: nn.Module, epoch: int) -> bool:
        """Run the pruning event of ``epoch`` if there is one; returns whether it ran."""
        frac = self.fraction_at(epoch)
        if frac is None:
            return False
        import torch

        from hwsim.quant.prune import rescale_dropout

        with torch.no_grad():
            self._mask_all(model, frac)
        if self.rescale_dropout:
            rescale_dropout(model)
        return True

    def _mask_all(self, model: nn.Module, frac: float) -> None:
        from hwsim.quant.prune import MASK, magnitude_mask, nm_mask

        for m in model.modules():
            mask = getattr(m, MASK, None)
            if mask is None or m.weight.device.type == "meta":
                continue
            if self.nm is not None and frac >= 1.0:
                mask.copy_(nm_mask(m.weight, *self.nm, mask))
            else:
                mask.copy_(magnitude_mask(m.weight, m.hwsim_prune_target * frac, mask))
            m.weight.mul_(mask)

    def on_step_end(self, model: Any, step: int) -> None:
        import torch

        from hwsim.quant.prune import MASK

        with torch.no_grad():
            for m in model.modules():
                mask = getattr(m, MASK, None)
                if mask is not None:
                    m.weight.mul_(mask)

    def on_epoch_end(self, model: Any, epoch: int) -> None:
        """``epoch`` = epochs done (hwsim.train's convention): the event, if any, before the next one."""
        self.prune(model, epoch)


def _nm(pattern: str) -> tuple[int, int] | None:
    parts = str(pattern).split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    n, m = int(parts[0]), int(parts[1])
    return (n, m) if 0 < n < m else None
