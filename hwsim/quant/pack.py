"""Bit-packing of b-bit codes (b = 1..8) into uint8 buffers, and back.

A stash held at b bits per value occupies ``ceil(numel * b / 8)`` bytes: codes are laid
out little-endian bit by bit (code i occupies bits ``i*b .. i*b+b-1`` of the stream, bit 0
of a byte first). The last byte is zero-padded. Everything is vectorised torch, so it runs
on any device and on meta tensors (shape only: the result has the right number of bytes).
"""

from __future__ import annotations

import torch

MAX_BITS = 8


def packed_nbytes(numel: int, bits: int) -> int:
    """Bytes needed to hold ``numel`` codes of ``bits`` bits: ``ceil(numel * bits / 8)``."""
    _check_bits(bits)
    return (int(numel) * bits + 7) // 8


def _check_bits(bits: int) -> None:
    if not isinstance(bits, int) or not 1 <= bits <= MAX_BITS:
        raise ValueError(f"bits must be an integer in 1..{MAX_BITS}, got {bits!r}")


def pack(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Pack integer ``codes`` (any shape, values in ``[0, 2**bits)``) into a flat uint8 tensor.

    The shape is not stored; :func:`unpack` needs ``numel``. Values outside the range are
    masked to their low ``bits`` bits.
    """
    _check_bits(bits)
    flat = codes.reshape(-1)
    numel = flat.numel()
    nbytes = packed_nbytes(numel, bits)
    dev = flat.device
    if bits == 8:
        return flat.to(torch.uint8).clone() if flat.dtype == torch.uint8 else flat.to(torch.uint8)
    if 8 % bits == 0:
        # b divides 8: each byte holds 8/b whole codes; one shift-and-sum per position (in uint8:
        # the shifted codes occupy disjoint bits, so the sum cannot overflow).
        c = flat.to(torch.uint8) & ((1 << bits) - 1)
        per = 8 // bits
        pad = nbytes * per - numel
        if pad:
            c = torch.cat([c, c.new_zeros(pad)])
        shifts = torch.arange(per, device=dev, dtype=torch.uint8) * bits
        return (c.view(nbytes, per) << shifts).sum(dim=1, dtype=torch.uint8)
    # General b (3, 5, 6, 7): 8 codes make exactly b bytes; gather each group of 8 codes into
    # one int64 (8 b <= 56 bits), then cut it into b bytes.
    c = flat.to(torch.int64) & ((1 << bits) - 1)
    groups = (numel + 7) // 8
    if groups * 8 - numel:
        c = torch.cat([c, c.new_zeros(groups * 8 - numel)])
    word = (c.view(groups, 8) << (torch.arange(8, device=dev, dtype=torch.int64) * bits)).sum(dim=1)
    out = (word.unsqueeze(1) >> (torch.arange(bits, device=dev, dtype=torch.int64) * 8)) & 0xFF
    return out.reshape(-1)[:nbytes].to(torch.uint8)


def unpack(packed: torch.Tensor, bits: int, numel: int) -> torch.Tensor:
    """Inverse of :func:`pack`: the first ``numel`` codes as an int64 tensor (flat)."""
    _check_bits(bits)
    numel = int(numel)
    if packed.numel() != packed_nbytes(numel, bits):
        raise ValueError(f"{packed.numel()} bytes cannot hold exactly {numel} codes of {bits} bits")
    p = packed.reshape(-1)
    dev = p.device
    if bits == 8:
        return p.to(torch.int64)
    if 8 % bits == 0:
        per = 8 // bits
        shifts = torch.arange(per, device=dev, dtype=torch.uint8) * bits
        codes = (p.unsqueeze(1) >> shifts) & ((1 << bits) - 1)
        return codes.reshape(-1)[:numel].to(torch.int64)
    groups = (numel + 7) // 8
    b = p.to(torch.int64)
    if groups * bits - b.numel():
        b = torch.cat([b, b.new_zeros(groups * bits - b.numel())])
    word = (b.view(groups, bits) << (torch.arange(bits, device=dev, dtype=torch.int64) * 8)).sum(dim=1)
    codes = (word.unsqueeze(1) >> (torch.arange(8, device=dev, dtype=torch.int64) * bits)) & ((1 << bits) - 1)
    return codes.reshape(-1)[:numel]
