"""``hwsim models``: the built-in networks."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """List built-in networks with their seed, default input and parameter count."""
        import inspect

        import torch

        from hwsim.models import MODELS, build_model, load_all

        from ._common import print_json, print_table

        load_all()
        rows = []
        for name, spec in MODELS.items():
            with torch.device("meta"):  # parameter counts need shapes only: instant, no memory
                m = build_model(name)
            params = sum(p.numel() for p in m.parameters())
            args = {k: p.default for k, p in inspect.signature(spec.builder).parameters.items()
                    if k not in ("num_classes", "in_shape") and p.default is not inspect.Parameter.empty}
            rows.append({"name": name, "description": spec.description, "seed": spec.seed,
                         "default_input": (str(spec.default_input) if type(spec.default_input) is not tuple
                                           else list(spec.default_input)), "classes": spec.default_classes,
                         "params": params, "args": args})
        if as_json:
            print_json(rows)
            return
        print_table("hwsim built-in models", ["name", "description", "seed", "input CxHxW", "classes", "params", "arguments"],
                    [[r["name"], r["description"], r["seed"], (r["default_input"] if isinstance(r["default_input"], str)
                      else "x".join(map(str, r["default_input"]))),
                      r["classes"], r["params"], ", ".join(f"{k}={v}" for k, v in r["args"].items())] for r in rows])
