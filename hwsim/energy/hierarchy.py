"""The memory hierarchy without an accelerator, and where each tensor class lives in it.

Placement model (every rule is printed in the report's assumptions):
  1. Long-lived tensor classes claim the SRAM in ``sram_priority`` order (default: weight,
     stash, grad_weight, weight_master, optimizer_state). A class whose whole footprint (summed
     over layers) fits the SRAM still free is placed in SRAM; otherwise in DRAM.
  2. Footprints: weight / weight_master / optimizer_state / grad_weight = per layer the largest
     bytes any one phase moves of that class, summed over layers; stash = the trace's
     ``stash_bytes`` (peak saved for backward), else the sum of ``stash_write``.
  3. Transient classes (input, output, grad_output, grad_input) of one (layer, phase) stay on chip
     when the largest of them fits the SRAM left after step 1, else go to DRAM (the largest
     stream, not the sum: a record's traffic counts every pass of its ops over the same tensor).
  4. Any tensor of one layer no larger than ``rf_bytes`` lives in the register file.
  5. Every byte a trace record moves of a class is priced at its level. A persistent class
     (weight, weight_master, optimizer_state) placed in SRAM is also fetched from DRAM once per
     step (once per inference batch); weight_master and optimizer_state, which the update
     changes, are written back once per step.
  6. Each MAC reads its two operands from the register file at their widths
     (``rf_operand_reads_per_mac``); the accumulator stays in the adder.
An accelerator model refines this: :func:`hwsim.energy.price` takes its
:class:`accel_models.MemoryAccesses` (bytes per (layer, phase), level, buffer, read/write) instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hwsim.configs import resolve
from hwsim.energy.tech import CONFIG_DIR, _first_error, _read_yaml
from hwsim.errors import UserError
from hwsim.formats import TENSOR_CLASSES
from hwsim.trace import Trace

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


def footprints(trace: Trace) -> dict[str, dict[str, int]]:
    """Per tensor class, per layer: the bytes one copy occupies (largest single-phase traffic)."""
    out: dict[str, dict[str, int]] = {c: {} for c in TENSOR_CLASSES}
    for r in trace.records:
        for c, b in r.traffic_bytes.items():
            if c in out:
                out[c][r.layer] = max(out[c].get(r.layer, 0), int(b))
    return out


def place(trace: Trace, hier: Hierarchy) -> dict[str, Any]:
    """The placement of every long-lived class, the SRAM left for transients, and the footprints."""
    fp = footprints(trace)
    totals = {c: sum(fp[c].values()) for c in TENSOR_CLASSES}
    stash_total = trace.stash_bytes or totals.get("stash_write", 0)
    free = hier.sram_bytes
    levels: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for c in hier.sram_priority:
        size = stash_total if c == "stash" else totals.get(c, 0)
        sizes[c] = size
        if size == 0:
            levels[c] = "none"
        elif size <= free:
            levels[c] = "sram"
            free -= size
        else:
            levels[c] = "dram"
    for c in LONG_LIVED:     # classes left out of sram_priority never claim SRAM
        if c not in levels:
            size = stash_total if c == "stash" else totals.get(c, 0)
            sizes[c] = size
            levels[c] = "dram" if size else "none"
    return {"levels": levels, "footprint_bytes": sizes, "sram_free_for_transients": free,
            "layer_footprints": fp}


def class_level(cls: str, layer: str, bytes_this_phase: int, placement: dict[str, Any],
                hier: Hierarchy, transient_bytes: int) -> str:
    """Level ('rf' | 'sram' | 'dram') at which ``cls`` of ``layer`` is accessed."""
    per_layer = placement["layer_footprints"].get(cls, {}).get(layer, bytes_this_phase)
    if per_layer <= hier.rf_bytes:
        return "rf"
    key = "stash" if cls in ("stash_write", "stash_read") else cls
    if key in placement["levels"]:
        return placement["levels"][key] if placement["levels"][key] != "none" else "dram"
    return "sram" if transient_bytes <= placement["sram_free_for_transients"] else "dram"
