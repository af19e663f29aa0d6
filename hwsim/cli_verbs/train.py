"""``hwsim train``: train a model under a scheme with instrumentation on (the normal path)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from hwsim.workload import WorkloadOptions


def register(app: typer.Typer) -> None:
    from ._common import workload_options

    @app.command("train")
    @workload_options
    def train_cmd(
        model: str = typer.Argument("lenet5", help="Built-in model name (see `hwsim models`) or a model spec: "
                                    "file.py:factory, package.module:factory, model.onnx, model.pt2."),
        dataset: str = typer.Option("digits", "--dataset", "-d", help="Data set (digits needs no download)."),
        data_root: str = typer.Option(None, "--data-root", help="Folder holding IDX/CIFAR files."),
        epochs: int = typer.Option(5, "--epochs", "-e", help="Epochs."),
        lr: float = typer.Option(0.05, "--lr", help="Learning rate."),
        weight_decay: float = typer.Option(0.0, "--weight-decay", help="Weight decay."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        limit: int = typer.Option(None, "--limit", help="Use at most this many training examples."),
        sample_every: int = typer.Option(20, "--sample-every", help="Sample sparsity every N steps."),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON: accuracy, curves, trace totals."),
        out: Path = typer.Option(None, "--out", help="Write the printed trace (a real step, or the inference pass with --phase infer) as JSON to this file."),
        strict: bool = typer.Option(False, "--strict", help="Fail (exit 2) if the scheme cannot apply to some "
                                    "weight layer, instead of leaving it float."),
        wl: WorkloadOptions = None,
    ) -> None:
        """Train with instrumentation: accuracy, then MACs by type per phase, stash and sparsity per layer
        (of a real training step; with --phase infer, of the trained network's inference pass)."""
        import json

        import torch

        from hwsim.count import CountingCallback, summary
        from hwsim.data import load_dataset
        from hwsim.errors import UserError
        from hwsim.models import build_model
        from hwsim.train import TrainRecipe, train
        from hwsim.workload import OPTIMIZERS

        from ._common import option_names, print_json
        from .count import print_trace

        wl.check()
        if sample_every < 1:
            raise UserError("--sample-every", f"must be a positive integer, got {sample_every}")
        optimizer, phase = wl.optimizer_name(), wl.phase_name()
        with option_names():
            sch = wl.build_scheme()
        recipe = TrainRecipe.parse({"epochs": epochs, "batch_size": wl.batch_size, "lr": lr,
                                    **OPTIMIZERS[optimizer].recipe_fields(), "weight_decay": weight_decay, "seed": seed,
                                    "device": "cpu"}, where="train")
        ds = load_dataset(dataset, root=data_root, seed=seed, limit=limit, where="--dataset")
        # the data set fixes the input and the classes: a different one given is a mistake, not a request
        shape = wl.input_shape()
        if shape is not None and tuple(shape) != tuple(ds.in_shape):
            raise UserError("--input", f"{dataset} has inputs of {'x'.join(map(str, ds.in_shape))}; got "
                            f"{'x'.join(map(str, shape))}")
        if wl.classes is not None and wl.classes != ds.num_classes:
            raise UserError("--classes", f"{dataset} has {ds.num_classes} classes; got {wl.classes}")
        torch.manual_seed(seed)
        net = sch.convert(build_model(model, num_classes=ds.num_classes, in_shape=ds.in_shape))
        from hwsim.quant.layers import stays_float

        from ._common import check_strict

        check_strict(stays_float(net), sch.name, strict)
        cb = CountingCallback(sch, sample_every=sample_every, model_name=model, optimizer=optimizer)
        result = train(net, sch, ds, recipe, callbacks=[cb], progress=not no_progress and not as_json)
        tr = cb.trace
        if phase == "infer":   # the trained network's inference pass, on a real test batch
            from hwsim.count import trace

            n = min(wl.batch_size, int(ds.test_x.shape[0]))
            tr = trace(net, sch, batch=n, input_shape=tuple(ds.in_shape), num_classes=ds.num_classes,
                       mode="infer", device="cpu", data=(ds.test_x[:n], ds.test_y[:n]), model_name=model,
                       convert=False)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(tr.to_dict(), indent=1, default=str))
        if as_json:
            print_json({"model": model, "scheme": sch.name, "dataset": dataset, "result": result.to_dict(),
                        "summary": summary(tr), "sparsity": tr.sparsity,
                        "sparsity_timeline": {k: [asdict(x) for x in v] for k, v in cb.timeline.items()},
                        "epoch_totals": cb.epoch_totals})
            return
        acc = result.final_test_acc
        typer.echo(f"{model} / {sch.name} on {dataset}: test accuracy {acc:.4f} after {result.epochs_run} epochs "
                   f"({result.steps} steps, {result.wall_s:.1f} s)")
        print_trace(tr)
        if tr.sparsity:
            rows = [f"  {name}: weight zeros {s.get('weight', 0):.3f}, input zeros {s.get('input', 0):.3f}"
                    for name, s in tr.sparsity.items() if "weight" in s]
            typer.echo("measured sparsity on a real step (zero-skipping gives the effectual MACs above):")
            typer.echo("\n".join(rows))
        if out is not None:
            typer.echo(f"trace written to {out}")
