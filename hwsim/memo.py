"""Results derived from objects that stay fixed while a group of design points is priced.

The points of a sweep group share one trace (and often one technology table and hierarchy); the
work items a trace gives the accelerator model, its memory placement and its per-record MAC pricing
are the same for every point that shares them. Inside :func:`fixed` (the sweep pipeline prices a
group's points in one) :func:`derived` computes such a result once per object and key; outside, it
computes afresh on every call, so code that edits a trace between calls never sees a stale result.

Objects are kept by identity (a trace is not hashable) and held with their results (until the
outermost :func:`fixed` ends, or as long as the caller keeps its ``held`` dict), so an id is never
reused while its entry lives.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_scope: dict[tuple[tuple[int, ...], Hashable], tuple[tuple[object, ...], object]] | None = None


@contextmanager
def fixed(held: dict | None = None) -> Iterator[None]:
    """While open, the objects handed to :func:`derived` are not changed (nested scopes share the outer one).
    ``held``: where the results are kept, for a caller that opens a scope again on the same objects
    (the shares of a group one worker prices); a new dict by default, dropped when the scope ends."""
    global _scope
    outer = _scope
    if outer is None:
        _scope = held if held is not None else {}
    try:
        yield
    finally:
        if outer is None:
            _scope = None


def derived(objs: object | tuple[object, ...], key: Hashable, make: Callable[[], T]) -> T:
    """``make()``, remembered for the identity of ``objs`` (one object or a tuple of them; ``()`` for a
    result of ``key`` alone) and ``key`` inside :func:`fixed`; computed on every call outside it."""
    if _scope is None:
        return make()
    held = objs if isinstance(objs, tuple) else (objs,)
    k = (tuple(id(o) for o in held), key)
    hit = _scope.get(k)
    if hit is not None and all(a is b for a, b in zip(hit[0], held)):
        return hit[1]  # type: ignore[return-value]
    value = make()
    _scope[k] = (held, value)
    return value
