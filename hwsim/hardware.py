"""The bridge from a counted Trace to the accelerator model (accel_models), per layer and phase.

Each weight layer's :class:`~hwsim.trace.LayerInfo` (conv2d: N, C, H, W, K, R, S, stride, padding,
groups, P, Q; linear: N, C, K) and its declared precision become accel_models work items:

    forward           GEMM (M, N, K) = (N*P*Q, K/g, C/g*R*S); ifmap = input,  filter = weight
    backward_data     GEMM (M, K, N) + col2im adds;           ifmap = grad,   filter = weight
    backward_weight   GEMM (K, N, M);                         ifmap = stash,  filter = grad
    inference         the forward GEMM at weight_infer x input_infer

(:func:`accel_models.training.phase_gemms`). The MAC type of each GEMM comes from
:meth:`hwsim.formats.LayerPrecision.mac_type`, the same rule table counting and energy use. Phases
are the ones the trace recorded MACs for (so the first layer, which computes no input gradient, has
no backward_data GEMM). Element-wise work recorded in the trace (batch-norm, activations, pooling,
quantizers, the weight update) runs on the accelerator's vector unit, one row per (layer, phase).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import accel_models as am
from hwsim import memo
from hwsim.configs import resolve
from hwsim.errors import UserError
from hwsim.formats import BACKWARD_DATA, BACKWARD_WEIGHT, FORWARD, INFERENCE, UPDATE, LayerPrecision
from hwsim.jsondoc import Json, JsonDocument
from hwsim.trace import CONV_ND_OPS, LayerInfo, LayerRecord, Trace, conv_dims
from hwsim.yamlsafe import load_file, safe_load

GEMM_OPS = ("conv2d", "linear", *CONV_ND_OPS)
_WRITE_CLASSES = {"output", "stash_write", "grad_input", "grad_weight", "weight_master", "optimizer_state"}


def resolve_accelerator(spec: Any, overrides: dict[str, Json] | None = None, *, where: str = "--accelerator",
                        where_field: Callable[[str], str] | None = None) -> am.Accelerator:
    """The accelerator of ``spec`` with dotted-path ``overrides`` applied; errors as :class:`UserError`.

    ``spec``: a bare name from configs/accelerators (``tpu_like``), a YAML or SCALE-Sim ``.cfg`` path
    (both resolved by :func:`hwsim.configs.resolve`), a mapping or an Accelerator. Overrides apply to
    the YAML mapping as written (a parameter the file leaves to its PE kind's default takes the new
    kind's default), else to the accelerator's fields. Errors name ``where`` and the field;
    ``where_field(path)`` locates an overridden field (its YAML line); default ``WHERE: path``.
    """
    if isinstance(spec, (str, Path)):
        path = accelerator_file(str(spec), where)
        if path.suffix == ".cfg":
            spec = _checked(am.read_scalesim_cfg, path)
        else:
            acc = _checked(am.load_accelerator, str(path))   # the file's own mistakes at their line
            if not overrides:
                return acc
            spec = read_accelerator_yaml(path, where)
    if not overrides and not isinstance(spec, dict):
        return _checked(am.load_accelerator, spec)
    # a mapping goes through apply_overrides even with none, as a sweep's accelerator entries do
    data = spec.to_dict() if isinstance(spec, am.Accelerator) else dict(spec)
    name = str(data.get("name", "accelerator"))
    at = where_field or (lambda k: f"{where}: {k}")
    overrides = dict(overrides or {})
    try:
        merged = am.apply_overrides(data, overrides)
    except am.ConfigError as e:
        raise UserError(at(e.where), e.what) from None
    merged["name"] = name
    try:
        return am.load_accelerator(merged)
    except am.ConfigError as e:
        field_path = e.where.split(": ", 1)[-1]
        over = next((k for k in overrides if field_path == k or field_path.startswith(k + ".")
                     or k.startswith(field_path + ".")), None)
        if over is not None:
            raise UserError(at(over), f"{e.what} (field {field_path} of {name})") from None
        raise UserError(f"{where}: {name}: {field_path}", e.what) from None


def _checked(load: Callable[[Any], am.Accelerator], spec: Any) -> am.Accelerator:
    try:
        return load(spec)
    except am.ConfigError as e:
        raise UserError(e.where, e.what) from None


def accelerator_file(spec: str, where: str = "--accelerator") -> Path:
    """A bare name in configs/accelerators (``tpu_like``) or a YAML path -> the file."""
    return resolve("accelerators", spec, where)


def parse_set(items: list[str] | None, where: str = "--set") -> dict[str, Json]:
    """``["array.rows=64", "pe.kind=xnor"]`` -> ``{"array.rows": 64, "pe.kind": "xnor"}`` (values read as YAML
    scalars, so 64 is an int and null is None)."""

    out: dict[str, Json] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UserError(where, f"expected FIELD=VALUE (e.g. array.rows=64), got {item!r}")
        out[key.strip()] = safe_load(raw, f"{where} {key.strip()}") if raw.strip() else None
    return out


def read_accelerator_yaml(spec: str | Path, where: str = "--accelerator") -> JsonDocument:
    """An accelerator YAML (a name in configs/accelerators or a path) as a mapping, ``name`` filled in:
    read once where many overrides apply to one file."""
    path = accelerator_file(str(spec), where)
    data = load_file(path)
    if not isinstance(data, dict):
        raise UserError(str(path), "expected a mapping with array, pe, sram, dram")
    data.setdefault("name", path.stem)
    return data


def hardware_label(name: str, overrides: dict[str, Json]) -> str:
    """``tpu_like(array.cols=16,array.rows=8)``: the base name plus the fields set on it."""
    if not overrides:
        return name
    return name + "(" + ",".join(f"{k}={v}" for k, v in sorted(overrides.items())) + ")"


def cli_accelerator(spec: Any, sets: list[str] | None = None) -> am.Accelerator:
    """The accelerator of ``--accelerator`` (or ``--cfg``) with the ``--set FIELD=VALUE`` overrides (the
    same paths and checks as a sweep file's accelerator overrides)."""
    return resolve_accelerator(spec, parse_set(sets), where_field=lambda k: f"--set {k}")


def _int(v: Any) -> int:
    return int(v[0]) if isinstance(v, (list, tuple)) else int(v)


def layer_to_model(li: LayerInfo) -> am.ConvLayer | am.GemmLayer:
    """A LayerInfo's shape as an accel_models layer (PyTorch's exact output size P, Q)."""
    s = li.shape
    try:
        if li.op == "conv2d":
            stride, pad = s.get("stride", 1), s.get("padding", 0)
            sh = _int(stride)
            sw = int(stride[1]) if isinstance(stride, (list, tuple)) and len(stride) > 1 else sh
            return am.ConvLayer(li.name, int(s["H"]), int(s["W"]), int(s["R"]), int(s["S"]), int(s["C"]),
                                int(s["K"]), sh, sw, padding=_int(pad), groups=int(s.get("groups", 1)),
                                batch=int(s["N"]), ofmap_h=int(s["P"]), ofmap_w=int(s["Q"]))
        if li.op == "linear":
            return am.GemmLayer(li.name, M=int(s["N"]), N=int(s["K"]), K=int(s["C"]))
        if li.op in CONV_ND_OPS:
            return _conv_nd_gemm(li.name, li.op, s)
    except KeyError as e:
        raise UserError(f"trace layer {li.name}", f"{li.op} shape lacks {e.args[0]!r}") from None
    except am.ConfigError as e:
        raise UserError(e.where, e.what) from None
    raise UserError(f"trace layer {li.name}", f"op {li.op!r} is not a GEMM layer")


def _conv_nd_gemm(name: str, op: str, s: dict[str, int]) -> am.GemmLayer:
    """A Conv1d/Conv3d or transposed convolution as the GEMM it lowers to, per group.

    Convolution (im2col): M = N x output positions, K = C/g x kernel, N = K_out/g. Transposed
    (each input position scatters into a kernel window): M = N x input positions, K = C/g,
    N = K_out/g x kernel. Both give PyTorch's MACs (hwsim.count.formulas.conv_macs)."""
    ins, outs, ks = conv_dims(op)
    g = int(s.get("groups", 1))
    kernel = math.prod(int(s[k]) for k in ks)
    c_g, k_g = int(s["C"]) // g, int(s["K"]) // g
    if op.startswith("convtranspose"):
        m = int(s["N"]) * math.prod(int(s[k]) for k in ins)
        return am.GemmLayer(name, M=m, N=k_g * kernel, K=c_g, groups=g)
    m = int(s["N"]) * math.prod(int(s[k]) for k in outs)
    return am.GemmLayer(name, M=m, N=k_g, K=c_g * kernel, groups=g, kernel=kernel)


def _precision_strings(prec: LayerPrecision, phase: str) -> dict[str, str]:
    if phase == INFERENCE:
        w, x = prec.operands(INFERENCE)
        return {"weight": str(w), "input": str(x), "stash": str(x), "grad": str(prec.grad)}
    return {"weight": str(prec.weight), "input": str(prec.input), "stash": str(prec.stash), "grad": str(prec.grad)}


def _with_sparsity(g: am.GemmLayer, trace: Trace) -> am.GemmLayer:
    """A GEMM with its operands' non-zero fractions and the weight's stored/dense bytes.

    The weight is the filter operand of forward, inference and backward_data (its density: measured
    on the step, else the pruning target of a sparse-stored layer); the layer input is the ifmap of
    forward and inference and, stashed, of backward_weight (measured density only)."""
    sp = trace.sparsity.get(g.name, {})
    st = trace.meta.weight_storage.get(g.name)
    kw: dict[str, float | tuple[int, ...]] = {}     # GemmLayer fields, replaced at once
    if g.phase in (FORWARD, INFERENCE, BACKWARD_DATA):
        if "weight" in sp:
            kw["weight_density"] = 1.0 - float(sp["weight"])
        elif st is not None:
            kw["weight_density"] = st.density
        if st is not None and st.dense_bytes:
            kw["filter_storage_ratio"] = st.bytes / st.dense_bytes
        if st is not None and st.nm and g.phase != BACKWARD_DATA:    # the transposed weight loses the N:M groups
            kw["weight_nm"] = tuple(st.nm)
    if g.phase in (FORWARD, INFERENCE, BACKWARD_WEIGHT) and "input" in sp:
        kw["input_density"] = 1.0 - float(sp["input"])
    return g.with_(**kw) if kw else g


def _with_output(g: am.GemmLayer, widths: dict[tuple[str, str], tuple[str, int]]) -> am.GemmLayer:
    kw = widths.get((g.name, g.phase))
    if kw is None or g.operands is None:
        return g
    kind, w = kw
    return g.with_(operands=replace(g.operands, output_bits=w, output_kind=kind))


def _kv_format(bits: int) -> str:
    return f"float{bits}" if bits in (16, 32) else f"int{bits}"


def attention_gemms(li: LayerInfo, phases: set[str], trace: Trace, acc_psum: int = 32) -> list[am.GemmLayer]:
    """The GEMMs of a fused attention kernel (``op: attention``; shape N, heads, L queries, S keys, D, Dv).

    Forward / inference: S = Q K^T (L x D by D x S) and O = P V (L x S by S x Dv), per head; the keys
    and values are the filter operand. Backward (backward_data): dV = P^T dO, dP = dO V^T, dQ = dS K,
    dK = dS^T Q, twice the forward MACs, as counted. In a decode step (``trace.meta.kv_cache``)
    keys and values are read from the KV cache at its width, and the query heads sharing a key/value
    head (grouped-query attention) are one GEMM over that head's cache: the cache is read once."""
    s = li.shape
    n, h, L, S, D, Dv = (int(s[k]) for k in ("N", "heads", "L", "S", "D", "Dv"))
    kv = trace.meta.kv_cache
    kv_heads = int(kv.kv_heads or h) if kv is not None else h
    kv_heads = kv_heads if kv_heads and h % kv_heads == 0 else h
    rep = h // kv_heads
    f32 = "float32"
    kvf = _kv_format(kv.bits) if kv is not None and kv.bits else f32
    out: list[am.GemmLayer] = []
    for ph in (INFERENCE, FORWARD):
        if ph in phases:
            ops = am.operands(f32, kvf, acc_psum, "fp32")
            out += [am.GemmLayer(li.name, M=rep * L, N=S, K=D, groups=n * kv_heads, phase=ph, operands=ops),
                    am.GemmLayer(li.name, M=rep * L, N=Dv, K=S, groups=n * kv_heads, phase=ph, operands=ops)]
    if BACKWARD_DATA in phases:
        ops = am.operands(f32, f32, acc_psum, "fp32")
        g = n * h
        out += [am.GemmLayer(li.name, M=S, N=Dv, K=L, groups=g, phase=BACKWARD_DATA, operands=ops),
                am.GemmLayer(li.name, M=L, N=S, K=Dv, groups=g, phase=BACKWARD_DATA, operands=ops),
                am.GemmLayer(li.name, M=L, N=D, K=S, groups=g, phase=BACKWARD_DATA, operands=ops),
                am.GemmLayer(li.name, M=S, N=D, K=L, groups=g, phase=BACKWARD_DATA, operands=ops)]
    return out


_TRANSIENT = ("input", "output", "grad_output", "grad_input")


def _width(fmt: Any) -> tuple[str, int]:
    """(kind, stored bits per element) of a format (binary and ternary packed at 1 and 2 bits); the
    kind tells the accelerator model whether block scales travel with the elements."""
    from accel_models.pe import width

    kind, bits = am.parse_format(str(fmt))
    return kind, width(kind, bits)


def _output_widths(trace: Trace) -> dict[tuple[str, str], tuple[str, int]]:
    """(layer, phase) -> the (kind, width) a GEMM's finished outputs leave at: the input precision of the layer
    that reads them. Forward and inference outputs feed the next weight layer (the last layer's its own
    input width); backward_data's input gradient feeds the previous layer's backward at its gradient
    width. Backward_weight's weight gradient keeps the partial-sum width (not listed)."""
    gemms = [li for li in trace.layers if li.op in GEMM_OPS and li.shape]
    precs = [LayerPrecision.from_dict({k: v for k, v in (li.precision or {}).items() if k != "note" and v})
             for li in gemms]
    out: dict[tuple[str, str], tuple[str, int]] = {}
    for i, li in enumerate(gemms):
        nxt = precs[i + 1] if i + 1 < len(gemms) else precs[i]
        out[(li.name, FORWARD)] = _width(nxt.input)
        out[(li.name, INFERENCE)] = _width(nxt.operands(INFERENCE)[1])
        if i > 0:
            out[(li.name, BACKWARD_DATA)] = _width(precs[i - 1].grad)
    return out


def trace_work(trace: Trace, psum_bits: int = 32) -> list[am.GemmLayer | am.VectorOp]:
    """All work items of a trace in layer order: GEMMs per phase, then vector-unit rows. A GEMM's
    outputs leave at the input precision of the layer that reads them (:func:`_output_widths`);
    the element-wise work on activations can run fused with its producer (``fusable_*`` bytes)."""
    out_w = _output_widths(trace)
    recs: dict[str, list[LayerRecord]] = {}
    for r in trace.records:
        recs.setdefault(r.layer, []).append(r)
    have_records = bool(trace.records)
    work: list[am.GemmLayer | am.VectorOp] = []
    for li in trace.layers:
        lrecs = recs.get(li.name, [])
        if li.op in GEMM_OPS and li.shape:
            prec = LayerPrecision.from_dict({k: v for k, v in (li.precision or {}).items() if k != "note" and v})
            model = layer_to_model(li)
            start = len(work)
            if have_records:
                phases = {r.phase for r in lrecs if r.total_macs > 0}
            elif trace.mode == "infer":
                phases = {INFERENCE}
            else:
                phases = {FORWARD, BACKWARD_WEIGHT} | ({BACKWARD_DATA} if li.depth != 0 else set())
            if INFERENCE in phases:
                g = model.to_gemm()
                ops = am.operands(*[str(f) for f in (prec.operands(INFERENCE)[1], prec.operands(INFERENCE)[0])],
                                  psum_bits, prec.mac_type(INFERENCE))
                work.append(g.with_(phase=INFERENCE, operands=ops))
            if phases & {FORWARD, BACKWARD_DATA, BACKWARD_WEIGHT}:
                mts = {ph: prec.mac_type(ph) for ph in (FORWARD, BACKWARD_DATA, BACKWARD_WEIGHT)}
                items = am.phase_gemms(model, _precision_strings(prec, FORWARD),
                                       first_layer=BACKWARD_DATA not in phases, psum_bits=psum_bits, mac_types=mts)
                work += [w for w in items if w.phase in phases]
            work[start:] = [_with_output(_with_sparsity(w, trace), out_w) if isinstance(w, am.GemmLayer) else w
                            for w in work[start:]]
            if not have_records and trace.mode != "infer" and li.params:
                work.append(am.update_op(li.name, li.params))
        if li.op == "attention" and li.shape:
            work += attention_gemms(li, {r.phase for r in lrecs if r.total_macs > 0}, trace, acc_psum=psum_bits)
        for r in lrecs:
            ops = sum(r.elementwise.values())
            if ops <= 0:
                continue
            kind = Counter(r.elementwise).most_common(1)[0][0]
            b_in = b_out = f_in = f_out = biggest = s_in = s_out = 0
            if r.total_macs == 0:   # the GEMM rows already carry a weight layer's operand traffic
                for cls, b in r.traffic_bytes.items():
                    fusable = cls in _TRANSIENT
                    if cls in _WRITE_CLASSES:
                        b_out += b
                        f_out += b if fusable else 0
                    else:
                        b_in += b
                        f_in += b if fusable else 0
                    biggest = max(biggest, int(b)) if fusable else biggest
                    s_in += b if cls == "stash_read" else 0
                    s_out += b if cls == "stash_write" else 0
            work.append(am.VectorOp(r.layer, r.phase, ops=int(ops), kind=kind, bytes_in=int(b_in),
                                    bytes_out=int(b_out), detail=dict(r.elementwise), fusable_in=int(f_in),
                                    fusable_out=int(f_out), tensor_bytes=biggest, stash_in=int(s_in),
                                    stash_out=int(s_out)))
    return work


_PHASE_ORDER = {FORWARD: 0, INFERENCE: 0, BACKWARD_DATA: 1, BACKWARD_WEIGHT: 2, UPDATE: 3}


def _keyed(work: list[am.GemmLayer | am.VectorOp]) -> tuple[list[am.GemmLayer | am.VectorOp], list[am.WorkKey]]:
    """The work items in phase order, with their keys (the same for every accelerator they run on)."""
    work.sort(key=lambda w: _PHASE_ORDER.get(w.phase, 9))   # stable: keeps layer order inside a phase
    return work, am.work_keys(work)


def simulate_trace(trace: Trace, accelerator: Any) -> am.CycleReport:
    """Cycles, utilization and SRAM/DRAM accesses of every (layer, phase) of ``trace`` on ``accelerator``.

    ``accelerator`` is a YAML path (configs/accelerators/*.yaml), a SCALE-Sim ``.cfg`` path, a dict
    or an :class:`accel_models.Accelerator`. Rows come in phase order (forward, backward_data,
    backward_weight, update), layers in trace order within a phase.
    """
    acc = resolve_accelerator(accelerator)
    work, keys = memo.derived(trace, ("work", acc.psum_bits), lambda: _keyed(trace_work(trace, acc.psum_bits)))
    try:
        rep = am.simulate(work, acc, keys=keys)
    except am.ConfigError as e:
        raise UserError(f"{acc.name}: {e.where}", e.what) from None
    rep.workload = am.SimulatedWorkload(model=trace.model, scheme=trace.scheme, batch=trace.batch, mode=trace.mode)
    return rep
