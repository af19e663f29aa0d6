"""What is evaluated: a network (a model spec), the scheme that converts it, its input and its batches.

Torch-free at import, so the CLI can parse and check workload options before it loads torch.

- :class:`Workload`: model spec string + arguments, the scheme *object* (built once, passed on),
  input shape, batches, classes, optimizer.
- :func:`parse_input_shape`: the one input-shape parser (``3x224x224``, ``3,224,224``, any rank,
  ``tokens:N``).
- :data:`OPTIMIZERS`: the one optimizer vocabulary, with the optimizer state each keeps.
- :class:`WorkloadOptions`: the workload options every CLI verb spells the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hwsim.errors import UserError

# name -> fp32 state tensors per parameter the optimizer keeps (hwsim.count prices their traffic,
# train_memory_bytes their storage). ``sgd_momentum`` is SGD with momentum 0.9: the sweep recipe's
# default (``momentum: 0.9``), hwsim.count's default and the seed papers' SGD. A point priced without
# a recipe (``accuracy: none`` or a literature row) is priced with it, for its trace and its memory
# alike; plain ``sgd`` is momentum 0.
OPTIMIZERS: dict[str, int] = {"sgd": 0, "sgd_momentum": 1, "adam": 2}
DEFAULT_OPTIMIZER = "sgd_momentum"


def optimizer_states(name: str) -> int:
    """fp32 state tensors per parameter ``name`` keeps (momentum SGD 1, Adam 2, plain SGD 0)."""
    return OPTIMIZERS[check_optimizer(name)]


def check_optimizer(name: str, where: str = "--optimizer") -> str:
    if name not in OPTIMIZERS:
        raise UserError(where, f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    return name


def optimizer_of(recipe: dict[str, Any] | None) -> str:
    """The optimizer of a sweep recipe (``optimizer: sgd|adam``, ``momentum``); no recipe: the default."""
    if not recipe:
        return DEFAULT_OPTIMIZER
    if recipe.get("optimizer") == "adam":
        return "adam"
    return "sgd_momentum" if recipe.get("momentum", 0.9) > 0 else "sgd"


def parse_input_shape(text: str | tuple | list | None, where: str = "--input") -> tuple[int, ...] | None:
    """``"3x224x224"``, ``"3,224,224"`` or ``(3, 224, 224)`` -> (3, 224, 224), any rank, without the batch;
    ``"tokens:2048"`` -> ``Tokens((2048,))``, integer token ids (see :class:`hwsim.models.spec.Tokens`)."""
    from hwsim.models.spec import Tokens

    if text is None or isinstance(text, Tokens):
        return text
    if isinstance(text, str) and text.strip().lower().startswith("tokens:"):
        body = text.strip()[len("tokens:"):]
        try:
            n = tuple(int(p) for p in body.lower().split("x"))
        except ValueError:
            raise UserError(where, f"cannot read {text!r}; expected tokens:N, e.g. tokens:2048") from None
        if not n or any(v <= 0 for v in n):
            raise UserError(where, f"{text!r}: the number of tokens must be positive")
        return Tokens(n)
    if isinstance(text, str):
        parts = text.lower().replace(",", "x").split("x")
    else:
        parts = list(text)
    try:
        shape = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        raise UserError(where, f"cannot read input shape {text!r}; expected e.g. 3x32x32") from None
    if not shape or any(s <= 0 for s in shape):
        raise UserError(where, f"input shape {text!r} must be positive integers, e.g. 3x32x32")
    return shape


@dataclass
class Workload:
    """One network under one scheme at one input size: what a trace counts.

    ``model`` is a model spec resolved through :mod:`hwsim.models` (a built-in name, ``file.py:factory``,
    ...); ``scheme`` is the built scheme object, shared by every point of a group. ``batch`` is the
    training step's batch, ``infer_batch`` the inference pass's; ``steps_per_epoch`` turns a step into an
    epoch."""

    model: str
    scheme: Any
    input_shape: tuple[int, ...]
    num_classes: int
    batch: int = 1
    infer_batch: int = 1
    optimizer: str = DEFAULT_OPTIMIZER
    model_args: dict[str, Any] = field(default_factory=dict)
    steps_per_epoch: int | None = None

    def build_network(self) -> Any:
        """The network as built, before the scheme converts it."""
        from hwsim.models import build_model

        return build_model(self.model, num_classes=self.num_classes, in_shape=tuple(self.input_shape),
                           **self.model_args)

    @classmethod
    def from_config(cls, config: dict[str, Any], scheme: Any, steps_per_epoch: int | None = None) -> Workload:
        """The workload of a resolved sweep point (``hwsim.sweep.expand``'s config)."""
        pr = config["pricing"]
        return cls(model=config["model"]["name"], scheme=scheme, input_shape=tuple(config["input_shape"]),
                   num_classes=int(config["num_classes"]), batch=int(pr["batch"]),
                   infer_batch=int(pr["infer_batch"]), optimizer=optimizer_of(config.get("recipe")),
                   model_args=dict(config["model"].get("args", {})), steps_per_epoch=steps_per_epoch)
