"""What a precision scheme is: hyper-parameters (a pydantic model) plus a function that converts a model.

A scheme subclasses :class:`Scheme`, declares its metadata as class variables, and is
registered by name with :func:`register_scheme` so YAML can say ``scheme: twn``.

Contract (every scheme keeps it):
  * ``convert(model)`` returns the model with its layers replaced or wrapped; every
    weight layer (Conv2d/Linear or subclass) carries ``hwsim_precision`` (a
    :class:`hwsim.formats.LayerPrecision`) and every batch-norm that stores a reduced
    N(x) carries ``hwsim_norm_precision`` (:class:`hwsim.formats.NormPrecision`).
  * ``on_step_end(model, step)`` / ``on_epoch_end(model, epoch)``: training-time hooks
    (weight clipping, pruning schedules, basis updates).
  * ``for_inference(model)``: the model as deployed (e.g. McDonnell's 1-bit test weights).
  * ``optimizer_state_formats()``: the format of each optimizer-state role (``moment1``,
    ``moment2``; see :data:`hwsim.workload.STATE_ROLES`) the scheme keeps below fp32; after every
    optimizer step ``on_optimizer_step(optimizer)`` rounds those states to their formats, and
    hwsim.count prices their bytes at those widths.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from hwsim.errors import UserError
from hwsim.jsondoc import Json, JsonDocument
from hwsim.registry import Registry, import_submodules

if TYPE_CHECKING:
    from hwsim.formats import Format

# why a scheme refuses ``bn_stash: recompute`` (rebuilding a batch-norm input from a lossy stash)
BN_STASH_LOSSY = "needs a scheme whose saved layer inputs are exact codes (kbit, bnn); "

# a scheme as a sweep file or the command line writes it: a name, or a mapping of its name and parameters.
# :func:`build_scheme` resolves it into the typed scheme; a scheme that names sub-schemes (mixed, benn)
# keeps their specs verbatim, as they are part of the point's stored config and id.
SchemeSpec = str | dict[str, Json]


class Scheme(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""        # fp32 | binary | ternary | lq | int | stochastic | graham | memory | pruning | mixed
    citation: ClassVar[str] = ""      # the publication: authors, year, venue
    seed: ClassVar[str] = ""          # deprecated name of ``citation`` (read once, at class creation)
    quantizes: ClassVar[str] = ""     # what is quantized in forward
    bits: ClassVar[str] = ""          # e.g. "W1 A32 stash32"
    stash: ClassVar[str] = ""         # what is stored for backward and at how many bits
    gradient: ClassVar[str] = ""      # how gradients pass (STE, clipping)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # ``seed`` used to hold the citation; a scheme written against that name keeps working
        old = cls.__dict__.get("seed")
        if isinstance(old, str) and old and "citation" not in cls.__dict__:
            warnings.warn(f"scheme class {cls.__name__}: 'seed' is deprecated, name the publication "
                          "in 'citation'", DeprecationWarning, stacklevel=2)
            cls.citation = old

    def convert(self, model: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def on_train_begin(self, model: Any, train_x: Any, train_y: Any, epochs: int) -> None:
        """Called once by :func:`hwsim.train.train` before the first step, with the training set."""
        return None

    def training_loss(self, model: Any, x: Any, y: Any, idx: Any) -> tuple[Any, Any] | None:
        """A step's ``(loss, output)`` for the batch ``x, y`` of training examples ``idx``; None: the
        cross-entropy of ``model(x)`` (schemes whose members weigh examples differently say otherwise)."""
        return None

    def on_step_end(self, model: Any, step: int) -> None:
        return None

    def on_epoch_end(self, model: Any, epoch: int) -> None:
        return None

    def optimizer_state_formats(self) -> dict[str, Format]:
        """role (``moment1``, ``moment2``) -> :class:`hwsim.formats.Format` of the states kept below
        fp32; roles not named stay fp32."""
        return {}

    def on_optimizer_step(self, optimizer: Any) -> None:
        """Round every optimizer state whose role has a format to that format (in place)."""
        fmts = self.optimizer_state_formats()
        if fmts:
            from hwsim.quant.microscaling import round_state

            round_state(optimizer, fmts)

    def for_inference(self, model: Any) -> Any:
        return model

    def spec(self) -> JsonDocument:
        """The resolved spec, as YAML would write it (the point's config keeps it; its id hashes it)."""
        return {"name": self.name, **self.model_dump(mode="json")}

    def weight_bits(self) -> int:
        """Bits of the deployed weights (for filtering in the dashboard)."""
        return 32

    def act_bits(self) -> int:
        return 32


SCHEMES: Registry[type[Scheme]] = Registry("scheme")


def register_scheme(name: str):
    def deco(cls: type[Scheme]) -> type[Scheme]:
        cls.name = name
        SCHEMES.add(name, cls)
        return cls

    return deco


_loaded = False


def load_all() -> None:
    """Import every module of ``hwsim.schemes`` so their ``@register_scheme`` lines run."""
    global _loaded
    if not _loaded:
        import_submodules("hwsim.schemes", skip=("base", "registry"))
        _loaded = True


def build_scheme(spec: SchemeSpec | Scheme, where: str = "scheme") -> Scheme:
    """``"twn"`` or ``{"name": "twn", "delta_factor": 0.7}`` -> a validated scheme instance."""
    if isinstance(spec, Scheme):
        return spec
    load_all()
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, dict):
        params = dict(spec)
        name = params.pop("name", None)
        if name is None:
            raise UserError(where, "scheme needs a 'name'")
    else:
        raise UserError(where, f"a scheme is a name or a mapping, got {type(spec).__name__}")
    cls = SCHEMES.get(str(name), where=f"{where}.name" if isinstance(spec, dict) else where)
    try:
        return cls(**params)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise UserError(f"{where}.{loc}" if loc else where, f"{name}: {err['msg']}") from None
