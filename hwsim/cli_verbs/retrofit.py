"""``hwsim retrofit``: a trained fp32 network with Graham's low-precision batch-norm swapped in, accuracy
raw and after fine-tuning, as Graham's Tables 5-6 (docs/retrofit.md)."""

from __future__ import annotations

import typer

from ._common import Fp32Training


def register(app: typer.Typer) -> None:
    from ._common import fp32_training_options

    @app.command("retrofit")
    @fp32_training_options
    def retrofit_cmd(
        model: str = typer.Argument(..., help="Built-in model name (see `hwsim models`) or a model spec."),
        scheme: str = typer.Option("graham", "--scheme", "-s", help="The retrofitted scheme (graham)."),
        quantizers: list[str] = typer.Option(None, "--quantizer", "-q",
                                             help="Graham quantizer (L2..L5, U4, U5, U8, O4); repeatable. "
                                                  "Default: L4 and L5 (Tables 5 and 6)."),
        float_bns: list[int] = typer.Option(None, "--float-bns",
                                            help="Leading batch-norms kept float: 0 = quantize all, 1 = all but "
                                                 "the first, ...; repeatable. Default: 0 and 1."),
        steps: int = typer.Option(100, "--steps", help="Fine-tuning optimizer steps after the swap (0: raw only)."),
        limit: int = typer.Option(None, "--limit", help="Use at most this many training examples."),
        accelerator: str = typer.Option("eyeriss", "--accelerator", help="Accelerator the rows are priced on."),
        tech: str = typer.Option("45nm", "--tech", help="Technology table."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        fp32: Fp32Training = None,
    ) -> None:
        """Swap batch-norm for Graham's quantized batch-norm in a trained fp32 network: accuracy with no
        retraining and after --steps of fine-tuning, per quantizer and per number of float batch-norms."""
        from hwsim.errors import UserError

        if scheme != "graham":
            raise UserError("--scheme", f"retrofit swaps batch-norm for Graham's; only 'graham' applies, got {scheme!r}")
        quantizers = list(quantizers or ["L4", "L5"])
        from hwsim.quant.graham import QUANTIZERS

        for q in quantizers:
            if q not in QUANTIZERS:
                raise UserError("--quantizer", f"unknown Graham quantizer {q!r}; expected one of {', '.join(QUANTIZERS)}")
        floats = list(float_bns if float_bns else [0, 1])
        if any(f < 0 for f in floats):
            raise UserError("--float-bns", "must be >= 0")
        if steps < 0:
            raise UserError("--steps", f"must be >= 0, got {steps}")
        fp32.check()

        from hwsim.energy import load_tech
        from hwsim.hardware import resolve_accelerator
        from hwsim.retrofit import (
            RetrofitResult,
            RetrofitRow,
            count_bns,
            price,
            retrofit_one,
        )

        from ._common import print_json, print_table
        from .cost import _fmt

        acc = resolve_accelerator(accelerator)
        table = load_tech(tech)
        recipe = fp32.recipe()
        ds = fp32.load_dataset(limit)
        net, ckpt, trained_here = fp32.network(model, ds, recipe, limit)
        dataset, batch = fp32.dataset, fp32.batch
        n_bn = count_bns(net)
        if n_bn == 0:
            raise UserError(model, "has no batch-norm to retrofit")
        res = RetrofitResult(model=model, dataset=dataset, checkpoint=ckpt, trained_here=trained_here,
                             finetune_steps=steps, batch_norms=n_bn)
        raw, tuned, sch = retrofit_one(net, "fp32", n_bn, ds, steps, recipe)     # the fine-tuning control
        e_inf, e_step = price(model, sch, ds, batch, acc, table)
        res.rows.append(RetrofitRow("fp32", n_bn, 0, raw, tuned, e_inf, e_step))
        for q in quantizers:
            for f in floats:
                if f >= n_bn:
                    raise UserError("--float-bns", f"{model} has {n_bn} batch-norms; {f} float leaves none quantized")
                raw, tuned, sch = retrofit_one(net, q, f, ds, steps, recipe)
                e_inf, e_step = price(model, sch, ds, batch, acc, table)
                res.rows.append(RetrofitRow(q, f, n_bn - f, raw, tuned, e_inf, e_step))
        if as_json:
            print_json(res.to_dict())
            return
        src = "trained now, saved to" if trained_here and ckpt else "loaded from" if ckpt else "trained now"
        typer.echo(f"{model} on {dataset}: fp32 network {src} {ckpt}".rstrip())
        rows = [[r.quantizer, "-" if r.quantizer == "fp32" else f"{r.quantized_bns} of {n_bn}",
                 f"{1 - r.raw_acc:.2%}", "-" if r.tuned_acc is None else f"{1 - r.tuned_acc:.2%}",
                 _fmt(r.infer_energy_pj or 0.0), _fmt(r.finetune_step_energy_pj or 0.0)] for r in res.rows]
        print_table(f"retrofitted {model}: test error raw and after {steps} fine-tuning steps "
                    f"(priced on {acc.name}, {table.name})",
                    ["BN", "quantized BNs", "error raw", "error fine-tuned", "inference / sample",
                     "fine-tuning step"], rows)
