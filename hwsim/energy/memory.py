"""Memory access energies: SRAM by capacity and word width, DRAM presets, register file.

SRAM   E64(C): energy of one 64-bit read from an SRAM of C bytes. Exact at the table's points
       (Horowitz: 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ); between points a power law
       (straight line in log E versus log2 C); beyond the ends the end segment's power law
       continues (8 KB -> 32 KB gives E ~ C^0.5, the wire-length scaling of a square array).
       A w-bit access costs w/64 x E64(C): priced per bit, so narrow words are not cheaper
       per bit. Writes cost the same as reads (as QKeras QTools).
DRAM   a preset's ``pj`` per ``bits``-bit access, priced per bit (Han: 640 pJ / 32 bits = 20 pJ/bit).
RF     ``rf_pj_per_32b`` per 32 bits (Han: 1 pJ), priced per bit.
"""

from __future__ import annotations

import math

from hwsim.energy.tech import TechTable
from hwsim.errors import UserError


def sram_pj_per_64b(tech: TechTable, capacity_bytes: int) -> float:
    """One 64-bit access of an SRAM of ``capacity_bytes`` (log-capacity power-law fit through the points)."""
    if capacity_bytes <= 0:
        raise UserError("hierarchy.sram_bytes", f"SRAM capacity must be positive, got {capacity_bytes}")
    pts = tech.sram_pj_per_64b.points
    if capacity_bytes in pts:
        return pts[capacity_bytes]
    caps = sorted(pts)
    if len(caps) == 1:
        c0 = caps[0]
        return pts[c0] * math.sqrt(capacity_bytes / c0)   # one point: wire-length (sqrt) scaling
    if capacity_bytes < caps[0]:
        lo, hi = caps[0], caps[1]
    elif capacity_bytes > caps[-1]:
        lo, hi = caps[-2], caps[-1]
    else:
        lo, hi = next((a, b) for a, b in zip(caps, caps[1:]) if a <= capacity_bytes <= b)
    slope = math.log(pts[hi] / pts[lo]) / math.log(hi / lo)
    return pts[lo] * (capacity_bytes / lo) ** slope


def sram_pj_per_bit(tech: TechTable, capacity_bytes: int) -> float:
    return sram_pj_per_64b(tech, capacity_bytes) / 64.0


def sram_access_pj(tech: TechTable, capacity_bytes: int, word_bits: int = 64) -> float:
    """One access of ``word_bits`` bits: word_bits / 64 x E64(capacity)."""
    return sram_pj_per_bit(tech, capacity_bytes) * word_bits


def dram_pj_per_bit(tech: TechTable, preset: str | None = None) -> float:
    return tech.dram_preset(preset).pj_per_bit


def dram_access_pj(tech: TechTable, preset: str | None = None, word_bits: int | None = None) -> float:
    """One access of ``word_bits`` bits (default: the preset's own access width)."""
    p = tech.dram_preset(preset)
    return p.pj if word_bits is None else p.pj_per_bit * word_bits


def rf_pj_per_bit(tech: TechTable) -> float:
    return tech.rf_pj_per_32b.value / 32.0
