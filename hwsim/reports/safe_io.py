"""Writing exports safely: inside the folder asked for, atomically.

A report is written to a temporary file in the target folder and renamed into place,
so a failure never leaves a half-written file; a name that would resolve outside the
target folder (``..``, an absolute path, a symlink pointing out) is refused, and so is one that exists
but is not a regular file (a device, a FIFO, a socket, a folder), ``--force`` or not.
"""

from __future__ import annotations

import os
import stat
import tempfile
import unicodedata
from collections.abc import Callable
from pathlib import Path

from hwsim.errors import UserError


def resolve_inside(folder: str | Path, name: str) -> Path:
    """``folder/name`` resolved, or a UserError when it would land outside ``folder``."""
    for text in (str(folder), name):
        if any(ord(ch) < 32 or ord(ch) == 127 or unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
            # Cf: bidi overrides (U+202E) make a name read as another ("report\u202ecod.exe")
            raise UserError(repr(text), "control characters are not allowed in an export path")
    root = Path(folder).expanduser()
    if root.exists() and not root.is_dir():
        raise UserError(str(root), "export folder is a file, not a folder")
    root_r = root.resolve()
    if Path(name).is_absolute():
        raise UserError(name, f"export name must be relative to the export folder {root}")
    target = (root_r / name).resolve()
    if target != root_r and root_r not in target.parents:
        raise UserError(name, f"export path lies outside the export folder {root}")
    if target.is_dir():
        raise UserError(str(target), "export path is a folder, expected a file name")
    try:
        st = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):   # new, or a folder that cannot exist (told when written)
        return target
    except OSError as e:
        raise UserError(str(target), f"cannot inspect the export path ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):   # a device, FIFO or socket is never replaced, --force or not
        raise UserError(str(target), "export path exists and is not a regular file; it is never replaced")
    return target


def atomic_write(target: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file to ``target``."""
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(str(folder), f"cannot create export folder ({e.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise UserError(str(folder), "export folder is not writable")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    except OSError as e:
        raise UserError(str(folder), f"cannot write in export folder ({e.strerror})") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, target)
    except OSError as e:
        raise UserError(str(target), f"cannot write report ({e.strerror or e})") from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return target
