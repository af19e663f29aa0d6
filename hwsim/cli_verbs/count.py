"""``hwsim count``: MACs by operand type, element-wise work, traffic and stash, per layer and phase."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from hwsim.trace import CONV_ND_OPS, conv_dims
from hwsim.workload import WorkloadOptions

if TYPE_CHECKING:
    from hwsim.jsondoc import JsonDocument

_PHASE_SHORT = {"forward": "fwd", "backward_data": "bwd data", "backward_weight": "bwd weight",
                "update": "update", "inference": "infer"}


def _si(n: float) -> str:
    from hwsim import units

    return units.count(n) if abs(n) < 1e4 else units.fmt(n, "ops").removesuffix(" ops")


def _bytes(n: float) -> str:
    from hwsim import units

    return units.fmt(n, "bytes")


def _shape_text(op: str, s: dict[str, int]) -> str:
    if op == "conv2d" and s:
        g = f" g{s['groups']}" if s.get("groups", 1) != 1 else ""
        return f"{s['C']}x{s['H']}x{s['W']} -> {s['K']}x{s['P']}x{s['Q']} k{s['R']} s{s['stride']}{g}"
    if op in CONV_ND_OPS and s:
        ins, outs, ks = conv_dims(op)
        g = f" g{s['groups']}" if s.get("groups", 1) != 1 else ""
        return (f"{'x'.join(str(s[k]) for k in ('C', *ins))} -> {'x'.join(str(s[k]) for k in ('K', *outs))} "
                f"k{'x'.join(str(s[k]) for k in ks)} s{s['stride']}{g}")
    if op == "linear" and s:
        return f"{s['C']} -> {s['K']}"
    return ""


def _macs_text(d: dict[str, int]) -> str:
    return " + ".join(f"{_si(v)} {k}" for k, v in sorted(d.items(), key=lambda kv: -kv[1]) if v) or "-"


def trace_json(tr: Any) -> JsonDocument:
    """The trace with its totals: the document ``--json`` prints."""
    from hwsim.trace import summary  # no torch: a trace read from the trace cache is printed without it

    return {"trace": tr.to_dict(), "summary": summary(tr)}


def print_trace(tr: Any) -> None:
    """A per-layer table (MACs by type per phase, stash written, traffic) and the totals."""
    from rich.table import Table

    from ._common import console as terminal_console
    from ._common import safe_text

    phases = ["inference"] if tr.mode == "infer" else ["forward", "backward_data", "backward_weight"]
    recs: dict[tuple[str, str], Any] = {(r.layer, r.phase): r for r in tr.records}
    by_layer: dict[str, list[Any]] = {}     # grouped once: a 7B model has hundreds of layers
    for r in recs.values():
        by_layer.setdefault(r.layer, []).append(r)
    t = Table(title=safe_text(f"{tr.model} / {tr.scheme}: batch {tr.batch}, "
                              f"input {tr.meta.input or 'x'.join(map(str, tr.input_shape))}, "
                              f"{'one training step' if tr.mode == 'train' else 'inference'}"))
    for c in ["layer", "op", "shape", *[f"MACs {_PHASE_SHORT[p]}" for p in phases], "elementwise", "stash",
              "traffic"]:
        t.add_column(c, overflow="fold", justify="left" if c in ("layer", "op", "shape") else "right")
    for li in tr.layers:
        rs = by_layer.get(li.name, [])
        if not rs:
            continue
        macs = [_macs_text(recs[(li.name, p)].macs) if (li.name, p) in recs else "-" for p in phases]
        ew = sum(sum(r.elementwise.values()) for r in rs)
        stash = sum(r.traffic_bytes.get("stash_write", 0) for r in rs)
        traffic = sum(sum(r.traffic_bytes.values()) for r in rs)
        t.add_row(safe_text(li.name), safe_text(f"{li.op} (stays float)" if li.stays_float else li.op),
                  safe_text(_shape_text(li.op, li.shape)), *macs, _si(ew) if ew else "-",
                  _bytes(stash) if stash else "-", _bytes(traffic))
    console = terminal_console()
    console.print(t)

    tot = Table(title="totals per phase")
    for c in ["phase", "MACs by type", "effectual MACs", "element-wise ops", "traffic by tensor class"]:
        tot.add_column(c, overflow="fold")
    for p, d in sorted(tr.by_phase().items(), key=lambda kv: list(_PHASE_SHORT).index(kv[0])):
        tot.add_row(p, _macs_text(d["macs"]), _macs_text(d["effectual_macs"]),
                    ", ".join(f"{k} {_si(v)}" for k, v in sorted(d["elementwise"].items(), key=lambda kv: -kv[1])),
                    ", ".join(f"{k} {_bytes(v)}" for k, v in sorted(d["traffic_bytes"].items(),
                                                                   key=lambda kv: -kv[1])))
    console.print(tot)
    m, st = tr.meta, tr.meta.step
    ratio = f" ({tr.stash_bytes_fp32 / tr.stash_bytes:.2f}x)" if tr.stash_bytes else ""
    if tr.mode == "infer":     # nothing is kept for a backward pass that never runs
        lines = ["stash: none (an inference pass saves nothing for backward; --phase train counts the "
                 "training step's)"]
    else:
        lines = [
            f"stash, whole step (all saved for backward): {tr.stash_bytes:,} B ({_bytes(tr.stash_bytes)}); "
            f"the same buffers at 32 bits: {tr.stash_bytes_fp32:,} B{ratio}",
        ]
    if st is not None and st.weight_input_values and tr.mode != "infer":
        wi, wf = st.weight_input_stash_bytes, st.weight_input_bytes_fp32
        lines.append(
            f"stash, weight-layer inputs: {wi:,} B ({_bytes(wi)}) at the widths this scheme keeps them; "
            f"{wf:,} B at 32 bits ({wf / max(wi, 1):.2f}x), {st.weight_input_bytes_1bit:,} B at 1 bit; "
            f"{st.weight_input_values_per_sample:,} values per sample")
    lines.append(f"parameters: {tr.param_count:,}; deployed model size: {tr.model_size_bytes:,} B")
    if m.scheme_noop:
        lines.append(f"note: scheme {tr.scheme} changes nothing on {tr.model}: this is the fp32 design")
    if tr.steps_per_epoch:
        lines.append(f"steps per epoch: {tr.steps_per_epoch:,}")
    if m.unsupported_ops:
        lines.append("ops without a counting formula (counted as element-wise work; --strict fails): "
                     + ", ".join(f"{op} x{n}" for op, n in m.unsupported_ops.items()))
    for n, why in m.stays_float.items():
        lines.append(f"stays float under {tr.scheme}: {n or 'model'}: {why}")
    for n in m.notes:
        lines.append(f"note: {n}")
    for line in lines:
        console.print(safe_text(line), highlight=False)


CPU_STEP_LIMIT = 64 * 2**30   # a real step on the CPU bigger than this is a typo, not a request


def _cpu_step(workload: Any, phase: str) -> Any:
    """A real step (or inference pass) of the workload on the CPU, measuring sparsity and the real stash;
    sized first by its count on meta tensors, so a typo does not allocate the machine away."""
    from hwsim.count import trace
    from hwsim.errors import UserError
    from hwsim.evaluate import trace_workload

    sized = trace_workload(workload, train=phase == "train", infer=phase == "infer")
    dry = sized.train or sized.infer
    assert dry is not None
    need = max(dry.stash_bytes_fp32, dry.stash_bytes) + 4 * int(dry.param_count or 0)
    if need > CPU_STEP_LIMIT:
        raise UserError("--device cpu", f"one step would hold about {need / 2**30:,.0f} GiB of "
                        f"tensors (limit {CPU_STEP_LIMIT // 2**30} GiB); use --device meta to count it")
    return trace(workload.build_network(), workload.scheme, batch=workload.batch, mode=phase, device="cpu",
                 input_shape=workload.input_shape, num_classes=workload.num_classes, optimizer=workload.optimizer,
                 model_name=workload.model, steps_per_epoch=workload.steps_per_epoch or 0)


def _label(model: str) -> str:
    """A built-in's name, else the spec's label (``net.py:make``, not the path it was given by)."""
    from hwsim.models import spec as specs

    src = specs.resolve(model, where="model")
    return model if src.kind == specs.BUILTIN else src.label


def register(app: typer.Typer) -> None:
    from ._common import workload_options

    @app.command("count")
    @workload_options
    def count(
        model: str = typer.Argument(..., help="Built-in model name (see `hwsim models`) or a model spec: "
                                    "file.py:factory, package.module:factory, model.onnx, model.pt2."),
        device: str = typer.Option("meta", "--device", help="meta (shapes only) or cpu (a real step: sparsity)."),
        steps_per_epoch: int = typer.Option(0, "--steps-per-epoch", min=0, help="Also give totals per epoch."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON: per-layer records and totals."),
        strict: bool = typer.Option(False, "--strict", help="Fail (exit 2) if the scheme cannot apply to some "
                                    "weight layer, instead of leaving it float."),
        wl: WorkloadOptions = None,
    ) -> None:
        """Count one training step (or inference pass): MACs by type per phase, element-wise ops, traffic, stash."""
        from hwsim.errors import UserError

        wl.check()
        if device not in ("meta", "cpu"):
            raise UserError("--device", f"expected meta or cpu, got {device!r}")
        from ._common import check_strict, option_names, print_json

        if device == "meta":   # the evaluation route's count, as cost and simulate use it
            from .cost import count_workload

            _, traces = count_workload(model, wl, strict, steps_per_epoch or None)
            tr = traces.train or traces.infer
        else:
            with option_names():
                tr = _cpu_step(wl.workload(model, steps_per_epoch=steps_per_epoch or None), wl.phase_name())
            check_strict(tr.meta.stays_float, tr.scheme, strict, tr.meta.unsupported_ops)
        tr.model = _label(model)
        if as_json:
            print_json(trace_json(tr))
        else:
            print_trace(tr)
