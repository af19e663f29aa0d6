"""An ensemble of networks as one module (the benn scheme): how its members train and how they vote.

``method`` (BENN, Zhu, Dong, Su, CVPR 2019; bagging: Breiman 1996; boosting: AdaBoost in its
multi-class form SAMME, Zhu, Zou, Rosset, Hastie 2009):

* ``bagging``: member k trains on its own bootstrap resample of the training set (n draws with
  replacement, drawn once): in a step every member reads the whole batch and example i counts
  ``counts[k, i]`` times in its loss (0 if the resample missed it). Inference: the mean of the
  members' logits (soft vote).
* ``boosting``: members train one after another, member k for its share of the epochs on the data
  weighted by ``sample_weight``. At the end of its share member k is evaluated on the training set:
  weighted error ``e``, vote weight ``alpha_k = log((1 - e) / e) + log(C - 1)`` (SAMME), and the
  misclassified examples' weights grow by ``exp(alpha_k)``. Inference: the weighted hard vote
  ``argmax_c sum_k alpha_k [argmax(member k) = c]``.
* ``subagging``: example i of a batch through member i mod K (disjoint subsamples; Buhlmann & Yu
  2002). Inference as bagging.

Without a bound batch (a meta-device trace) a training step runs as its method prices it: bagging
every member on the batch, boosting the member in training, subagging one share per member.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

METHODS = ("bagging", "boosting", "subagging")


def _logits(out: object) -> torch.Tensor:
    """A member's logits: a member may return a tuple, dict or ModelOutput (a Hugging Face model), read
    by the rule the training step uses for any model."""
    from hwsim.count.api import model_output

    return model_output(out)


class Ensemble(nn.Module):
    """``members`` networks trained and combined by ``method`` (see the module docstring)."""

    def __init__(self, members: list[nn.Module], method: str = "bagging"):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.members = nn.ModuleList(members)
        self.method = method
        # vote weights: boosting's alpha_k (0 until member k is trained); bagging and subagging average
        self.register_buffer("alpha", torch.zeros(len(members)) if method == "boosting" else torch.ones(len(members)))
        self.counts: torch.Tensor | None = None         # bagging: (K, n) bootstrap multiplicities
        self.sample_weight: torch.Tensor | None = None  # boosting: (n,) example weights, mean 1
        self.active = 0                                  # boosting: the member in training
        self.schedule: list[int] = []                    # boosting: last epoch of each member's share

    # -- forward --------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self.vote(x)
        if self.method == "bagging":
            return torch.stack([_logits(m(x)) for m in self.members]).mean(0)
        if self.method == "boosting":
            return _logits(self.members[self.active](x))
        k, n = len(self.members), x.shape[0]
        parts = [torch.arange(i, n, k, device=x.device) for i in range(min(k, n))]
        outs = [_logits(self.members[i](x[idx])) for i, idx in enumerate(parts)]
        return torch.cat(outs)[torch.argsort(torch.cat(parts))]

    def vote(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.stack([_logits(m(x)) for m in self.members])   # (K, batch, classes)
        if self.method != "boosting":
            return logits.mean(0)
        trained = self.alpha > 0
        if x.device.type != "meta" and not bool(trained.any()):
            return logits[self.active]                            # no member trained yet
        votes = (logits == logits.amax(-1, keepdim=True)).to(logits.dtype)
        return (self.alpha.to(logits.dtype).view(-1, 1, 1) * votes).sum(0)

    # -- training -------------------------------------------------------------------------------
    def begin(self, n: int, epochs: int, device: torch.device) -> None:
        """Draw the bootstrap resamples (bagging) or set uniform weights and the members' shares of
        the epochs (boosting) for a training set of ``n`` examples."""
        k = len(self.members)
        if self.method == "bagging":
            draws = torch.randint(0, n, (k, n))
            self.counts = torch.stack([torch.bincount(d, minlength=n) for d in draws]).to(device)
        elif self.method == "boosting":
            self.sample_weight = torch.ones(n, device=device)
            self.schedule = [max(1, round(epochs * (i + 1) / k)) for i in range(k)]
            self.alpha.zero_()
            self.active = 0

    def loss(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The step's loss for the batch ``x, y`` holding training examples ``idx``, and the output
        the step's accuracy is read from."""
        if self.method == "bagging" and self.counts is not None:
            outs = [_logits(m(x)) for m in self.members]
            w = self.counts[:, idx].to(x.dtype if x.is_floating_point() else torch.float32)
            loss = sum((wk * F.cross_entropy(o, y, reduction="none")).sum() for wk, o in zip(w, outs)) / len(y)
            return loss, torch.stack(outs).mean(0)
        if self.method == "boosting" and self.sample_weight is not None:
            out = _logits(self.members[self.active](x))
            w = self.sample_weight[idx]
            return (w * F.cross_entropy(out, y, reduction="none")).sum() / w.sum(), out
        out = self(x)
        return F.cross_entropy(out, y), out

    @torch.no_grad()
    def end_of_epoch(self, epoch: int, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> None:
        """Boosting: at the end of the active member's share, weigh its vote and re-weight the data."""
        if self.method != "boosting" or self.sample_weight is None or epoch < self.schedule[self.active]:
            return
        if self.alpha[self.active] != 0:
            return                                       # the last member's vote is already weighed
        m = self.members[self.active]
        was = m.training
        m.eval()
        logits = [_logits(m(x[i:i + batch])) for i in range(0, len(x), batch)]
        m.train(was)
        classes = logits[0].shape[-1]
        wrong = torch.cat([o.argmax(1) for o in logits]) != y
        w = self.sample_weight
        err = float((w * wrong).sum() / w.sum())
        self.alpha[self.active] = samme_alpha(err, classes)
        if self.alpha[self.active] > 0:
            w = w * torch.exp(self.alpha[self.active] * wrong.to(w.dtype))
            self.sample_weight = w * (len(w) / w.sum())
        if self.active + 1 < len(self.members):
            self.active += 1


def samme_alpha(err: float, classes: int) -> float:
    """SAMME's vote weight ``log((1 - e) / e) + log(C - 1)``; 0 for a member no better than chance
    (``e >= 1 - 1/C``), which then neither votes nor re-weights the data."""
    if err >= 1 - 1 / classes - 1e-12:
        return 0.0
    e = min(max(err, 1e-10), 1 - 1e-10)
    return math.log((1 - e) / e) + math.log(classes - 1)


def reinit(model: nn.Module) -> None:
    """Fresh initial weights for every layer below ``model`` (independent ensemble members)."""
    for m in model.modules():
        if m is not model and hasattr(m, "reset_parameters"):
            m.reset_parameters()
