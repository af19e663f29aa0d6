"""What is evaluated: a network (a model spec), the scheme that converts it, its input and its batches.

Torch-free at import, so the CLI can parse and check workload options before it loads torch.

- :class:`Workload`: model spec string + arguments, the scheme *object* (built once, passed on),
  input shape, batches, classes, optimizer.
- :func:`parse_input_shape`: the one input-shape parser (``3x224x224``, ``3,224,224``, any rank,
  ``tokens:N``).
- :class:`Optimizer`, :data:`OPTIMIZERS`: the one optimizer vocabulary: each optimizer's momentum,
  learning rate, the state it keeps, how a training recipe spells it, and the torch optimizer it builds.
- :func:`parse_scheme`: a scheme as the command line gives it (a name, an inline YAML mapping or a
  YAML file, read by the strict loader).
- :class:`WorkloadOptions`: the workload options every CLI verb that takes a model spells the same
  way (``--batch/-b``, ``--input``, ``--phase``, ``--scheme/-s``, ``--classes``, ``--optimizer``),
  with their defaults; the typer declarations are in ``hwsim/cli_verbs/_common.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hwsim.errors import UserError
from hwsim.jsondoc import Json, JsonDocument


@dataclass(frozen=True)
class Optimizer:
    """One optimizer of the vocabulary. ``states``: fp32 state tensors per parameter it keeps
    (hwsim.count prices their traffic, train_memory_bytes their storage). ``lr``, ``momentum`` and
    ``weight_decay`` are those of a counted step; a training recipe gives its own to :meth:`build`."""

    name: str
    family: str            # the torch optimizer and a training recipe's ``optimizer:`` (sgd | adam)
    states: int
    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0

    def recipe_fields(self) -> dict[str, str | float]:
        """How a training recipe spells this optimizer (:func:`optimizer_of` reads it back)."""
        return {"optimizer": self.family} | ({"momentum": self.momentum} if self.family == "sgd" else {})

    def build(self, params: Any, *, lr: float | None = None, momentum: float | None = None,
              weight_decay: float | None = None, nesterov: bool = False) -> Any:
        """The torch optimizer over ``params``; a value given here replaces this optimizer's own."""
        import torch

        lr = self.lr if lr is None else lr
        wd = self.weight_decay if weight_decay is None else weight_decay
        if self.family == "adam":
            return torch.optim.Adam(params, lr=lr, weight_decay=wd)
        return torch.optim.SGD(params, lr=lr, momentum=self.momentum if momentum is None else momentum,
                               nesterov=nesterov, weight_decay=wd)


# ``sgd_momentum`` is SGD with momentum 0.9: the sweep recipe's default (``momentum: 0.9``),
# hwsim.count's default and the seed papers' SGD. A point priced without a recipe (``accuracy: none``
# or a literature row) is priced with it, for its trace and its memory alike; plain ``sgd`` is momentum 0.
OPTIMIZERS: dict[str, Optimizer] = {o.name: o for o in (
    Optimizer("sgd", "sgd", states=0, lr=0.01),
    Optimizer("sgd_momentum", "sgd", states=1, lr=0.1, momentum=0.9, weight_decay=5e-4),
    Optimizer("adam", "adam", states=2, lr=1e-3),
)}
DEFAULT_OPTIMIZER = "sgd_momentum"
# torch's names of the per-element optimizer state -> the role a scheme gives a format
# (``moment1``: SGD's momentum buffer, Adam's first moment; ``moment2``: Adam's second moment)
STATE_ROLES: dict[str, str] = {"momentum_buffer": "moment1", "exp_avg": "moment1", "exp_avg_sq": "moment2"}


def optimizer_states(name: str) -> int:
    """fp32 state tensors per parameter ``name`` keeps (momentum SGD 1, Adam 2, plain SGD 0)."""
    return OPTIMIZERS[check_optimizer(name)].states


def check_optimizer(name: str, where: str = "--optimizer") -> str:
    if name not in OPTIMIZERS:
        raise UserError(where, f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    return name


def optimizer_of(recipe: Any) -> str:
    """The optimizer of a training recipe (``optimizer: sgd|adam``, ``momentum``), as a mapping or a
    :class:`hwsim.train.TrainRecipe`; no recipe: the default."""
    if not recipe:
        return DEFAULT_OPTIMIZER
    if not isinstance(recipe, dict):
        recipe = recipe.model_dump()
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
    num_classes: int | None
    batch: int = 1
    infer_batch: int = 1
    optimizer: str = DEFAULT_OPTIMIZER
    model_args: dict[str, Json] = field(default_factory=dict)   # the builder's arguments, as a file gives them
    steps_per_epoch: int | None = None
    # inference of a decoder as prefill + decode (hwsim.count.decode): the prompt's tokens (default: the
    # input's sequence length) and the tokens generated after it, one decode step each; None: no decode
    prompt: int | None = None
    new_tokens: int | None = None

    @property
    def decodes(self) -> bool:
        """Whether inference is also priced as prefill + per-token decode with a KV cache."""
        return self.new_tokens is not None

    @property
    def prompt_tokens(self) -> int:
        """The prompt's length: ``prompt``, else the input's sequence length (``tokens:N``)."""
        return int(self.prompt or self.input_shape[-1])

    def build_network(self, device: str | None = None) -> Any:
        """The network as built, before the scheme converts it (``device="meta"``: shapes only, no
        memory for the weights, as a count needs)."""
        from hwsim.models import build_model

        def build() -> Any:
            return build_model(self.model, num_classes=self.num_classes,
                               in_shape=parse_input_shape(self.input_shape, where="input_shape"), **self.model_args)

        if device is None:
            return build()
        import torch

        with torch.device(device):
            return build().to(device)


def check_decode(prompt: Any, new_tokens: Any, where: str = "--new-tokens") -> None:
    """Decode settings are positive integers; a prompt needs tokens to generate after it."""
    for name, v in (("prompt", prompt), ("new_tokens", new_tokens)):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise UserError(where, f"{name} must be a positive number of tokens, got {v!r}")
    if prompt is not None and new_tokens is None:
        raise UserError(where, "a prompt length prices prefill + decode: give the tokens to generate too "
                               "(new_tokens)")


# -- the command line's workload options --------------------------------------------------
PHASES = ("train", "infer")
DEFAULT_BATCH = 64            # a training batch; the sweep recipe's default too
DEFAULT_PHASE = "train"
DEFAULT_SCHEME = "fp32"


def parse_scheme(text: str, where: str = "--scheme") -> str | JsonDocument:
    """A scheme as the command line gives it: a name (``bnn``), an inline YAML mapping
    (``{name: kbit, weight_bits: 4}``) or a YAML file holding one (``my_scheme.yaml``). YAML is read by
    the strict loader (:mod:`hwsim.yamlsafe`)."""
    from pathlib import Path

    from hwsim.yamlsafe import safe_load

    text = text.strip()
    if not text:
        raise UserError(where, "expected a scheme name (see `hwsim schemes`) or a mapping with a 'name'")
    if text.lower().endswith((".yaml", ".yml")):
        path = Path(text).expanduser()
        if not path.is_file():
            raise UserError(where, f"scheme file not found: {text}")
        try:
            body = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(where, f"cannot read {text}: {type(e).__name__}") from None
        spec = safe_load(body, str(path))
    elif text[0] in "{[":
        spec = safe_load(text, where)
    else:
        return text
    if not isinstance(spec, (dict, str)):
        raise UserError(where, "expected a scheme name or a mapping with a 'name', "
                               f"got a {type(spec).__name__}")
    return spec


@dataclass
class WorkloadOptions:
    """The workload options every CLI verb that takes a model spells the same way, as given (None: not
    given, so the default applies): ``--batch/-b``, ``--input``, ``--phase``, ``--scheme/-s``,
    ``--classes``, ``--optimizer``. :meth:`workload` turns them into a :class:`Workload`."""

    batch: int | None = None
    input: str | None = None
    phase: str | None = None
    scheme: str | None = None
    classes: int | None = None
    optimizer: str | None = None

    def given(self) -> list[str]:
        """The options given on the command line, by their names there."""
        return [f"--{k}" for k, v in vars(self).items() if v is not None]

    @property
    def batch_size(self) -> int:
        return self.batch if self.batch is not None else DEFAULT_BATCH

    def phase_name(self) -> str:
        phase = self.phase if self.phase is not None else DEFAULT_PHASE
        if phase not in PHASES:
            raise UserError("--phase", f"expected train or infer, got {phase!r}")
        return phase

    def scheme_spec(self) -> str | JsonDocument:
        return parse_scheme(self.scheme if self.scheme is not None else DEFAULT_SCHEME)

    def input_shape(self) -> tuple[int, ...] | None:
        """The input without the batch, or None for the model's own."""
        return parse_input_shape(self.input, where="--input") if self.input is not None else None

    def optimizer_name(self) -> str:
        return check_optimizer(self.optimizer if self.optimizer is not None else DEFAULT_OPTIMIZER)

    def check(self) -> None:
        """Every value read, before anything is built (and before torch is imported)."""
        if self.batch is not None and self.batch < 1:
            raise UserError("--batch", f"must be a positive integer, got {self.batch}")
        if self.classes is not None and self.classes < 1:
            raise UserError("--classes", f"must be a positive integer, got {self.classes}")
        self.phase_name()
        self.optimizer_name()
        self.input_shape()
        self.scheme_spec()

    def build_scheme(self) -> Any:
        """The scheme object (built once; torch)."""
        from hwsim.schemes import build_scheme

        return build_scheme(self.scheme_spec(), where="--scheme")

    def workload(self, model: str, steps_per_epoch: int | None = None) -> Workload:
        """The :class:`Workload` of ``model`` (a model spec) under these options; an input or class
        count not given is the model's own."""
        from hwsim.models import spec as specs

        self.check()
        shape = self.input_shape()
        if shape is None:
            shape = specs.default_input(model, where="model")
            if not shape:
                raise UserError("--input", f"{model} declares no input shape; give one "
                                           f"(e.g. --input {specs.input_example(model)})")
        classes = self.classes if self.classes is not None else specs.default_classes(model, where="model")
        return Workload(model=model, scheme=self.build_scheme(), input_shape=shape, num_classes=classes,
                        batch=self.batch_size, infer_batch=self.batch_size, optimizer=self.optimizer_name(),
                        steps_per_epoch=steps_per_epoch)
