"""Which inputs may run code (docs/reliability.md, "Trust model").

A model named on the command line (``hwsim count net.py:make``) runs: the user typed it. A model a
*file* names (a sweep file, an included sweep file, a literature table) is Python code someone else
may have written; it runs only when the user says so, with ``--trust-code`` or by listing it in an
allow-list (the ``HWSIM_TRUSTED_CODE`` variable, or the file ``$XDG_CONFIG_HOME/hwsim/trusted-code``,
one entry a line: a file or folder, absolute or starting with ``~``, or a module prefix such as
``mypkg.models``). Validating a sweep file or ``--dry-run`` never imports such a model, trusted or not.

Trust is a context (:func:`code_trust`) rather than an argument threaded through every expansion step:
the sweep verb sets it once around reading the file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

from hwsim.errors import UserError

ENV = "HWSIM_TRUSTED_CODE"

_trusted: ContextVar[bool] = ContextVar("hwsim_trust_code", default=False)


@contextlib.contextmanager
def code_trust(trusted: bool) -> Iterator[None]:
    """Within the block, models named by files may run (``--trust-code``) or may not."""
    token = _trusted.set(bool(trusted))
    try:
        yield
    finally:
        _trusted.reset(token)


def allow_list() -> list[str]:
    """The user's allow-list entries: ``HWSIM_TRUSTED_CODE`` (``os.pathsep``-separated) and the config file."""
    entries = [e for e in os.environ.get(ENV, "").split(os.pathsep) if e.strip()]
    cfg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "hwsim" / "trusted-code"
    try:
        if cfg.is_file() and cfg.stat().st_size < 1 << 16:
            entries += [ln.strip() for ln in cfg.read_text(encoding="utf-8").splitlines()
                        if ln.strip() and not ln.lstrip().startswith("#")]
    except (OSError, UnicodeDecodeError):
        pass
    return entries


def _listed(path: Path | None, module: str) -> bool:
    for e in allow_list():
        if path is not None and (e.startswith(("/", "~")) or os.sep in e):
            root = Path(e).expanduser().resolve()
            if path == root or root in path.parents:
                return True
        elif module and (module == e or module.startswith(e.rstrip(".") + ".")):
            return True
    return False


def check_code_allowed(label: str, path: Path | None, module: str, where: str) -> None:
    """Refuse a code model named by a file unless the user trusted it (the one place that decides)."""
    if _trusted.get() or _listed(path, module):
        return
    raise UserError(where, f"{label} is Python code named by a file; it runs only with --trust-code "
                           f"(or listed in {ENV})")
