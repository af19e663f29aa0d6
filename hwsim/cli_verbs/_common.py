"""Helpers shared by verbs: JSON output and rich tables."""

from __future__ import annotations

import json
import sys
from typing import Any


def check_strict(stays_float: dict[str, str], scheme: str, strict: bool) -> None:
    """With ``--strict``, layers a scheme left float are an error (one line naming each)."""
    if strict and stays_float:
        from hwsim.errors import UserError

        raise UserError("--strict", f"{len(stays_float)} layer(s) stay float under {scheme}: "
                        + "; ".join(f"{n or 'model'} ({why})" for n, why in stays_float.items()))


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.table import Table

    t = Table(title=title, show_lines=False)
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*[f"{v:,}" if isinstance(v, int) else str(v) for v in r])
    console().print(t)


def console():
    """A rich console for tables: a terminal keeps its own width; piped or redirected output is never
    squeezed (rich would fold it to 80 columns), so logs and files get whole rows."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=100_000)
