"""One design point, typed: what a sweep point or a command line asks to evaluate.

A :class:`DesignPoint` is built once, at the edge (``hwsim.sweep.expand`` from a sweep file, a CLI
verb from its options), and passed on as it is: the sweep runner groups it, the pipeline trains,
traces and prices it. Between those stages it is never a mapping; its JSON form (:meth:`to_json`)
is what the point id hashes, what crosses a worker's pipe and what the store keeps, and
:meth:`DesignPoint.from_json` reads it back.

The JSON form is the resolved config the sweep has always hashed (names resolved, defaults filled
in, keys sorted when hashed), so point ids, and every existing store keyed by them, stay the same.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal

import accel_models as am
from hwsim.jsondoc import Json, JsonDocument
from hwsim.workload import DEFAULT_OPTIMIZER, Workload, parse_input_shape

if TYPE_CHECKING:
    from hwsim.schemes.base import Scheme
    from hwsim.train import TrainRecipe

# the config's JSON form (the store and the point id read it); hwsim.jsondoc names it
JsonObject = JsonDocument


def config_hash(config: JsonObject) -> str:
    """The point id: ``sha256`` of the canonical JSON of a resolved config, 16 hex digits."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def shape_json(shape: tuple[int, ...]) -> str | list[int]:
    """An input shape as the config stores it: ``"tokens:N"`` for token ids, else a list of sizes."""
    from hwsim.models.spec import Tokens

    return str(shape) if isinstance(shape, Tokens) else [int(v) for v in shape]


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: its name (a built-in, or a spec made absolute), builder arguments, the content
    hash of a model file, and the input shape the model entry or its file declares (stored form)."""

    name: str
    args: dict[str, Json] = field(default_factory=dict)
    sha256: str | None = None
    input_shape: str | list[int] | None = None

    def to_json(self) -> JsonObject:
        out: JsonObject = {"name": self.name, "args": dict(sorted(self.args.items()))}
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        if self.input_shape is not None:
            out["input_shape"] = self.input_shape
        return out

    @classmethod
    def from_json(cls, d: JsonObject) -> ModelRef:
        return cls(name=str(d["name"]), args=dict(d.get("args") or {}), sha256=d.get("sha256"),
                   input_shape=d.get("input_shape"))


@dataclass(frozen=True)
class PointRecipe:
    """The training recipe of a trained point (a sweep's ``recipes:`` entry, validated there)."""

    epochs: int = 3
    batch: int = 64
    lr: float = 0.05
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: Literal["constant", "cosine", "sgdr"] = "constant"
    restarts: tuple[int, ...] = ()
    restart_period: int = 1
    restart_mult: int = 2
    seed: int = 0
    limit: int | None = None
    max_steps: int | None = None

    def to_json(self) -> JsonObject:
        d: JsonObject = asdict(self)
        d["restarts"] = list(self.restarts)
        if self.schedule != "sgdr":
            # warm-restart fields only where they matter, so other points keep the configs (and ids) they had
            for k in ("restarts", "restart_period", "restart_mult"):
                d.pop(k)
        return d

    @classmethod
    def from_json(cls, d: JsonObject) -> PointRecipe:
        kw = dict(d)
        kw["restarts"] = tuple(kw.get("restarts") or ())
        return cls(**kw)

    @property
    def optimizer_name(self) -> str:
        """The optimizer's name in :data:`hwsim.workload.OPTIMIZERS` (SGD with or without momentum, Adam)."""
        if self.optimizer == "adam":
            return "adam"
        return "sgd_momentum" if self.momentum > 0 else "sgd"

    def train_recipe(self) -> TrainRecipe:
        """:class:`hwsim.train.TrainRecipe`: ``batch`` -> ``batch_size``, CPU, no data-set cap."""
        from hwsim.train import TrainRecipe

        return TrainRecipe(batch_size=self.batch, device="cpu", epochs=self.epochs, lr=self.lr,
                           optimizer=self.optimizer, momentum=self.momentum, weight_decay=self.weight_decay,
                           schedule=self.schedule, restarts=list(self.restarts),
                           restart_period=self.restart_period, restart_mult=self.restart_mult, seed=self.seed,
                           max_steps=self.max_steps)


@dataclass(frozen=True)
class PointPricing:
    """How a point is priced: training-step and inference batches, where memory energy comes from, how
    much is stored, and a decoder's prompt and generated tokens (None: no prefill + decode)."""

    batch: int
    infer_batch: int = 1
    hierarchy: str | None = None
    memory: Literal["accelerator", "hierarchy"] = "accelerator"
    detail: Literal["full", "summary"] = "full"
    prompt: int | None = None
    new_tokens: int | None = None

    def to_json(self) -> JsonObject:
        d: JsonObject = asdict(self)
        # prefill + decode only where a decoder is priced (other points keep the configs, and ids, they had)
        for k in ("prompt", "new_tokens"):
            if d[k] is None:
                d.pop(k)
        return d

    @classmethod
    def from_json(cls, d: JsonObject) -> PointPricing:
        return cls(**d)


@dataclass(frozen=True)
class Literature:
    """A published table row a point is priced for (accuracy from the paper)."""

    id: str
    table: str
    citation: str
    accuracy: float
    metric: str = "top1"
    batch: int = 128
    epochs: int | None = None
    note: str = ""
    file: str = ""

    def to_json(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_json(cls, d: JsonObject) -> Literature:
        return cls(**d)


class _Built:
    """Schemes and accelerators built from their JSON form, each once per distinct form."""

    def __init__(self) -> None:
        self.schemes: dict[str, Scheme] = {}
        self.accels: dict[str, am.Accelerator] = {}

    def scheme(self, spec: Json) -> Scheme:
        from hwsim.schemes import build_scheme

        k = json.dumps(spec, sort_keys=True)
        if k not in self.schemes:
            self.schemes[k] = build_scheme(dict(spec) if isinstance(spec, dict) else spec)
        return self.schemes[k]

    def accelerator(self, hw: Json) -> am.Accelerator:
        from hwsim.hardware import resolve_accelerator

        k = json.dumps(hw, sort_keys=True)
        if k not in self.accels:
            self.accels[k] = resolve_accelerator(hw)
        return self.accels[k]


# a point as it crosses a worker's pipe: (resolved config, sweep, label)
Wire = tuple[JsonObject, str, str]


def from_wire(wires: list[Wire]) -> list[DesignPoint]:
    """Points sent through a worker's pipe (:meth:`DesignPoint.wire`), their schemes and accelerators
    built once per distinct spec (a group's points share one scheme)."""
    built = _Built()
    return [DesignPoint.from_json(c, sweep=sw, label=lb, built=built) for c, sw, lb in wires]


@dataclass(frozen=True, eq=False)
class DesignPoint:
    """One resolved design point: workload (model, data set, input, scheme object, recipe or none),
    accelerator (every field resolved), technology table, pricing; and the sweep and label it came
    with (not part of its id). Two points are the same point when their ids are equal."""

    model: ModelRef
    dataset: str
    input_shape: tuple[int, ...]           # without the batch; hwsim.models.spec.Tokens for token ids
    num_classes: int
    scheme: Scheme
    recipe: PointRecipe | None
    tech: str                              # a technology table's name or path (hwsim.configs.resolve)
    accelerator_name: str                  # the accelerator as the sweep names it
    accelerator: am.Accelerator
    accuracy_source: Literal["train", "literature", "none"]
    pricing: PointPricing
    literature: Literature | None = None
    sweep: str = ""
    label: str = ""

    # -- the JSON form: ids, worker pipes, the store ----------------------------------------
    def to_json(self) -> JsonObject:
        """The resolved config, as the point id hashes it and the store keeps it."""
        return {
            "model": self.model.to_json(), "dataset": self.dataset, "input_shape": shape_json(self.input_shape),
            "num_classes": self.num_classes, "scheme": self.scheme.spec(),
            "recipe": self.recipe.to_json() if self.recipe is not None else None,
            "tech": self.tech, "accelerator": self.accelerator_name, "hardware": self.accelerator.to_dict(),
            "accuracy_source": self.accuracy_source,
            "literature": self.literature.to_json() if self.literature is not None else None,
            "pricing": self.pricing.to_json(),
        }

    @classmethod
    def from_json(cls, config: JsonObject, sweep: str = "", label: str = "",
                  built: _Built | None = None) -> DesignPoint:
        """A point from its resolved config (what :meth:`to_json` wrote); the scheme and the accelerator
        are built again (``built``: once per distinct spec, for the points of one group)."""
        built = built if built is not None else _Built()
        rec, lit = config.get("recipe"), config.get("literature")
        return cls(model=ModelRef.from_json(config["model"]), dataset=str(config["dataset"]),
                   input_shape=parse_input_shape(config["input_shape"], where="input_shape"),
                   num_classes=int(config["num_classes"]), scheme=built.scheme(config["scheme"]),
                   recipe=PointRecipe.from_json(rec) if rec is not None else None, tech=str(config["tech"]),
                   accelerator_name=str(config["accelerator"]),
                   accelerator=built.accelerator(config.get("hardware") or str(config["accelerator"])),
                   accuracy_source=config["accuracy_source"], pricing=PointPricing.from_json(config["pricing"]),
                   literature=Literature.from_json(lit) if lit else None, sweep=sweep, label=label)

    def wire(self) -> Wire:
        """What crosses a worker's pipe: (config, sweep, label); :func:`from_wire` reads it back."""
        return self.to_json(), self.sweep, self.label

    @functools.cached_property
    def id(self) -> str:
        """``sha256(canonical JSON of the resolved config)[:16]``."""
        return config_hash(self.to_json())

    @functools.cached_property
    def train_key(self) -> str:
        """Points that differ only in pricing (tech, accelerator and its fields) share one training run."""
        c = {k: v for k, v in self.to_json().items() if k not in ("tech", "accelerator", "hardware", "pricing")}
        return config_hash(c)

    # -- what the stages read -----------------------------------------------------------
    @property
    def optimizer(self) -> str:
        """The optimizer the training step is traced and its memory priced with (the recipe's; without
        one, momentum SGD)."""
        return self.recipe.optimizer_name if self.recipe is not None else DEFAULT_OPTIMIZER

    def workload(self, steps_per_epoch: int | None = None) -> Workload:
        """The :class:`~hwsim.workload.Workload` a trace counts (the point's scheme object, shared)."""
        return Workload(model=self.model.name, scheme=self.scheme, input_shape=self.input_shape,
                        num_classes=self.num_classes, batch=self.pricing.batch,
                        infer_batch=self.pricing.infer_batch, optimizer=self.optimizer,
                        model_args=dict(self.model.args), steps_per_epoch=steps_per_epoch,
                        prompt=self.pricing.prompt, new_tokens=self.pricing.new_tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DesignPoint) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)
