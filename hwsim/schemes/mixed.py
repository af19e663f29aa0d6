"""``mixed``: several schemes in one model: composition, per-layer overrides, bits falling with depth.

Order of application:

1. ``base`` then each of ``compose`` in order, each on the whole model. Schemes compose through
   :func:`hwsim.quant.layers.convert_layers`: each sets only the slots and precision fields it
   owns, so ``compose: [twn, {name: graham, quantizer: L4}]`` gives ternary weights with
   Graham's L4 inputs and stash.
2. ``bits_by_depth: [8, 6, 4, ...]``: weight layer at depth d gets the ``kbit`` scheme with
   weight and activation bits ``bits_by_depth[min(d, len - 1)]`` ("precision decreases with
   depth", Shanbhag 2020, Sakr ICASSP'18).
   ``weight_bits_by_depth`` / ``act_bits_by_depth`` (per-layer precision search, noise-gain
   allocations): the same with separate weight and activation bits, each list *stretched over the
   depth*: layer d of n takes entry ``floor(d * len / n)``, so ``[8, 6, 4, 4]`` gives each quarter of
   the network its bits whatever its depth; both lists are given together.
3. ``overrides`` in order (later ones win): ``layers`` selects weight layers by ``first``,
   ``last``, a depth ``3`` or inclusive depth range ``2-5``, or a glob on the layer name
   (``layer3.*``); those layers are taken as the override ``scheme`` makes them (e.g. ``fp32``
   keeps the first and last layers at full precision).

Steps 2 and 3 convert a copy of the model with the per-layer scheme and transplant the selected
weight layers (with their slots, declaration and parameters). Step 2 starts from the model as
steps 1 left it, so k-bit composes with the base (e.g. pruning masks stay; slots k-bit sets win);
step 3 starts from the model *as it was given*, so an override replaces the base on its layers
(``fp32`` really restores full precision). Only weight layers are transplanted, so an override's
module changes elsewhere (Graham's BN, ReLU replacements) apply only through ``base``/``compose``. Training hooks (``on_step_end``,
``on_epoch_end``) and ``for_inference`` run every sub-scheme in the same order.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from hwsim.errors import UserError
from hwsim.schemes.base import Scheme, SchemeSpec, build_scheme, register_scheme

if TYPE_CHECKING:
    from torch import nn

    from hwsim.formats import Format, LayerPrecision
    from hwsim.jsondoc import JsonDocument

Spec = SchemeSpec
_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*$")


def _build(spec: Any) -> Scheme:
    """Build a sub-scheme; its error becomes a ValueError naming the sub-field (pydantic adds the path)."""
    try:
        return build_scheme(spec, where="@")
    except UserError as e:
        sub = e.where[2:] if e.where.startswith("@.") else ""
        raise ValueError(f"{sub + ': ' if sub else ''}{e.what}") from None


class Override(BaseModel):
    """``{layers: first | last | 3 | 2-5 | glob, scheme: spec}``."""

    model_config = ConfigDict(extra="forbid")

    layers: str | int
    scheme: Spec

    @field_validator("layers")
    @classmethod
    def _layers(cls, v: str | int) -> str:
        v = str(v).strip()
        if not v:
            raise ValueError("empty layer selector")
        m = _RANGE.match(v)
        if m and m.group(2) is not None and int(m.group(2)) < int(m.group(1)):
            raise ValueError(f"depth range {v!r} is empty (end before start)")
        return v

    @field_validator("scheme")
    @classmethod
    def _scheme(cls, v: Spec) -> Spec:
        s = _build(v)
        if s.name == "mixed":
            raise ValueError("an override cannot itself be 'mixed'")
        return v

    def selects(self, name: str, depth: int, n: int) -> bool:
        sel = str(self.layers)
        if sel == "first":
            return depth == 0
        if sel == "last":
            return depth == n - 1
        m = _RANGE.match(sel)
        if m:
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) is not None else lo
            return lo <= depth <= hi
        return fnmatch.fnmatchcase(name, sel)


@register_scheme("mixed")
class Mixed(Scheme):
    family = "mixed"
    citation = "composition of the other schemes; bits by depth: Shanbhag 2020 'precision decreases with depth'"
    quantizes = "per layer, as the sub-schemes say"
    bits = "per layer"
    stash = "per layer, as the sub-schemes say"
    gradient = "per layer, as the sub-schemes say"

    base: Spec | None = None
    compose: list[Spec] = []
    bits_by_depth: list[int] | None = None
    weight_bits_by_depth: list[int] | None = None
    act_bits_by_depth: list[int] | None = None
    # the per-layer kbit's output-gradient bits (DoReFa's G; 32: float gradients, backward GEMMs in fp32)
    grad_bits: int = Field(32, ge=2, le=32)
    overrides: list[Override] = []

    _subs: list[Scheme] = PrivateAttr(default_factory=list)

    @field_validator("base")
    @classmethod
    def _base(cls, v: Spec | None) -> Spec | None:
        if v is not None:
            _build(v)
        return v

    @field_validator("compose")
    @classmethod
    def _compose(cls, v: list[Spec]) -> list[Spec]:
        for i, s in enumerate(v):
            try:
                _build(s)
            except ValueError as e:
                raise ValueError(f"[{i}] {e}") from None
        return v

    @field_validator("bits_by_depth", "weight_bits_by_depth", "act_bits_by_depth")
    @classmethod
    def _bits(cls, v: list[int] | None) -> list[int] | None:
        if v is not None:
            if not v:
                raise ValueError("bits_by_depth is empty")
            for i, b in enumerate(v):
                if not 2 <= b <= 16:
                    raise ValueError(f"[{i}] bits must be in 2..16, got {b}")
        return v

    @model_validator(mode="after")
    def _something(self) -> Mixed:
        split = self.weight_bits_by_depth is not None or self.act_bits_by_depth is not None
        if self.base is None and not self.compose and self.bits_by_depth is None and not split and not self.overrides:
            raise ValueError("give at least one of base, compose, bits_by_depth, weight_bits_by_depth, "
                             "act_bits_by_depth, overrides")
        if split and (self.weight_bits_by_depth is None or self.act_bits_by_depth is None):
            raise ValueError("give weight_bits_by_depth and act_bits_by_depth together")
        if split and self.bits_by_depth is not None:
            raise ValueError("bits_by_depth sets both operands; give it or weight/act_bits_by_depth, not both")
        return self

    # ------------------------------------------------------------------------------------------
    def _kbit(self, bits: int, act_bits: int | None = None) -> Scheme:
        return build_scheme({"name": "kbit", "weight_bits": bits, "act_bits": bits if act_bits is None else act_bits,
                             "keep_first_last": False, "grad_bits": self.grad_bits})

    def _split_bits(self, d: int, n: int) -> tuple[int, int]:
        def pick(v: list[int]) -> int:
            return v[min(len(v) - 1, d * len(v) // max(n, 1))]
        assert self.weight_bits_by_depth is not None and self.act_bits_by_depth is not None
        return pick(self.weight_bits_by_depth), pick(self.act_bits_by_depth)

    def convert(self, model: Any) -> Any:
        from hwsim.quant.layers import set_submodule, swap_attention, weight_layers

        swap_attention(model)     # the per-layer selections below name attention projections
        pristine = copy.deepcopy(model) if self.overrides else None
        self._subs = []
        for spec in ([self.base] if self.base is not None else []) + list(self.compose):
            s = build_scheme(spec)
            model = s.convert(model)
            self._subs.append(s)

        layers = weight_layers(model)
        n = len(layers)
        # bits_by_depth composes on top of base/compose (a copy of the model as converted so far);
        # overrides replace (a copy of the model as it was given).
        per_layer: list[tuple[Scheme, list[str], Any]] = []
        if self.bits_by_depth:
            staged = copy.deepcopy(model)
            by_bits: dict[int, list[str]] = {}
            for d, (name, _) in enumerate(layers):
                by_bits.setdefault(self.bits_by_depth[min(d, len(self.bits_by_depth) - 1)], []).append(name)
            per_layer += [(self._kbit(b), names, staged) for b, names in by_bits.items()]
        if self.weight_bits_by_depth is not None or self.act_bits_by_depth is not None:
            staged = copy.deepcopy(model)
            by_pair: dict[tuple[int, int], list[str]] = {}
            for d, (name, _) in enumerate(layers):
                by_pair.setdefault(self._split_bits(d, n), []).append(name)
            per_layer += [(self._kbit(w, a), names, staged) for (w, a), names in by_pair.items()]
        for ov in self.overrides:
            names = [name for d, (name, _) in enumerate(layers) if ov.selects(name, d, n)]
            per_layer.append((build_scheme(ov.scheme), names, pristine))
        for sub, names, source in per_layer:
            if not names:
                continue
            converted = dict(weight_layers(sub.convert(copy.deepcopy(source))))
            for name in names:
                new = converted[name]
                if name == "":
                    model = new
                else:
                    set_submodule(model, name, new)
            self._subs.append(sub)
        return model

    def on_step_end(self, model: Any, step: int) -> None:
        for s in self._subs:
            s.on_step_end(model, step)

    def on_epoch_end(self, model: Any, epoch: int) -> None:
        for s in self._subs:
            s.on_epoch_end(model, epoch)

    def optimizer_state_formats(self) -> dict[str, Format]:
        # one optimizer for the whole model: the first scheme that names a role's format sets it
        out: dict[str, Format] = {}
        for s in self._all():
            for role, f in s.optimizer_state_formats().items():
                out.setdefault(role, f)
        return out

    def for_inference(self, model: Any) -> Any:
        for s in self._subs:
            model = s.for_inference(model)
        return model

    def lr_scale(self, epoch: int) -> float:
        out = 1.0
        for s in self._subs:
            f = getattr(s, "lr_scale", None)
            if f is not None:
                out = min(out, f(epoch))
        return out

    def _all(self) -> list[Scheme]:
        specs = ([self.base] if self.base is not None else []) + list(self.compose)
        subs = [build_scheme(s) for s in specs]
        subs += [self._kbit(b) for b in sorted(set(self.bits_by_depth or []))]
        if self.weight_bits_by_depth is not None or self.act_bits_by_depth is not None:
            subs += [self._kbit(min(self.weight_bits_by_depth or [16]), min(self.act_bits_by_depth or [16]))]
        return subs + [build_scheme(o.scheme) for o in self.overrides]

    def spec(self) -> JsonDocument:
        # mixed has no default spec for labels to be compared against, so every field is in a point's
        # label; float gradients (the default) are left out, so points without grad_bits keep their keys
        d = super().spec()
        if self.grad_bits == 32:
            d.pop("grad_bits")
        return d

    def weight_bits(self) -> int:
        return min([s.weight_bits() for s in self._all()] or [32])

    def act_bits(self) -> int:
        return min([s.act_bits() for s in self._all()] or [32])


def precisions(model: nn.Module) -> dict[str, LayerPrecision | None]:
    """layer name -> its ``hwsim_precision`` (for checks and reports)."""
    from hwsim.quant.layers import weight_layers

    return {n: getattr(m, "hwsim_precision", None) for n, m in weight_layers(model)}
