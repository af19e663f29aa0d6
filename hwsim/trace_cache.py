"""A content-addressed cache of counted traces, kept on disk between processes and runs.

A workload's traces (:func:`hwsim.evaluate.trace_workload`) are a pure function of the workload
(built-in model and its arguments, the scheme's resolved spec, input shape, batches, classes,
optimizer, steps per epoch, decode settings, which phases) and of the code that counts them. The
entry's key hashes both: the workload's canonical JSON, and the code, i.e. every source and data
file of ``hwsim`` and ``accel_models`` except the packages downstream of a trace (:data:`DOWNSTREAM`:
the sweep, the command line, reports, the store; an import contract in pyproject.toml keeps the
counting code from importing them), the versions of torch, numpy and Python, and
:data:`FORMAT`. Any change to any of these is a different key, so an entry made by other code is
never read. A trace with data-dependent parts (a real training step, a model or scheme from user
code) is not cached.

Storage: one gzipped JSON file per entry (``Trace.to_dict``; never a pickle) in
``$HWSIM_CACHE_DIR/traces``, else the platform's user cache folder (platformdirs), else
``~/.cache/hwsim``. Entries are written to a temporary file and renamed into place, so a reader
or a second writer (two workers, two sweeps) sees a whole entry or none. Symbolic links inside the
folder are never followed; an entry that cannot be read, decoded or does not hold the key it is
filed under is a miss, and the fresh trace replaces it. Above ``$HWSIM_TRACE_CACHE_MB`` (default
:data:`DEFAULT_LIMIT_MB`) the least recently used entries are removed.

``HWSIM_TRACE_CACHE=0`` (or ``hwsim sweep --no-trace-cache``) turns the cache off: nothing is read
or written. ``hwsim cache info`` and ``hwsim cache clear`` show and empty it.

Torch-free: a worker whose traces all come from here never imports torch.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import json
import os
import platform
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hwsim.jsondoc import JsonDocument

if TYPE_CHECKING:
    from hwsim.evaluate import WorkloadTraces
    from hwsim.workload import Workload

# The entry layout; raise it when what an entry holds or how it is read changes.
FORMAT = 1
DEFAULT_LIMIT_MB = 1024
SUFFIX = ".json.gz"
# Packages and modules downstream of a trace: they price, run or show traces but never make one
# (pyproject.toml's contract "counting does not import what runs or shows it" checks it).
DOWNSTREAM = ("hwsim/sweep/", "hwsim/cli_verbs/", "hwsim/reports/", "hwsim/cli.py", "hwsim/store.py")
_CODE_SUFFIXES = (".py", ".json", ".yaml", ".yml")
_OFF = ("0", "false", "no", "off")
_STALE_TMP_S = 3600.0   # a temporary file this old was left by a writer that died


@dataclass
class Counts:
    """What :func:`hwsim.evaluate.trace_workload` did in this process: traces read from the cache, and
    traces counted (a miss, the cache off, or a workload not cached)."""

    hits: int = 0
    counted: int = 0


counts = Counts()


def enabled() -> bool:
    """Whether traces are read from and written to the cache (``HWSIM_TRACE_CACHE``, default on)."""
    return os.environ.get("HWSIM_TRACE_CACHE", "1").strip().lower() not in _OFF


def cache_dir() -> Path:
    """hwsim's cache folder: ``$HWSIM_CACHE_DIR``, else the platform's user cache folder."""
    env = os.environ.get("HWSIM_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs
    except ImportError:
        return Path.home() / ".cache" / "hwsim"
    return Path(platformdirs.user_cache_dir("hwsim", appauthor=False))


def traces_dir() -> Path:
    return cache_dir() / "traces"


def limit_bytes() -> int:
    """The size above which least recently used entries are removed (``HWSIM_TRACE_CACHE_MB``)."""
    try:
        mb = float(os.environ.get("HWSIM_TRACE_CACHE_MB", DEFAULT_LIMIT_MB))
    except ValueError:
        mb = DEFAULT_LIMIT_MB
    return max(0, int(mb * 2**20))


# -- the key --------------------------------------------------------------------------------
def _package_version(name: str) -> str | None:
    """A package's version without importing it (a loaded module's own, else its installed metadata)."""
    mod = sys.modules.get(name)
    if mod is not None and getattr(mod, "__version__", None):
        return str(mod.__version__)
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def code_files(root: Path) -> list[Path]:
    """The files under ``root`` (the folder holding ``hwsim`` and ``accel_models``) a trace may depend on."""
    out = []
    for pkg in ("hwsim", "accel_models"):
        for p in sorted((root / pkg).rglob("*")):
            rel = p.relative_to(root).as_posix()
            if p.suffix in _CODE_SUFFIXES and p.is_file() and "__pycache__" not in rel \
                    and not rel.startswith(DOWNSTREAM):
                out.append(p)
    return out


def code_hash(root: Path | None = None) -> str:
    """sha256 of the counting code: each file's path and bytes, the library versions, :data:`FORMAT`."""
    return _code_hash(root or Path(__file__).resolve().parent.parent)


@functools.cache
def _code_hash(root: Path) -> str:
    h = hashlib.sha256()
    for name in ("torch", "numpy"):
        h.update(f"{name}={_package_version(name)}\n".encode())
    h.update(f"python={platform.python_version()} format={FORMAT}\n".encode())
    for p in code_files(root):
        data = p.read_bytes()
        h.update(f"{p.relative_to(root).as_posix()} {len(data)}\n".encode())
        h.update(data)
    return h.hexdigest()


def workload_key(workload: Workload, train: bool = True, infer: bool = True) -> JsonDocument | None:
    """The canonical JSON of what the traces of ``workload`` depend on, or None when they may depend on
    something not in it (a model or scheme from user code, whose source is not hashed)."""
    from hwsim.models import spec as specs
    from hwsim.models.spec import Tokens
    from hwsim.workload import parse_input_shape

    scheme = workload.scheme
    if scheme is not None and not type(scheme).__module__.startswith("hwsim."):
        return None
    try:
        if specs.resolve(workload.model, where="model").kind != specs.BUILTIN:
            return None
        shape = parse_input_shape(workload.input_shape, where="input_shape")
        key: JsonDocument = {
            "format": FORMAT, "code": code_hash(), "model": workload.model,
            "model_args": dict(sorted(workload.model_args.items())),
            "scheme": scheme.spec() if scheme is not None else None,
            "input_shape": str(shape) if isinstance(shape, Tokens) else None if shape is None
            else [int(v) for v in shape],
            "num_classes": workload.num_classes, "batch": workload.batch, "infer_batch": workload.infer_batch,
            "optimizer": workload.optimizer, "steps_per_epoch": workload.steps_per_epoch,
            "prompt": workload.prompt, "new_tokens": workload.new_tokens, "train": train, "infer": infer,
        }
        key_digest(key)   # JSON all through
    except Exception:   # a workload that does not resolve is traced (and fails) as usual, uncached
        return None
    return key


def key_digest(key: JsonDocument) -> str:
    text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# -- entries ----------------------------------------------------------------------------------
def _folder(create: bool) -> Path | None:
    """The traces folder, or None where it is missing (and not to be made) or is not a real folder."""
    d = traces_dir()
    if create:
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
    try:
        st = os.lstat(d)
    except OSError:
        return None
    return d if stat.S_ISDIR(st.st_mode) else None   # a link in its place is not followed


def _read_regular(path: Path) -> bytes | None:
    """The bytes of ``path`` if it is a regular file (a symbolic link is not followed); its access time
    is set to now, which is what pruning orders entries by."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        data = f.read()
        with contextlib.suppress(OSError, NotImplementedError):
            os.utime(f.fileno())
        return data


def get(key: JsonDocument) -> WorkloadTraces | None:
    """The cached traces filed under ``key``, or None (a miss: absent, unreadable, or another key's)."""
    from hwsim.evaluate import WorkloadTraces

    d = _folder(create=False)
    if d is None:
        return None
    data = _read_regular(d / (key_digest(key) + SUFFIX))
    if data is None:
        return None
    try:
        doc = json.loads(gzip.decompress(data))
        if doc.get("key") != key:
            return None
        return WorkloadTraces.from_dict(doc["traces"])
    except Exception:   # a damaged entry is a miss; the caller's fresh trace replaces it
        return None


def put(key: JsonDocument, traces: WorkloadTraces) -> Path | None:
    """File ``traces`` under ``key``: written whole to a temporary file, then renamed into place."""
    d = _folder(create=True)
    if d is None:
        return None
    body = gzip.compress(json.dumps({"key": key, "traces": traces.to_dict()}, separators=(",", ":")).encode(),
                         compresslevel=6, mtime=0)
    final = d / (key_digest(key) + SUFFIX)
    try:
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=SUFFIX)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        os.replace(tmp, final)   # replaces a link or a damaged file in its place, never writes through it
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return None
    prune()
    return final


@dataclass(frozen=True)
class Entry:
    path: Path
    size: int
    used: float   # last read or written (access time)


def entries() -> list[Entry]:
    """The cache's entries (regular files only), least recently used first."""
    d = _folder(create=False)
    if d is None:
        return []
    out = []
    with contextlib.suppress(OSError), os.scandir(d) as it:
        for e in it:
            if e.name.endswith(SUFFIX) and not e.name.startswith(".") and e.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    st = e.stat(follow_symlinks=False)
                    out.append(Entry(Path(e.path), st.st_size, max(st.st_atime, st.st_mtime)))
    return sorted(out, key=lambda e: e.used)


def _temporaries() -> Iterator[Path]:
    d = _folder(create=False)
    if d is None:
        return
    with contextlib.suppress(OSError), os.scandir(d) as it:
        for e in it:
            if e.name.startswith(".tmp-") and e.is_file(follow_symlinks=False):
                yield Path(e.path)


def prune(limit: int | None = None) -> int:
    """Remove least recently used entries until the cache holds at most ``limit`` bytes (default
    :func:`limit_bytes`), and temporary files a dead writer left; returns the entries removed."""
    limit = limit_bytes() if limit is None else limit
    now = time.time()
    for t in _temporaries():
        with contextlib.suppress(OSError):
            if now - os.lstat(t).st_mtime > _STALE_TMP_S:
                os.unlink(t)
    es = entries()
    total, removed = sum(e.size for e in es), 0
    for e in es:
        if total <= limit:
            break
        with contextlib.suppress(FileNotFoundError):   # another process removed it first
            os.unlink(e.path)
            removed += 1
        total -= e.size
    return removed


def clear() -> int:
    """Remove every entry (and temporary file); returns the entries removed."""
    n = prune(limit=0)
    for t in _temporaries():
        with contextlib.suppress(OSError):
            os.unlink(t)
    return n


def lookup(workload: Workload, train: bool, infer: bool) -> tuple[JsonDocument | None, WorkloadTraces | None]:
    """(the key the traces of ``workload`` are filed under, the cached traces): (None, None) when the
    cache is off or the workload is not cacheable; (key, None) on a miss, for :func:`put` afterwards."""
    if not enabled():
        return None, None
    key = workload_key(workload, train, infer)
    return (key, get(key)) if key is not None else (None, None)


@contextlib.contextmanager
def turned_off(off: bool = True) -> Iterator[None]:
    """The cache off (``HWSIM_TRACE_CACHE=0``, which worker processes inherit) while the block runs."""
    if not off:
        yield
        return
    before = os.environ.get("HWSIM_TRACE_CACHE")
    os.environ["HWSIM_TRACE_CACHE"] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HWSIM_TRACE_CACHE", None)
        else:
            os.environ["HWSIM_TRACE_CACHE"] = before
