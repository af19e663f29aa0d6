"""Spreadsheet cells that cannot run or break anything.

A label from a shared file (a layer name, a model spec, a literature note) ends up in a CSV or XLSX
cell; a spreadsheet program runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return as a formula (``=cmd|' calc'!A0``, ``=HYPERLINK(...)``). Following the OWASP
CSV-injection rule such a text cell gets a leading ``'``, which shows it as text. Control characters
are written escaped (``\\x1b``): XLSX cannot hold them at all, and in a CSV they drive a terminal.
"""

from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(s: str) -> str:
    """``s`` as a cell: control characters escaped, a formula start made literal."""
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in s):
        s = "".join(c if not (ord(c) < 32 or 127 <= ord(c) < 160) else f"\\x{ord(c):02x}" for c in s)
    return "'" + s if s.startswith(FORMULA_START) else s


def safe_cell(v: Any) -> Any:
    return safe_text(v) if isinstance(v, str) else v


def safe_frame(df: Any) -> Any:
    """A copy of the DataFrame with every text cell and column name made safe; numbers untouched."""
    from pandas.api.types import is_numeric_dtype

    out = df.copy()
    out.columns = [safe_cell(c) for c in out.columns]
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        if not is_numeric_dtype(col.dtype):   # object or string columns (pandas 3 infers str)
            out[out.columns[i]] = col.map(safe_cell).astype(object)
    return out
