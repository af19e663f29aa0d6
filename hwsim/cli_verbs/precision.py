"""``hwsim precision``: per-layer bits from noise gains (Sakr & Shanbhag), against uniform bits (docs/precision.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import Fp32Training


def register(app: typer.Typer) -> None:
    from ._common import fp32_training_options

    @app.command("precision")
    @fp32_training_options
    def precision_cmd(
        model: str = typer.Argument(..., help="Built-in model name (see `hwsim models`) or a model spec."),
        target: float = typer.Option(0.01, "--target", help="Bound on the mismatch probability p_m (the accuracy "
                                     "loss against the float network) the allocation must meet."),
        uniform_bits: int = typer.Option(8, "--uniform", help="The uniform precision compared with."),
        samples: int = typer.Option(128, "--samples", help="Training inputs the noise gains are averaged over."),
        scheme_out: Path = typer.Option(None, "--scheme-out", help="Write the allocation as a `mixed` scheme "
                                        "(per-layer kbit overrides) to this YAML file."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        fp32: Fp32Training = None,
    ) -> None:
        """Noise gains of a trained fp32 network per layer (activations and weights), the per-layer bits that
        keep Sakr's bound on the accuracy loss under --target, and test accuracy and total bits of that
        allocation against uniform --uniform bits."""
        from hwsim.errors import UserError

        if not 0 < target < 1:
            raise UserError("--target", f"a probability in (0, 1), got {target}")
        if not 2 <= uniform_bits <= 16:
            raise UserError("--uniform", f"bits in 2..16, got {uniform_bits}")
        if samples < 1:
            raise UserError("--samples", "must be a positive integer")
        fp32.check()
        import yaml

        from hwsim import noise_gain as ng
        from hwsim.train import evaluate

        from ._common import print_json, print_table

        ds = fp32.load_dataset()
        net, ckpt, _ = fp32.network(model, ds, fp32.recipe())
        dataset, seed = fp32.dataset, fp32.seed
        gains = ng.noise_gains(net, ds.train_x[:samples], seed=seed)
        alloc = ng.allocate(gains, target)
        uni = ng.uniform(gains, uniform_bits)
        fp = evaluate(net, ds.test_x, ds.test_y)
        a_alloc = ng.evaluate_bits(net, gains, alloc, ds.test_x, ds.test_y)
        a_uni = ng.evaluate_bits(net, gains, uni, ds.test_x, ds.test_y)
        if scheme_out is not None:
            scheme_out.parent.mkdir(parents=True, exist_ok=True)
            scheme_out.write_text(yaml.safe_dump(alloc.mixed_spec(), sort_keys=False))
        summary = {"model": model, "dataset": dataset, "checkpoint": ckpt, "target": target, "fp32_acc": fp,
                   "allocation": {"bound": alloc.bound, "total_bits": alloc.total_bits(gains),
                                  "accuracy": a_alloc.accuracy, "agreement": a_alloc.agreement},
                   f"uniform{uniform_bits}": {"bound": uni.bound, "total_bits": uni.total_bits(gains),
                                              "accuracy": a_uni.accuracy, "agreement": a_uni.agreement},
                   "layers": [{"name": g.name, "act_gain": g.act, "weight_gain": g.weight, "act_bits": a,
                               "weight_bits": w} for g, a, w in zip(gains, alloc.act_bits, alloc.weight_bits)]}
        if as_json:
            print_json(summary)
            return
        print_table(f"{model} on {dataset}: noise gains (range folded in) and bits for p_m <= {target:g}",
                    ["layer", "E_A r^2", "E_W r^2", "B_A", "B_W"],
                    [[g.name, f"{g.act:.3g}", f"{g.weight:.3g}", a, w]
                     for g, a, w in zip(gains, alloc.act_bits, alloc.weight_bits)])
        print_table("allocation against uniform bits (test set)", ["", "bound on p_m", "total bits / sample",
                                                                  "accuracy", "agrees with fp32"],
                    [["noise-gain allocation", f"{alloc.bound:.4f}", alloc.total_bits(gains),
                      f"{a_alloc.accuracy:.2%}", f"{a_alloc.agreement:.2%}"],
                     [f"uniform {uniform_bits}-bit", f"{uni.bound:.4f}", uni.total_bits(gains),
                      f"{a_uni.accuracy:.2%}", f"{a_uni.agreement:.2%}"],
                     ["fp32", "0", "-", f"{fp:.2%}", "100.00%"]])
        if scheme_out is not None:
            typer.echo(f"scheme written to {scheme_out}")
