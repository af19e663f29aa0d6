"""``benn``: an ensemble of binary (or any) networks, BENN (Zhu, Dong, Su, CVPR 2019; Xu 2019, Xu's talk:
"More bits per network or more networks per bit?", Table 4 with BENN-Bag/Boost-5/8 on AlexNet).

``members`` copies of the model, each converted by the ``base`` scheme (``bnn`` by default; any scheme
spec composes, ``mixed`` included), each with its own initial weights (re-initialised per member).
Inference averages the members' logits (soft voting), so it costs ``members`` times the base network's
MACs, weights and activations, which is the hardware side of the question the seed asks.

Training, bagging-style: in a training step each example of the (shuffled) batch goes through one
member, example i to member i mod K, so the members learn independently from disjoint random parts
of the data (subagging, Buhlmann & Yu 2002, rather than BENN's bootstrap resampling) and the step
costs one base network's MACs at the batch. A member sees about 1/K of each epoch: give K times the
epochs to train each as long as a single network. Boosting (BENN-Boost) reweights the data between
sequentially trained members and is not implemented; its literature rows are priced as the same
ensemble, whose inference cost is the same.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from pydantic import Field, PrivateAttr, field_validator

from hwsim.schemes.base import Scheme, build_scheme, register_scheme

if TYPE_CHECKING:
    from torch import nn


@register_scheme("benn")
class Benn(Scheme):
    family = "ensemble"
    citation = "Zhu, Dong, Su 2019, Binary Ensemble Neural Network (Xu 2019, a talk, Table 4)"
    quantizes = "as the base scheme, in each of K members"
    bits = "as the base scheme; K networks"
    stash = "as the base scheme, each member on its share of the batch"
    gradient = "as the base scheme; members trained independently (each example through one member)"

    members: int = Field(5, ge=1, le=64)
    base: str | dict[str, Any] = "bnn"

    # one converted base scheme per member: schemes with state (mixed's sub-schemes, pruning's masks) keep it
    _subs: list[Scheme] = PrivateAttr(default_factory=list)

    @field_validator("base")
    @classmethod
    def _base(cls, v: Any) -> Any:
        s = build_scheme(v, where="base")
        if s.name == "benn":
            raise ValueError("an ensemble's base cannot itself be an ensemble")
        return v

    def _base_scheme(self) -> Scheme:
        return build_scheme(self.base)

    def convert(self, model: Any) -> Any:
        import torch

        from hwsim.quant.ensemble import Ensemble, reinit

        nets = []
        self._subs = []
        for i in range(self.members):
            net = copy.deepcopy(model)
            if i and next(iter(net.parameters()), torch.empty(0)).device.type != "meta":
                reinit(net)         # independent members: member 0 keeps the given initialisation
            sub = self._base_scheme()
            nets.append(sub.convert(net))
            self._subs.append(sub)
        return Ensemble(nets)

    def _pairs(self, model: Any) -> list[tuple[Scheme, nn.Module]]:
        subs = self._subs if len(self._subs) == len(model.members) else [self._base_scheme()] * len(model.members)
        return list(zip(subs, model.members))

    def on_step_end(self, model: Any, step: int) -> None:
        for sub, m in self._pairs(model):
            sub.on_step_end(m, step)

    def on_epoch_end(self, model: Any, epoch: int) -> None:
        for sub, m in self._pairs(model):
            sub.on_epoch_end(m, epoch)

    def for_inference(self, model: Any) -> Any:
        from torch import nn

        model.members = nn.ModuleList([sub.for_inference(m) for sub, m in self._pairs(model)])
        return model

    def weight_bits(self) -> int:
        return self._base_scheme().weight_bits()

    def act_bits(self) -> int:
        return self._base_scheme().act_bits()
