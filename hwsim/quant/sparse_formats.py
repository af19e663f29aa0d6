"""Storage formats for pruned weights: real encoders and the size formulas pricing uses.

One weight tensor is stored as byte-aligned sections written one after the other (no header: the
layer's shape is known to the reader). ``b`` = value bits (32 for fp32 weights, ``k`` with a
codebook), ``n`` = elements, ``z`` = non-zeros, ``rows`` x ``cols`` = the weight as a matrix
(output channels x everything else), ``B(x)`` = ceil(x / 8).

  dense     values                                    B(n b)
  bitmask   one bit per element, then the non-zeros   B(n) + B(z b)
  csr       values, column indices, row pointers      B(z b) + B(z ceil(log2 cols)) + B((rows + 1) ceil(log2(z + 1)))
  relative  Deep Compression (Han et al., ICLR 2016): each stored entry is a value and the number of
            zeros skipped since the previous entry in ``r`` bits (8 for conv, 5 for fc); a gap longer
            than 2^r - 1 is bridged by filler zeros, entries every 2^r positions. With gaps g_i,
            E = z + sum floor(g_i / 2^r) entries:                  B(E b) + B(E r)
Weight sharing (``codebook_bits`` k): values become k-bit indices into 2^k fp32 centroids found
by k-means on the non-zeros (linear initialisation, as Deep Compression), plus B(2^k x 32) for
the codebook. A filler entry stores index 0 (the decoder knows it is a filler from its gap).
Huffman (relative format with a codebook): the value indices and the gaps are each coded with a
canonical Huffman code built from their own histogram; each section is preceded by its code-length
table, 6 bits per symbol of the alphabet (2^k and 2^r symbols):
                  B(6 * 2^k) + B(sum_values len) + B(6 * 2^r) + B(sum_gaps len) + codebook

``expected_size_bytes`` gives the same formulas for a layer of known size and density whose
non-zeros are not known (a meta-device trace, a published sparsity): non-zeros at uniformly random
positions, so gaps are geometric and E = z (1 + q^R / (1 - q^R)), q = 1 - density, R = 2^r;
Huffman there is priced at the fixed-length size (an upper bound).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

STORAGES = ("dense", "bitmask", "csr", "relative")
INDEX_BITS = {"conv": 8, "fc": 5}   # Deep Compression, Section 3: 8 bits for conv, 5 for fc
_LEN_BITS = 6          # bits per code length in a Huffman table
_CODEBOOK_ENTRY_BITS = 32


@dataclass(frozen=True)
class StorageSpec:
    """How one layer's weights are stored. ``value_bits`` is the width of an unshared value."""

    storage: Literal["dense", "bitmask", "csr", "relative"] = "relative"
    kind: Literal["conv", "fc"] = "fc"
    value_bits: int = 32
    codebook_bits: int | None = None
    huffman: bool = False

    def __post_init__(self) -> None:
        if self.storage not in STORAGES:
            raise ValueError(f"unknown storage {self.storage!r}; expected one of {', '.join(STORAGES)}")
        if self.huffman and (self.storage != "relative" or not self.codebook_bits):
            raise ValueError("huffman coding needs storage: relative with codebook_bits (Deep Compression's pipeline)")
        if self.codebook_bits is not None and not 1 <= self.codebook_bits <= 16:
            raise ValueError(f"codebook_bits must be in 1..16, got {self.codebook_bits}")

    @property
    def index_bits(self) -> int:
        return INDEX_BITS[self.kind]

    @property
    def bits_per_value(self) -> int:
        return self.codebook_bits or self.value_bits


def _b(bits: int) -> int:
    return (int(bits) + 7) // 8


def _clog2(x: int) -> int:
    return max(1, math.ceil(math.log2(x))) if x > 1 else 1


def as_matrix(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w)
    return w.reshape(w.shape[0], -1) if w.ndim >= 2 else w.reshape(1, -1)


# --------------------------------------------------------------------------- bit packing
class _Bits:
    """A growing bit string, most significant bit first, padded to whole bytes on ``tobytes``."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []

    def put(self, values: np.ndarray, width: int) -> None:
        v = np.asarray(values, dtype=np.uint64).reshape(-1)
        if v.size == 0 or width == 0:
            return
        shifts = np.arange(width - 1, -1, -1, dtype=np.uint64)
        self.chunks.append(((v[:, None] >> shifts) & np.uint64(1)).astype(np.uint8).reshape(-1))

    def put_codes(self, codes: list[str]) -> None:
        if codes:
            self.chunks.append(np.frombuffer("".join(codes).encode(), dtype=np.uint8) - ord("0"))

    def tobytes(self) -> bytes:
        bits = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.uint8)
        return np.packbits(bits).tobytes()


def _section(values: np.ndarray, width: int) -> bytes:
    s = _Bits()
    s.put(values, width)
    return s.tobytes()


def _value_codes(values: np.ndarray, spec: StorageSpec, centroids: np.ndarray | None) -> np.ndarray:
    if centroids is not None:
        return np.abs(values[:, None] - centroids[None, :]).argmin(1).astype(np.uint64)
    if spec.value_bits == 32:
        return values.astype(np.float32).view(np.uint32).astype(np.uint64)
    if spec.value_bits == 16:
        return values.astype(np.float16).view(np.uint16).astype(np.uint64)
    # an integer code already (e.g. a k-bit quantizer's levels): stored as its two's complement
    return (values.astype(np.int64) & ((1 << spec.value_bits) - 1)).astype(np.uint64)


# --------------------------------------------------------------------------- weight sharing
def codebook(values: np.ndarray, bits: int, iters: int = 20) -> np.ndarray:
    """2^bits centroids of ``values`` by k-means with linear initialisation (Deep Compression)."""
    k = 1 << bits
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        return np.zeros(k, np.float32)
    c = np.linspace(v.min(), v.max(), k)
    for _ in range(iters):
        a = np.abs(v[:, None] - c[None, :]).argmin(1) if v.size * k < 5e7 else _assign_sorted(v, c)
        sums = np.bincount(a, weights=v, minlength=k)
        cnt = np.bincount(a, minlength=k)
        c = np.where(cnt > 0, sums / np.maximum(cnt, 1), c)
    return c.astype(np.float32)


def _assign_sorted(v: np.ndarray, c: np.ndarray) -> np.ndarray:
    order = np.argsort(c)
    cs = c[order]
    mid = (cs[1:] + cs[:-1]) / 2
    return order[np.searchsorted(mid, v)]


# --------------------------------------------------------------------------- relative index
def relative_entries(flat_mask: np.ndarray, index_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(positions, gaps) of the stored entries, filler zeros included, in order."""
    pos = np.flatnonzero(flat_mask)
    if pos.size == 0:
        return pos, pos
    span = 1 << index_bits
    gaps = np.diff(np.concatenate(([-1], pos))) - 1
    fill = gaps // span
    # every non-zero is preceded by `fill` fillers at span-1 gaps, then its own remaining gap
    n_entries = pos.size + int(fill.sum())
    out_pos = np.empty(n_entries, np.int64)
    out_gap = np.empty(n_entries, np.int64)
    ends = np.cumsum(fill + 1) - 1                     # index of each non-zero's own entry
    out_pos[ends] = pos
    out_gap[ends] = gaps - fill * span
    if fill.any():
        is_filler = np.ones(n_entries, bool)
        is_filler[ends] = False
        owner = np.repeat(np.arange(pos.size), fill)
        starts = ends - fill
        j = np.arange(n_entries)[is_filler] - starts[owner]      # 0-based filler number before owner
        prev = np.concatenate(([-1], pos[:-1]))[owner]
        out_pos[is_filler] = prev + (j + 1) * span
        out_gap[is_filler] = span - 1
    return out_pos, out_gap


# --------------------------------------------------------------------------- Huffman
def huffman_lengths(counts: np.ndarray) -> np.ndarray:
    """Code length per symbol (0 for an absent symbol; 1 when only one symbol occurs)."""
    counts = np.asarray(counts, dtype=np.int64)
    lengths = np.zeros(counts.size, np.int64)
    live = [(int(c), i, [i]) for i, c in enumerate(counts) if c > 0]
    if len(live) == 1:
        lengths[live[0][1]] = 1
        return lengths
    heapq.heapify(live)
    tie = counts.size
    while len(live) > 1:
        c1, _, s1 = heapq.heappop(live)
        c2, _, s2 = heapq.heappop(live)
        for s in s1 + s2:
            lengths[s] += 1
        heapq.heappush(live, (c1 + c2, tie, s1 + s2))
        tie += 1
    if lengths.max(initial=0) >= (1 << _LEN_BITS):
        raise ValueError("a Huffman code length does not fit its table field")
    return lengths


def canonical_codes(lengths: np.ndarray) -> dict[int, str]:
    code, prev, out = 0, 0, {}
    for ln, sym in sorted((int(ln), s) for s, ln in enumerate(lengths) if ln > 0):
        code <<= ln - prev
        out[sym] = format(code, f"0{ln}b")
        code, prev = code + 1, ln
    return out


def _huffman_section(symbols: np.ndarray, alphabet: int) -> bytes:
    lengths = huffman_lengths(np.bincount(symbols, minlength=alphabet))
    codes = canonical_codes(lengths)
    s = _Bits()
    s.put(lengths, _LEN_BITS)
    table = s.tobytes()
    body = _Bits()
    body.put_codes([codes[int(x)] for x in symbols])
    return table + body.tobytes()


def _huffman_bytes(symbols: np.ndarray, alphabet: int) -> int:
    counts = np.bincount(symbols, minlength=alphabet)
    return _b(alphabet * _LEN_BITS) + _b(int((counts * huffman_lengths(counts)).sum()))


# --------------------------------------------------------------------------- encode / size
def encode(w: np.ndarray, spec: StorageSpec, centroids: np.ndarray | None = None) -> bytes:
    """The bytes ``w`` is stored as under ``spec`` (zeros = pruned)."""
    m = as_matrix(w)
    flat = m.reshape(-1)
    nz = flat != 0
    if spec.codebook_bits and centroids is None:
        centroids = codebook(flat[nz], spec.codebook_bits)
    book = _section(centroids.astype(np.float32).view(np.uint32), _CODEBOOK_ENTRY_BITS) if spec.codebook_bits else b""
    b = spec.bits_per_value
    if spec.storage == "dense":
        return book + _section(_value_codes(flat, spec, centroids), b)
    if spec.storage == "bitmask":
        return book + np.packbits(nz.astype(np.uint8)).tobytes() + _section(_value_codes(flat[nz], spec, centroids), b)
    if spec.storage == "csr":
        rows, cols = m.shape
        r, c = np.nonzero(m)
        rowptr = np.concatenate(([0], np.cumsum(np.bincount(r, minlength=rows))))
        return (book + _section(_value_codes(m[r, c], spec, centroids), b) + _section(c, _clog2(cols))
                + _section(rowptr, _clog2(int(nz.sum()) + 1)))
    pos, gaps = relative_entries(nz, spec.index_bits)
    if pos.size == 0:
        return book                                    # nothing stored: the decoder knows n
    vals = np.zeros(pos.size, np.float64)
    real = nz[pos] if pos.size else np.zeros(0, bool)
    vals[real] = flat[pos[real]]
    codes = _value_codes(vals, spec, centroids)
    if spec.codebook_bits:
        codes[~real] = 0
    if spec.huffman:
        return (book + _huffman_section(codes.astype(np.int64), 1 << spec.codebook_bits)
                + _huffman_section(gaps, 1 << spec.index_bits))
    return book + _section(codes, b) + _section(gaps, spec.index_bits)


def decode_relative(data: bytes, n: int, spec: StorageSpec) -> np.ndarray:
    """Positions of the non-zeros back from a fixed-length relative encoding (no codebook, no Huffman)."""
    b, r = spec.bits_per_value, spec.index_bits
    bits = np.unpackbits(np.frombuffer(data, np.uint8))
    e = (len(data) * 8) // (b + r)
    while e > 0 and _b(e * b) + _b(e * r) > len(data):
        e -= 1
    while _b((e + 1) * b) + _b((e + 1) * r) <= len(data):
        e += 1
    vbits = bits[: e * b].reshape(e, b)
    gbits = bits[_b(e * b) * 8: _b(e * b) * 8 + e * r].reshape(e, r)
    weights = 1 << np.arange(r - 1, -1, -1)
    gaps = (gbits * weights).sum(1)
    pos = np.cumsum(gaps + 1) - 1
    nonzero = vbits.any(1)
    out = np.zeros(n, bool)
    out[pos[nonzero]] = True
    return out


def _codebook_bytes(spec: StorageSpec) -> int:
    return _b((1 << spec.codebook_bits) * _CODEBOOK_ENTRY_BITS) if spec.codebook_bits else 0


def _index_format_bytes(spec: StorageSpec, n: int, z: int, rows: int, cols: int) -> int:
    """Dense, bitmask or CSR bytes of an ``n``-value (``rows`` x ``cols``) weight with ``z`` non-zeros."""
    b, book = spec.bits_per_value, _codebook_bytes(spec)
    if spec.storage == "dense":
        return book + _b(n * b)
    if spec.storage == "bitmask":
        return book + _b(n) + _b(z * b)
    return book + _b(z * b) + _b(z * _clog2(cols)) + _b((rows + 1) * _clog2(z + 1))     # csr


def size_bytes(w: np.ndarray, spec: StorageSpec) -> int:
    """Bytes of ``encode(w, spec)`` from the formulas in the module docstring (no encoding done)."""
    m = as_matrix(w)
    n = m.size
    nz = m.reshape(-1) != 0
    z = int(nz.sum())
    b = spec.bits_per_value
    book = _codebook_bytes(spec)
    if spec.storage != "relative":
        return _index_format_bytes(spec, n, z, *m.shape)
    r = spec.index_bits
    if z == 0:
        return book
    pos = np.flatnonzero(nz)
    gaps = np.diff(np.concatenate(([-1], pos))) - 1
    e = z + int((gaps >> r).sum())
    if not spec.huffman:
        return book + _b(e * b) + _b(e * r)
    real_pos, all_gaps = relative_entries(nz, r)
    k = spec.codebook_bits or 0
    flat = m.reshape(-1)
    cents = codebook(flat[nz], k)
    idx = np.zeros(all_gaps.size, np.int64)
    real = nz[real_pos]
    idx[real] = np.abs(flat[real_pos[real]][:, None] - cents[None, :]).argmin(1)
    return book + _huffman_bytes(idx, 1 << k) + _huffman_bytes(all_gaps, 1 << r)


def expected_size_bytes(shape: tuple[int, ...], density: float, spec: StorageSpec) -> int:
    """Size of a ``shape`` weight with ``density`` non-zeros at random positions (Huffman: upper bound)."""
    rows = int(shape[0]) if len(shape) >= 2 else 1
    n = int(np.prod(shape))
    cols = n // max(rows, 1)
    z = int(round(density * n))
    b = spec.bits_per_value
    book = _codebook_bytes(spec)
    if spec.storage != "relative":
        return _index_format_bytes(spec, n, z, rows, cols)
    r = spec.index_bits
    qr = (1.0 - density) ** (1 << r)
    e = int(round(z * (1.0 + (qr / (1.0 - qr) if qr < 1 else 0.0))))
    return book + _b(e * b) + _b(e * r)
