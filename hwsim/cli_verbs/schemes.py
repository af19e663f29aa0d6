"""``hwsim schemes``: every registered precision scheme with its citation, what it quantizes and its bits."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("schemes")
    def schemes(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """List precision schemes: name, citation, what is quantized, bits, stash, hyper-parameters."""
        from hwsim.schemes import SCHEMES, load_all

        from ._common import print_json, print_table

        load_all()
        rows = []
        for name, cls in SCHEMES.items():
            params = {(f.alias or k): f.default for k, f in cls.model_fields.items()}
            allowed = {(f.alias or k): choices for k, f in cls.model_fields.items()
                       if (choices := _choices(f.annotation))}
            rows.append({
                "name": name, "family": cls.family, "citation": cls.citation, "quantizes": cls.quantizes,
                "bits": cls.bits, "stash": cls.stash, "gradient": cls.gradient, "params": params,
                "allowed": allowed,
            })
        if as_json:
            print_json(rows)
            return
        print_table(
            "hwsim precision schemes",
            ["name", "family", "citation", "quantizes", "bits", "stash", "hyper-parameters"],
            [[r["name"], r["family"], r["citation"], r["quantizes"], r["bits"], r["stash"],
              ", ".join(f"{k}={v}" + (f" ({' | '.join(map(str, r['allowed'][k]))})" if k in r["allowed"] else "")
                        for k, v in r["params"].items())] for r in rows],
            width=160, lines=True,
        )


def _choices(annotation: object) -> list[object]:
    """The allowed values of an enumerated hyper-parameter (``Literal[...]``, possibly ``| None``)."""
    from typing import Literal, Union, get_args, get_origin

    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    if get_origin(annotation) is Union:
        return [c for a in get_args(annotation) for c in _choices(a)]
    return []
