"""Built-in networks, plain torch, registered by name (``model: resnet20``), and user networks.

``build_model(spec, num_classes=..., in_shape=(C, H, W), **kwargs)`` returns an ``nn.Module``:
``spec`` is a built-in name or a model spec (``file.py:factory``, ``package.module:factory``,
``model.onnx``, ``model.pt2``; resolved by :mod:`hwsim.models.spec`). Each built-in entry
carries the publication it comes from and its default input shape.
The registry is declared data (:mod:`hwsim.models.catalog`); a network's module, which imports
torch, is imported only when that network is built.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hwsim.errors import UserError
from hwsim.jsondoc import Json
from hwsim.registry import Registry


@dataclass
class ModelSpec:
    name: str
    builder_path: str                  # "package.module:function", imported when the network is built
    description: str
    citation: str                      # the publication(s) the network comes from: authors, year
    default_input: tuple[int, ...]     # (C, H, W) the paper used, or Tokens((N,)) for a language model
    default_classes: int
    params: int                        # parameters at the default input and classes
    args: dict[str, Json]              # the builder's other keyword arguments and their defaults

    @property
    def builder(self) -> Callable[..., Any]:
        module, _, fn = self.builder_path.partition(":")
        return getattr(importlib.import_module(module), fn)


MODELS: Registry[ModelSpec] = Registry("model")

_loaded = False


def load_all() -> None:
    """Fill :data:`MODELS` from :mod:`hwsim.models.catalog` (declared data: no network is imported)."""
    global _loaded
    if not _loaded:
        from hwsim.models.catalog import CATALOG

        for spec in CATALOG:
            MODELS.add(spec.name, spec)
        _loaded = True


def build_model(spec: str, num_classes: int | None = None, in_shape: tuple[int, ...] | None = None,
                where: str = "model", base: Any = None, **kwargs: Any):
    """Build a network from a built-in name or a model spec (``base``: the folder a relative file
    path is resolved against; default the working directory). Mistakes are one-line user errors."""
    from hwsim.models import spec as specs

    return specs.build(spec, num_classes=num_classes, in_shape=in_shape, base=base, where=where, **kwargs)


def build_builtin(name: str, num_classes: int | None = None, in_shape: tuple[int, ...] | None = None,
                  where: str = "model", **kwargs: Any):
    """Build a registered network. Unknown names and arguments are one-line user errors."""
    load_all()
    spec = MODELS.get(name, where=where)
    sig = inspect.signature(spec.builder)
    for k in kwargs:
        if k not in sig.parameters:
            raise UserError(f"{where}.{k}", f"model {name!r} takes no argument {k!r}; "
                            f"it takes {', '.join(p for p in sig.parameters if p not in ('num_classes', 'in_shape'))}")
    return spec.builder(num_classes=num_classes or spec.default_classes,
                        in_shape=in_shape or spec.default_input, **kwargs)
