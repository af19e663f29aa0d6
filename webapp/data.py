"""The one module of the dashboard that reads the results store.

Reads go through a read-only :class:`hwsim.store.Store` (SQLite WAL: readers never block
the sweep that writes). Results are cached per *store version*: the (inode, mtime, size)
of the database file and of its ``-wal`` file. A commit by a writer changes the WAL
file, so the next read sees it; between commits every callback is served from memory.

A missing or empty store is not an error here: :meth:`StoreData.state` says which, and
the pages show how to create one.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwsim import labels
from hwsim.errors import UserError
from hwsim.formats import PHASES, TRAIN_PHASES
from hwsim.store import METRICS, POINT_COLUMNS, Store

KEEP_VERSIONS = 2   # read store versions kept besides the current one (those pages show while a newer one is read)
KEEP_READS = 64     # reads whose changed points are kept, so a page can be sent what was appended since it drew
CREATE_HINT = "hwsim sweep configs/sweeps/quickstart.yaml --db {path}"

# Cost axes offered per view; "train" shows training costs, "inference" deployment costs.
TRAIN_AXES = ("train_energy_pj_per_step", "train_energy_pj_per_epoch", "train_memory_bytes", "stash_bytes",
              "train_step_cycles", "dram_bytes_per_step", "macs_train_step")
INFER_AXES = ("infer_energy_pj", "model_size_bytes", "latency_cycles", "dram_bytes_infer", "macs_infer")
QUALITY_AXES = ("accuracy", "error")

Leaf = str | int | float | bool
Leaves = dict[str, Leaf]     # a config's scalar leaves by dotted path (``hardware.array.rows``)
# a parsed JSON value (a config part); hwsim.design.Json's shape, without importing the design module
Json = None | bool | int | float | str | list["Json"] | dict[str, "Json"]


@dataclass(frozen=True)
class PointRecord:
    """One point as the Design point page shows it: its store columns (:data:`POINT_COLUMNS`, the
    values it has), its resolved config, and its metrics."""

    id: str
    status: str
    label: str | None
    error: str | None
    columns: dict[str, str | int | float]
    config: dict[str, Json]
    metrics: dict[str, float]

    @classmethod
    def of(cls, row: dict) -> PointRecord:
        """From :meth:`hwsim.store.Store.point`'s row."""
        return cls(id=str(row["id"]), status=str(row.get("status") or ""), label=row.get("label") or None,
                   error=row.get("error") or None,
                   columns={c: row[c] for c in POINT_COLUMNS if row.get(c) is not None},
                   config=row.get("config") or {}, metrics=dict(row.get("metrics") or {}))


class _VersionCache(dict[str, object]):
    """What one store version's reads and derivations computed, by key (points, state, ``memo:*``)."""


@dataclass(frozen=True)
class StoreState:
    """What the store looks like right now: ``missing``, ``invalid``, ``empty`` or ``ok``."""

    kind: str
    message: str
    counts: dict[str, int]
    version: tuple
    hint: str = ""          # the command that creates results, when there are none

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


def _stat(p: Path) -> tuple:
    try:
        st = p.stat()
    except OSError:
        return (0, 0, 0)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class StoreData:
    """Cached, thread-safe, read-only access to one results store for the dashboard."""

    def __init__(self, path: str | Path, max_points_cached: int = 64):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._lock_ahead = threading.Lock()
        self._store: Store | None = None
        self._store_ino: int | None = None
        self._version: tuple | None = None
        self._cache = _VersionCache()
        # the caches of the last KEEP_VERSIONS store versions (by ``repr`` of the version, as pages hold it)
        self._versions: OrderedDict[str, _VersionCache] = OrderedDict()
        self._pinned = threading.local()
        self._point_cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._max_points = max_points_cached
        self._loaded: _Loaded | None = None    # the points read so far, kept across store versions
        self._read: str | None = None           # the newest version whose points were read, as pages hold it
        self._reader: threading.Thread | None = None   # a read ahead of the pages (read_ahead)
        self._ready: str | None = None          # the newest version refresh read, with what pages ask of it
        self._after_read: list = []             # computed by each refresh (after_read)
        # per read, oldest first: (version as pages hold it, ids read again, whether a point already done
        # changed or was renamed); a whole read starts it anew (:meth:`appended`)
        self._reads: list[tuple[str, list[str], bool]] = []

    # -- versioning ---------------------------------------------------------
    def version(self) -> tuple:
        """Changes whenever a writer commits (WAL file) or the database file changes. An empty WAL file
        is no WAL file: a reader's first query creates one for a store whose writer has closed, and that
        is not a commit (else a page's first poll would draw its figure again, undoing what the person
        did meanwhile, such as choosing box select)."""
        wal = _stat(self.path.with_name(self.path.name + "-wal"))
        return _stat(self.path) + (wal if wal[2] else (0, 0, 0))

    def _sync(self) -> Store | None:
        """Open (or reopen) the store and drop caches if its version moved. Caller holds the lock."""
        ino = _stat(self.path)[0]
        if not ino:
            self._close()
        elif self._store is None or ino != self._store_ino:
            self._close()
            self._store = Store(self.path, readonly=True)
            self._store_ino = ino
        # the -wal file that opening (or a first read of) a store whose writer has closed creates is empty:
        # version() reads it as no WAL, so this version is the one the next request sees
        v = self.version()
        if v != self._version:
            self._cache = _VersionCache()
            self._versions[repr(v)] = self._cache
            self._evict()
            self._point_cache.clear()
            self._version = v
        return self._store

    def _evict(self) -> None:
        """Keep the current version's cache and the KEEP_VERSIONS newest others whose points were read
        (the ones a page can show): a version seen between two reads, never read, does not push out the
        one a page shows."""
        kept = 0
        for key in reversed(list(self._versions)):
            cache = self._versions[key]
            if cache is self._cache:
                continue
            if "points" in cache and kept < KEEP_VERSIONS:
                kept += 1
                continue
            del self._versions[key]

    def refresh(self) -> str:
        """Read the store's current version (only what changed since the last read) and return it, as
        pages hold it. The dashboard moves a page to a version only once it is read, so the page's own
        changes (an axis, a filter) are answered from its points and never wait on a commit's read."""
        with self._lock:
            try:
                self._sync()
            except UserError:   # unreadable: the page is sent the file's version, and says so (state)
                self._read = self._ready = repr(self.version())
                return self._read
            self.points()
            # what every page asks for on a new version, filed under it now: a page moved to this version
            # is answered from its cache (StoreData.at_version), never waiting on the lock while the next
            # commit is read
            self.state()
            self.metric_names()
            for fn in self._after_read:
                try:
                    fn()
                except Exception:   # noqa: BLE001 - a head start only: the callbacks compute it and show any error
                    pass
            self._ready = repr(self._version)
            return self._ready

    def after_read(self, fn) -> None:
        """Compute ``fn()`` (values derived from the points, through :meth:`memo`) as part of each read of
        :meth:`refresh`, before pages are sent its version."""
        self._after_read.append(fn)

    def read_ahead(self) -> str | None:
        """The newest version read by :meth:`refresh` (else whose points were read; None before the first
        read), starting a read of the current version in a background thread when it is newer. The poll
        calls this: it answers at once, because the browser holds every callback that takes the store
        version (the Pareto plot's among them, so an axis change) while the poll that may change it is in
        flight."""
        with self._lock_ahead:
            busy = self._reader is not None and self._reader.is_alive()
            if not busy and self._ready != repr(self.version()):
                self._reader = threading.Thread(target=self.refresh, name="hwsim-read-ahead", daemon=True)
                self._reader.start()
            return self._ready if self._ready is not None else self._read

    def quick_points(self, metrics: list[str], named) -> tuple[str, pd.DataFrame] | None:
        """The done points' ``metrics`` and columns, read straight from the store ahead of (and apart from)
        the whole read: with ``scheme_name`` for every point and ``name`` for the points ``named(frame)``
        picks (a boolean mask; the others' are None), which a first page's figure needs. The names are the
        whole read's (:meth:`points`): the same :class:`hwsim.labels.Variation`, fed the same distinct
        combinations of config parts, which SQLite lists (6,923 for 50,000 points) without a row per point
        reaching Python; half the whole read's time at 50,000 points. With the store version read, as pages
        hold it. None for a store without ``point_metrics`` (older, read-only)."""
        with self._lock:
            try:
                store = self._sync()
                df = None if store is None else _quick_points(store, self._store_ino, metrics, named)
            except UserError:
                return None
            return None if df is None else (repr(self._version), df)

    def read_version(self) -> str | None:
        """The newest version whose points were read, as pages hold it (None before the first read)."""
        return self._read

    def _close(self) -> None:
        if self._store is not None:
            self._store.close()
        self._store = None
        self._store_ino = None

    def close(self) -> None:
        with self._lock:
            self._close()

    @contextlib.contextmanager
    def at_version(self, version: str | None):
        """Serve the reads inside from the cache of ``version`` (the store version a page shows, as the
        page holds it) while that is kept: a user's change (an axis, a colour) is answered from the points
        the page shows, without waiting on the read of a commit the page has not been sent yet; the page
        moves to that commit with its next version. Values that version never computed are derived from
        its points; a version no longer kept reads the current one."""
        previous = getattr(self._pinned, "cache", None)
        cache = self._versions.get(version) if isinstance(version, str) else None
        self._pinned.cache = cache if cache is not None and "points" in cache else None
        try:
            yield
        finally:
            self._pinned.cache = previous

    def holds(self, version: str) -> bool:
        """Whether the points of ``version`` (as pages hold it) are kept, so :meth:`at_version` serves it."""
        cache = self._versions.get(version)
        return cache is not None and "points" in cache

    def _cached(self, key: str, fn):
        pinned = getattr(self._pinned, "cache", None)
        if pinned is not None:
            if key in pinned:
                return pinned[key]
            if key.startswith("memo:"):   # derived from the pinned points only (memo functions take no store)
                return pinned.setdefault(key, fn(None))
        with self._lock:
            store = self._sync()
            if key not in self._cache:
                self._cache[key] = fn(store)
            return self._cache[key]

    def _point_cached(self, pid: str, key: str, fn):
        with self._lock:
            store = self._sync()
            k = (pid, key)
            if k in self._point_cache:
                self._point_cache.move_to_end(k)
                return self._point_cache[k]
            val = fn(store)
            self._point_cache[k] = val
            while len(self._point_cache) > self._max_points * 4:
                self._point_cache.popitem(last=False)
            return val

    def memo(self, key: str, fn):
        """A value derived from the store (filter options, numpy columns, a front), computed once per
        store version: page loads and callbacks between two commits reuse it."""
        return self._cached(f"memo:{key}", lambda _store: fn())

    # -- store-level reads ---------------------------------------------------
    def state(self) -> StoreState:
        def load(store: Store | None) -> StoreState:
            hint = CREATE_HINT.format(path=self.path)
            if store is None:
                return StoreState("missing", f"No results store at {self.path}.", {}, (), hint)
            counts = store.counts()
            if not counts.get("done"):
                what = "is empty" if not counts else "has no finished design points yet"
                return StoreState("empty", f"The results store {self.path} {what}.", counts, (), hint)
            return StoreState("ok", "", counts, ())

        try:
            st = self._cached("state", load)
        except UserError as e:
            return StoreState("invalid", f"{e.where}: {e.what}", {}, self.version())
        return StoreState(st.kind, st.message, st.counts, self.version(), st.hint)

    def points(self) -> pd.DataFrame:
        """Every point (any status) with metric columns, plus ``label`` filled, ``bits``, ``scheme_name``,
        ``name`` (:func:`hwsim.labels.design_name`) and ``cfg:`` columns for the config fields that vary.

        Read incrementally: after a commit only the points written since the last read (new rows, or
        rows whose status changed) are read and appended; a replaced store file is read whole."""

        def load(store: Store | None) -> pd.DataFrame:
            if store is None:
                self._loaded, frame = None, _empty_points()
            else:
                self._loaded = _refresh(store, self._loaded, self._store_ino)
                frame = self._loaded.frame()
            self._read = repr(self._version)   # under the lock: the version these points are filed under
            read = self._loaded.last_read if self._loaded is not None else None
            if read is None:
                self._reads = [(self._read, [], False)]
            else:
                self._reads = [*self._reads[-(KEEP_READS - 1):], (self._read, *read)]
            return frame

        try:
            return self._cached("points", load)
        except UserError:
            return _empty_points()

    def groups(self) -> pd.DataFrame:
        """The groups of points runs computed together, with their wall time (empty for older stores)."""
        def load(store: Store | None) -> pd.DataFrame:
            return store.groups() if store is not None else pd.DataFrame(
                columns=["key", "sweep", "label", "started", "finished", "wall_s", "points", "done", "failed"])

        try:
            return self._cached("groups", load)
        except UserError:
            return load(None)

    def metric_names(self) -> list[str]:
        """Every numeric metric in the store: the canonical ones first, then any a newer sweep added."""
        def load(store: Store | None) -> list[str]:
            # the metric columns of the points already read (no second scan of the metrics table)
            self.points()
            extra = sorted(self._loaded.metrics) if store is not None and self._loaded is not None else []
            return [*METRICS, *[m for m in extra if m not in METRICS]]

        try:
            return self._cached("metric_names", load)
        except UserError:
            return list(METRICS)

    def distinct(self, col: str) -> list[str]:
        """The distinct values of a points column among the done points (of a config field, ``cfg:...``,
        among every point), as text, sorted; kept up to date from the new rows of each commit."""
        def load() -> list[str]:
            self.points()
            with self._lock:   # the sets the next commit's read brings up to date
                loaded = self._loaded
                if loaded is None or loaded.rows.empty:
                    return []
                vals = loaded.distinct(col.removeprefix(CFG), done_only=not col.startswith(CFG))
                return sorted({text_of(v) for v in vals if v is not None})

        try:
            return self.memo(f"distinct:{col}", load)
        except UserError:
            return []

    def config_fields(self) -> list[str]:
        """Config fields (``cfg:<path>`` columns) whose value differs between points."""
        return [c for c in self.points().columns if c.startswith(CFG)]

    def done_points(self) -> pd.DataFrame:
        df = self.points()
        return df[df["status"] == "done"].reset_index(drop=True) if not df.empty else df

    def appended(self, since: str, version: str) -> pd.DataFrame | None:
        """The done points of ``version`` that were not done at ``since`` (two versions as pages hold
        them, ``since`` read before ``version``), when every point done at ``since`` is unchanged at
        ``version``: what a page drawn at ``since`` lacks. Found from the ids each read between them
        read again (a commit's few rows), not by comparing every point. None when the reads between them
        are not known (a whole read, or more than KEEP_READS reads ago) or a done point changed or was
        renamed: the page must then be drawn whole."""
        reads = list(self._reads)
        at = {v: i for i, (v, _, _) in enumerate(reads)}
        if since not in at or version not in at or at[since] > at[version]:
            return None
        between = reads[at[since] + 1:at[version] + 1]
        if any(rewrote for _, _, rewrote in between):
            return None
        ids = {i for _, changed, _ in between for i in changed}
        with self.at_version(version):
            done = self.done_points()
        if not ids or done.empty:
            return done.iloc[:0]
        return done[done["id"].isin(ids)]

    def point(self, pid: str) -> PointRecord | None:
        def load(store: Store | None) -> PointRecord | None:
            if store is None:
                return None
            try:
                return PointRecord.of(store.point(pid))
            except UserError:
                return None

        return self._point_cached(pid, "point", load)

    def layers(self, pid: str) -> pd.DataFrame:
        return self._point_cached(pid, "layers", lambda s: s.layers(pid) if s else _empty_layers())

    def curves(self, pid: str) -> pd.DataFrame:
        return self._point_cached(
            pid, "curves", lambda s: s.curves(pid) if s else pd.DataFrame(columns=["epoch", "metric", "value"]))

    def blob(self, pid: str, name: str) -> Any:
        return self._point_cached(pid, f"blob:{name}", lambda s: s.blob(pid, name) if s else None)

    def blob_names(self, pid: str) -> list[str]:
        return self._point_cached(pid, "blob_names", lambda s: s.blob_names(pid) if s else [])


# -- incremental reading of the points ----------------------------------------------------------
class _Loaded:
    """The points read so far from one store file: their rows (metrics pivoted, labels and names
    derived), their config leaves, and the rowid and status of each, to find what changed.

    Configs are parsed per distinct top-level value (a store of 50,000 points has a handful of models
    and schemes and a few hundred accelerators), never point by point."""

    def __init__(self, ino: int | None):
        self.ino = ino
        self.rows = pd.DataFrame()
        self.flat = pd.DataFrame()
        self.status: dict[str, str] = {}
        self.max_rowid = 0
        self.variation = labels.Variation()
        self.part_keys: list[str] = []          # the config parts a row's ``_parts`` holds, in order
        self.parsed: dict[str, Json] = {}       # JSON text of a config part -> its value
        self.leaves: dict[tuple[str, str], Leaves] = {}   # (part, JSON text) -> its leaves
        self.metrics: set[str] = set()          # names of the metrics the points read so far have
        self._frame: pd.DataFrame | None = None
        # what the last read read again: (ids, whether a point done before changed or was renamed); None
        # for a whole read
        self.last_read: tuple[list[str], bool] | None = None
        # distinct values of a column (of the done rows, or of every row's config leaves), kept up to date
        # by each incremental read from its new rows: a commit of 20 points must not re-hash 50,000
        self._distinct: dict[tuple[str, str], set] = {}

    def distinct(self, col: str, done_only: bool = True) -> set:
        """The distinct values (missing as None) of a row column among the done rows, or, with not
        ``done_only``, of a config leaf (``flat``) among every row."""
        key = ("done" if done_only else "flat", col)
        if key not in self._distinct:
            self._distinct[key] = _distinct_of(self.rows, self.flat, col, done_only)
        return self._distinct[key]

    def _add_distinct(self, rows: pd.DataFrame, flat: pd.DataFrame, renamed: bool) -> None:
        """Bring the distinct values up to date with the new ``rows`` (and their config leaves ``flat``);
        when older rows were renamed (a scheme parameter started to vary), their names are counted anew."""
        if renamed:
            for key in [k for k in self._distinct if k[1] in ("scheme_name", "name")]:
                del self._distinct[key]
        for (where, col), seen in self._distinct.items():
            seen |= _distinct_of(rows, flat, col, where == "done")

    def config(self, parts: tuple) -> Json:
        """The config of a row's ``_parts`` (its parts' JSON texts, in :attr:`part_keys` order)."""
        return {k: self.value(t) for k, t in zip(self.part_keys, parts) if t is not None}

    def value(self, text: Any) -> Any:
        """The value of a JSON text (cut out by SQLite), parsed once per distinct text."""
        if not isinstance(text, str):
            return text
        if text not in self.parsed:
            if len(self.parsed) > 100_000:   # unique recipes: keep the memory bounded
                self.parsed.clear()
            try:
                self.parsed[text] = json.loads(text)
            except ValueError:
                self.parsed[text] = text
        return self.parsed[text]

    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            df = self.rows
            if df.empty:
                self._frame = _empty_points()
                return self._frame
            keep = [c for c in self.flat.columns if not c.endswith((".name", "seed"))
                    and len(self.distinct(c, done_only=False)) > 1][:24]
            cfg = self.flat[keep].add_prefix(CFG)
            df = pd.concat([df.reset_index(drop=True), cfg.reset_index(drop=True)], axis=1)
            self._frame = df.sort_values(["status", "label"], kind="stable").reset_index(drop=True)
        return self._frame


def _distinct_of(rows: pd.DataFrame, flat: pd.DataFrame, col: str, done_only: bool) -> set:
    if done_only:
        if col not in rows.columns or "status" not in rows.columns:
            return set()
        s = rows[col][rows["status"].to_numpy() == "done"]
    else:
        if col not in flat.columns:
            return set()
        s = flat[col]
    vals = pd.unique(s.to_numpy(dtype=object))
    return {None if v is None or (isinstance(v, float) and v != v) else v for v in vals}


# a config part's seed, read apart from the part (``recipe.seed``)
_SEED = ".seed"


def _fresh_rows(store: Store, ids: list[str] | None) -> tuple[pd.DataFrame, set[str]]:
    """Rows of ``store.points`` (all, or ``ids``) with the failure reason apart from the metric ``error``,
    and the names of the metrics they have."""
    df = store.points(ids=ids, with_config=False)   # configs are cut into parts by _config_parts
    table = {r[1] for r in store.iter_rows("PRAGMA table_info(points)")}
    metric_names = {c for c in df.columns if c not in table} | ({"error"} if "error_y" in df.columns else set())
    metric_names -= {"error_x", "error_y"}
    # points.error (why a point failed) and the metric "error" (1 - accuracy) share a name; pandas'
    # merge in Store.points() then makes error_x / error_y. Keep them apart.
    if "error_y" in df.columns:
        df = df.rename(columns={"error_x": "fail_reason", "error_y": "error"})
    else:
        df = df.rename(columns={"error": "fail_reason"})
    for m in METRICS:
        if m not in df.columns:
            df[m] = float("nan")
    # text columns as Python objects: pandas' own string dtype (without pyarrow) reads, tests and hashes
    # element by element, which at 50,000 rows costs every filter, option list and name
    df = df.astype({c: object for c in df.columns if isinstance(df[c].dtype, pd.StringDtype)})
    return df, metric_names


def _part_keys(store: Store) -> tuple[list[str], list[str]]:
    """The top-level parts of the configs (of the 20 newest points), and those holding a ``seed``."""
    keys = list(dict.fromkeys(k for (k,) in store.iter_rows(
        "SELECT DISTINCT j.key FROM (SELECT config FROM points ORDER BY rowid DESC LIMIT 20) AS p, "
        "json_each(p.config) AS j") if isinstance(k, str) and k.replace("_", "").isalnum()))
    seeded = [k for (k,) in store.iter_rows(
        "SELECT DISTINCT j.key FROM (SELECT config FROM points ORDER BY rowid DESC LIMIT 20) AS p, "
        "json_each(p.config) AS j WHERE j.type = 'object' AND json_type(j.value, '$.seed') IS NOT NULL")
        if k in keys]
    return keys, seeded


def _part_sql(keys: list[str], seeded: list[str]) -> list[str]:
    """SQL cutting each part's JSON text out of a config. Seeds are never a filter (varied_fields skips
    them): cut out, so a part differing only in its seed (a recipe per point) is one distinct text; each
    such seed comes apart, as a ``<part>.seed`` column, for the names."""
    return [f"json_remove(config -> '$.{k}', '$.seed')" if k in seeded else f"config -> '$.{k}'" for k in keys]


def _config_parts(loaded: _Loaded, store: Store, ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per point, the JSON text of each top-level config part (to name it) and the config leaves that may
    vary (to filter and plot by). SQLite cuts the parts out (``config -> '$.part'``); each distinct text
    is parsed once."""
    keys, seeded = _part_keys(store)
    sel = ", ".join([*_part_sql(keys, seeded), *(f"json_extract(config, '$.{k}.seed')" for k in seeded)])
    rows = store.conn.execute(f"SELECT id{', ' + sel if sel else ''} FROM points"
                              + (" WHERE id IN (SELECT id FROM temp._want)" if ids is not None else "")).fetchall()
    # object columns: the pandas string dtype reads element by element, 50,000 times per column
    texts = pd.DataFrame(rows, columns=["id", *keys, *(f"{k}{_SEED}" for k in seeded)], dtype=object).set_index(
        "id").reindex(ids if ids is not None else [r[0] for r in rows])
    cols: dict[str, pd.Series] = {}
    for k in keys:
        if k in _CFG_SKIP or k in ("model", "scheme"):
            continue
        per: dict[str, Leaves] = {}
        for t in texts[k].dropna().unique():
            key = (k, t)
            if key not in loaded.leaves:
                loaded.leaves[key] = _leaves(loaded.value(t), f"{k}.")
            per[t] = loaded.leaves[key]
        if len(loaded.leaves) > 500_000:   # a store of unique recipes: keep the memory bounded
            loaded.leaves.clear()
        paths = list(dict.fromkeys(p for lv in per.values() for p in lv))
        for path in paths:
            cols[path] = texts[k].map({t: lv.get(path) for t, lv in per.items()})
    return texts, pd.DataFrame(cols, index=texts.index)


def _refresh(store: Store, old: _Loaded | None, ino: int | None) -> _Loaded:
    """``old`` brought up to date: the rows written after its last read (a higher rowid, or a changed
    status) are read, their stale copies dropped; names are recomputed only where what varies changed."""
    changed = None
    if old is not None and old.ino == ino and not old.rows.empty:
        # the rows written since, and those not done (only they change in place): not all 50,000
        st = store.statuses(since_rowid=old.max_rowid)
        total = store.point_count()
        known = st["id"].map(old.status)
        changed = st[(st["rowid_"] > old.max_rowid) | (known != st["status"])]
        if total < len(old.status) or len(changed) > total // 2:
            old = None   # rows vanished (a rewritten store) or most changed: read it whole
    if old is None or old.ino != ino or old.rows.empty or changed is None:
        loaded, ids = _Loaded(ino), None
        mark = store.max_rowid()   # before the read: a row written during it is read again next time
    else:
        loaded, ids = old, list(changed["id"])
        # a done point read again (rewritten in place) changes what a page drew of it
        loaded.last_read = (ids, bool((known[changed.index] == "done").any()))
        if not ids:
            return loaded
    fresh, names = _fresh_rows(store, ids)
    loaded.metrics |= names
    if ids is None:
        loaded.status = dict(zip(_objects(fresh["id"]), _objects(fresh["status"])))
        loaded.max_rowid = mark
    else:
        loaded.status.update(zip(_objects(st["id"]), _objects(st["status"])))
        loaded.max_rowid = max(loaded.max_rowid, int(st["rowid_"].max()) if len(st) else 0)
    if fresh.empty and ids is None:
        loaded.rows = fresh
        return loaded
    texts, flat = _config_parts(loaded, store, ids if ids is None else list(fresh["id"]))
    texts = texts.reindex(fresh["id"])
    flat = flat.reindex(fresh["id"])
    fresh = fresh.drop(columns=["config", "versions"], errors="ignore")
    _fill_labels(fresh, texts, loaded)
    fresh["bits"] = _per_distinct(list(zip(_objects(fresh["bits_w"]), _objects(fresh["bits_a"]))),
                                  lambda p: _bits_text(*p))
    v = loaded.variation
    before_schemes, before_hw, before_fields = v.scheme_params, v.hardware_fields, v.fields
    _add_variation(loaded, fresh, texts)
    flat.index = pd.Index(fresh["id"])
    if ids is not None:
        fresh_ids = set(fresh["id"])
        rows = pd.concat([loaded.rows[~loaded.rows["id"].isin(fresh_ids)], fresh], ignore_index=True)
        loaded.flat = pd.concat([loaded.flat[~loaded.flat.index.isin(fresh_ids)], flat])
        loaded.flat = loaded.flat.reindex(rows["id"])
    else:
        rows, loaded.flat = fresh.reset_index(drop=True), flat
    vary, hw, fields = v.scheme_params, v.hardware_fields, v.fields
    # names change only where what varies changed: every row when an accelerator field or another field
    # starts to vary, else the new rows and the rows of a scheme whose varying parameters changed
    if ids is None or hw != before_hw or fields != before_fields or "name" not in loaded.rows.columns:
        redo = np.ones(len(rows), dtype=bool)
    else:
        redo = rows["id"].isin(set(fresh["id"])).to_numpy().copy()
        moved = [n for n in set(vary) | set(before_schemes) if vary.get(n) != before_schemes.get(n)]
        if moved and "scheme" in loaded.part_keys:
            at = loaded.part_keys.index("scheme")
            texts_of = {p: str(p[at]) if len(p) > at else "" for p in rows["_parts"].unique()}
            hit = {p for p, t in texts_of.items() if any(f'"name":"{n}"' in t or t == f'"{n}"' for n in moved)}
            redo = redo | np.fromiter((p in hit for p in rows["_parts"]), dtype=bool, count=len(rows))
    rows = _write_names(loaded, rows, redo)
    if ids is not None:
        new = rows["id"].isin(fresh_ids).to_numpy()
        if (redo & ~new).any():   # older points renamed: a page's drawn names are stale
            loaded.last_read = (ids, True)
        loaded._add_distinct(rows[new], flat, renamed=bool((redo & ~new).any()))
    loaded.rows = rows
    loaded._frame = None
    return loaded


def _quick_points(store: Store, ino: int | None, metrics: list[str], named) -> pd.DataFrame | None:
    """:meth:`StoreData.quick_points`."""
    try:
        cols = dict(store.iter_rows("SELECT name, col FROM metric_columns"))
    except sqlite3.OperationalError:   # an older store, read-only: no point_metrics
        return None
    metrics = [m for m in metrics if m in cols]   # a metric no point has is a column of None in points()
    loaded = _Loaded(ino)
    keys, seeded = _part_keys(store)
    parts = _part_sql(keys, seeded)
    loaded.part_keys = list(keys)
    for combo in store.iter_rows(f"SELECT DISTINCT {', '.join(parts)} FROM points"):
        loaded.variation.add(loaded.config(tuple(combo)))
    for k in seeded:
        seeds = [v for (v,) in store.iter_rows(f"SELECT DISTINCT json_extract(config, '$.{k}.seed') FROM points")]
        if any(v is not None for v in seeds):
            loaded.variation.add_values(f"{k}{_SEED}", seeds)
    at = keys.index("scheme") if "scheme" in keys else None
    point_cols = ["id", "label", "model", "dataset", "scheme", "accelerator", "family", "bits_w", "bits_a"]
    have = {r[1] for r in store.iter_rows("PRAGMA table_info(points)")}
    point_cols = [c for c in point_cols if c in have]
    # (point_metrics has no config column: the part's SQL reads the points row's)
    sql = (f"SELECT {', '.join([*(f'points.{c}' for c in point_cols), *(f'm.m{cols[m]}' for m in metrics)])}"
           + (f", {parts[at]}" if at is not None else "")
           + " FROM points LEFT JOIN point_metrics AS m ON m.point = points.id WHERE points.status = 'done'")
    df = pd.DataFrame(store.conn.execute(sql).fetchall(),
                      columns=[*point_cols, *metrics, *(["_scheme"] if at is not None else [])], dtype=object)
    for m in metrics:
        df[m] = pd.to_numeric(df[m], errors="coerce").astype(float)
    namer = labels.Namer(loaded.variation)
    scheme_texts = _objects(df["_scheme"]) if at is not None else [None] * len(df)
    plain = _objects(df["scheme"]) if "scheme" in df.columns else [None] * len(df)
    df["scheme_name"] = _per_distinct(list(zip(scheme_texts, plain)), lambda k: (
        namer.scheme(loaded.value(k[0])) if k[0] is not None else "") or str(k[1]))
    df["status"] = "done"
    df["name"] = None
    pick = np.asarray(named(df), dtype=bool)
    if pick.any():
        ids = list(df["id"][pick])
        store.conn.execute("CREATE TEMP TABLE IF NOT EXISTS _want(id TEXT PRIMARY KEY)")
        store.conn.execute("DELETE FROM _want")
        store.conn.executemany("INSERT OR IGNORE INTO _want VALUES (?)", [(i,) for i in ids])
        store.conn.commit()   # no transaction left open: it would pin this reader to the current snapshot
        texts, _ = _config_parts(loaded, store, ids)
        texts = texts.reindex(ids)
        rows = df[pick].reset_index(drop=True)
        _fill_labels(rows, texts, loaded)
        rows["_parts"] = (list(zip(*[_objects(texts[k]) for k in loaded.part_keys])) if loaded.part_keys
                          else [()] * len(rows))
        for c in [c for c in texts.columns if c.endswith(_SEED)]:
            rows[f"_seed:{c}"] = _objects(texts[c])
        rows = _write_names(loaded, rows, np.ones(len(rows), dtype=bool))
        df.loc[pick, "name"] = _objects(rows["name"])
        df.loc[pick, "label"] = _objects(rows["label"])
        # the named points in the whole read's order (points() sorts by label, stably), in their own slots
        at_pick = np.flatnonzero(pick)
        order = np.arange(len(df))
        order[at_pick] = at_pick[np.argsort(np.array(_objects(rows["label"]), dtype=object), kind="stable")]
        df = df.iloc[order].reset_index(drop=True)
    return df.drop(columns=["_scheme"], errors="ignore")


def _fill_labels(rows: pd.DataFrame, texts: pd.DataFrame, loaded: _Loaded) -> None:
    """The rows stored without a label get their config's default label (``texts``: their config parts)."""
    missing = ~np.fromiter((isinstance(v, str) and bool(v) for v in _objects(rows["label"])), dtype=bool,
                           count=len(rows))
    if missing.any():
        rows["label"] = rows["label"].astype(object)
        rows.loc[missing, "label"] = _default_labels(rows[missing], texts[missing], loaded)


def _add_variation(loaded: _Loaded, fresh: pd.DataFrame, texts: pd.DataFrame) -> None:
    """Add the new rows' configs to what varies; set their ``_parts`` ((part, JSON text) pairs) and
    ``_seed:<part>.seed`` columns. A name is made of every part of the config
    (labels.design_name writes those that vary), the seeds apart: one name per distinct combination of
    parts, then each point's seeds where they vary."""
    seeds = [c for c in texts.columns if c.endswith(_SEED) and texts[c].notna().any()]
    # one JSON text per part, in the order of loaded.part_keys: a later read may find more parts, which
    # come after (an older row's shorter tuple lacks them)
    loaded.part_keys += [k for k in texts.columns if not k.endswith(_SEED) and k not in loaded.part_keys]
    cols = [_objects(texts[k]) if k in texts.columns else [None] * len(fresh) for k in loaded.part_keys]
    fresh["_parts"] = list(zip(*cols)) if cols else [()] * len(fresh)
    for c in seeds:
        fresh[f"_seed:{c}"] = _objects(texts[c])
    for parts in fresh["_parts"].unique():
        loaded.variation.add(loaded.config(parts))
    for c in seeds:
        loaded.variation.add_values(c, pd.unique(texts[c].to_numpy(dtype=object)))


def _write_names(loaded: _Loaded, rows: pd.DataFrame, redo: np.ndarray) -> pd.DataFrame:
    """``scheme_name`` and ``name`` of the ``redo`` rows: one name per distinct combination of parts."""
    namer = labels.Namer(loaded.variation)   # each distinct part's text once
    fields = namer.fields
    names: dict[tuple, tuple[str, str]] = {}
    for parts in rows["_parts"][redo].unique():
        cfg = loaded.config(parts)
        names[parts] = (namer.scheme(cfg.get("scheme")), namer.name(cfg))
    if "scheme_name" not in rows.columns:
        rows["scheme_name"], rows["name"] = "", ""
    rows = rows.astype({"scheme_name": object, "name": object})
    sub = rows.loc[redo]
    rows.loc[redo, "scheme_name"] = [names[p][0] or str(s) for p, s in zip(_objects(sub["_parts"]),
                                                                             _objects(sub["scheme"]))]
    named = [names[p][1] or str(lab) for p, lab in zip(_objects(sub["_parts"]), _objects(sub["label"]))]
    rows.loc[redo, "name"] = _with_seeds(named, sub, fields)
    return rows


def _with_seeds(names: list[str], rows: pd.DataFrame, fields: list[str]) -> list[str]:
    """``names`` with each row's seeds written after them (``... · seed 3``) where the seeds vary: the seeds
    come last in a name (labels.order_fields), so this is the name labels.design_name gives the whole config."""
    words = labels.field_words(fields)
    for f in fields:
        col = f"_seed:{f}"
        if f.endswith(_SEED) and col in rows.columns:
            texts = labels.field_texts(f, _objects(rows[col]), words[f])
            names = [f"{n} · {t}" if t else n for n, t in zip(names, texts)]
    return names


def text_of(v: Any) -> str:
    """A value as its filter option reads: an integral float without ``.0`` (a config field that some
    points lack is read as floats, where the points that have it hold integers)."""
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def texts_of(s: pd.Series) -> np.ndarray:
    """:func:`text_of` of every value of a column: what a filter's chosen options are compared with."""
    return np.array([text_of(v) for v in s.to_numpy(dtype=object)], dtype=object)


def _objects(s: pd.Series) -> list:
    """A column's values as a list of Python objects (the pandas string dtype iterates element by element)."""
    return s.to_numpy(dtype=object).tolist()


def _per_distinct(keys: list, fn) -> list:
    """``fn`` of each key, computed once per distinct key (50,000 points have a few hundred)."""
    done: dict = {}
    return [done[k] if k in done else done.setdefault(k, fn(k)) for k in keys]


def _default_labels(rows: pd.DataFrame, texts: pd.DataFrame, loaded: _Loaded) -> list[str]:
    """model/dataset/scheme/accelerator from the points' columns, else from their configs (a point only
    marked running has no columns yet), else the id's first 12 characters."""
    keys = ("model", "dataset", "scheme", "accelerator")
    cols = [_objects(rows[k]) if k in rows.columns else [None] * len(rows) for k in keys]
    conf = [_objects(texts[k]) if k in texts.columns else [None] * len(rows) for k in keys]

    def one(key: tuple) -> str:
        parts, conf_parts = key[:4], key[4:]
        if not any(isinstance(p, str) and p for p in parts):
            parts = [loaded.value(c) for c in conf_parts]
            parts = [p.get("name") if isinstance(p, dict) else p for p in parts]
        return "/".join(str(p) for p in parts if isinstance(p, str) and p)

    labs = _per_distinct(list(zip(*cols, *conf)), one)   # once per distinct combination
    return [lab or str(pid)[:12] for lab, pid in zip(labs, _objects(rows["id"]))]


# -- helpers shared by pages ---------------------------------------------------------------
def _empty_points() -> pd.DataFrame:
    cols = ["id", "sweep", "label", "config", "status", "fail_reason", *POINT_COLUMNS, "versions", "started",
            "finished", "wall_s", *METRICS, "bits"]
    return pd.DataFrame(columns=cols)


def _empty_layers() -> pd.DataFrame:
    return pd.DataFrame(columns=["layer", "phase", "name", "value"])


CFG = "cfg:"
# Config leaves never worth a filter or an axis (bookkeeping, not design).
_CFG_SKIP = ("literature", "input_shape", "num_classes", "accuracy_source")


_config = labels.config_of


# one naming function for every view (hwsim.labels); kept under these names for the pages
scheme_display = labels.scheme_name
model_display = labels.model_name


def _leaves(d: Json, prefix: str = "") -> Leaves:
    out: Leaves = {}
    if isinstance(d, dict):
        for k, v in d.items():
            if not prefix and k in _CFG_SKIP:
                continue
            out.update(_leaves(v, f"{prefix}{k}."))
    elif isinstance(d, (str, int, float, bool)):
        out[prefix[:-1]] = d
    return out


def varied_fields(configs: list[dict], limit: int = 24) -> pd.DataFrame:
    """One ``cfg:<path>`` column per config leaf that differs between points (hardware fields a sweep
    varies, recipe choices, scheme parameters): any field, found generically."""
    flat = pd.DataFrame([_leaves(c) for c in configs])
    keep = [c for c in flat.columns if flat[c].nunique(dropna=False) > 1 and not c.endswith((".name", "seed"))
            and c.split(".")[0] not in ("scheme", "model")][:limit]
    return flat[keep].add_prefix(CFG)


def _bits_text(w: Any, a: Any) -> str:
    def one(x: Any) -> str:
        return "?" if x is None or (isinstance(x, float) and pd.isna(x)) else str(int(x))

    return f"W{one(w)}/A{one(a)}"


def phase_filter(df: pd.DataFrame, phase: str) -> pd.DataFrame:
    """Rows of one phase; ``train`` means the four training phases summed later by the caller."""
    if phase == "train":
        return df[df["phase"].isin(TRAIN_PHASES)]
    if phase in PHASES:
        return df[df["phase"] == phase]
    return df


def per_layer(df: pd.DataFrame, prefix: str, phase: str) -> pd.DataFrame:
    """Wide table layer x <suffix> of the ``layers`` rows named ``prefix.<suffix>`` in ``phase``.

    Layers keep their first-seen order (the network's order, as the trace records it).
    """
    sub = phase_filter(df, phase)
    sub = sub[sub["name"].str.startswith(prefix + ".")]
    order = list(dict.fromkeys(df["layer"]))
    if sub.empty:
        return pd.DataFrame(index=pd.Index(order, name="layer"))
    sub = sub.assign(key=sub["name"].str.slice(len(prefix) + 1))
    wide = sub.pivot_table(index="layer", columns="key", values="value", aggfunc="sum", fill_value=0.0)
    return wide.reindex([o for o in order if o in wide.index])


def per_layer_value(df: pd.DataFrame, name: str, phase: str, how: str = "sum") -> pd.Series:
    """One named quantity per layer (``cycles``, ``utilization``) in ``phase``; summed or averaged."""
    sub = phase_filter(df, phase)
    sub = sub[sub["name"] == name]
    order = list(dict.fromkeys(df["layer"]))
    s = sub.groupby("layer")["value"].agg(how)
    return s.reindex([o for o in order if o in s.index])
