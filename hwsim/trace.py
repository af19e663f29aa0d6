"""The Trace: what counting hands to the energy model, the accelerator bridge and the store.

Plain, JSON-serialisable dataclasses; torch-free. One :class:`LayerRecord` per
(layer, phase). One :class:`LayerInfo` per layer with its shape and precision, which
is all the accelerator model needs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields, replace

from hwsim.jsondoc import JsonDocument

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


@dataclass(frozen=True)
class WeightStorage:
    """A pruned weight layer stored in a sparse format (:mod:`hwsim.schemes.pruning`): its stored and
    dense bytes and the density its weight reads are priced at."""

    storage: str
    codebook_bits: int | None
    huffman: bool
    bytes: int
    dense_bytes: int
    density: float
    nm: list[int] | None = None      # N:M structured pruning (N kept of every M), if any


@dataclass(frozen=True)
class KVCacheUse:
    """The KV cache a decode step reads: its length, width and bytes."""

    tokens: int
    bits: int
    kv_heads: int
    bytes_per_token: int
    bytes: int


@dataclass(frozen=True)
class StepCounts:
    """What counting one step finds beyond its per-layer records (:func:`hwsim.count.trace`)."""

    optimizer: str | None                      # None for an inference pass
    weight_storage: dict[str, WeightStorage]   # layer -> its sparse storage (pruned layers only)
    stays_float: dict[str, str]                # layer -> why the scheme left it float
    weight_input_values: int                   # values the weight layers read as input (each tensor once)
    # bytes a training step keeps between steps: master weights, weight gradients, optimizer state
    train_state_bytes: dict[str, int] | None
    weight_input_values_per_sample: int
    weight_input_bytes_fp32: int
    weight_input_bytes_1bit: int
    weight_input_stash_bytes: int              # the same inputs at the widths the scheme stashes them
    sparsity_source: str
    loss: float | None                         # measured on a real step
    scheme_changes: int                        # modules the scheme changed
    scheme_noop: bool                          # none (and not fp32 itself): priced, but the fp32 design


@dataclass(frozen=True)
class SparsitySample:
    """Operand sparsity of one weight layer on one sampled training step (:mod:`hwsim.count.sparsity`)."""

    step: int
    epoch: int
    weight: float               # fraction of zero weights
    input: float                # fraction of zero inputs
    effectual_fraction: float   # MACs with both operands non-zero / MACs issued


@dataclass(frozen=True)
class EpochRow:
    """One epoch of the training loop (:func:`hwsim.train.train`): its loss and accuracies."""

    epoch: int
    train_loss: float
    train_acc: float
    lr: float
    test_acc: float | None = None           # the deployed network (after ``for_inference``)
    test_acc_trained: float | None = None   # the network as trained

    def values(self) -> list[tuple[str, float]]:
        """(metric, value) of every figure measured this epoch, in the loop's order."""
        order = ("train_loss", "train_acc", "test_acc", "test_acc_trained", "lr")
        return [(k, float(v)) for k in order if (v := getattr(self, k)) is not None]


@dataclass(frozen=True)
class TrainingRun:
    """What :class:`hwsim.count.CountingCallback` saw over a whole training run."""

    sparsity_timeline: dict[str, list[SparsitySample]]   # layer -> samples
    epochs: list[EpochRow]
    epoch_totals: dict[str, dict[str, int]]              # work of the last epoch, as :meth:`Trace.totals`
    step_signatures: dict[str, int]                      # input shape ("8x1x28x28") -> steps


_COMMON = ("device", "notes", "unsupported_ops", "input", "seconds", "phases")


@dataclass(frozen=True)
class TraceMeta:
    """How a trace was counted: its device, notes and what a step, a decode step or a training run
    adds. Its JSON form (:meth:`to_json`) is the flat object stores and ``--json`` have always held:
    the common keys, then each section's keys; a trace built by hand (no ``device``) has none."""

    device: str | None = None
    notes: tuple[str, ...] = ()
    unsupported_ops: dict[str, int] = field(default_factory=dict)   # aten op -> calls without a formula
    input: str | None = None            # "3x224x224", "tokens:1024" or "decode"
    seconds: float | None = None        # wall time of the count (not stored: a rerun stores the same blob)
    phases: tuple[str, ...] = ()
    step: StepCounts | None = None      # a counted training step or inference pass
    kv_cache: KVCacheUse | None = None  # a decode step
    per_epoch: dict[str, dict[str, int]] | None = None   # the step's totals x steps per epoch
    training: TrainingRun | None = None                  # a real training run's sparsity and epochs

    def with_note(self, note: str) -> TraceMeta:
        return replace(self, notes=(*self.notes, note))

    @property
    def stays_float(self) -> dict[str, str]:
        return self.step.stays_float if self.step is not None else {}

    @property
    def weight_storage(self) -> dict[str, WeightStorage]:
        return self.step.weight_storage if self.step is not None else {}

    @property
    def scheme_noop(self) -> bool:
        return self.step is not None and self.step.scheme_noop

    def to_json(self) -> JsonDocument:
        if self.device is None:
            return {}
        d = asdict(self)
        out: JsonDocument = {k: (list(d[k]) if isinstance(d[k], tuple) else d[k]) for k in _COMMON}
        for section in ("step", "training"):
            if d[section] is not None:
                out.update(d[section])
        for key in ("kv_cache", "per_epoch"):
            if d[key] is not None:
                out[key] = d[key]
        return out

    @classmethod
    def from_json(cls, d: JsonDocument) -> TraceMeta:
        if not d:
            return cls()
        kw = {k: d[k] for k in _COMMON if k in d}
        kw["notes"], kw["phases"] = tuple(kw.get("notes") or ()), tuple(kw.get("phases") or ())
        if "sparsity_source" in d:
            step = {f.name: d.get(f.name) for f in fields(StepCounts)}
            step["weight_storage"] = {k: WeightStorage(**v) for k, v in (d.get("weight_storage") or {}).items()}
            kw["step"] = StepCounts(**step)
        if d.get("kv_cache") is not None:
            kw["kv_cache"] = KVCacheUse(**d["kv_cache"])
        if d.get("per_epoch") is not None:
            kw["per_epoch"] = d["per_epoch"]
        if "sparsity_timeline" in d:
            kw["training"] = TrainingRun(
                sparsity_timeline={k: [SparsitySample(**s) for s in v] for k, v in d["sparsity_timeline"].items()},
                epochs=[EpochRow(**e) for e in d.get("epochs") or []], epoch_totals=d.get("epoch_totals") or {},
                step_signatures=d.get("step_signatures") or {})
        return cls(**kw)


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
    sparsity: dict[str, dict[str, float]] = field(default_factory=dict)   # layer -> {"weight": f, "input": f}
    meta: TraceMeta = field(default_factory=TraceMeta)

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
    # the trace as written to a file or the store, and read back from one
    def to_dict(self) -> JsonDocument:
        d = asdict(self)
        d["meta"] = self.meta.to_json()
        return d

    @classmethod
    def from_dict(cls, d: JsonDocument) -> Trace:
        d = dict(d)
        d["layers"] = [LayerInfo(**x) for x in d.get("layers", [])]
        d["records"] = [LayerRecord(**x) for x in d.get("records", [])]
        d["meta"] = TraceMeta.from_json(d.get("meta") or {})
        return cls(**d)


def summary(tr: Trace) -> JsonDocument:
    """Plain totals for printing (``hwsim count --json``): MACs by phase and type, element-wise ops,
    traffic, stash."""
    bp, st = tr.by_phase(), tr.meta.step
    return {
        "model": tr.model, "scheme": tr.scheme, "batch": tr.batch, "input_shape": tr.input_shape, "mode": tr.mode,
        "macs_by_phase": {p: dict(d["macs"]) for p, d in bp.items()},
        "effectual_macs_by_phase": {p: dict(d["effectual_macs"]) for p, d in bp.items()},
        "elementwise_by_phase": {p: dict(d["elementwise"]) for p, d in bp.items()},
        "traffic_bytes_by_phase": {p: dict(d["traffic_bytes"]) for p, d in bp.items()},
        "totals": tr.totals(),
        "stash_bytes": tr.stash_bytes, "stash_bytes_fp32": tr.stash_bytes_fp32,
        "param_count": tr.param_count, "model_size_bytes": tr.model_size_bytes,
        "weight_input_values_per_sample": st.weight_input_values_per_sample if st else None,
        "weight_input_bytes_fp32": st.weight_input_bytes_fp32 if st else None,
        "weight_input_bytes_1bit": st.weight_input_bytes_1bit if st else None,
        "weight_input_stash_bytes": st.weight_input_stash_bytes if st else None,
        "scheme_noop": tr.meta.scheme_noop,
    }
