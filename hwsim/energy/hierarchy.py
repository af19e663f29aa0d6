"""The memory hierarchy without an accelerator, and where each tensor lives in it, per phase.

Placement model (every rule is printed in the report's assumptions). A pass (the training step, or
the inference pass) runs its records in execution order: forward in layer order, then backward
(backward_data, backward_weight) in reverse layer order, then the update. A tensor holds on-chip
memory only while it is live:
  1. Tensors in use come first. The transient classes (input, output, grad_output, grad_input) of
     the running (layer, phase) stay on chip as far as their largest stream fits the SRAM: a
     fraction min(1, SRAM / largest stream) of their bytes at SRAM, the rest through DRAM (the
     largest stream, not the sum: a record's traffic counts every pass of its ops over the same
     tensor). Nothing long-lived evicts them.
  2. Long-lived tensors of a layer (weight, stash, grad_weight, weight_master, optimizer_state) are
     live from the first record that uses them to the last (the stash from its forward write to its
     backward read; a weight from forward to backward_data); while live, their on-chip bytes share
     what step 1 leaves. Which bytes stay on chip is the linear program that saves the most DRAM
     bytes under that capacity at every record (scipy's HiGHS); a tensor may be split. So a larger
     SRAM never moves more bytes to DRAM, and an inference pass, which keeps no stash, gives its
     whole SRAM to weights and activations. Classes left out of ``sram_priority`` never claim SRAM.
  3. DRAM bytes a long-lived tensor saves per on-chip byte: its traffic over the pass, less one
     fetch from DRAM for a persistent class (weight, weight_master, optimizer_state) and one write
     back for those the update changes (weight_master, optimizer_state).
  4. Any tensor of one layer no larger than ``rf_bytes`` lives in the register file.
  5. Each MAC reads its two operands from the register file at their widths
     (``rf_operand_reads_per_mac``); the accumulator stays in the adder.
An accelerator model refines this: :func:`hwsim.energy.price` takes its
:class:`accel_models.MemoryAccesses` (bytes per (layer, phase), level, buffer, read/write) instead.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hwsim.configs import resolve
from hwsim.energy.tech import CONFIG_DIR, _first_error, _read_yaml
from hwsim.errors import UserError
from hwsim.formats import BACKWARD_DATA, BACKWARD_WEIGHT, FORWARD, INFERENCE, TENSOR_CLASSES
from hwsim.trace import LayerRecord

HIERARCHY_DIR = CONFIG_DIR / "hierarchy"
PERSISTENT = ("weight", "weight_master", "optimizer_state")
WRITTEN_BACK = ("weight_master", "optimizer_state")
TRANSIENT = ("input", "output", "grad_output", "grad_input")
LONG_LIVED = ("weight", "stash", "grad_weight", "weight_master", "optimizer_state")


class Hierarchy(BaseModel):
    """RF, SRAM, DRAM and how the placement model uses them (``configs/hierarchy/default.yaml``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = "custom"
    rf_bytes: int = Field(ge=0)
    sram_bytes: int = Field(gt=0)
    dram: str | None = None
    rf_operand_reads_per_mac: float = Field(default=2, ge=0)
    zero_skipping: bool = False
    sram_priority: list[str] = Field(default_factory=lambda: list(LONG_LIVED))
    # Separate on-chip buffers (name -> bytes) for accelerator accesses to that buffer (ifmap, filter,
    # ofmap); accesses without a matching buffer are priced at sram_bytes.
    sram_buffers: dict[str, int] = Field(default_factory=dict)
    # An accelerator's declared PE registers (operand -> {read, write} pJ per bit) for its ``rf``
    # accesses to that register; a direction not given is priced at the technology's register file.
    rf_registers: dict[str, dict[str, float]] = Field(default_factory=dict)
    path: str = ""

    @field_validator("sram_priority")
    @classmethod
    def _classes(cls, v: list[str]) -> list[str]:
        for c in v:
            if c not in LONG_LIVED:
                raise ValueError(f"unknown tensor class {c!r}; expected some of {', '.join(LONG_LIVED)}")
        return v


    @field_validator("sram_buffers")
    @classmethod
    def _buffers(cls, v: dict[str, int]) -> dict[str, int]:
        for k, b in v.items():
            if b <= 0:
                raise ValueError(f"buffer {k!r} must have a positive size in bytes, got {b}")
        return v


def load_hierarchy(spec: None | str | Path | dict | Hierarchy = None) -> Hierarchy:
    """``None`` -> ``configs/hierarchy/default.yaml``; a name in that folder, a path, or a dict."""
    if isinstance(spec, Hierarchy):
        return spec
    where = "hierarchy"
    if spec is None:
        spec = "default"
    if isinstance(spec, dict):
        raw: Any = spec
    else:
        text = str(spec)
        path = resolve("hierarchy", text, "--hierarchy")
        raw = _read_yaml(path)
        where = str(path)
        if not isinstance(raw, dict):
            raise UserError(where, "a hierarchy must be a YAML mapping")
        raw = dict(raw, path=str(path))
    try:
        return Hierarchy.model_validate(raw)
    except ValidationError as e:
        raise _first_error(where, e) from None


def footprints(records: list[LayerRecord]) -> dict[str, dict[str, int]]:
    """Per tensor class, per layer: the bytes one copy occupies (largest single-phase traffic)."""
    out: dict[str, dict[str, int]] = {c: {} for c in TENSOR_CLASSES}
    for r in records:
        for c, b in r.traffic_bytes.items():
            if c in out:
                out[c][r.layer] = max(out[c].get(r.layer, 0), int(b))
    return out


def _key(cls: str) -> str:
    return "stash" if cls in ("stash_write", "stash_read") else cls


def execution_order(records: list[LayerRecord]) -> list[LayerRecord]:
    """Records of one pass in the order they run: forward (or inference) in layer order, backward in
    reverse layer order (backward_data before backward_weight), then the updates."""
    rank = {}
    for r in records:
        rank.setdefault(r.layer, len(rank))
    n = len(rank)

    def when(r: LayerRecord) -> tuple[int, int]:
        if r.phase in (FORWARD, INFERENCE):
            return (0, rank[r.layer])
        if r.phase in (BACKWARD_DATA, BACKWARD_WEIGHT):
            return (1, 2 * (n - rank[r.layer]) + (r.phase == BACKWARD_WEIGHT))
        return (2, rank[r.layer])

    return sorted(records, key=when)


@dataclass
class Placement:
    """Where the bytes of one pass live (see the module docstring for the rules).

    transient_onchip  (layer, phase) -> fraction of its transient classes' bytes at SRAM
    onchip            (class, layer) -> fraction of a long-lived tensor's bytes at SRAM
    footprint         class -> layer -> bytes of one copy
    """

    transient_onchip: dict[tuple[str, str], float]
    onchip: dict[tuple[str, str], float]
    footprint: dict[str, dict[str, int]]
    rf_bytes: int

    def in_rf(self, cls: str, layer: str, nbytes: int) -> bool:
        return self.footprint.get(cls, {}).get(layer, nbytes) <= self.rf_bytes

    def sram_fraction(self, cls: str, layer: str, phase: str) -> float:
        if cls in TRANSIENT:
            return self.transient_onchip.get((layer, phase), 0.0)
        return self.onchip.get((_key(cls), layer), 0.0)

    def summary(self) -> PlacementSummary:
        """Per long-lived class: bytes of one copy summed over layers, bytes held on chip, and a level
        (``sram``, ``dram``, ``split`` between them, or ``none``)."""
        levels, sizes, held = {}, {}, {}
        for c in LONG_LIVED:
            fp = self.footprint.get("stash_write" if c == "stash" else c, {})
            if c == "stash":
                fp = {k: max(v, self.footprint.get("stash_read", {}).get(k, 0)) for k, v in fp.items()}
            size = sum(v for v in fp.values() if v > self.rf_bytes)
            on = sum(v * self.onchip.get((c, k), 0.0) for k, v in fp.items() if v > self.rf_bytes)
            sizes[c], held[c] = size, int(round(on))
            levels[c] = ("none" if size == 0 else "sram" if on >= size - 0.5 else "dram" if on < 0.5 else "split")
        t = list(self.transient_onchip.values())
        return PlacementSummary(levels=levels, footprint_bytes=sizes, onchip_bytes=held,
                                transients_onchip_fraction=(sum(t) / len(t)) if t else 1.0)


@dataclass(frozen=True)
class PlacementSummary:
    """Per long-lived tensor class of one pass: bytes of one copy summed over layers, bytes held on chip,
    and a level (``sram``, ``dram``, ``split`` between them, or ``none``); the mean on-chip fraction of
    the transients."""

    levels: dict[str, str]
    footprint_bytes: dict[str, int]
    onchip_bytes: dict[str, int]
    transients_onchip_fraction: float


def place(records: list[LayerRecord], hier: Hierarchy) -> Placement:
    """The placement of one pass's records (all of one training step, or one inference pass)."""
    fp = footprints(records)
    order = execution_order(records)
    S = float(hier.sram_bytes)
    transient: dict[tuple[str, str], float] = {}
    cap = []
    for r in order:
        w = max((int(b) for c, b in r.traffic_bytes.items()
                 if c in TRANSIENT and fp[c].get(r.layer, int(b)) > hier.rf_bytes), default=0)
        transient[(r.layer, r.phase)] = 1.0 if w <= S else S / w
        cap.append(max(0.0, S - w))
    # long-lived tensors: size, live interval, DRAM bytes saved per on-chip byte
    allowed = set(hier.sram_priority)
    span: dict[tuple[str, str], list[int]] = {}
    traffic: dict[tuple[str, str], float] = defaultdict(float)
    for t, r in enumerate(order):
        for c, b in r.traffic_bytes.items():
            k = _key(c)
            if k not in LONG_LIVED or not b:
                continue
            item = (k, r.layer)
            s = span.setdefault(item, [t, t])
            s[1] = t
            traffic[item] += float(b)
    items, values, sizes = [], [], []
    for (k, layer), (a, b) in span.items():
        size = max(fp["stash_write"].get(layer, 0), fp["stash_read"].get(layer, 0)) if k == "stash" \
            else fp[k].get(layer, 0)
        if k not in allowed or size <= hier.rf_bytes:
            continue
        fetch = size * (2 if k in WRITTEN_BACK else 1 if k in PERSISTENT else 0)
        saved = (traffic[(k, layer)] - fetch) / size
        if saved > 1e-12:
            items.append(((k, layer), a, b))
            values.append(saved)
            sizes.append(float(size))
    onchip: dict[tuple[str, str], float] = {}
    if items and S > 0:
        x = _max_saved(items, values, sizes, cap)
        onchip = {it[0]: min(1.0, max(0.0, xi / sz)) for it, xi, sz in zip(items, x, sizes)}
    return Placement(transient, onchip, fp, hier.rf_bytes)


def _max_saved(items: list[tuple[tuple[str, str], int, int]], values: list[float], sizes: list[float],
               cap: list[float]) -> list[float]:
    """On-chip bytes per item maximising DRAM bytes saved, with the bytes live at each record within
    that record's capacity: max sum(v x) s.t. sum over items live at t of x <= cap[t], 0 <= x <= size."""
    import numpy as np
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    n, T = len(items), len(cap)
    rows = [t for _, a, b in items for t in range(a, b + 1)]
    cols = [j for j, (_, a, b) in enumerate(items) for _ in range(a, b + 1)]
    a_ub = coo_matrix(([1.0] * len(rows), (rows, cols)), shape=(T, n)).tocsr()
    res = linprog(-np.asarray(values), A_ub=a_ub, b_ub=np.asarray(cap),
                  bounds=list(zip([0.0] * n, sizes)), method="highs")
    if res.status != 0:      # cannot happen for a feasible box (x = 0); keep everything off chip
        return [0.0] * n
    return [float(v) for v in res.x]


def class_level(cls: str, layer: str, phase: str, nbytes: int, placement: Placement) -> tuple[str, float]:
    """(``'rf'``, 1.0) for a tensor that lives in the register file, else (``'sram'``, the fraction of
    its bytes at SRAM; the rest goes through DRAM)."""
    if placement.in_rf(cls, layer, nbytes):
        return "rf", 1.0
    return "sram", placement.sram_fraction(cls, layer, phase)
