"""The ``hwsim`` command line.

Each verb lives in ``hwsim/cli_verbs/<verb>.py`` and exposes ``register(app)``; verbs
import torch inside their function bodies only, so ``simulate``, ``report``, ``pareto``
and ``serve`` start without it. A :class:`hwsim.errors.UserError` becomes one line
``error: WHERE: WHAT`` and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

# One torch/OpenMP thread per process unless told otherwise: the models hwsim trains are small, and
# on a busy 2-core machine a second spinning thread made a digits epoch 5x slower (measured: 24 s
# against 4.5 s for `hwsim train resnet20 --epochs 1`). Sweeps get parallelism from workers instead.
# Set before torch is imported by any verb; HWSIM_THREADS or OMP_NUM_THREADS override it.
os.environ.setdefault("OMP_NUM_THREADS", os.environ.get("HWSIM_THREADS", "1"))

import typer

from hwsim import __version__
from hwsim.errors import UserError

VERBS = ("schemes", "models", "train", "count", "cost", "simulate", "sweep", "pareto", "report", "serve")

app = typer.Typer(
    name="hwsim",
    help="Hardware cost of low-precision neural-network training and inference.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hwsim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """hwsim: schemes, counting, energy, cycles, sweeps, Pareto fronts, reports and a dashboard."""


for _verb in VERBS:
    try:
        _mod = importlib.import_module(f"hwsim.cli_verbs.{_verb}")
    except ModuleNotFoundError as _e:  # a verb not written yet must not break the others
        if _e.name != f"hwsim.cli_verbs.{_verb}":
            raise
        continue
    _mod.register(app)


def main(argv: list[str] | None = None) -> int:
    try:
        rc = app(args=argv, standalone_mode=False)   # a typer.Exit(code) comes back as the return value
    except UserError as e:
        print(e.one_line(), file=sys.stderr)
        return 2
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # click usage errors are user errors too
        import click

        if isinstance(e, click.exceptions.ClickException):
            msg = e.format_message().replace("\n", " ")
            print(f"error: {getattr(e, 'ctx', None) and e.ctx.command_path or 'hwsim'}: {msg}", file=sys.stderr)
            return 2
        raise
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
