"""The Trace: what counting hands to the energy model, the accelerator bridge and the store.

Plain, JSON-serialisable dataclasses; torch-free. One :class:`LayerRecord` per
(layer, phase). One :class:`LayerInfo` per layer with its shape and precision, which
is all the accelerator model needs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

# Spatial dimension names of a 1-, 2- or 3-d convolution's shape: input, output, kernel. Conv1d, Conv3d
# and transposed convolutions are ``conv1d``, ``conv3d``, ``convtranspose1d/2d/3d`` with these keys.
CONV_DIMS: dict[int, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    1: (("W",), ("Q",), ("S",)),
    2: (("H", "W"), ("P", "Q"), ("R", "S")),
    3: (("D", "H", "W"), ("O", "P", "Q"), ("T", "R", "S")),
}
CONV_ND_OPS = ("conv1d", "conv3d", "convtranspose1d", "convtranspose2d", "convtranspose3d")


def conv_dims(op: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(input, output, kernel) dimension names of a ``conv{n}d`` / ``convtranspose{n}d`` op."""
    return CONV_DIMS[int(op[-2])]


def _add(into: dict[str, int | float], other: dict[str, int | float]) -> None:
    for k, v in other.items():
        into[k] = into.get(k, 0) + v


@dataclass
class LayerInfo:
    """Static description of one layer that issues work.

    ``op`` is ``conv2d``, ``linear``, ``batchnorm``, ``relu``, ``pool``, ``add``, ... .
    ``shape`` for conv2d: N, C, H, W, K (out channels), R, S (kernel), stride, padding,
    groups, P, Q (output size); conv1d/conv3d/convtranspose{1,2,3}d: the dimensions of :data:`CONV_DIMS`;
    for linear: N (batch rows), C (in features), K (out features).
    ``precision`` is :meth:`hwsim.formats.LayerPrecision.to_dict` (weight layers only).
    ``stays_float``: the reason a scheme could not apply to this layer (it then runs in float32).
    """

    name: str
    op: str
    shape: dict[str, int] = field(default_factory=dict)
    precision: dict[str, str] = field(default_factory=dict)
    params: int = 0                 # learnable parameters of this layer
    depth: int = -1                 # index among weight layers (0 = first)
    stays_float: str = ""           # why the scheme left this weight layer float ("" = it applied, or fp32)


@dataclass
class LayerRecord:
    """Work and traffic of one layer in one phase.

    macs            mac_type -> multiply-accumulates issued
    effectual_macs  mac_type -> MACs left when zero operands are skipped (measured sparsity)
    elementwise     op -> element operations (bn, relu, pool, add, quantize, update, ...)
    traffic_bytes   tensor_class -> bytes moved at the width each is stored
    """

    layer: str
    phase: str
    macs: dict[str, int] = field(default_factory=dict)
    effectual_macs: dict[str, int] = field(default_factory=dict)
    elementwise: dict[str, int] = field(default_factory=dict)
    traffic_bytes: dict[str, int] = field(default_factory=dict)

    @property
    def total_macs(self) -> int:
        return sum(self.macs.values())


@dataclass
class Trace:
    """Everything counted for one model under one scheme, for one training step or inference."""

    model: str
    scheme: str
    batch: int
    input_shape: list[int]
    mode: str = "train"                       # "train" (all phases) or "infer"
    layers: list[LayerInfo] = field(default_factory=list)
    records: list[LayerRecord] = field(default_factory=list)
    stash_bytes: int = 0                      # bytes held for backward at peak of one step
    stash_bytes_fp32: int = 0                 # the same tensors at 32 bits
    param_count: int = 0
    model_size_bytes: int = 0                 # deployed weights at their stored width
    steps_per_epoch: int = 0
    sparsity: dict[str, Any] = field(default_factory=dict)   # layer -> {"weight": f, "input": f}
    meta: dict[str, Any] = field(default_factory=dict)

    # -- aggregation ---------------------------------------------------------
    def by_phase(self) -> dict[str, dict[str, dict[str, int]]]:
        out: dict[str, dict[str, dict[str, int]]] = defaultdict(
            lambda: {"macs": {}, "effectual_macs": {}, "elementwise": {}, "traffic_bytes": {}}
        )
        for r in self.records:
            d = out[r.phase]
            _add(d["macs"], r.macs)
            _add(d["effectual_macs"], r.effectual_macs)
            _add(d["elementwise"], r.elementwise)
            _add(d["traffic_bytes"], r.traffic_bytes)
        return dict(out)

    def totals(self) -> dict[str, dict[str, int]]:
        t: dict[str, dict[str, int]] = {"macs": {}, "effectual_macs": {}, "elementwise": {}, "traffic_bytes": {}}
        for r in self.records:
            _add(t["macs"], r.macs)
            _add(t["effectual_macs"], r.effectual_macs)
            _add(t["elementwise"], r.elementwise)
            _add(t["traffic_bytes"], r.traffic_bytes)
        return t

    def layer(self, name: str) -> LayerInfo:
        for li in self.layers:
            if li.name == name:
                return li
        raise KeyError(name)

    # -- serialisation -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trace:
        d = dict(d)
        d["layers"] = [LayerInfo(**x) for x in d.get("layers", [])]
        d["records"] = [LayerRecord(**x) for x in d.get("records", [])]
        return cls(**d)
