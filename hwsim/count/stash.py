"""Bytes held for backward ("the stash"), measured with ``saved_tensors_hooks``.

Every tensor autograd saves in forward passes through the pack hook. What counts is what the
graph still holds when the forward ends (a branch freed during forward, such as the detached
branch of a straight-through estimator, keeps nothing). We record each buffer once, keyed by (storage, offset, numel) (a ReLU output that the next convolution also saves
is one buffer), skip the parameters and buffers of the model (held anyway, not stashed), and attribute it to the layer that saved
it, preferring a weight layer when several save the same buffer. What a scheme packs to
uint8 is counted at its packed size: the bytes of the real buffer, on CPU or meta alike.

``stash_bytes``       sum of numel x element size of the unique saved buffers
``stash_bytes_fp32``  the same buffers at 32 bits per value: float buffers at 4 bytes per
                      element; integer buffers of a layer that declares a stash width b < 32
                      (packed codes) at nbytes * 32 / b; other integer buffers (pooling
                      indices, masks) as they are, since a 32-bit step keeps them too.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


def storage_key(t: Any) -> Any:
    """Identity of a tensor's storage (views share it); works on meta tensors too."""
    try:
        return t.untyped_storage()._cdata
    except (RuntimeError, NotImplementedError, AttributeError):
        return ("id", id(t))


class Held:
    """What the pack hook hands autograd in place of a saved tensor: it lives exactly as long as
    the graph node that saved it, so a weak reference to it tells whether autograd still holds
    the tensor (a node on a branch that backward never reaches, e.g. cut off by ``detach()``,
    is freed with that branch)."""

    __slots__ = ("t", "__weakref__")

    def __init__(self, t: torch.Tensor):
        self.t = t


def unpack_held(h: Any) -> torch.Tensor:
    return h.t


@dataclass
class Saved:
    nbytes: int
    dtype: torch.dtype
    owners: list[str] = field(default_factory=list)
    ref: Any = None          # keeps the storage alive so its key is not reused while we count
    holders: list[Any] = field(default_factory=list)   # weak references to the Held objects

    def alive(self) -> bool:
        return any(h() is not None for h in self.holders)


class StashMeter:
    """Context manager: record every saved tensor's storage with the layer that saved it.

    ``where()`` names the layer running now (the counting mode's innermost module).
    """

    def __init__(self, where: Callable[[], str], exclude: set[Any] | None = None):
        self.where = where
        self.exclude = exclude or set()
        self.saved: dict[Any, Saved] = {}
        self._hooks: Any = None

    def _pack(self, t: torch.Tensor) -> Any:
        skey = storage_key(t)
        if skey in self.exclude:
            return Held(t)
        key = (skey, int(t.storage_offset()), int(t.numel()))
        rec = self.saved.get(key)
        if rec is None:
            rec = self.saved[key] = Saved(int(t.numel()) * t.element_size(), t.dtype, ref=t.untyped_storage())
        rec.owners.append(self.where())
        held = Held(t)
        rec.holders.append(weakref.ref(held))
        return held

    def __enter__(self) -> StashMeter:
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, unpack_held)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._hooks.__exit__(*exc)
        self._hooks = None
        # what autograd still holds when the forward ends: tensors saved on branches it already
        # freed (a straight-through estimator's detached branch) are no part of the stash
        self.saved = {k: r for k, r in self.saved.items() if r.alive()}

    def release(self) -> None:
        for rec in self.saved.values():
            rec.ref = None

    # -- results -----------------------------------------------------------------
    @property
    def total_bytes(self) -> int:
        return sum(r.nbytes for r in self.saved.values())

    def by_layer(self, prefer: Callable[[str], bool]) -> dict[str, int]:
        """Bytes per owning layer: the first weight layer (``prefer``) that saved it, else the first saver."""
        out: dict[str, int] = {}
        for rec in self.saved.values():
            owner = next((o for o in rec.owners if prefer(o)), rec.owners[0])
            out[owner] = out.get(owner, 0) + rec.nbytes
        return out

    def fp32_bytes(self, stash_bits: Callable[[str], int | None]) -> int:
        total = 0
        for rec in self.saved.values():
            if rec.dtype.is_floating_point:
                esize = torch.empty((), dtype=rec.dtype).element_size()
                total += rec.nbytes // esize * 4
                continue
            bits = next((b for b in (stash_bits(o) for o in rec.owners) if b and b < 32), None)
            total += rec.nbytes * 32 // bits if bits else rec.nbytes
        return total

