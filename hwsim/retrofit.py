"""Retrofitting a trained fp32 network with Graham's low-precision batch-norm (Graham 2017, Section 2.4).

Graham takes pretrained DenseNet-121/201 and ResNet-18 ImageNet networks, replaces regular
batch-norm by L4-BN or L5-BN, and reports the error with no retraining ("raw") and after brief
fine-tuning (Table 5: L4, ten epochs at weight decay 1e-5; Table 6: L5, one epoch), quantizing
(i) all batch-norms, (ii) all but the first, (iii) all but those of the first dense block.

Here the same on the data available offline:

1. :func:`pretrained`: the fp32 network, trained once and kept as an artefact of the results
   store (``<store>.artefacts/<key>.pt``, a ``state_dict`` written by ``torch.save`` and read back
   with ``torch.load(weights_only=True)``, no pickled code), keyed by model, data set and recipe;
   or loaded from a given checkpoint file the same way.
2. :func:`retrofit_one`: a copy converted by the ``graham`` scheme with ``float_bns`` leading
   batch-norms kept float (0 = all quantized, 1 = all but the first, ...). The new batch-norms
   share the trained parameters and running statistics, so nothing is retrained; test accuracy
   in eval mode is the raw figure. Then ``steps`` optimizer steps of fine-tuning (SGD, the
   recipe's rate scaled by ``finetune_lr_scale``, weight decay 1e-5 as Table 5) and the accuracy again.
   The fp32 network fine-tuned for the same steps is the control (a small network trained briefly
   still gains from extra steps; Graham's baselines were trained to convergence).
3. Each row is priced like any point (:func:`hwsim.evaluate.evaluate`): inference energy per
   sample and the fine-tuning step's energy on an accelerator at a technology node.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwsim.errors import UserError
from hwsim.jsondoc import JsonDocument

if TYPE_CHECKING:
    from hwsim.train import TrainRecipe

TABLE5_WEIGHT_DECAY = 1e-5


@dataclass(frozen=True)
class RetrofitRow:
    """One network variant: the quantizer (``fp32`` for the pretrained baseline), the leading BNs kept
    float, how many BNs are quantized, accuracy raw and after fine-tuning, and its priced cost."""

    quantizer: str
    float_bns: int
    quantized_bns: int
    raw_acc: float
    tuned_acc: float | None
    infer_energy_pj: float | None = None
    finetune_step_energy_pj: float | None = None


@dataclass
class RetrofitResult:
    model: str
    dataset: str
    checkpoint: str
    trained_here: bool
    finetune_steps: int
    batch_norms: int
    rows: list[RetrofitRow] = field(default_factory=list)

    def to_dict(self) -> JsonDocument:
        """The result as ``hwsim retrofit --json`` prints it."""
        return asdict(self)


def checkpoint_key(model: str, dataset: str, recipe: TrainRecipe, limit: int | None) -> str:
    """A stable name for the fp32 network trained by ``recipe`` (same inputs, same file)."""
    blob = json.dumps({"model": model, "dataset": dataset, "recipe": recipe.model_dump(mode="json"), "limit": limit},
                      sort_keys=True)
    return f"{model}-{dataset}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def artefact_dir(db: str | Path) -> Path:
    """Where a results store keeps its artefacts: beside it, ``<store>.artefacts/``."""
    p = Path(db)
    return p.with_name(p.name + ".artefacts")


def load_state(model: Any, path: str | Path, where: str = "--checkpoint") -> None:
    """Load a ``state_dict`` saved by ``torch.save`` into ``model``, never running code (weights_only)."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise UserError(where, f"checkpoint {p} not found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's input
        raise UserError(where, f"{p} is not a weights-only state_dict ({type(e).__name__}: {str(e)[:160]})") from None
    if not isinstance(state, dict):
        raise UserError(where, f"{p} holds a {type(state).__name__}, not a state_dict")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise UserError(where, f"{p} does not fit the model: missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]}")


def pretrained(model: str, ds: Any, recipe: Any, *, artefacts: Path | None = None, checkpoint: Path | None = None,
               limit: int | None = None) -> tuple[Any, str, bool]:
    """The fp32 network: loaded from ``checkpoint``, else from the store's artefacts, else trained and
    saved there. Returns (model, checkpoint path, whether it was trained now)."""
    import torch

    from hwsim.models import build_model
    from hwsim.schemes import build_scheme
    from hwsim.train import train

    torch.manual_seed(recipe.seed)
    net = build_model(model, num_classes=ds.num_classes, in_shape=tuple(ds.in_shape))
    if checkpoint is not None:
        load_state(net, checkpoint)
        return net, str(checkpoint), False
    path = None
    if artefacts is not None:
        path = artefacts / f"{checkpoint_key(model, ds.name, recipe, limit)}.pt"
        if path.is_file():
            load_state(net, path, where=str(path))
            return net, str(path), False
    train(net, build_scheme("fp32"), ds, recipe)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, path)
    return net, str(path or ""), True


def count_bns(model: Any) -> int:
    from torch import nn

    return sum(1 for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)))


def retrofit_one(trained: Any, quantizer: str, float_bns: int, ds: Any, steps: int, recipe: Any,
                 finetune_lr_scale: float = 0.1) -> tuple[float, float | None, Any]:
    """(raw accuracy, accuracy after ``steps`` fine-tuning steps or None, the scheme) of ``trained``
    with its batch-norms after the first ``float_bns`` replaced by Graham's ``quantizer``-BN.
    ``quantizer="fp32"`` fine-tunes the network unchanged: the control that separates the effect of
    the swap from that of the extra steps."""
    from hwsim.schemes import build_scheme
    from hwsim.train import TrainRecipe, evaluate, train

    scheme = build_scheme("fp32" if quantizer == "fp32" else
                          {"name": "graham", "quantizer": quantizer, "float_bns": float_bns})
    net = scheme.convert(copy.deepcopy(trained))
    raw = evaluate(net, ds.test_x, ds.test_y)
    if steps <= 0:
        return raw, None, scheme
    ft = TrainRecipe.parse({**recipe.model_dump(), "lr": recipe.lr * finetune_lr_scale, "schedule": "constant",
                            "milestones": [], "weight_decay": TABLE5_WEIGHT_DECAY, "max_steps": steps,
                            "epochs": max(1, recipe.epochs), "eval_every": max(1, recipe.epochs)})
    res = train(net, scheme, ds, ft)
    return raw, float(res.final_test_acc), scheme


def price(model: str, scheme: Any, ds: Any, batch: int, accelerator: Any, tech: Any) -> tuple[float, float]:
    """(inference energy per sample, training-step energy) of the model under ``scheme`` (pJ)."""
    from hwsim.evaluate import evaluate
    from hwsim.workload import Workload

    wl = Workload(model=model, scheme=scheme, input_shape=tuple(ds.in_shape), num_classes=ds.num_classes,
                  batch=batch, infer_batch=1)
    ev = evaluate(wl, accelerator, tech)
    assert ev.infer_energy is not None and ev.train_energy is not None
    return float(ev.infer_energy.infer_pj_per_sample), float(ev.train_energy.train_step_pj)
