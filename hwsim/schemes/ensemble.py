"""``benn``: an ensemble of binary (or any) networks, BENN (Zhu, Dong, Su, CVPR 2019; quoted in Xu 2019,
a talk: "More bits per network or more networks per bit?", Table 4 with BENN-Bag/Boost-5/8 on AlexNet).

``members`` copies of the model, each converted by the ``base`` scheme (``bnn`` by default; any scheme
spec composes, ``mixed`` included), each with its own initial weights (re-initialised per member).
``method`` is how they learn and vote (:mod:`hwsim.quant.ensemble`):

* ``bagging`` (BENN-Bag, the default): each member on its own bootstrap resample of the training set
  (drawn with replacement). A training step runs every member on the batch: K times the base
  network's step. Inference averages the members' logits: K base networks plus the average.
* ``boosting`` (BENN-Boost, AdaBoost/SAMME): members trained one after another, each for its share of
  the epochs (give at least K epochs) on examples re-weighted by the previous members' mistakes; each
  member's vote weighs ``alpha_k`` from its weighted training error. A training step is one base
  network's step; after each share the member is run once over the training set to weigh it (K
  inference passes over the data in all, outside the per-step figure). Inference: K base networks and
  the weighted vote.
* ``subagging``: example i of a batch through member i mod K (disjoint subsamples); a step costs one
  base network's step, a member sees about 1/K of each epoch.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PrivateAttr, field_validator

from hwsim.schemes.base import Scheme, SchemeSpec, build_scheme, register_scheme

if TYPE_CHECKING:
    from torch import nn


@register_scheme("benn")
class Benn(Scheme):
    family = "ensemble"
    citation = "Zhu, Dong, Su 2019, Binary Ensemble Neural Network (Xu 2019, a talk, Table 4)"
    quantizes = "as the base scheme, in each of K members"
    bits = "as the base scheme; K networks"
    stash = "as the base scheme, per member that trains in the step"
    gradient = "as the base scheme; bagging: bootstrap-weighted losses; boosting: SAMME-weighted examples"

    members: int = Field(5, ge=1, le=64)
    base: SchemeSpec = "bnn"
    method: Literal["bagging", "boosting", "subagging"] = "bagging"

    # one converted base scheme per member: schemes with state (mixed's sub-schemes, pruning's masks) keep it
    _subs: list[Scheme] = PrivateAttr(default_factory=list)
    # the training set, kept for boosting's end-of-share evaluation
    _train: tuple[Any, Any] | None = PrivateAttr(default=None)

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
        return Ensemble(nets, self.method)

    def _pairs(self, model: Any) -> list[tuple[Scheme, nn.Module]]:
        subs = self._subs if len(self._subs) == len(model.members) else [self._base_scheme()] * len(model.members)
        return list(zip(subs, model.members))

    def on_step_end(self, model: Any, step: int) -> None:
        for sub, m in self._pairs(model):
            sub.on_step_end(m, step)

    def on_train_begin(self, model: Any, train_x: Any, train_y: Any, epochs: int) -> None:
        self._train = (train_x, train_y)
        model.begin(len(train_x), epochs, train_x.device)

    def training_loss(self, model: Any, x: Any, y: Any, idx: Any) -> tuple[Any, Any] | None:
        return model.loss(x, y, idx)

    def on_epoch_end(self, model: Any, epoch: int) -> None:
        for sub, m in self._pairs(model):
            sub.on_epoch_end(m, epoch)
        if self._train is not None:
            model.end_of_epoch(epoch, *self._train)

    def for_inference(self, model: Any) -> Any:
        from torch import nn

        model.members = nn.ModuleList([sub.for_inference(m) for sub, m in self._pairs(model)])
        return model

    def weight_bits(self) -> int:
        return self._base_scheme().weight_bits()

    def act_bits(self) -> int:
        return self._base_scheme().act_bits()
