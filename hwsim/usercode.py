"""Running a user's model code contained.

Importing a model file and calling its factory run code hwsim did not write. Whatever that code does
to the process is turned into hwsim's own outcomes: ``sys.exit``/``SystemExit``, ``os._exit`` and
``os.abort`` become one :class:`~hwsim.errors.UserError` naming the model (the process, its exit code
and a ``--json`` summary stay hwsim's); what it prints goes to stderr as one escaped line, so stdout
carries only hwsim's output.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator

from hwsim.errors import UserError


class _Exit(BaseException):
    """Raised in place of ``os._exit`` / ``os.abort`` while user code runs."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


def _raiser(what: str):
    def stop(*args: object) -> None:
        raise _Exit(f"{what}({', '.join(map(repr, args))})")
    return stop


@contextlib.contextmanager
def contained(label: str, where: str) -> Iterator[None]:
    """Run the block as user code of model ``label``; errors are told at ``where``."""
    saved = os._exit, os.abort, sys.stdout
    buf = io.StringIO()
    os._exit, os.abort, sys.stdout = _raiser("os._exit"), _raiser("os.abort"), buf
    ok = False
    try:
        yield
        ok = True
    except SystemExit as e:
        raise UserError(where, f"{label} called sys.exit({e.code!r}) while building the model") from None
    except _Exit as e:
        raise UserError(where, f"{label} called {e.what} while building the model") from None
    finally:
        os._exit, os.abort, sys.stdout = saved
        text = buf.getvalue().strip()
        if text and ok:   # shown, but never on stdout (a --json summary stays valid JSON)
            lines = text.splitlines()
            note = UserError(where, f"{label} printed {len(lines)} line(s): {lines[0][:200]}")
            print("note: " + str(note), file=sys.stderr)
