"""Reading a ``.pt2`` (``torch.export.save``) without running code from it.

``torch.export.load`` unpickles with ``weights_only=False`` in three places: a weight or constant
marked ``use_pickle``, a custom or opaque object constant, and (as a fallback) the sample inputs or a
legacy state dict that a restricted load refuses. A shared ``.pt2`` is data, so the archive is
inspected first and a program that needs any of these is refused with one line; only then does torch
read it. The archive is also bounded: its file size, entry count and total unpacked size (a 3 MB
zip bomb unpacked to 6.4 GB), checked from the zip directory before anything is read. torch's own
log and warnings during the load become that one line too.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hwsim.errors import UserError

MAX_FILE_BYTES = 4 << 30       # a model file larger than this is refused before it is opened
MAX_UNPACKED_BYTES = 8 << 30   # everything the archive unpacks to
MAX_RATIO = 20                 # unpacked / packed, once more than RATIO_FLOOR is unpacked
RATIO_FLOOR = 64 << 20
MAX_ENTRIES = 100_000
MAX_CONFIG_BYTES = 64 << 20    # a JSON config inside the archive


def check_model_file(path: Path, where: str) -> int:
    """The file's size, or a UserError when it is past MAX_FILE_BYTES (every model file kind)."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise UserError(where, f"cannot read {path.name}: {e.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise UserError(where, f"{path.name} is {size / 2**30:.1f} GiB, more than the {MAX_FILE_BYTES >> 30} GiB "
                               "a model file may be")
    return size


def _refuse(path: Path, where: str, what: str) -> UserError:
    return UserError(where, f"{path.name}: {what}")


def check_archive(path: Path, where: str) -> None:
    """Refuse an archive that is too large unpacked or that torch would unpickle anything from."""
    size = check_model_file(path, where)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise _refuse(path, where, f"not a torch.export program (not a zip archive: {e})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise _refuse(path, where, f"{len(infos):,} archive entries, more than {MAX_ENTRIES:,}")
        unpacked = sum(i.file_size for i in infos)
        if unpacked > MAX_UNPACKED_BYTES or (unpacked > RATIO_FLOOR and unpacked > MAX_RATIO * max(size, 1)):
            raise _refuse(path, where, f"unpacks to {unpacked / 2**20:,.0f} MiB from {size / 2**20:,.1f} MiB "
                                       "(a zip bomb?); refused")
        names = {i.filename: i for i in infos}
        for name, info in names.items():
            base = name.split("/", 1)[-1]
            if base.startswith("data/weights/") and base.endswith("_weights_config.json") or \
                    base.startswith("data/constants/") and base.endswith("_constants_config.json"):
                _check_payload_config(zf, info, path, where)
            elif base.endswith(".pt") or base in ("serialized_state_dict.pt", "serialized_constants.pt",
                                                 "serialized_example_inputs.pt"):
                _check_weights_only(zf, info, path, where)


def _check_payload_config(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, where: str) -> None:
    if info.file_size > MAX_CONFIG_BYTES:
        raise _refuse(path, where, f"{info.filename} is {info.file_size:,} bytes; refused")
    try:
        cfg = json.loads(zf.read(info))["config"]
        items = list(cfg.items())
    except (ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile, OSError) as e:
        raise _refuse(path, where, f"{info.filename} is not a payload config ({type(e).__name__})") from None
    for fqn, meta in items:
        if not isinstance(meta, dict):
            raise _refuse(path, where, f"{info.filename}: entry {fqn!r} is not a mapping")
        name = str(meta.get("path_name", ""))
        if meta.get("use_pickle") or name.startswith(("custom_obj", "opaque_obj")):
            raise _refuse(path, where, f"{fqn!r} is stored as a pickle, which hwsim never loads (it can run "
                                       "code); export the program with plain tensors")


def _check_weights_only(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, where: str) -> None:
    """A torch.save blob torch would load: it must load under ``weights_only=True`` (tensors and plain
    containers only); torch would otherwise fall back to a full unpickle."""
    import torch

    try:
        with _quiet():
            torch.load(io.BytesIO(zf.read(info)), weights_only=True, map_location="meta")
    except Exception:
        raise _refuse(path, where, f"{info.filename} needs a full unpickle (objects other than tensors), which "
                                   "hwsim never does; refused") from None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch's log lines and warnings while reading a file: the caller reports one line instead."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def load_program(path: Path, where: str) -> Any:
    """The ExportedProgram in ``path``, read only after :func:`check_archive` passed."""
    import torch

    check_archive(path, where)
    try:
        with _quiet(), torch.device("cpu"):
            return torch.export.load(str(path))
    except UserError:
        raise
    except Exception as e:
        msg = " ".join(str(e).split())[:160] or type(e).__name__
        if "warnings above" in msg:   # torch points at log lines that are not shown
            msg = "the archive holds no readable program"
        raise UserError(where, f"{path.name} is not a torch.export program: {type(e).__name__}: {msg}") from None
