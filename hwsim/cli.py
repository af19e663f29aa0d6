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

VERBS = ("schemes", "models", "train", "retrofit", "precision", "count", "cost", "simulate", "sweep", "pareto", "report", "serve",
         "cache")

app = typer.Typer(
    name="hwsim",
    help="Hardware cost of low-precision neural-network training and inference.",
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


# A verb module that fails to import is a bug in the install: fail loudly rather than hide the verb.
for _verb in VERBS:
    importlib.import_module(f"hwsim.cli_verbs.{_verb}").register(app)


def _click_base(name: str) -> type[BaseException]:
    """typer's usage-error classes found through its public ``typer.BadParameter``: typer 0.29 vendors
    click as ``typer._click`` (a core install has no ``click``), older typers re-export click's own."""
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == name:
            return cls
    raise RuntimeError(f"typer {typer.__version__} has no {name} above BadParameter")  # pragma: no cover


_ClickException = _click_base("ClickException")
_UsageError = _click_base("UsageError")


def _usage_line(e: BaseException) -> str:
    """``error: WHERE: WHAT`` for a usage error: WHERE is the command path and the parameter."""
    ctx = getattr(e, "ctx", None)
    where = ctx.command_path if ctx is not None and ctx.command_path else "hwsim"
    param = getattr(e, "param", None)
    missing = type(e).__name__ == "MissingParameter"
    if param is None:
        return UserError(where, e.format_message()).one_line()
    is_arg = getattr(param, "param_type_name", "") == "argument"
    hint = str(param.name).upper() if is_arg else "/".join(getattr(param, "opts", []) or [str(param.name)])
    msg = f"required {'argument' if is_arg else 'option'} missing" if missing else str(e.message)
    return UserError(f"{where} {hint}", msg).one_line()


class _Interrupt:
    """SIGINT as KeyboardInterrupt, remembered: typer turns a KeyboardInterrupt into a silent exit 130,
    so ``main`` learns of it here and says ``error: interrupted`` itself."""

    seen = False

    @classmethod
    def handler(cls, signum: int, frame: object) -> None:
        cls.seen = True
        raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    args = sys.argv[1:] if argv is None else list(argv)
    if not args:  # a bare `hwsim` is a request for help, not a mistake
        args = ["--help"]
    _Interrupt.seen = False
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _Interrupt.handler)
    try:
        rc = app(args=args, prog_name="hwsim", standalone_mode=False)
        if _Interrupt.seen:
            raise KeyboardInterrupt
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
    except SystemExit as e:   # hwsim never exits this way inside a verb: a model's code did
        print(UserError("hwsim", f"user code called sys.exit({e.code!r})").one_line(), file=sys.stderr)
        return 2
    except _UsageError as e:
        print(_usage_line(e), file=sys.stderr)
        return 2
    except _ClickException as e:  # e.g. a file typer could not open: still the user's input
        print(UserError("hwsim", e.format_message()).one_line(), file=sys.stderr)
        return 2
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
