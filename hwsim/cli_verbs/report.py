"""``hwsim report``: export cost reports of design points (CSV, JSON, XLSX, HTML). Torch-free."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        db: Path = typer.Argument(..., help="Results store (SQLite file)."),
        point: list[str] = typer.Option(..., "--point", "-p", help="Design point id or unique prefix; repeat for several."),
        fmt: str = typer.Option("html", "--format", "-f", help="csv | json | xlsx | html"),
        out: Path = typer.Option(None, "--out", "-o",
                                 help="Output file (its folder is the export folder) or an existing folder."),
        out_dir: Path = typer.Option(None, "--out-dir", help="Export folder; the report is written inside it."),
        name: str = typer.Option(None, "--name", help="File name inside the export folder."),
        force: bool = typer.Option(False, "--force", help="Overwrite an existing report file."),
    ) -> None:
        """Write a cost report of one or more design points, with assumptions and provenance."""
        import shlex
        import sys

        from hwsim.errors import UserError
        from hwsim.extras import require
        from hwsim.reports import export

        if fmt == "xlsx":
            require("reports", "--format xlsx", ("openpyxl",))
        elif fmt == "html":
            require("reports", "--format html", ("plotly",))
        if out is not None and out_dir is not None:
            raise UserError("--out", "give --out or --out-dir, not both")
        if out is not None:
            if out.is_dir():
                folder, fname = out, name
            else:
                if name is not None:
                    raise UserError("--name", "--name goes with --out-dir or an --out folder, not an --out file")
                folder, fname = out.parent, out.name
        else:
            folder, fname = (out_dir or Path("reports")), name
        command = "hwsim " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        path = export(db, point, fmt, folder, name=fname, command=command, force=force)
        typer.echo(str(path))   # the resolved path written
