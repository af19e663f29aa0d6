"""Systolic-array timing and SRAM accounting in closed form, exactly as SCALE-Sim v3 counts them.

SCALE-Sim (scalesim 3.0.0, ``compute/systolic_compute_{ws,os,is}.py``) builds per-fold demand
matrices and reads the cycle count off their length. For an R x C array the operand matrices map as

    dataflow   Sr (rows)   Sc (cols)   T (streamed)        GEMM C[MxN] = A[MxK] B[KxN]
    ws         K           N           M                   weights stationary
    os         M           N           K                   outputs stationary
    is         K           M           N                   inputs stationary

folds = ceil(Sr/R) x ceil(Sc/C), and each fold lasts

    ws, is:  2R + C + T - 2      (R cycles to load the stationary operand, T to stream,
                                  R - 1 + C - 1 of skew fill and drain)
    os:       R + C + T - 2

SCALE-Sim reports the index of the last demand row, so its compute cycles (COMPUTE_REPORT
"Total Cycles" minus "Stall Cycles") are ``folds x per_fold - 1``; this module returns that number.
SRAM accesses (words, DETAILED_ACCESS_REPORT) are the sizes of the demand slices:

    ws: ifmap M*K*ceil(N/C)   filter K*N             ofmap writes M*N*ceil(K/R)
    os: ifmap M*K*ceil(N/C)   filter K*N*ceil(M/R)   ofmap writes M*N (+ folds*(R+C), see below)
    is: ifmap M*K             filter K*N*ceil(M/C)   ofmap writes M*N*ceil(K/R)

SCALE-Sim's OS ofmap count adds ``rows + cols`` of the padded fold once per fold (a second
``ofmap_writes +=`` line in ``create_ofmap_demand_mat``); that is bookkeeping, not traffic, so
``sram_writes_ofmap`` here is M*N and ``scalesim_sram_writes_ofmap`` carries SCALE-Sim's figure.
Partial sums written once per row fold (ws, is) are read back ``ceil(K/R) - 1`` times to accumulate;
SCALE-Sim does not count those reads, ``sram_reads_ofmap`` does.

With double-buffered weights (``weight_double_buffered``, ws only: a second weight register per PE, as
TPU v1's matrix unit) the next fold's weights shift in while this fold streams, and the folds follow one
another as one wavefront: a fold lasts max(T, R) cycles (it cannot start before its R-cycle weight load
ends), and only the first load and the last skew drain are paid, once per GEMM:

    ws, weights double-buffered:  R + groups x folds x max(T, R) + R + C - 2   (minus 1, as above)

which equals SCALE-Sim's count when there is one fold and T >= R.

Mapping efficiency = mean over folds of used PEs / (R*C) = Sr*Sc / (folds*R*C).
Compute utilization = mean over folds of used*T / (R*C*cycles_fold) with SCALE-Sim's
cycles_fold = 2R + 2C + T - 3 (ws, is) or R + C + T - 2 (os).

Precision enters through the PE rate r (products per PE per cycle, :mod:`accel_models.pe`): the
reduction K is packed into K_eff = ceil(K / r) PE-steps for the fold and cycle counts, while access
counts stay in operand elements of the true K.

The ``bitfusion`` dataflow is Bit Fusion's published loop count instead (hsharma35/bitfusion):
cycles = batch x ceil(oc/cols) x oh x ow x kh x kw x ceil(ic / (rows x perf_factor)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

DATAFLOWS = ("ws", "os", "is", "bitfusion")


@dataclass(frozen=True)
class ArrayRun:
    """Timing and SRAM accesses (in operand elements) of one GEMM (all its groups) on the array."""

    dataflow: str
    Sr: int
    Sc: int
    T: int
    row_folds: int
    col_folds: int
    compute_cycles: int
    mapping_efficiency: float
    compute_utilization: float
    sram_reads_ifmap: int
    sram_reads_filter: int
    sram_writes_ofmap: int
    sram_reads_ofmap: int
    scalesim_sram_writes_ofmap: int

    @property
    def folds(self) -> int:
        return self.row_folds * self.col_folds


def effective_k(K: int, rate: Fraction) -> int:
    """Reduction steps after packing ``rate`` products into each PE-cycle: ceil(K / rate)."""
    return math.ceil(Fraction(K) / rate)


def run_gemm(M: int, N: int, K: int, rows: int, cols: int, dataflow: str, groups: int = 1,
             rate: Fraction = Fraction(1), kernel: int = 1, weight_double_buffered: bool = False) -> ArrayRun:
    """Closed-form SCALE-Sim timing and SRAM counts for C[MxN] = A[MxK] B[KxN] on a rows x cols array;
    ``weight_double_buffered``: weight loads hidden behind the previous fold (ws; see the module text)."""
    R, C = rows, cols
    if dataflow == "bitfusion":
        return _run_bitfusion(M, N, K, R, C, groups, rate, kernel)
    Ke = effective_k(K, rate)
    if dataflow == "ws":
        Sr, Sc, T = Ke, N, M
    elif dataflow == "os":
        Sr, Sc, T = M, N, Ke
    elif dataflow == "is":
        Sr, Sc, T = Ke, M, N
    else:
        raise ValueError(f"unknown dataflow {dataflow!r}; expected one of {', '.join(DATAFLOWS)}")
    rf, cf = math.ceil(Sr / R), math.ceil(Sc / C)
    folds = rf * cf
    if dataflow == "os":
        per_fold, util_cycles = R + C + T - 2, R + C + T - 2
    else:
        per_fold, util_cycles = 2 * R + C + T - 2, 2 * R + 2 * C + T - 3
    compute = groups * (folds * per_fold - 1)
    mapping = Sr * Sc / (folds * R * C)
    util = Sr * Sc * T / (folds * R * C * util_cycles)
    if weight_double_buffered and dataflow == "ws":
        compute = R + groups * folds * max(T, R) + R + C - 2 - 1
        util = groups * Sr * Sc * T / (R * C * compute)
    # Access counts in elements of the true reduction K (Sr/T hold K_eff when rate != 1).
    if dataflow == "ws":
        ifm, fil, ofw = M * K * cf, K * N, M * N * rf
        ofr = M * N * (rf - 1)
        ss_ofw = ofw
    elif dataflow == "os":
        ifm, fil, ofw = M * K * cf, K * N * rf, M * N
        ofr = 0
        ss_ofw = M * N + folds * (R + C)
    else:
        ifm, fil, ofw = M * K, K * N * cf, M * N * rf
        ofr = M * N * (rf - 1)
        ss_ofw = ofw
    g = groups
    return ArrayRun(dataflow, Sr, Sc, T, rf, cf, compute, mapping, util,
                    g * ifm, g * fil, g * ofw, g * ofr, g * ss_ofw)


def _run_bitfusion(M: int, N: int, K: int, R: int, C: int, groups: int, rate: Fraction,
                   kernel: int) -> ArrayRun:
    # M = batch*oh*ow, N = oc, K = kernel*ic. Bit Fusion: rows take input channels (rate of them
    # per fused PE), cols take output channels; kernel window and output pixels loop around the array.
    ic = max(1, K // kernel)
    ic_steps = math.ceil(Fraction(ic) / (R * rate))
    oc_tiles = math.ceil(N / C)
    per_group = M * oc_tiles * kernel * ic_steps
    mapping = float(Fraction(ic) / (R * rate * ic_steps) * Fraction(N, C * oc_tiles))
    util = float(Fraction(M * N * K) / (per_group * R * C * rate))
    rf = kernel * ic_steps
    g = groups
    return ArrayRun("bitfusion", ic_steps, oc_tiles, M, rf, oc_tiles, g * per_group, min(mapping, 1.0),
                    min(util, 1.0), g * M * K * oc_tiles, g * K * N, g * M * N * rf, g * M * N * (rf - 1),
                    g * M * N * rf)
