"""The one user-error type.

A `UserError` is a mistake in what the user gave us (a YAML file, a flag, a data
folder). The CLI prints it as a single line ``error: WHERE: WHAT`` and exits 2.
Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad user input. ``where`` names the file:line, YAML path, field or flag."""

    def __init__(self, where: str, what: str):
        self.where = _printable(str(where))
        self.what = _printable(str(what)).strip()
        super().__init__(f"{self.where}: {self.what}")

    def one_line(self) -> str:
        return f"error: {self.where}: {self.what}"


def printable(s: str) -> str:
    """One line, no terminal control sequences: newlines become spaces, other control characters and
    invisible format characters (bidi overrides such as U+202E, which reorder what the reader sees;
    from a file name, a layer name or a value the user typed) are shown escaped. Every user string a
    table or an error prints goes through here."""
    s = s.replace("\r\n", " ").replace("\n", " ")
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] if c.isascii() or ord(c) < 256
                   else f"\\u{ord(c):04x}" for c in s)


_printable = printable
