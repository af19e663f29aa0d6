"""``hwsim schemes``: every registered precision scheme with its seed, what it quantizes and its bits."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("schemes")
    def schemes(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """List precision schemes: name, seed, what is quantized, bits, stash, hyper-parameters."""
        from hwsim.schemes import SCHEMES, load_all

        from ._common import print_json, print_table

        load_all()
        rows = []
        for name, cls in SCHEMES.items():
            params = {(f.alias or k): f.default for k, f in cls.model_fields.items()}
            rows.append({
                "name": name, "family": cls.family, "seed": cls.seed, "quantizes": cls.quantizes,
                "bits": cls.bits, "stash": cls.stash, "gradient": cls.gradient, "params": params,
            })
        if as_json:
            print_json(rows)
            return
        print_table(
            "hwsim precision schemes",
            ["name", "family", "seed", "quantizes", "bits", "stash", "hyper-parameters"],
            [[r["name"], r["family"], r["seed"], r["quantizes"], r["bits"], r["stash"],
              ", ".join(f"{k}={v}" for k, v in r["params"].items())] for r in rows],
        )
