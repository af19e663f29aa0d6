"""The memory-traffic model: bytes each phase moves, by tensor class, at the width each is stored.

It counts every operand an op reads and every result it writes once (no reuse inside an op,
no cache): where a byte lives (register, SRAM, DRAM) is the energy model's question.

GEMMs of a weight layer (widths from the layer's :class:`~hwsim.formats.LayerPrecision`):
  forward / inference  weight   read at ``weight`` (inference: ``weight_infer``) bits
                       input    read at ``input`` (inference: ``input_infer``) bits
                       output   written at the result's dtype width (the accumulator's)
  backward_data        grad_output read at ``grad`` bits, weight read at ``weight`` bits,
                       grad_input written at ``grad`` bits
  backward_weight      grad_output read at ``grad`` bits, grad_weight written at ``master`` bits
                       (the stashed input it multiplies is ``stash_read``, below)
Stash (measured, see :mod:`hwsim.count.stash`): ``stash_write`` in forward = the bytes of the
buffers the layer saved; ``stash_read`` = the same bytes read back once in backward
(backward_weight for a weight layer, backward_data otherwise).
Element-wise ops at their tensors' dtype widths: forward reads ``input``, writes ``output``;
backward reads ``grad_output`` (a stashed buffer it reads is already ``stash_read``), writes
``grad_input``.
Update, per parameter of n values (an SGD-style optimizer):
  grad_weight      read at ``master`` bits for a layer's weight (as backward_weight wrote it),
                   4 bytes for its other parameters
  weight_master    read and written at ``master`` bits for a layer's weight, 4 bytes otherwise (2 x)
  optimizer_state  every state tensor of the parameter read and written (2 x its bytes), each
                   per-element state at its role's format (the scheme's ``moment1`` / ``moment2``,
                   :data:`hwsim.workload.STATE_ROLES`; fp32 unless the scheme says otherwise)
  weight           the quantized copy the GEMMs read, written at ``weight`` bits, when that
                   is not the master itself
"""

from __future__ import annotations

from collections import Counter

from hwsim.count.formulas import GEMM_DATA, GEMM_FWD, GEMM_WEIGHT, Work
from hwsim.formats import FP32, INFERENCE, Format, LayerPrecision, bytes_for
from hwsim.workload import STATE_ROLES


def gemm_traffic(w: Work, prec: LayerPrecision, phase: str, out_elem_bytes: int = 4) -> Counter:
    n = w.operands
    c: Counter = Counter()
    if phase == INFERENCE or w.gemm == GEMM_FWD:
        wf, xf = prec.operands(INFERENCE) if phase == INFERENCE else (prec.weight, prec.input)
        c["weight"] += bytes_for(n.get("weight", 0), wf)
        c["input"] += bytes_for(n.get("input", 0), xf)
        c["output"] += n.get("output", 0) * out_elem_bytes
    elif w.gemm == GEMM_DATA:
        c["grad_output"] += bytes_for(n.get("grad_output", 0), prec.grad)
        c["weight"] += bytes_for(n.get("weight", 0), prec.weight)
        c["grad_input"] += bytes_for(n.get("grad_input", 0), prec.grad)
    elif w.gemm == GEMM_WEIGHT:
        c["grad_output"] += bytes_for(n.get("grad_output", 0), prec.grad)
        c["grad_weight"] += bytes_for(n.get("grad_weight", 0), prec.master)
    return +c


def elementwise_traffic(w: Work, phase: str) -> Counter:
    c: Counter = Counter()
    if phase in ("forward", INFERENCE):
        c["input"] += w.read_bytes
        c["output"] += w.write_bytes
    elif phase == "update":
        c["optimizer_state"] += 0
    else:
        c["grad_output"] += w.read_bytes
        c["grad_input"] += w.write_bytes
    return +c


def state_bytes(states: dict[str, tuple[int, int]], numel: int, formats: dict[str, Format]) -> int:
    """Bytes of one parameter's optimizer state: ``states`` maps torch's state name to (values,
    element bytes); a per-element state (``numel`` values) of a role in ``formats`` is stored at that
    format, any other state (Adam's step count) as torch keeps it."""
    total = 0
    for key, (n, elem) in states.items():
        f = formats.get(STATE_ROLES.get(key, ""))
        total += bytes_for(n, f) if f is not None and n == numel else n * elem
    return total


def update_traffic(numel: int, prec: LayerPrecision, state_bytes: int, is_weight: bool) -> Counter:
    """Traffic of one parameter's update (see the module docstring)."""
    c: Counter = Counter()
    master = prec.master if is_weight else FP32
    c["grad_weight"] += bytes_for(numel, master)
    c["weight_master"] += 2 * bytes_for(numel, master)
    c["optimizer_state"] += 2 * state_bytes
    if is_weight and prec.weight != prec.master:
        c["weight"] += bytes_for(numel, prec.weight)
    return +c


def per_epoch(totals: dict[str, dict[str, int]], steps_per_epoch: int) -> dict[str, dict[str, int]]:
    """Per-step totals times the number of steps of an epoch."""
    return {k: {kk: vv * steps_per_epoch for kk, vv in v.items()} for k, v in totals.items()}
