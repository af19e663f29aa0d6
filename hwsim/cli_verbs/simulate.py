"""``hwsim simulate``: cycles, utilization and SRAM/DRAM accesses on an accelerator model.

    hwsim simulate --accelerator configs/accelerators/tpu_like.yaml --topology net.csv [--format csv]
    hwsim simulate --cfg scale.cfg --topology net.csv            # a SCALE-Sim run, in milliseconds
    hwsim simulate resnet20 --scheme bnn --accelerator bitfusion --phase infer -b 1
    hwsim simulate trace.json --accelerator tpu_like                  # a trace from `hwsim count --json`

Topology and trace files never import torch; a model is counted first through the evaluation route
(hwsim.evaluate.trace_workload, torch), then simulated by hwsim.evaluate.simulate_traces.
"""

from __future__ import annotations

import typer

from hwsim.workload import WorkloadOptions

from ._common import NO_TRACE_CACHE_HELP

_TABLE_COLS = ("layer", "phase", "mac_type", "compute_cycles", "stall_cycles", "total_cycles",
               "mapping_efficiency", "utilization", "sram_bytes", "dram_bytes", "loop_order")
_HEADERS = ("layer", "phase", "MAC", "compute", "stall", "total", "map.eff", "util", "SRAM B", "DRAM B", "loop order")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _simulate_topology(topology: str, kind: str, model: str | None, wl: WorkloadOptions, acc):
    """(report, title) of a SCALE-Sim topology file on ``acc``; the file fixes the workload."""
    import accel_models as am
    from hwsim.errors import UserError

    if model:
        raise UserError("--topology", "give either a model or a topology, not both")
    if wl.given():
        raise UserError(wl.given()[0], "a topology file fixes the workload (give a model to count instead)")
    if kind not in ("auto", "conv", "gemm"):
        raise UserError("--topology-kind", f"expected auto, conv or gemm, got {kind!r}")
    try:
        rep = am.simulate(am.read_topology(topology, kind=kind), acc)
    except am.ConfigError as e:
        raise UserError(e.where, e.what) from None
    return rep, f"{topology} on {acc.name}"


def _simulate_model(model: str, wl: WorkloadOptions, strict: bool, acc, trace_cache: bool = True):
    """(report, title) of a model counted through the evaluation route, or of a counted trace file."""
    from hwsim.evaluate import WorkloadTraces, simulate_traces

    from .cost import count_workload, read_trace_file

    if model.endswith(".json"):
        tr = read_trace_file(model, wl)
        traces = WorkloadTraces(infer=tr) if tr.mode == "infer" else WorkloadTraces(train=tr)
    else:
        _, traces = count_workload(model, wl, strict, trace_cache=trace_cache)
    c_train, c_infer = simulate_traces(traces, acc)
    tr, rep = (traces.train, c_train) if traces.train is not None else (traces.infer, c_infer)
    assert tr is not None and rep is not None
    return rep, f"{tr.model} / {tr.scheme} (batch {tr.batch}, {tr.mode}) on {acc.name}"


def _print_table(rep, acc, title: str, area) -> None:
    """The per-layer table, the total cycles and time, and the area at the technology's node."""
    from rich.table import Table

    from hwsim import units
    from hwsim.errors import printable

    from ._common import console, safe_text

    def both(r: dict) -> dict:   # a row's display form (CycleRow.to_dict, or the totals)
        return {**r, "sram_bytes": r["sram_read_bytes"] + r["sram_write_bytes"],
                "dram_bytes": r["dram_read_bytes"] + r["dram_write_bytes"]}

    # bytes in one prefix per column, named in the header (SRAM kB)
    shown = [r.to_dict() for r in rep.rows]
    byte_scale = {c: units.column_scale([both(r)[c] for r in shown], "bytes") for c in ("sram_bytes",
                                                                                           "dram_bytes")}
    heads = [f"{h.removesuffix(' B')} {byte_scale[c].unit_text}" if c in byte_scale else h
             for c, h in zip(_TABLE_COLS, _HEADERS)]
    t = Table(title=safe_text(f"{title}: {acc.rows}x{acc.cols} {acc.dataflow}, PE {acc.pe.kind}"),
              show_lines=False)
    for c, h in zip(_TABLE_COLS, heads):
        t.add_column(h, justify="left" if c in ("layer", "phase", "mac_type", "loop_order") else "right")

    def cells(r: dict) -> list[str]:
        r = both(r)
        return [units.fmt(r[c], "bytes", 4, scale=byte_scale[c], unit_text=False) if c in byte_scale
                else units.fmt(r[c], "fraction") if c in ("utilization", "mapping_efficiency")
                # the memory model's loop order (accel_models.memory.LoopOrder), in words
                else safe_text(str(r.get(c) or "").replace("_", " ")) if c == "loop_order"
                else safe_text(_fmt(r.get(c, ""))) for c in _TABLE_COLS]

    for r in shown:
        t.add_row(*cells(r))
    tot = rep.totals
    t.add_row(*(["TOTAL", "", ""] + cells(tot)[3:]), style="bold")
    console().print(t)
    print(printable(f"total {tot['total_cycles']:,} cycles = {units.fmt(tot['time_us'], 'us', 4)} at "
          f"{units.fmt(acc.clock_mhz, 'MHz', 4)}; access counts in bytes at operand widths"))
    parts = ", ".join(f"{k} {units.fmt(v, 'mm2')}" for k, v in area.breakdown.items())
    print(f"area {units.fmt(area.total_mm2, 'mm2', 4)} at {area.node_nm:g} nm ({parts}); rules: hwsim simulate "
          "--format json | area")


def register(app: typer.Typer) -> None:
    from ._common import workload_options

    @app.command("simulate")
    @workload_options
    def simulate(
        model: str = typer.Argument(None, help="Built-in model name, a model spec (file.py:factory, "
                                    "package.module:factory, model.onnx, model.pt2) or a trace JSON file "
                                    "(omit with --topology)."),
        accelerator: str = typer.Option(None, "--accelerator", "-a", help="Accelerator YAML, or a name in configs/accelerators/."),
        topology: str = typer.Option(None, "--topology", "-t", help="SCALE-Sim topology CSV (conv or GEMM)."),
        cfg: str = typer.Option(None, "--cfg", help="SCALE-Sim .cfg: the accelerator, unless --accelerator is given."),
        sets: list[str] = typer.Option(None, "--set", help="Override an accelerator field, e.g. --set array.rows=64 "
                                       "(repeatable; any field of the accelerator YAML, as dotted paths)."),
        topology_kind: str = typer.Option("auto", "--topology-kind", help="auto, conv or gemm."),
        tech: str = typer.Option("45nm", "--tech", help="Technology table whose node the area is given at: "
                                 "configs/tech/<name>.yaml or a path."),
        node: str = typer.Option(None, "--node", help="Scale the technology table to this node (e.g. 7nm)."),
        fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
        as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
        strict: bool = typer.Option(False, "--strict", help="Fail (exit 2) if the scheme cannot apply to some "
                                    "weight layer, instead of leaving it float."),
        no_trace_cache: bool = typer.Option(False, "--no-trace-cache", help=NO_TRACE_CACHE_HELP),
        wl: WorkloadOptions = None,
    ) -> None:
        """Per-layer (and per-phase) cycles, stalls, utilization and SRAM/DRAM accesses."""
        import sys

        import accel_models as am
        from hwsim.energy import load_tech
        from hwsim.errors import UserError
        from hwsim.hardware import cli_accelerator

        wl.check()
        fmt = "json" if as_json else fmt
        if fmt not in ("table", "csv", "json"):
            raise UserError("--format", f"expected table, csv or json, got {fmt!r}")
        if not accelerator and not cfg:
            raise UserError("--accelerator", "give an accelerator YAML (or a SCALE-Sim --cfg)")
        table = load_tech(tech, node=node)
        acc = cli_accelerator(accelerator or cfg, sets)
        if topology:
            rep, title = _simulate_topology(topology, topology_kind, model, wl, acc)
        elif model:
            rep, title = _simulate_model(model, wl, strict, acc, trace_cache=not no_trace_cache)
        else:
            raise UserError("hwsim simulate", "give a model name (with --scheme) or --topology FILE.csv")

        area = am.accelerator_area(acc, node_nm=table.node_nm)
        if fmt == "json":
            d = rep.to_dict()
            d["area"] = area.to_dict()
            import json

            sys.stdout.write(json.dumps(d, indent=2, sort_keys=True, default=str) + "\n")
            return
        if fmt == "csv":
            sys.stdout.write(rep.to_csv())
            return
        _print_table(rep, acc, title, area)
