"""Work items for the accelerator: convolutions, GEMMs and vector-unit operations.

A :class:`ConvLayer` follows SCALE-Sim's topology conventions (ifmap given *with* its padding, square
or rectangular filter, one stride per axis) plus what SCALE-Sim lacks: ``padding`` (added on each
side), ``groups``, ``batch`` and explicit output sizes. Every conv is lowered to ``groups`` identical
GEMMs (:meth:`ConvLayer.to_gemm`):

    M = batch x P x Q            (ofmap pixels: rows of the im2col ifmap matrix)
    N = K_out / groups           (filters)
    K = (C / groups) x R x S     (conv window: the reduction)

with SCALE-Sim's output size P = ceil((H + 2 pad - R + stride) / stride) unless P is given (the
hwsim bridge passes PyTorch's exact P, Q). Operand widths travel with the work item so the PE model
and the SRAM/DRAM model see the precision the scheme declared.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from accel_models.errors import ConfigError

PHASES = ("forward", "backward_data", "backward_weight", "update", "inference")


@dataclass(frozen=True)
class Operands:
    """Formats of the two GEMM operands and of the output, as ``kind`` + ``bits``.

    ``ifmap`` streams along the array rows' inputs (activations, or gradients in backward-data),
    ``filter`` is the other operand (weights, or gradients in backward-weight), ``ofmap`` is the
    partial-sum width of the accumulators, ``output_bits`` the width at which finished outputs leave
    for DRAM: the consumer's input precision (None: the partial-sum width). Kinds follow hwsim.formats: float, int, binary, ternary,
    log, lq, codebook. ``mac_type`` may be given (hwsim derives it with its rule table); otherwise
    :func:`accel_models.pe.derive_mac_type` applies the same rules.
    """

    ifmap_kind: str = "int"
    ifmap_bits: int = 8
    filter_kind: str = "int"
    filter_bits: int = 8
    ofmap_bits: int = 32
    mac_type: str | None = None
    output_bits: int | None = None
    output_kind: str | None = None     # the consumer's input kind: a block-scaled one writes its scales too

    @property
    def out_bits(self) -> int:
        return self.output_bits if self.output_bits is not None else self.ofmap_bits


@dataclass(frozen=True)
class ConvWindow:
    """The input geometry of one group of a convolution, for tiling its output rows: which input rows
    a tile of output rows reads (its windows' halo included). Widths are the input columns some window
    reads; M = batch x out_h x out_w of the GEMM."""

    batch: int
    channels: int          # input channels per group
    in_h: int
    in_w: int              # input columns some window reads
    out_h: int
    out_w: int
    filt_h: int
    stride_h: int
    padding: int

    def rows_read(self, lo: int, hi: int) -> int:
        """Input rows the windows of output rows [lo, hi) read, clipped to the (unpadded) input."""
        s, r, p = self.stride_h, self.filt_h, self.padding
        if s <= r:      # overlapping or adjacent windows: one contiguous run of rows
            return max(0, min(self.in_h, (hi - 1) * s - p + r) - max(0, lo * s - p))
        return sum(max(0, min(self.in_h, o * s - p + r) - max(0, o * s - p)) for o in range(lo, hi))


@dataclass(frozen=True)
class GemmLayer:
    """C[M x N] = A[M x K] x B[K x N], ``groups`` times (SCALE-Sim's M, N, K; A = ifmap, B = filter)."""

    name: str
    M: int
    N: int
    K: int
    groups: int = 1
    phase: str = "forward"
    operands: Operands | None = None
    ifmap_unique: int | None = None   # distinct ifmap elements per group (a conv's C x H x W, not M x K)
    kernel: int = 1                   # filter window R x S folded into K (K = kernel x in-channels)
    # operand sparsity (accel_models.sparsity): non-zero fractions, N:M weight structure, and the
    # stored / dense bytes of the filter (a pruned layer kept in a sparse format)
    weight_density: float = 1.0
    input_density: float = 1.0
    weight_nm: tuple[int, int] | None = None
    filter_storage_ratio: float = 1.0
    window: ConvWindow | None = None  # a conv's input geometry (tiles of output rows read a halo)

    def __post_init__(self) -> None:
        for f in ("M", "N", "K", "groups"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"layer {self.name}", f"{f} must be a positive integer, got {v!r}")

    @property
    def macs(self) -> int:
        return self.groups * self.M * self.N * self.K

    def to_gemm(self) -> GemmLayer:
        return self

    def with_(self, **kw) -> GemmLayer:
        return replace(self, **kw)

    def to_dict(self) -> dict:
        return asdict(self)


def touched(size: int, kernel: int, stride: int, padding: int, out: int) -> int:
    """Input positions along one axis that some window reads: the union over the ``out`` windows
    [o x stride - padding, + kernel) clipped to [0, size). All of them when kernel >= stride."""
    n, end = 0, 0
    for o in range(out):
        lo = max(o * stride - padding, end, 0)
        hi = min(o * stride - padding + kernel, size)
        if hi > lo:
            n += hi - lo
            end = hi
    return n


@dataclass(frozen=True)
class ConvLayer:
    """A 2-D convolution in SCALE-Sim's terms (+ padding, groups, batch, explicit output size)."""

    name: str
    ifmap_h: int
    ifmap_w: int
    filt_h: int
    filt_w: int
    channels: int
    num_filters: int
    stride_h: int = 1
    stride_w: int = 1
    padding: int = 0
    groups: int = 1
    batch: int = 1
    ofmap_h: int | None = None
    ofmap_w: int | None = None
    phase: str = "forward"
    operands: Operands | None = None

    def __post_init__(self) -> None:
        for f in ("ifmap_h", "ifmap_w", "filt_h", "filt_w", "channels", "num_filters",
                  "stride_h", "stride_w", "groups", "batch"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"layer {self.name}", f"{f} must be a positive integer, got {v!r}")
        if self.padding < 0:
            raise ConfigError(f"layer {self.name}", f"padding must be >= 0, got {self.padding}")
        if self.channels % self.groups or self.num_filters % self.groups:
            raise ConfigError(f"layer {self.name}", f"groups={self.groups} must divide channels and num_filters")
        if self.filt_h > self.ifmap_h + 2 * self.padding or self.filt_w > self.ifmap_w + 2 * self.padding:
            raise ConfigError(f"layer {self.name}", "filter larger than the (padded) ifmap")

    @property
    def out_h(self) -> int:
        if self.ofmap_h is not None:
            return self.ofmap_h
        # SCALE-Sim topology_utils: ofmap_h = ceil((ifmap_h - filt_h + stride_h) / stride_h)
        return math.ceil((self.ifmap_h + 2 * self.padding - self.filt_h + self.stride_h) / self.stride_h)

    @property
    def out_w(self) -> int:
        if self.ofmap_w is not None:
            return self.ofmap_w
        return math.ceil((self.ifmap_w + 2 * self.padding - self.filt_w + self.stride_w) / self.stride_w)

    @property
    def macs(self) -> int:
        return self.to_gemm().macs

    def to_gemm(self) -> GemmLayer:
        """Lower to ``groups`` GEMMs: M = batch*P*Q, N = K_out/g, K = (C/g)*R*S (im2col)."""
        g = self.groups
        return GemmLayer(
            name=self.name, M=self.batch * self.out_h * self.out_w, N=self.num_filters // g,
            K=(self.channels // g) * self.filt_h * self.filt_w, groups=g, phase=self.phase,
            operands=self.operands,
            # per group: the ifmap elements this group's windows read (a strided 1x1 reads a quarter)
            ifmap_unique=self.batch * (self.channels // g)
            * touched(self.ifmap_h, self.filt_h, self.stride_h, self.padding, self.out_h)
            * touched(self.ifmap_w, self.filt_w, self.stride_w, self.padding, self.out_w),
            kernel=self.filt_h * self.filt_w,
            window=ConvWindow(self.batch, self.channels // g, self.ifmap_h,
                              touched(self.ifmap_w, self.filt_w, self.stride_w, self.padding, self.out_w),
                              self.out_h, self.out_w, self.filt_h, self.stride_h, self.padding),
        )

    def with_(self, **kw) -> ConvLayer:
        return replace(self, **kw)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VectorOp:
    """Element-wise work for the vector unit (weight update, batch-norm, activation, pooling, col2im).

    SCALE-Sim does not model these; ``ops`` element operations take ceil(ops / lanes) cycles and
    stream ``bytes_in`` / ``bytes_out`` through the unit. ``fusable_in`` / ``fusable_out`` of those are
    activations (and their gradients) that the unit can take from and give back to the on-chip
    buffers, fused with their producer, when ``tensor_bytes`` (its largest tensor) fits there; the
    rest (a stash, master weights, optimizer state) always goes to DRAM; ``stash_in`` / ``stash_out``
    of it are a training stash (recorded under the buffer name ``stash``, so an inference pass priced
    from forward work can leave them out).
    """

    name: str
    phase: str
    ops: int
    kind: str = "elementwise"
    bytes_in: int = 0
    bytes_out: int = 0
    detail: dict = field(default_factory=dict)
    fusable_in: int = 0
    fusable_out: int = 0
    tensor_bytes: int = 0
    stash_in: int = 0
    stash_out: int = 0


Layer = ConvLayer | GemmLayer | VectorOp
