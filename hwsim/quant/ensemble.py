"""An ensemble of networks as one module (the benn scheme): eval averages logits, train splits the batch."""

from __future__ import annotations

import torch
from torch import nn


class Ensemble(nn.Module):
    """``members`` networks; eval: mean of their logits; train: example i through member i mod K."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # a member may return a tuple, dict or ModelOutput (a Hugging Face model): its logits are
        # taken by the rule the training step uses for any model
        from hwsim.count.api import model_output

        k = len(self.members)
        if not self.training:
            return torch.stack([model_output(m(x)) for m in self.members]).mean(0)
        n = x.shape[0]
        parts = [torch.arange(i, n, k, device=x.device) for i in range(min(k, n))]
        outs = [model_output(self.members[i](x[idx])) for i, idx in enumerate(parts)]
        order = torch.cat(parts)
        return torch.cat(outs)[torch.argsort(order)]


def reinit(model: nn.Module) -> None:
    """Fresh initial weights for every layer below ``model`` (independent ensemble members)."""
    for m in model.modules():
        if m is not model and hasattr(m, "reset_parameters"):
            m.reset_parameters()
