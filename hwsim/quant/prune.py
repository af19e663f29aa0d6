"""Magnitude and N:M pruning at the tensor level: masks, gradient masking, dropout rescaling (Han et al. 2015)
and the stored size of a pruned weight; the ``pruning`` scheme drives them."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hwsim.quant.sparse_formats import expected_size_bytes, size_bytes

MASK = "hwsim_prune_mask"


def nm_mask(weight: torch.Tensor, n: int, m: int, old: torch.Tensor | None = None) -> torch.Tensor:
    """Mask keeping the ``n`` largest-magnitude weights of every ``m`` consecutive ones along the
    input dimension (per output channel; already pruned ones go first, so at most ``n`` survive)."""
    rows = weight.shape[0]
    mag = weight.detach().abs().reshape(rows, -1).clone()
    if old is not None:
        mag[~old.reshape(rows, -1).bool()] = -1.0
    groups = mag.reshape(rows, -1, m)
    idx = torch.argsort(groups, dim=-1, stable=True)[..., : m - n]
    mask = torch.ones_like(groups)
    mask.scatter_(-1, idx, 0.0)
    if old is not None:
        mask = mask * old.reshape(rows, -1, m)
    return mask.reshape(weight.shape).to(weight.dtype)


def magnitude_mask(weight: torch.Tensor, sparsity: float, old: torch.Tensor | None = None) -> torch.Tensor:
    """Mask keeping the ``1 - sparsity`` largest-magnitude weights (already pruned ones stay pruned)."""
    n = weight.numel()
    k = int(round(sparsity * n))
    mag = weight.detach().abs().flatten().clone()
    if old is not None:
        mag[~old.flatten().bool()] = -1.0       # pruned first, so masks only grow
    mask = torch.ones(n, dtype=weight.dtype, device=weight.device)
    if k > 0:
        idx = torch.argsort(mag, stable=True)[:k]
        mask[idx] = 0
    return mask.view_as(weight)


def dropout_rate(original: float, kept: int, total: int) -> float:
    """Han et al. 2015, eq. 2: ``D_r = D_o sqrt(C_ir / C_io)`` (C: connections after / before pruning)."""
    return float(original) * (kept / total) ** 0.5 if total else float(original)


@torch.no_grad()
def rescale_dropout(model: nn.Module) -> dict[str, float]:
    """Set every ``nn.Dropout``'s rate from the pruned weight layer that reads its output (eq. 2);
    returns name -> rate. A dropout not followed by a pruned weight layer keeps its rate."""
    out: dict[str, float] = {}
    pending: list[tuple[str, nn.Module]] = []
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            pending.append((name, m))
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            mask = getattr(m, MASK, None)
            if mask is not None and mask.device.type != "meta":
                for dname, d in pending:
                    if not hasattr(d, "hwsim_dropout_original"):
                        d.hwsim_dropout_original = float(d.p)
                    d.p = dropout_rate(d.hwsim_dropout_original, int(mask.sum()), mask.numel())
                    out[dname] = d.p
            pending = []
    return out


class _MaskGrad:
    """Tensor hook: the weight's gradient times the module's current mask."""

    def __init__(self, module: nn.Module):
        self.module = module

    def __call__(self, g: torch.Tensor) -> torch.Tensor:
        return g * getattr(self.module, MASK)


def ensure_grad_mask(module: nn.Module, args: Any) -> None:
    """Forward pre-hook: (re)attach the gradient mask to the weight Parameter. Done at forward
    time because ``copy.deepcopy`` of a Parameter drops its tensor hooks, and schemes such as
    ``mixed`` (and the training loop's deployed copy) copy models."""
    w = module.weight
    if w.requires_grad and getattr(w, "_hwsim_mask_owner", None) is not module:
        w.register_hook(_MaskGrad(module))
        w._hwsim_mask_owner = module


def sparsity_of(model: nn.Module) -> dict[str, float]:
    """Measured fraction of exactly-zero weights per weight layer."""
    from hwsim.quant.layers import weight_layers

    return {n: float((m.weight == 0).float().mean()) for n, m in weight_layers(model)}


def stored_weight_bytes(module: nn.Module) -> int | None:
    """Bytes of a pruned layer's weight in its storage format (None: the layer is stored dense).

    From the real non-zeros when the weight holds values; on the meta device (no values) from the
    layer's target sparsity with the non-zeros at random positions."""
    spec = getattr(module, "hwsim_weight_storage", None)
    w = getattr(module, "weight", None)
    if spec is None or w is None:
        return None
    if w.device.type == "meta":
        return expected_size_bytes(tuple(w.shape), 1.0 - float(module.hwsim_prune_target), spec)
    return size_bytes(w.detach().cpu().float().numpy(), spec)
