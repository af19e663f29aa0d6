"""DRAM traffic of a temporal mapping (a loop nest above the on-chip buffers), and the mapping search.

A convolution is the nest over B, K, C, OY, OX, FY, FX (batch, output and input channels, output rows
and columns, filter rows and columns; a GEMM is B=1, OY=M, OX=FY=FX=1). A *temporal mapping* splits
some loops into a part held on chip and a part run from DRAM. Per operand, the DRAM loops are listed
innermost first (:class:`DramLoops`; operands may keep different loops on chip, as ZigZag reports
them). The operand's tile is what the loops below its DRAM loops touch; the tile is fetched again
on every iteration of its DRAM loops, except that loops *irrelevant* to the operand which are inner
to all of its relevant DRAM loops reuse the tile in place (the stationarity rule Timeloop and ZigZag
use):

    reads(X) = sum over the positions of X's relevant DRAM loops of the tile's distinct elements
               x the product of X's irrelevant DRAM loops outside its innermost relevant one

Relevance: inputs B, C, OY, OX, FY, FX; weights K, C, FY, FX; outputs B, K, OY, OX. An input tile's
distinct elements are counted exactly per axis: the rows (columns) its windows touch inside the
unpadded input, halos included, so neighbouring tiles re-read their overlap. Outputs: each product
of irrelevant (reduction) DRAM loops outside the output's innermost relevant one is a round of partial
sums through DRAM: every round writes the output, every round but the first reads it back; the last
write leaves at the output width, the others at the partial-sum width.

:func:`search` is the mapping space hwsim searches per layer (the order with the fewest DRAM bytes
wins; see :mod:`accel_models.memory` for why bytes and not energy): K is split into k-tiles, the
output rows (whole images once an image fits) into spatial tiles, and three orders are tried:

    tiled_weights_outer  K tiles outer, spatial tiles inner, C whole: a k-tile's weights stay while the
                         input streams past (read once per k-tile; once in all if it is one tile, which
                         is the whole input resident beside an output tile)
    tiled_input_outer    spatial tiles outer, K tiles inner, C whole: an input tile stays while every
                         k-tile's weights stream past (weights once per spatial tile, once if they fit)
    tiled_output_stationary  K, then spatial tiles, C innermost: an output tile stays in the ofmap buffer
                         while one input channel at a time streams in; no partial sum leaves the chip

Each tile must fit the working part of its buffer (all of it when the accelerator declares no double
buffering, half otherwise), block scales included; with a shared input/output SRAM the input tile and
the output tile (at partial-sum width) share one pool. The cost of a candidate is exactly
:func:`nest_traffic` of its loops (``tests/test_loopnest.py`` checks it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

DIMS = ("B", "K", "C", "OY", "OX", "FY", "FX")
RELEVANT = {"I": frozenset({"B", "C", "OY", "OX", "FY", "FX"}), "W": frozenset({"K", "C", "FY", "FX"}),
            "O": frozenset({"B", "K", "OY", "OX"})}
REDUCTION = frozenset({"C", "FY", "FX"})

Loop = tuple[str, int]          # (dimension, iterations)


@dataclass(frozen=True)
class NestShape:
    """One group of a convolution (``groups`` identical ones run one after another)."""

    B: int
    K: int
    C: int
    OY: int
    OX: int
    FY: int = 1
    FX: int = 1
    stride_y: int = 1
    stride_x: int = 1
    pad_y: int = 0
    pad_x: int = 0
    in_h: int = 0               # unpadded input rows (0: as many as the windows touch)
    in_w: int = 0
    groups: int = 1
    cols_read: int = 0          # input columns the whole output width reads, where known (0: from FX, stride_x)

    @classmethod
    def conv(cls, C: int, K: int, H: int, W: int, FY: int, FX: int, stride: int = 1, pad: int = 0,
             batch: int = 1, groups: int = 1, out_h: int | None = None, out_w: int | None = None) -> NestShape:
        oy = out_h if out_h is not None else (H + 2 * pad - FY) // stride + 1
        ox = out_w if out_w is not None else (W + 2 * pad - FX) // stride + 1
        return cls(batch, K // groups, C // groups, oy, ox, FY, FX, stride, stride, pad, pad, H, W, groups)

    @classmethod
    def window(cls, window, N: int, K: int, groups: int = 1) -> NestShape:
        """From an accel_models.layers.ConvWindow (its columns are not tiled: ``cols_read`` of them)."""
        w = window
        fx = max(1, K // max(1, w.channels * w.filt_h))
        return cls(w.batch, N, w.channels, w.out_h, w.out_w, w.filt_h, fx, w.stride_h, 1, w.padding, 0,
                   w.in_h, w.in_w, groups, cols_read=w.in_w)

    @classmethod
    def gemm(cls, M: int, N: int, K: int, groups: int = 1) -> NestShape:
        return cls(1, N, K, M, 1, groups=groups, in_h=M, in_w=1)

    def _axis(self, y: bool) -> tuple[int, int, int, int, int]:
        if y:
            return self.OY, self.FY, self.stride_y, self.pad_y, self.in_h or (self.OY - 1) * self.stride_y + self.FY
        return self.OX, self.FX, self.stride_x, self.pad_x, self.in_w or (self.OX - 1) * self.stride_x + self.FX

    def axis_reads(self, y: bool, out_tile: int, f_tile: int, padded_edges: bool = False) -> int:
        """Input rows (columns) read over all positions of tiles of ``out_tile`` outputs x ``f_tile``
        filter taps, each tile counting the distinct ones its windows touch inside the input
        (``padded_edges``: ZigZag's count, where a tile's rows are clipped only to the input's size, so an
        edge tile also counts the padding it covers)."""
        if not y and self.cols_read and out_tile >= self.OX and f_tile >= self.FX:
            return self.cols_read
        n, f, s, p, ext = self._axis(y)
        return _axis_reads(n, f, s, p, ext, min(out_tile, n), min(f_tile, f), padded_edges)

    @property
    def weights(self) -> int:
        return self.K * self.C * self.FY * self.FX

    @property
    def outputs(self) -> int:
        return self.B * self.K * self.OY * self.OX

    @property
    def inputs(self) -> int:
        """Distinct input elements the layer reads (per group)."""
        return self.B * self.C * self.axis_reads(True, self.OY, self.FY) * self.axis_reads(False, self.OX, self.FX)


@lru_cache(maxsize=4096)
def _axis_reads(n: int, f: int, s: int, p: int, ext: int, ot: int, ft: int, padded_edges: bool = False) -> int:
    total = 0
    for o0 in range(0, n, ot):
        o1 = min(n, o0 + ot)
        for f0 in range(0, f, ft):
            f1 = min(f, f0 + ft)
            if padded_edges:
                run = (o1 - 1 - o0) * s + f1 - f0 if f1 - f0 >= s else (o1 - o0) * (f1 - f0)
                total += min(ext, run)
            elif f1 - f0 >= s or o1 - o0 == 1:     # windows of the tile overlap or abut: one run
                total += max(0, min(ext, (o1 - 1) * s + f1 - p) - max(0, o0 * s + f0 - p))
            else:                                # gaps between windows: a run per output
                total += sum(max(0, min(ext, o * s + f1 - p) - max(0, o * s + f0 - p)) for o in range(o0, o1))
    return total


@dataclass(frozen=True)
class DramLoops:
    """Per operand (inputs, weights, outputs), the loops run from DRAM, innermost first."""

    inputs: tuple[Loop, ...] = ()
    weights: tuple[Loop, ...] = ()
    outputs: tuple[Loop, ...] = ()

    @classmethod
    def shared(cls, loops: tuple[Loop, ...]) -> DramLoops:
        return cls(loops, loops, loops)


@dataclass(frozen=True)
class NestTraffic:
    """DRAM element moves of one mapping (all groups)."""

    inputs: int
    weights: int
    psum_reads: int
    psum_writes: int
    final_writes: int


def _counts(loops: tuple[Loop, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d, n in loops:
        out[d] = out.get(d, 1) * n
    return out


def _reuse(loops: tuple[Loop, ...], relevant: frozenset[str]) -> int:
    """Product of the irrelevant loops outside the innermost relevant one (1 if none is relevant)."""
    for i, (d, _) in enumerate(loops):
        if d in relevant:
            return math.prod(n for e, n in loops[i:] if e not in relevant)
    return 1


def nest_traffic(shape: NestShape, loops: DramLoops, padded_edges: bool = False) -> NestTraffic:
    """DRAM reads and writes of ``shape`` run by the DRAM ``loops`` (module docstring; ``padded_edges``:
    :meth:`NestShape.axis_reads`)."""
    g = shape.groups
    ci = _counts(loops.inputs)
    def tile(d: str, full: int) -> int:
        return -(-full // ci.get(d, 1))
    ins = shape.B * shape.C * shape.axis_reads(True, tile("OY", shape.OY), tile("FY", shape.FY), padded_edges) \
        * shape.axis_reads(False, tile("OX", shape.OX), tile("FX", shape.FX), padded_edges)
    ins *= _reuse(loops.inputs, RELEVANT["I"])
    wts = shape.weights * _reuse(loops.weights, RELEVANT["W"])
    rounds = _reuse(loops.outputs, RELEVANT["O"])
    o = shape.outputs
    return NestTraffic(g * ins, g * wts, g * o * (rounds - 1), g * o * (rounds - 1), g * o)


# --------------------------------------------------------------------------- the search

@dataclass(frozen=True)
class Capacity:
    """Working bytes of each buffer for one tile (half when double-buffered); ``shared_io``: the input
    and output tiles share one pool of ``ifmap + ofmap`` bytes."""

    ifmap: int
    filter: int
    ofmap: int
    shared_io: bool = False

    def io_fits(self, in_bytes: int, out_bytes: int) -> bool:
        if self.shared_io:
            return in_bytes + out_bytes <= self.ifmap + self.ofmap
        return in_bytes <= self.ifmap and out_bytes <= self.ofmap


@dataclass(frozen=True)
class Widths:
    """Stored bits of inputs, weights and partial sums, and the scale rule of block-scaled operands."""

    ifmap_bits: int
    filter_bits: int
    psum_bits: int
    ifmap_kind: str | None = None
    filter_kind: str | None = None


@dataclass(frozen=True)
class Candidate:
    order: str
    loops: DramLoops
    reads_ifmap: int             # elements, all groups
    reads_filter: int
    k_tiles: int
    spatial_tiles: int


@dataclass(frozen=True)
class _Spatial:
    """A cut of the output pixels into ``n`` tiles: per tile (the largest) its pixels and input rows per
    channel, and the DRAM loops that make it."""

    n: int
    pixels: int
    in_rows: int
    loops: tuple[Loop, ...]


def _spatial_cuts(s: NestShape) -> list[_Spatial]:
    """Tiles of whole images (several per tile), then of output rows of one image, fewest tiles first."""
    img_rows = s.axis_reads(True, s.OY, s.FY)
    cuts = []
    for n_img in sorted({-(-s.B // b) for b in range(1, s.B + 1)}):
        b = -(-s.B // n_img)
        cuts.append(_Spatial(n_img, b * s.OY * s.OX, b * img_rows, (("B", n_img),) if n_img > 1 else ()))
    for n_rows in sorted({-(-s.OY // t) for t in range(1, s.OY)}):
        t = -(-s.OY // n_rows)
        if n_rows == 1:
            continue
        tile_rows = min(img_rows, (t - 1) * s.stride_y + s.FY)
        loops = (("OY", n_rows),) + ((("B", s.B),) if s.B > 1 else ())
        cuts.append(_Spatial(s.B * n_rows, t * s.OX, tile_rows, loops))
    return cuts


def _k_cuts(K: int, cols: int) -> list[int]:
    """Numbers of k-tiles tried: every power-of-two split and every split into array-column folds."""
    ts = {K}
    t = 1
    while t < K:
        ts.add(t)
        t *= 2
    ts.update(range(cols, K, cols))
    return sorted({-(-K // t) for t in ts})


def _bytes(elems: int, bits: int, kind: str | None) -> int:
    from accel_models.memory import stored_bytes

    return stored_bytes(elems, bits, kind)


@lru_cache(maxsize=8192)
def search(s: NestShape, w: Widths, cap: Capacity, cols: int = 1) -> tuple[Candidate, ...]:
    """The best mapping of each order (see the module docstring) that fits ``cap``; per order and
    k-tile count the fewest spatial tiles that fit (fewer tiles never read more)."""
    cuts = _spatial_cuts(s)
    cols_in = s.axis_reads(False, s.OX, s.FX)
    best: dict[str, Candidate] = {}

    def keep(c: Candidate) -> None:
        cost = _bytes(c.reads_ifmap, w.ifmap_bits, w.ifmap_kind) + _bytes(c.reads_filter, w.filter_bits, w.filter_kind)
        old = best.get(c.order)
        if old is None or cost < _bytes(old.reads_ifmap, w.ifmap_bits, w.ifmap_kind) \
                + _bytes(old.reads_filter, w.filter_bits, w.filter_kind):
            best[c.order] = c

    w_all = _bytes(s.weights, w.filter_bits, w.filter_kind) <= cap.filter
    for nk in _k_cuts(s.K, cols):
        kt = -(-s.K // nk)
        kl: tuple[Loop, ...] = (("K", nk),) if nk > 1 else ()
        w_tile_ok = _bytes(kt * s.C * s.FY * s.FX, w.filter_bits, w.filter_kind) <= cap.filter
        w_chan_ok = _bytes(kt * s.FY * s.FX, w.filter_bits, w.filter_kind) <= cap.filter
        for order in ("tiled_weights_outer", "tiled_input_outer", "tiled_output_stationary"):
            channels = 1 if order == "tiled_output_stationary" else s.C
            if not (w_chan_ok if channels == 1 else w_tile_ok):
                continue
            for cut in cuts:
                in_b = _bytes(channels * cut.in_rows * cols_in, w.ifmap_bits, w.ifmap_kind)
                out_b = (kt * cut.pixels * w.psum_bits + 7) // 8
                if not cap.io_fits(in_b, out_b):
                    continue
                if order == "tiled_weights_outer":
                    loops = DramLoops.shared(cut.loops + kl)
                elif order == "tiled_input_outer":
                    loops = DramLoops(kl + cut.loops, () if w_all else kl + cut.loops, kl + cut.loops)
                else:
                    cl: tuple[Loop, ...] = (("C", s.C),) if s.C > 1 else ()
                    loops = DramLoops.shared(cl + cut.loops + kl)
                t = nest_traffic(s, loops)
                keep(Candidate(order, loops, t.inputs, t.weights, nk, cut.n))
                break
    return tuple(best.values())
