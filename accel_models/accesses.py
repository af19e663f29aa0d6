"""MemoryAccesses: the bytes an accelerator moves, by (layer, phase), level, buffer and direction.

What the accelerator model hands a cost model (ZigZag's split: hardware, workload and mapping
apart, the cost model takes their result in)::

    acc = MemoryAccesses()
    acc.add("conv1", "forward", "sram", "ifmap", "read", 4096)
    acc.of("conv1", "forward")          # -> [Access(level="sram", buffer="ifmap", rw="read", bytes=4096)]
    acc.total(level="dram")             # bytes at the operand widths, summed
    acc.total(level="dram", whole_bytes=True)   # each transfer rounded up to whole bytes

Levels are ``rf``, ``sram`` and ``dram``. A buffer names the on-chip SRAM an access goes to
(``ifmap``, ``filter``, ``ofmap``); ``""`` is an access not split by buffer (the vector unit's
operand streams). Bytes are at the operands' stored widths and may be fractional: a 1-bit operand
of 100 elements moves 12.5 bytes; ``whole_bytes`` rounds each transfer up as the report's
``*_bytes`` columns do. Every (layer, phase) the accelerator ran is present, with or without
traffic: a cost model takes its memory figures from here for those pairs only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from accel_models.errors import ConfigError

LEVELS = ("rf", "sram", "dram")
BUFFERS = ("ifmap", "filter", "ofmap")
DIRECTIONS = ("read", "write")


@dataclass(frozen=True)
class Access:
    """Bytes moved at one memory level, in one buffer, in one direction."""

    level: str
    buffer: str
    rw: str
    bytes: float


@dataclass
class MemoryAccesses:
    """Accesses per (layer, phase), in the order they were added."""

    by_layer_phase: dict[tuple[str, str], list[Access]] = field(default_factory=dict)

    def cover(self, layer: str, phase: str) -> list[Access]:
        """The accesses of (layer, phase), recording the pair as run even when it moves nothing."""
        return self.by_layer_phase.setdefault((layer, phase), [])

    def add(self, layer: str, phase: str, level: str, buffer: str, rw: str, nbytes: float) -> None:
        """Record ``nbytes`` moved (zero records the pair only)."""
        where = f"accesses[{layer}, {phase}]"
        if level not in LEVELS:
            raise ConfigError(where, f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
        if rw not in DIRECTIONS:
            raise ConfigError(where, f"unknown direction {rw!r}; expected read or write")
        if isinstance(nbytes, bool) or not isinstance(nbytes, (int, float)) or not nbytes >= 0:
            raise ConfigError(where, f"{level} {rw}: expected a non-negative byte count, got {nbytes!r}")
        entries = self.cover(layer, phase)
        if nbytes:
            entries.append(Access(level, buffer, rw, float(nbytes)))

    def extend(self, other: MemoryAccesses) -> None:
        for pair, entries in other.by_layer_phase.items():
            self.cover(*pair).extend(entries)

    def __contains__(self, pair: object) -> bool:
        return pair in self.by_layer_phase

    def pairs(self) -> list[tuple[str, str]]:
        return list(self.by_layer_phase)

    def of(self, layer: str, phase: str) -> list[Access]:
        return list(self.by_layer_phase.get((layer, phase), ()))

    def total(self, level: str | None = None, rw: str | None = None, phase: str | None = None,
              whole_bytes: bool = False) -> float:
        """Bytes summed over the accesses that match; ``whole_bytes``: each rounded up to a whole byte."""
        t = 0.0
        for (_, ph), entries in self.by_layer_phase.items():
            if phase is not None and ph != phase:
                continue
            for a in entries:
                if (level is None or a.level == level) and (rw is None or a.rw == rw):
                    t += math.ceil(a.bytes) if whole_bytes else a.bytes
        return t

    def to_rows(self) -> list[dict[str, object]]:
        """One JSON-friendly row per access: layer, phase, level, buffer, rw, bytes."""
        return [{"layer": lay, "phase": ph, "level": a.level, "buffer": a.buffer, "rw": a.rw, "bytes": a.bytes}
                for (lay, ph), entries in self.by_layer_phase.items() for a in entries]
