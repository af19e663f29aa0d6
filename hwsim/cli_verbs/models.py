"""``hwsim models``: the built-in networks."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """List built-in networks with their citation, default input and parameter count."""
        from hwsim.models import MODELS, load_all

        from ._common import print_json, print_table

        load_all()
        rows = []
        for name, spec in MODELS.items():    # declared data: nothing is built, torch is not imported
            rows.append({"name": name, "description": spec.description, "citation": spec.citation,
                         "default_input": (str(spec.default_input) if type(spec.default_input) is not tuple
                                           else list(spec.default_input)), "classes": spec.default_classes,
                         "params": spec.params, "args": dict(spec.args)})
        if as_json:
            print_json(rows)
            return
        print_table("hwsim built-in models", ["name", "description", "citation", "input CxHxW", "classes", "params", "arguments"],
                    [[r["name"], r["description"], r["citation"], (r["default_input"] if isinstance(r["default_input"], str)
                      else "x".join(map(str, r["default_input"]))),
                      r["classes"], r["params"], ", ".join(f"{k}={v}" for k, v in r["args"].items())] for r in rows])
