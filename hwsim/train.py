"""The training loop: a converted model, its scheme's hooks, a data set in memory, a recipe.

``train(model, scheme, dataset, recipe, callbacks=(), progress=False) -> TrainResult``.

The caller converts the model first (``model = scheme.convert(model)``); ``train`` converts
nothing. Before the first step it calls ``scheme.on_train_begin(model, train_x, train_y, epochs)``;
a step's loss is ``scheme.training_loss(model, x, y, idx)`` when the scheme gives one (an ensemble
weighing examples per member), the cross-entropy of ``model(x)`` otherwise. Per optimizer step it
calls ``scheme.on_optimizer_step(optimizer)`` (optimizer state rounded to the scheme's formats) and
``scheme.on_step_end(model, step)``, per epoch
``scheme.on_epoch_end(model, epoch)``, and it measures test accuracy on
``scheme.for_inference(model)`` (the model as deployed, e.g. McDonnell's 1-bit test
weights) in eval mode. Counting conventions: ``step`` is the number of optimizer steps
done so far (1 after the first) and ``epoch`` the number of epochs done (1 after the first).

Per epoch the curve records ``train_loss`` and ``train_acc`` (mean loss and accuracy of the
training batches as they were trained on, train mode), ``test_acc`` (deployed model, eval
mode), ``test_acc_trained`` (the model as trained, without ``for_inference``, eval mode)
and ``lr`` (the learning rate of the epoch's first step). Epochs skipped by ``eval_every``
have ``None`` test accuracies; the last epoch is always evaluated.

Determinism: ``torch.manual_seed(recipe.seed)`` at the start, and the order of the
training examples comes from a ``torch.Generator`` seeded with ``recipe.seed`` (random
permutations of tensor indices, no DataLoader). Seed the model's initialisation yourself
before building it. A last batch of a single example is dropped (batch-norm cannot train on it).
``augment="crop_flip"`` applies the seeds' CIFAR augmentation (:func:`crop_flip`) to each batch.

A NaN or infinite loss stops training with :class:`TrainingDiverged`, a ``UserError`` whose
``where`` is ``train: epoch E step S`` and which carries the partial :class:`TrainResult`.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hwsim.errors import UserError
from hwsim.jsondoc import JsonDocument
from hwsim.trace import EpochRow


class TrainRecipe(BaseModel):
    """Hyper-parameters of one training run (YAML: the ``train:`` mapping)."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)       # SGD only
    nesterov: bool = False                          # SGD only; needs momentum > 0
    weight_decay: float = Field(0.0, ge=0)
    optimizer: Literal["sgd", "adam"] = "sgd"
    schedule: Literal["constant", "cosine", "step", "sgdr"] = "constant"
    milestones: list[int] = Field(default_factory=list)   # step schedule: epochs after which lr *= gamma
    # sgdr (warm restarts): the rate restarts at these epochs (epochs done), else at
    # restart_period x restart_mult^k (Loshchilov & Hutter's T_0 and T_mult)
    restarts: list[int] = Field(default_factory=list)
    restart_period: int = Field(1, ge=1)
    restart_mult: int = Field(2, ge=1)
    lr_min: float = Field(0.0, ge=0)
    gamma: float = Field(0.1, gt=0)
    seed: int = 0
    device: str = "auto"                            # "auto" (cuda if available), "cpu", "cuda", "cuda:N"
    max_steps: int | None = Field(None, ge=1)       # cap on optimizer steps (ends mid-epoch)
    eval_every: int = Field(1, ge=1)                # evaluate the test set every N epochs (and at the end)
    augment: Literal["none", "crop_flip"] = "none"  # crop_flip: random crops after zero padding + h-flips
    augment_pad: int = Field(4, ge=0)               # padding of the random crops (the seeds' CIFAR recipe: 4)

    @model_validator(mode="after")
    def _check(self) -> TrainRecipe:
        if self.nesterov and self.optimizer == "sgd" and self.momentum <= 0:
            raise ValueError("nesterov needs momentum > 0")
        if self.schedule == "step" and not self.milestones:
            raise ValueError("the step schedule needs milestones (epochs after which lr is multiplied by gamma)")
        if any(m < 1 for m in self.milestones) or list(self.milestones) != sorted(self.milestones):
            raise ValueError("milestones are increasing positive epoch numbers")
        if any(r < 1 for r in self.restarts) or sorted(set(self.restarts)) != list(self.restarts):
            raise ValueError("restarts are increasing positive epoch numbers")
        d = self.device
        if not (d in ("auto", "cpu", "cuda") or (d.startswith("cuda:") and d[5:].isdigit())):
            raise ValueError(f"device is 'auto', 'cpu', 'cuda' or 'cuda:N', got {d!r}")
        return self

    @classmethod
    def parse(cls, spec: JsonDocument | TrainRecipe | None, where: str = "train") -> TrainRecipe:
        """A mapping from YAML -> a validated recipe; invalid values are one-line user errors."""
        if isinstance(spec, TrainRecipe):
            return spec
        if spec is not None and not isinstance(spec, dict):
            raise UserError(where, f"a training recipe is a mapping, got {type(spec).__name__}")
        try:
            return cls(**(spec or {}))
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(x) for x in err["loc"])
            raise UserError(f"{where}.{loc}" if loc else where, err["msg"]) from None

    def restart_epochs(self) -> list[int]:
        """Epochs (done) at which SGDR restarts: ``restarts``, else T_0, T_0 + T_0 m, ... below ``epochs``."""
        if self.restarts:
            return [r for r in self.restarts if r < self.epochs]
        out, t, period = [], 0, self.restart_period
        while t + period < self.epochs:
            t += period
            out.append(t)
            period *= self.restart_mult
        return out

    def lr_at(self, epoch: int, step: int, total_steps: int, steps_per_epoch: int | None = None) -> float:
        """Learning rate of the step with 0-based index ``step`` in 1-based ``epoch``.

        constant: lr; step: lr * gamma^(number of milestones < epoch) (torch MultiStepLR);
        cosine: lr * (1 + cos(pi * step / total_steps)) / 2, per step, no restarts;
        sgdr (Loshchilov & Hutter 2017, the schedule McDonnell 2018 trains with): within the cycle
        [a, b) of restart epochs, at fractional epoch t = step / steps_per_epoch,
        lr_min + (lr - lr_min) (1 + cos(pi (t - a) / (b - a))) / 2, back to lr at each restart.
        """
        if self.schedule == "sgdr":
            spe = steps_per_epoch or max(1, math.ceil(total_steps / self.epochs))
            t = step / spe
            bounds = [0, *self.restart_epochs(), self.epochs]
            a, b = next((a, b) for a, b in zip(bounds, bounds[1:]) if t < b or b == self.epochs)
            frac = min(max((t - a) / (b - a), 0.0), 1.0)
            return self.lr_min + (self.lr - self.lr_min) * 0.5 * (1.0 + math.cos(math.pi * frac))
        if self.schedule == "step":
            return self.lr * self.gamma ** sum(1 for m in self.milestones if m < epoch)
        if self.schedule == "cosine":
            return self.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))
        return self.lr


@dataclass
class TrainResult:
    final_test_acc: float | None
    final_train_acc: float | None
    best_test_acc: float | None
    curves: list[EpochRow] = field(default_factory=list)
    epochs_run: int = 0
    steps: int = 0
    wall_s: float = 0.0
    diverged: bool = False
    reason: str = ""
    final_test_acc_trained: float | None = None   # the model as trained, without for_inference

    def to_dict(self) -> JsonDocument:
        """The result as ``hwsim train --json`` prints it."""
        return asdict(self)


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; ``result`` holds the run up to that point."""

    def __init__(self, where: str, what: str, result: TrainResult):
        super().__init__(where, what)
        self.result = result


def resolve_device(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("train.device", f"device {name!r} asked for, but CUDA is not available here")
    return torch.device(name)


def evaluate(model: Any, x: Any, y: Any, batch_size: int = 512) -> float:
    """Top-1 accuracy of ``model`` on (x, y) in eval mode, without gradients; restores the mode."""
    import torch

    was_training = model.training
    model.eval()
    correct = 0
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                out = model(x[i:i + batch_size])
                correct += int((out.argmax(1) == y[i:i + batch_size]).sum())
    finally:
        model.train(was_training)
    return correct / max(len(x), 1)


def crop_flip(x: Any, pad: int, gen: Any) -> Any:
    """The seeds' "light" augmentation (Graham sec. 2.2, McDonnell): per image, a random HxW crop of the
    input zero-padded by ``pad`` pixels, then a horizontal flip with probability 1/2. Randomness from ``gen``."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = x.shape
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(x.device)
    flip = (torch.rand(n, generator=gen) < 0.5).to(x.device)
    xp = F.pad(x, (pad, pad, pad, pad)) if pad else x
    rows = oy[:, None] + torch.arange(h, device=x.device)[None, :]          # (n, h)
    cols = ox[:, None] + torch.arange(w, device=x.device)[None, :]          # (n, w)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    out = xp[torch.arange(n, device=x.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()                              # (n, h, w, c) -> (n, c, h, w)


def _call(callbacks: Sequence[Any], method: str, *args: Any) -> None:
    for cb in callbacks:
        fn = getattr(cb, method, None)
        if fn is not None:
            fn(*args)


def _make_optimizer(model: Any, recipe: TrainRecipe) -> Any:
    """The recipe's optimizer (:data:`hwsim.workload.OPTIMIZERS`) at the recipe's rate, momentum and decay."""
    from hwsim.workload import OPTIMIZERS, optimizer_of

    params = [p for p in model.parameters() if p.requires_grad]
    return OPTIMIZERS[optimizer_of(recipe)].build(params, lr=recipe.lr, momentum=recipe.momentum,
                                                  weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)


def _deployed(model: Any, scheme: Any) -> Any:
    """``scheme.for_inference`` on a copy, so a scheme that edits weights in place cannot touch training."""
    if scheme is None:
        return model
    from hwsim.schemes.base import Scheme

    if isinstance(scheme, Scheme) and type(scheme).for_inference is Scheme.for_inference:
        return model
    return scheme.for_inference(copy.deepcopy(model))


def _batches(n: int, recipe: TrainRecipe) -> tuple[int, list[int], int]:
    """(batch size, first example of each batch, steps in all) for ``n`` training examples."""
    if n < 2:
        raise UserError("train", f"the training set has {n} example(s); need at least 2")
    bs = min(recipe.batch_size, n)
    starts = [i for i in range(0, n, bs) if n - i >= 2]   # drop a last batch of one example
    total_steps = recipe.epochs * len(starts)
    if recipe.max_steps is not None:
        total_steps = min(total_steps, recipe.max_steps)
    return bs, starts, total_steps


def _test(model: Any, scheme: Any, te_x: Any, te_y: Any, eval_bs: int, row: EpochRow,
          result: TrainResult) -> EpochRow:
    """The epoch's ``row`` with the test accuracy of the trained and of the deployed network (also
    into ``result``)."""
    trained = evaluate(model, te_x, te_y, eval_bs)
    deployed = _deployed(model, scheme)
    acc = trained if deployed is model else evaluate(deployed, te_x, te_y, eval_bs)
    result.final_test_acc = acc
    result.final_test_acc_trained = trained
    if result.best_test_acc is None or acc > result.best_test_acc:
        result.best_test_acc = acc
    return replace(row, test_acc=acc, test_acc_trained=trained)


def _show(bar: Any, row: EpochRow) -> None:
    """One epoch more on the progress bar, with its loss and test accuracy."""
    if bar is None:
        return
    bar.update(1)
    bar.set_postfix(loss=f"{row.train_loss:.3f}",
                    test_acc="-" if row.test_acc is None else f"{row.test_acc:.3f}")


def _step_loss(model: Any, scheme: Any, xb: Any, yb: Any, idx: Any) -> tuple[Any, Any]:
    """(loss, outputs) of one batch: the scheme's own loss when it gives one (an ensemble weighing
    examples per member), else the cross-entropy of ``model(xb)``."""
    import torch.nn.functional as F

    custom = scheme.training_loss(model, xb, yb, idx) if scheme is not None else None
    if custom is not None:
        return custom
    out = model(xb)
    return F.cross_entropy(out, yb), out


def train(model: Any, scheme: Any, dataset: Any, recipe: TrainRecipe | JsonDocument | None = None,
          callbacks: Iterable[Any] = (), progress: bool = False) -> TrainResult:
    """Train ``model`` (already converted by ``scheme.convert``) on ``dataset`` following ``recipe``."""
    import torch

    recipe = TrainRecipe.parse(recipe)
    callbacks = list(callbacks)
    device = resolve_device(recipe.device)
    torch.manual_seed(recipe.seed)
    gen = torch.Generator().manual_seed(recipe.seed)

    model.to(device)
    tr_x, tr_y = dataset.train_x.to(device), dataset.train_y.to(device)
    te_x, te_y = dataset.test_x.to(device), dataset.test_y.to(device)
    n = len(tr_x)
    bs, starts, total_steps = _batches(n, recipe)
    eval_bs = max(recipe.batch_size, 512)

    if scheme is not None:
        scheme.on_train_begin(model, tr_x, tr_y, recipe.epochs)
    optimizer = _make_optimizer(model, recipe)
    result = TrainResult(final_test_acc=None, final_train_acc=None, best_test_acc=None)
    t0 = time.perf_counter()
    _call(callbacks, "on_train_begin", model, optimizer)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=recipe.epochs, desc=f"train {dataset.name}", unit="epoch")

    step = 0
    try:
        for epoch in range(1, recipe.epochs + 1):
            model.train()
            perm = torch.randperm(n, generator=gen).to(device)
            loss_sum, correct, seen = 0.0, 0, 0
            # a scheme may scale the rate (Han et al. retrain pruned nets at 1/10 of it); it is told the
            # number of completed epochs, as on_epoch_end is
            lr_mult = float(scheme.lr_scale(epoch - 1)) if hasattr(scheme, "lr_scale") else 1.0
            epoch_lr = recipe.lr_at(epoch, step, total_steps, len(starts)) * lr_mult
            result.epochs_run = epoch
            for i in starts:
                if step >= total_steps:
                    break
                idx = perm[i:i + bs]
                xb, yb = tr_x[idx], tr_y[idx]
                if recipe.augment == "crop_flip":
                    xb = crop_flip(xb, recipe.augment_pad, gen)
                lr = recipe.lr_at(epoch, step, total_steps, len(starts)) * lr_mult
                for g in optimizer.param_groups:
                    g["lr"] = lr
                loss, out = _step_loss(model, scheme, xb, yb, idx)
                loss_v = float(loss.detach())
                if not math.isfinite(loss_v):
                    result.diverged = True
                    result.reason = f"loss became {'nan' if math.isnan(loss_v) else 'inf'}"
                    result.steps = step
                    result.wall_s = time.perf_counter() - t0
                    raise TrainingDiverged(f"train: epoch {epoch} step {step + 1}", result.reason, result)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                if scheme is not None:
                    scheme.on_optimizer_step(optimizer)
                    scheme.on_step_end(model, step)
                _call(callbacks, "on_step", model, step, epoch, loss_v)
                k = len(yb)
                loss_sum += loss_v * k
                correct += int((out.detach().argmax(1) == yb).sum())
                seen += k
            if scheme is not None:
                scheme.on_epoch_end(model, epoch)
            last = epoch == recipe.epochs or step >= total_steps
            row = EpochRow(epoch=epoch, train_loss=loss_sum / max(seen, 1), train_acc=correct / max(seen, 1),
                           lr=epoch_lr)
            if last or epoch % recipe.eval_every == 0:
                row = _test(model, scheme, te_x, te_y, eval_bs, row, result)
            result.final_train_acc = row.train_acc
            result.curves.append(row)
            result.steps = step
            _call(callbacks, "on_epoch_end", model, epoch, row)
            _show(bar, row)
            if step >= total_steps:
                break
    except TrainingDiverged as e:
        _call(callbacks, "on_train_end", model, e.result)
        raise
    finally:
        if bar is not None:
            bar.close()
    result.steps = step
    result.wall_s = time.perf_counter() - t0
    _call(callbacks, "on_train_end", model, result)
    return result


__all__ = ["TrainRecipe", "TrainResult", "TrainingDiverged", "evaluate", "train"]
