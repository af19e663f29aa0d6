"""Each storage format's size formula against the bytes its encoder really writes."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.quant.sparse_formats import (
    StorageSpec,
    decode_relative,
    encode,
    expected_size_bytes,
    relative_entries,
    size_bytes,
)


def _pruned(shape, density, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape).astype(np.float32)
    w[rng.random(shape) >= density] = 0
    return w


CASES = [((300, 784), 0.08, "fc"), ((100, 300), 0.09, "fc"), ((10, 100), 0.26, "fc"),
         ((64, 3, 3, 3), 0.84, "conv"), ((50, 20, 5, 5), 0.12, "conv"), ((20, 33), 0.0, "fc"),
         ((7, 40), 0.01, "fc"), ((16, 16), 1.0, "conv")]


@pytest.mark.parametrize("shape,density,kind", CASES)
@pytest.mark.parametrize("storage", ["dense", "bitmask", "csr", "relative"])
@pytest.mark.parametrize("codebook_bits", [None, 5])
def test_formula_matches_bytes_written(shape, density, kind, storage, codebook_bits):
    w = _pruned(shape, density, 0)
    spec = StorageSpec(storage, kind, 32, codebook_bits)
    assert len(encode(w, spec)) == size_bytes(w, spec)


@pytest.mark.parametrize("shape,density,kind", CASES)
def test_huffman_formula_matches_bytes_written(shape, density, kind):
    w = _pruned(shape, density, 1)
    spec = StorageSpec("relative", kind, 32, 4, huffman=True)
    assert len(encode(w, spec)) == size_bytes(w, spec)


def test_relative_fillers_and_round_trip():
    # gaps of 0, 15, 16, 40 zeros with 4-bit indices: fillers floor(g/16) = 0, 0, 1, 2
    flat = np.zeros(100, np.float32)
    pos = [0, 16, 33, 74]
    flat[pos] = [1.0, 2.0, 3.0, 4.0]
    p, g = relative_entries(flat != 0, 4)
    assert list(g) == [0, 15, 15, 0, 15, 15, 8]
    assert list(p) == [0, 16, 32, 33, 49, 65, 74]
    # the same stream in the conv format (8-bit gaps): no fillers, 4 entries of 32 + 8 bits
    spec = StorageSpec("relative", "conv")
    data = encode(flat.reshape(1, -1), spec)
    assert len(data) == (4 * 32 + 7) // 8 + (4 * 8 + 7) // 8
    assert list(np.flatnonzero(decode_relative(data, 100, spec))) == pos
    spec = StorageSpec("relative", "fc")
    data = encode(flat.reshape(1, -1), spec)
    assert len(data) == (5 * 32 + 7) // 8 + (5 * 5 + 7) // 8      # gaps 0, 15, 16, 8 + one filler (g=40 > 31)
    assert list(np.flatnonzero(decode_relative(data, 100, spec))) == pos


def test_fc_index_is_five_bits_conv_eight():
    # Deep Compression (Han, Mao, Dally, ICLR 2016), Section 3: "8 bits for conv layer and 5 bits for fc layer"
    w = _pruned((50, 200), 0.05, 3)
    fc, conv = StorageSpec("relative", "fc"), StorageSpec("relative", "conv")
    assert size_bytes(w, fc) != size_bytes(w, conv)
    assert fc.index_bits == 5 and conv.index_bits == 8


def test_expected_size_close_to_measured_for_random_masks():
    for density in (0.05, 0.08, 0.3):
        w = _pruned((300, 784), density, 7)
        for storage in ("bitmask", "csr", "relative"):
            spec = StorageSpec(storage, "fc")
            real = size_bytes(w, spec)
            assert abs(expected_size_bytes(w.shape, float((w != 0).mean()), spec) - real) / real < 0.02


def test_sparse_formats_beat_dense_only_when_sparse():
    w = _pruned((300, 784), 0.08, 0)
    dense = size_bytes(w, StorageSpec("dense"))
    assert size_bytes(w, StorageSpec("relative")) < dense / 6
    full = _pruned((300, 784), 1.0, 0)
    assert size_bytes(full, StorageSpec("csr")) > size_bytes(full, StorageSpec("dense"))


def test_bad_specs():
    with pytest.raises(ValueError):
        StorageSpec("coo")
    with pytest.raises(ValueError):
        StorageSpec("csr", huffman=True, codebook_bits=4)
    with pytest.raises(ValueError):
        StorageSpec("relative", huffman=True)
