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
the output tile share one pool. The output tile is the spatial tile's outputs at the partial-sum width
in tiled_output_stationary (its reduction spans DRAM loops); in the other two orders C is whole on chip,
a tile's reduction completes in the accumulators, and finished outputs leave one output row (of the
k-tile's channels, at the output width) at a time, as ZigZag's output registers and its output loops
inside the input tile allow. The cost of a candidate is exactly
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

# scaling prefix of a block-scaled kind -> (elements per block, scale bytes per block, bytes per tensor)
BLOCK_SCALES: dict[str, tuple[int, int, int]] = {"mx": (32, 1, 0), "nv": (16, 1, 4)}


def scale_bytes(elems: int, kind: str | None) -> int:
    """Bytes of the scales that travel with ``elems`` elements of ``kind`` (0 unless block-scaled)."""
    s = BLOCK_SCALES.get((kind or "")[:2])
    if s is None or elems <= 0:
        return 0
    block, per_block, per_tensor = s
    return -(-elems // block) * per_block + per_tensor


def stored_bytes(elems: int, bits: int, kind: str | None = None) -> int:
    """Bytes of ``elems`` elements stored at ``bits`` each, plus their block scales."""
    if not kind:
        return (elems * bits + 7) // 8
    return (elems * bits + 7) // 8 + scale_bytes(elems, kind)


_bytes = stored_bytes


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


def _clip(lo: int, hi: int, ext: int) -> int:
    """Elements of [lo, hi) inside [0, ext)."""
    return max(0, min(ext, hi) - max(0, lo))


@lru_cache(maxsize=8192)
def _axis_reads(n: int, f: int, s: int, p: int, ext: int, ot: int, ft: int, padded_edges: bool = False) -> int:
    total = 0
    n_t = -(-n // ot)
    for f0 in range(0, f, ft):
        f1 = min(f, f0 + ft)
        fw = f1 - f0
        if padded_edges:
            for i in range(n_t):
                o0, o1 = i * ot, min(n, i * ot + ot)
                total += min(ext, (o1 - 1 - o0) * s + fw if fw >= s else (o1 - o0) * fw)
        elif fw >= s or ot == 1:
            # windows of a tile overlap or abut: one run per tile; tiles away from the edges are full
            # runs of (ot - 1) * s + fw, only the edge tiles are counted one by one
            i_lo = max(0, -(-(p - f0) // (ot * s)))
            i_hi = min(n // ot - 1, (ext + p + s - f1) // (ot * s) - 1)
            mid = range(i_lo, i_hi + 1) if i_hi >= i_lo else range(0)
            total += len(mid) * ((ot - 1) * s + fw)
            for i in ((*range(i_lo), *range(i_hi + 1, n_t)) if mid else range(n_t)):
                o0, o1 = i * ot, min(n, i * ot + ot)
                total += _clip(o0 * s + f0 - p, (o1 - 1) * s + f1 - p, ext)
        else:
            # gaps between windows: a run of fw per output, whatever the tiles
            o_lo = min(n, max(0, -(-(p - f0) // s)))
            o_hi = max(o_lo, min(n, (ext + p - f1) // s + 1))
            total += (o_hi - o_lo) * fw
            total += sum(_clip(o * s + f0 - p, o * s + f1 - p, ext) for o in (*range(o_lo), *range(o_hi, n)))
    return total


def _axis_reads_slow(n: int, f: int, s: int, p: int, ext: int, ot: int, ft: int) -> int:
    """The same count, tile by tile and output by output (the definition; tests compare the two)."""
    total = 0
    for o0 in range(0, n, ot):
        o1 = min(n, o0 + ot)
        for f0 in range(0, f, ft):
            f1 = min(f, f0 + ft)
            if f1 - f0 >= s or o1 - o0 == 1:
                total += _clip(o0 * s + f0 - p, (o1 - 1) * s + f1 - p, ext)
            else:
                total += sum(_clip(o * s + f0 - p, o * s + f1 - p, ext) for o in range(o0, o1))
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
    output_bits: int = 0         # finished outputs (0: the partial-sum width)


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
    reads: int                   # input elements read over all tiles, halos included (per group)


def _splits(n: int) -> list[int]:
    """Tile counts tried for a loop of ``n``: 1 to 8, and every power-of-two tile size (a fixed set per
    shape, so a bigger buffer can only admit more of them)."""
    out = set(range(1, min(n, 8) + 1))
    t = 1
    while t < n:
        out.add(-(-n // t))
        t *= 2
    return sorted(out)


@lru_cache(maxsize=4096)
def _spatial_cuts(s: NestShape) -> tuple[_Spatial, ...]:
    """Tiles of whole images (several per tile), then of output rows of one image, fewest tiles first."""
    img_rows = s.axis_reads(True, s.OY, s.FY)
    per_row = s.B * s.C * s.axis_reads(False, s.OX, s.FX)
    cuts = []
    for n_img in _splits(s.B):
        b = -(-s.B // n_img)
        cuts.append(_Spatial(n_img, b * s.OY * s.OX, b * img_rows, (("B", n_img),) if n_img > 1 else (),
                             per_row * img_rows))
    for n_rows in _splits(s.OY)[1:]:
        t = -(-s.OY // n_rows)
        tile_rows = min(img_rows, (t - 1) * s.stride_y + s.FY)
        loops = (("OY", n_rows),) + ((("B", s.B),) if s.B > 1 else ())
        cuts.append(_Spatial(s.B * n_rows, t * s.OX, tile_rows, loops, per_row * s.axis_reads(True, t, s.FY)))
    return tuple(cuts)


@lru_cache(maxsize=1024)
def _k_cuts(K: int, cols: int) -> tuple[int, ...]:
    """Numbers of k-tiles tried: k-tiles of 1, 2, 4, ... array-column folds (a k-tile feeds every column of
    the array), and K whole."""
    ts = {K}
    t = max(1, cols)
    while t < K:
        ts.add(t)
        t *= 2
    return tuple(sorted({-(-K // t) for t in ts}))


@lru_cache(maxsize=8192)
def search(s: NestShape, w: Widths, cap: Capacity, cols: int = 1) -> tuple[Candidate, ...]:
    """The best mapping of each order (see the module docstring) that fits ``cap``; per order and
    k-tile count the fewest spatial tiles that fit (fewer tiles never read more)."""
    cuts = _spatial_cuts(s)
    cols_in = s.axis_reads(False, s.OX, s.FX)
    # per order: (bytes, k-tiles, cut) of the best; its element counts then come from nest_traffic
    best: dict[str, tuple[int, int, _Spatial]] = {}
    n_w = s.weights
    w_all = _bytes(n_w, w.filter_bits, w.filter_kind) <= cap.filter
    for nk in _k_cuts(s.K, cols):
        kt = -(-s.K // nk)
        w_tile_ok = _bytes(kt * s.C * s.FY * s.FX, w.filter_bits, w.filter_kind) <= cap.filter
        w_chan_ok = _bytes(kt * s.FY * s.FX, w.filter_bits, w.filter_kind) <= cap.filter
        for order in ORDERS:
            channels = 1 if order == "tiled_output_stationary" else s.C
            if not (w_chan_ok if channels == 1 else w_tile_ok):
                continue

            in_unit = channels * cols_in
            if channels == 1:      # C split across DRAM loops: the output tile holds the partial sums
                out_unit, row_out = kt * w.psum_bits, 0
            else:                  # finished outputs leave a row at a time (its k-tile's channels)
                out_unit, row_out = 0, (kt * s.OX * (w.output_bits or w.psum_bits) + 7) // 8
            lo, hi = 0, len(cuts)          # tiles shrink as their count grows: the first that fits
            while lo < hi:
                mid = (lo + hi) // 2
                c = cuts[mid]
                if cap.io_fits(_bytes(in_unit * c.in_rows, w.ifmap_bits, w.ifmap_kind),
                               (out_unit * c.pixels + 7) // 8 + row_out):
                    hi = mid
                else:
                    lo = mid + 1
            if lo == len(cuts):
                continue
            cut = cuts[lo]
            # the closed forms of nest_traffic for the three nests (test_loopnest checks them)
            if order == "tiled_weights_outer":
                ins, wts = cut.reads * (nk if cut.n > 1 else 1), n_w
            elif order == "tiled_input_outer":
                ins, wts = cut.reads, n_w * (1 if (w_all or nk == 1) else cut.n)
            else:
                ins, wts = cut.reads * nk, n_w * cut.n
            cost = _bytes(ins, w.ifmap_bits, w.ifmap_kind) + _bytes(wts, w.filter_bits, w.filter_kind)
            if order not in best or cost < best[order][0]:
                best[order] = (cost, nk, cut)
    out = []
    for order, (_, nk, cut) in best.items():
        loops = nest_loops(order, s, nk, cut.loops, w_all)
        t = nest_traffic(s, loops)
        out.append(Candidate(order, loops, t.inputs, t.weights, nk, cut.n))
    return tuple(out)


ORDERS = ("tiled_weights_outer", "tiled_input_outer", "tiled_output_stationary")


def nest_loops(order: str, s: NestShape, nk: int, spatial: tuple[Loop, ...], weights_resident: bool) -> DramLoops:
    """The DRAM loops of one of the searched orders, with ``nk`` k-tiles and the ``spatial`` tile loops."""
    kl: tuple[Loop, ...] = (("K", nk),) if nk > 1 else ()
    if order == "tiled_weights_outer":
        return DramLoops.shared(spatial + kl)
    if order == "tiled_input_outer":
        return DramLoops(kl + spatial, () if weights_resident else kl + spatial, kl + spatial)
    cl: tuple[Loop, ...] = (("C", s.C),) if s.C > 1 else ()
    return DramLoops.shared(cl + spatial + kl)

