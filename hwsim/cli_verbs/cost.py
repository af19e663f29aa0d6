"""``hwsim cost``: energy of a model under a scheme on a technology table, by phase and component."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from hwsim.workload import WorkloadOptions

from ._common import NO_TRACE_CACHE_HELP

if TYPE_CHECKING:
    from hwsim.energy.assumptions import EnergyAssumptions


def read_trace_file(path: str, wl: WorkloadOptions):
    """A Trace from a JSON file (``hwsim count --json`` output); the file fixes the workload, so a
    workload option given with it is a mistake, not something to ignore silently."""
    import json
    from pathlib import Path

    from hwsim.errors import UserError
    from hwsim.trace import Trace

    if wl.given():
        raise UserError(wl.given()[0], f"{path} is a counted trace: its workload is fixed (give a model to count "
                                       "instead)")
    p = Path(path)
    if not p.is_file():
        raise UserError(path, "trace file not found")
    try:
        data = json.loads(p.read_text())
        return Trace.from_dict(data.get("trace", data) if isinstance(data, dict) else data)
    except (json.JSONDecodeError, TypeError, AttributeError, KeyError, ValueError, UnicodeDecodeError) as e:
        raise UserError(path, f"not a hwsim trace JSON ({type(e).__name__}: {str(e)[:200]})") from None


def count_workload(model: str, wl: WorkloadOptions, strict: bool, steps_per_epoch: int | None = None,
                   prompt: int | None = None, new_tokens: int | None = None, trace_cache: bool = True):
    """(Workload, WorkloadTraces) of ``model`` under the workload options, counted by the evaluation route
    (``hwsim.evaluate.trace_workload``): the training step or the inference pass, as ``--phase`` says, and
    with ``new_tokens`` a decoder's prefill + decode at the batch. ``trace_cache``: False counts afresh,
    without the trace cache."""
    import dataclasses

    from hwsim import trace_cache as cache
    from hwsim.errors import UserError
    from hwsim.evaluate import trace_workload

    from ._common import check_strict, option_names

    with option_names():
        workload = dataclasses.replace(wl.workload(model, steps_per_epoch=steps_per_epoch), prompt=prompt,
                                       new_tokens=new_tokens)
        phase = wl.phase_name()
        try:
            with cache.turned_off(not trace_cache):
                traces = trace_workload(workload, train=phase == "train", infer=phase == "infer")
        except UserError as e:
            if e.where.startswith("new_tokens"):
                e.where = "--new-tokens"
            raise
    tr = traces.train or traces.infer
    assert tr is not None
    check_strict(tr.meta.stays_float, tr.scheme, strict, tr.meta.unsupported_ops)
    return workload, traces


def print_decode(dec, m: dict[str, float]) -> None:
    """The prefill / decode split of a decoder's inference (``hwsim.evaluate.decode_metrics``)."""
    from hwsim.evaluate import _dram

    from ._common import print_table

    d = dec.traces
    b = d.prefill.batch
    kv = d.last.meta.kv_cache
    assert kv is not None, "a decode step's trace holds its KV cache"

    from hwsim import units

    def us(k: str) -> str:
        return units.fmt(m[k], "us", 4) if k in m else "-"

    def si(n: float) -> str:
        return units.fmt(n, "MACs", 4)

    def nbytes(n: float) -> str:
        return units.fmt(n, "bytes", 4)

    rows = [
        [f"prefill ({d.prompt} tokens)", si(m["macs_prefill"]), _fmt(m["prefill_energy_pj"]), us("prefill_latency_us"),
         nbytes(_dram(dec.prefill_cycles) / b) if dec.prefill_cycles is not None else "-"],
        ["decode, per generated token", si(m["macs_decode_per_token"]), _fmt(m["decode_energy_pj_per_token"]),
         us("decode_latency_us_per_token"),
         nbytes(m["dram_bytes_decode_per_token"]) if "dram_bytes_decode_per_token" in m else "-"],
        [f"  first step ({d.prompt} cached)", si(sum(r.total_macs for r in d.first.records) / b),
         _fmt(dec.first_energy.infer_pj_per_sample), "", ""],
        [f"  last step ({d.prompt + d.new_tokens - 1} cached)", si(sum(r.total_macs for r in d.last.records) / b),
         _fmt(dec.last_energy.infer_pj_per_sample), "", ""],
        [f"prefill + {d.new_tokens} tokens", si(m["macs_prefill"] + d.new_tokens * m["macs_decode_per_token"]),
         _fmt(m["generate_energy_pj"]), us("generate_latency_us"), ""],
    ]
    print_table(f"{d.prefill.model} / {d.prefill.scheme}: prefill + decode, per sequence (batch {b}; latency: "
                "the batch's)", ["stage", "MACs", "energy", "latency", "DRAM"], rows)
    print_table("KV cache", ["quantity", "value"], [
        ["width", f"{kv.bits} bits ({kv.kv_heads} key/value heads)"],
        ["per token", nbytes(m["kv_cache_bytes_per_token"])],
        [f"at the end ({d.prompt + d.new_tokens} tokens)", nbytes(m["kv_cache_bytes"])],
    ])


def _fmt(pj: float) -> str:
    from hwsim import units

    return units.fmt(pj, "pJ", 4)


def _print_energy(rep, layers: bool) -> None:
    """Energy by component and phase (and, with ``--layers``, by layer)."""
    from ._common import print_table

    train_phases = [p for p in ("forward", "backward_data", "backward_weight", "update") if p in rep.by_phase]
    cols = train_phases + (["train step"] if train_phases else []) + (
        ["inference batch"] if "inference" in rep.by_phase else [])
    comps = sorted({c for v in rep.by_phase.values() for c in v})

    def cell(col: str, comp: str | None) -> str:
        if col == "train step":
            src = rep.totals if rep.train_step_pj else {}
        else:
            src = rep.by_phase.get("inference" if col == "inference batch" else col, {})
        return _fmt(src.get(comp, 0.0) if comp else sum(src.values()))

    print_table(f"{rep.model} / {rep.scheme} on {rep.tech} (batch {rep.batch}): energy by component and phase",
                ["component"] + cols, [[c] + [cell(col, c) for col in cols] for c in comps]
                + [["total"] + [cell(col, None) for col in cols]])
    if layers:
        bl = rep.by_layer()
        lc = sorted({c for v in bl.values() for c in v})
        print_table("energy per layer (" + ("training step" if rep.train_step_pj else "inference batch") + ")",
                    ["layer"] + lc + ["total"],
                    [[name] + [_fmt(v.get(c, 0.0)) for c in lc] + [_fmt(sum(v.values()))] for name, v in bl.items()])


def _print_totals(rep, ev, decode: dict | None, rate: float | None) -> None:
    """Training step and epoch, inference (or prefill) per sample, and average power at ``--rate``."""
    from hwsim import units

    from ._common import print_table

    summary = []
    if rep.train_step_pj:
        summary.append(["training step", _fmt(rep.train_step_pj)])
        if rep.train_epoch_pj is not None:
            summary.append([f"training epoch ({rep.steps_per_epoch} steps)", _fmt(rep.train_epoch_pj)])
    # with --new-tokens the inference pass priced here is the prompt's prefill; generation is printed apart
    summary.append([f"prefill per sequence ({ev.decode.traces.prompt} tokens)" if decode is not None
                    and ev.decode is not None else "inference per sample", _fmt(rep.infer_pj_per_sample)])
    if rate is not None:
        summary.append([f"average power at {rate:g} Hz", units.fmt(rep.avg_power_w(), "W", 4)])
    print_table("totals", ["quantity", "energy"], summary)


def _print_rules(a: EnergyAssumptions) -> None:
    """The pricing's assumptions: compute rules, memory levels, placement, and each rule's citation."""
    from hwsim import units

    from ._common import print_table

    def rule_of(mac_type: str) -> tuple[str, str]:
        """The name and source of the rule that priced ``mac_type``."""
        return next((n, r.source) for n, r in a.rules.items() if mac_type in r.mac_types)

    print_table("compute rules", ["MAC type", "pJ/MAC", "rule", "source"],
                [[m, f"{v.min:.4g}" + ("" if v.max == v.min else f"..{v.max:.4g}"), *rule_of(m)]
                 for m, v in a.pj_per_mac.items()])
    mem = a.memory
    print_table("memory", ["level", "pJ/bit", "pJ/64 bits"], [
        ["rf", f"{mem.rf.pj_per_bit:.4g}", f"{64 * mem.rf.pj_per_bit:.4g}"],
        [f"sram {units.fmt(a.hierarchy.sram_bytes, 'bytes', 4)}", f"{mem.sram.pj_per_bit:.4g}",
         f"{mem.sram.pj_per_64b:.4g}"],
        [f"dram ({mem.dram.preset})", f"{mem.dram.pj_per_bit:.4g}", f"{64 * mem.dram.pj_per_bit:.4g}"],
    ])
    pl = a.placement
    if pl is not None:   # None: the accelerator's accesses priced every record's memory
        step = pl.step
        print_table("placement (training step)", ["tensor class", "footprint", "on chip", "level"],
                    [[c, units.fmt(step.footprint_bytes.get(c, 0), "bytes", 4),
                      units.fmt(step.onchip_bytes.get(c, 0), "bytes", 4), lvl]
                     for c, lvl in step.levels.items()])
    typer.echo("rules:")
    for name, r in a.rules.items():
        typer.echo(f"  {name}: {r.text} [{r.citation}]")
    typer.echo(f"  element-wise: {a.elementwise.rule}; defaulted: "
               + (", ".join(op for op, v in a.elementwise.ops.items() if v.default) or "none"))
    for level, cost in (("rf", mem.rf), ("sram", mem.sram), ("dram", mem.dram)):
        typer.echo(f"  {level}: {cost.rule} [{cost.citation}]")
    typer.echo(f"  placement: {pl.rule}" if pl is not None else
               "  placement: not run (the accelerator's accesses priced every record's memory)")
    if a.static is not None:
        st = a.static
        sram_rule = (f"{st.sram_nw_per_bit:g} nW/bit x {units.count(st.sram_bits)} bits"
                     if st.sram_nw_per_bit is not None
                     else f"{st.mw_per_mm2:g} mW/mm2 x {units.fmt(st.sram_mm2, 'mm2', 4)}")
        typer.echo(f"  static: logic {st.mw_per_mm2:g} mW/mm2 x {units.fmt(st.logic_mm2, 'mm2', 4)} = "
                   f"{units.fmt(st.logic_mw, 'mW', 4)} [{st.citation}]; SRAM {sram_rule} = "
                   f"{units.fmt(st.sram_mw, 'mW', 4)} [{st.sram_citation or st.citation}]; "
                   f"at {units.fmt(st.clock_mhz, 'MHz')} ({st.rule})")
    sc = a.tech.scaling
    if sc is not None:
        typer.echo(f"  node scaling: x{sc.factor:.4g} ({sc.rule}) [{sc.source}]")
    for n in a.notes:
        typer.echo(f"note: {n}")


def register(app: typer.Typer) -> None:
    from ._common import workload_options

    @app.command("cost")
    @workload_options
    def cost(
        model: str = typer.Argument(..., help="Built-in model name, a model spec (file.py:factory, "
                                    "package.module:factory, model.onnx, model.pt2) or a trace JSON file."),
        tech: str = typer.Option("45nm", "--tech", help="Technology table: configs/tech/<name>.yaml or a path."),
        node: str = typer.Option(None, "--node", help="Scale the table to this node (e.g. 7nm)."),
        hierarchy: str = typer.Option(None, "--hierarchy", help="Memory hierarchy YAML (default: configs/hierarchy/default.yaml)."),
        accelerator: str = typer.Option(None, "--accelerator", help="Take SRAM/DRAM accesses from this accelerator "
                                        "(configs/accelerators/<name>.yaml, a path, or a SCALE-Sim .cfg)."),
        sets: list[str] = typer.Option(None, "--set", help="Override an accelerator field, e.g. --set array.rows=64 "
                                       "(repeatable; needs --accelerator)."),
        steps_per_epoch: int = typer.Option(None, "--steps-per-epoch", min=1, help="Training steps per epoch."),
        rate: float = typer.Option(None, "--rate", min=0.0, help="Rate in Hz (training steps, or inferences with "
                                   "--phase infer) for average power."),
        layers: bool = typer.Option(False, "--layers", help="Also print energy per layer."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        strict: bool = typer.Option(False, "--strict", help="Fail (exit 2) if the scheme cannot apply to some "
                                    "weight layer, instead of leaving it float."),
        new_tokens: int = typer.Option(None, "--new-tokens", min=1, help="A decoder's inference as prefill + "
                                       "decode: tokens generated after the prompt, one decode step each."),
        prompt: int = typer.Option(None, "--prompt", min=1, help="Prompt tokens (with --new-tokens; default: "
                                   "the input's sequence length)."),
        no_trace_cache: bool = typer.Option(False, "--no-trace-cache", help=NO_TRACE_CACHE_HELP),
        wl: WorkloadOptions = None,
    ) -> None:
        """Energy per layer, phase and component (compute by MAC type, element-wise, RF, SRAM, DRAM; static leakage with --accelerator)."""
        from hwsim.energy import load_hierarchy, load_tech
        from hwsim.evaluate import Pricing, WorkloadTraces, evaluate, price_traces

        from ._common import print_json

        wl.check()
        from hwsim.workload import check_decode

        check_decode(prompt, new_tokens, "--prompt" if prompt is not None and new_tokens is None else "--new-tokens")
        table = load_tech(tech, node=node)
        hier = load_hierarchy(hierarchy)
        if sets and not accelerator:
            from hwsim.errors import UserError

            raise UserError("--set", "overrides accelerator fields: give --accelerator too")
        acc = None
        if accelerator:   # resolved (and its --set overrides checked) before the model is traced
            from hwsim.hardware import cli_accelerator

            acc = cli_accelerator(accelerator, sets)
        pricing = Pricing(memory="accelerator", hierarchy=hier, rate_hz=rate)
        if model.endswith(".json"):
            if new_tokens is not None:
                from hwsim.errors import UserError

                raise UserError("--new-tokens", f"{model} is a counted trace; prefill + decode counts a model")
            tr = read_trace_file(model, wl)
            traces = WorkloadTraces(infer=tr) if tr.mode == "infer" else WorkloadTraces(train=tr)
            ev = price_traces(traces, acc, table, pricing, steps_per_epoch=steps_per_epoch)
        else:
            workload, traces = count_workload(model, wl, strict, steps_per_epoch, prompt, new_tokens,
                                              trace_cache=not no_trace_cache)
            ev = evaluate(workload, acc, table, pricing, traces=traces)
            tr = traces.train or traces.infer
        rep = ev.infer_energy if tr.mode == "infer" else ev.train_energy
        assert rep is not None
        decode = None
        if ev.decode is not None:
            from hwsim.evaluate import decode_metrics

            decode = decode_metrics(ev.decode, acc.clock_mhz if acc is not None else None)
        if as_json:
            print_json({**rep.to_dict(), **({"decode": decode} if decode else {})})
            return
        _print_energy(rep, layers)
        _print_totals(rep, ev, decode, rate)
        if decode is not None and ev.decode is not None:
            print_decode(ev.decode, decode)
        assert rep.assumptions is not None
        _print_rules(rep.assumptions)
