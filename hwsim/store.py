"""The embedded results store: one SQLite file in WAL mode.

Tables
  points          one row per design point, keyed by the hash of its resolved config
  metrics         (point, name, value): the totals Pareto fronts and the dashboard use
  point_metrics   (point, m0, m1, ...): the same metrics one row per point, one REAL column per name, kept
                  by triggers on ``metrics`` (so every writer, raw SQL included, keeps it in step, in the
                  transaction that writes the metric); ``metric_columns`` (name, col) says which column
                  ``m<col>`` holds a name. Reading 50,000 points' metrics from it costs a fraction of
                  pivoting the long rows. Added (and filled) on a writable open of an older store; a
                  read-only open of one reads the long rows instead.
  layers          (point, layer, phase, name, value): per-layer figures, long format
  curves          (point, epoch, metric, value): training curves, sparsity timelines
  blobs           (point, name, json): full documents (trace, energy, cycles, assumptions)
  claims          (point, owner, expires, lost): which run is computing a point (a lease), and how many
                  times a worker died on it
  groups          (key, sweep, label, started, finished, wall_s, points, done, failed): one row per group
                  of points a run computed together (trained and traced once), with its wall time; the
                  points' own started/finished cover only their own work. Added to older stores on open.
  schema_version  one row

Names in ``layers.name`` (long format, one value each; readers pivot with pandas):
  shape.<k>                  layer shape fields (N, C, H, W, K, R, S, stride, ...)
  macs.<mac_type>            MACs issued, effectual_macs.<mac_type> after zero-skipping
  elementwise.<op>           element operations
  traffic_bytes.<class>      bytes by tensor class (hwsim.formats.TENSOR_CLASSES)
  energy_pj.<component>      compute.<mac_type> | elementwise | scale | rf | sram | dram | static.logic | static.sram
  cycles, compute_cycles, stall_cycles, utilization, mapping_efficiency
  sram_reads.<operand>, sram_writes.<operand>, dram_reads.<operand>, dram_writes.<operand>
``phase`` is one of hwsim.formats.PHASES.

Point status: ``queued`` (planned by a run, or handed back after its worker died), ``running``,
``done``, ``failed``. A finished point is written in one transaction, so a kill loses only the
points in flight, and a ``done`` point is never overwritten. Several runs may share one store:
a run claims a point (a lease in ``claims`` that it renews while it works) before computing it,
and a claim whose owner died (lease expired, or its process gone on this host) is free again. Readers (webapp, reports, pareto) open the file read-only and never block the
writer (WAL). Torch-free.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from hwsim.errors import UserError

if TYPE_CHECKING:
    from hwsim.jsondoc import Json, JsonDocument

SCHEMA_VERSION = 1
CORE_TABLES = frozenset({"points", "metrics", "layers", "curves", "blobs"})

# Canonical metric names: unit in the name, and which way is better.
METRICS: dict[str, dict[str, str]] = {
    "accuracy": {"label": "Accuracy", "unit": "fraction", "better": "max"},
    "error": {"label": "Error", "unit": "fraction", "better": "min"},
    "train_energy_pj_per_step": {"label": "Training energy per step", "unit": "pJ", "better": "min"},
    "train_energy_pj_per_epoch": {"label": "Training energy per epoch", "unit": "pJ", "better": "min"},
    "infer_energy_pj": {"label": "Inference energy per sample", "unit": "pJ", "better": "min"},
    "train_memory_bytes": {"label": "Training memory", "unit": "bytes", "better": "min"},
    "stash_bytes": {"label": "Stash, whole step (saved for backward)", "unit": "bytes", "better": "min"},
    "weight_input_stash_bytes": {"label": "Stash, weight-layer inputs", "unit": "bytes", "better": "min"},
    # 1: the scheme changes nothing on this model (the point is the fp32 design under another name)
    "scheme_noop": {"label": "Scheme changes nothing", "unit": "flag", "better": "min"},
    "model_size_bytes": {"label": "Model size", "unit": "bytes", "better": "min"},
    "latency_cycles": {"label": "Inference latency per sample", "unit": "cycles", "better": "min"},
    "train_step_cycles": {"label": "Training step", "unit": "cycles", "better": "min"},
    "dram_bytes_per_step": {"label": "DRAM traffic per training step", "unit": "bytes", "better": "min"},
    "dram_bytes_infer": {"label": "DRAM traffic per inference", "unit": "bytes", "better": "min"},
    "macs_train_step": {"label": "MACs per training step", "unit": "MACs", "better": "min"},
    "macs_infer": {"label": "MACs per inference", "unit": "MACs", "better": "min"},
    "utilization": {"label": "Array utilization", "unit": "fraction", "better": "max"},
    "area_mm2": {"label": "Accelerator area", "unit": "mm2", "better": "min"},
    "latency_us": {"label": "Inference latency per sample", "unit": "us", "better": "min"},
    "edp_pj_s": {"label": "Energy-delay product per inference", "unit": "pJ s", "better": "min"},
    "power_w": {"label": "Inference power", "unit": "W", "better": "min"},
    "train_power_w": {"label": "Training power", "unit": "W", "better": "min"},
    "tops": {"label": "Achieved throughput (inference)", "unit": "TOPS", "better": "max"},
    "peak_tops": {"label": "Peak throughput", "unit": "TOPS", "better": "max"},
    "tops_per_w": {"label": "Energy efficiency", "unit": "TOPS/W", "better": "max"},
    "tops_per_mm2": {"label": "Area efficiency", "unit": "TOPS/mm2", "better": "max"},
    # a decoder priced as prefill + decode (pricing: new_tokens): per sequence; latencies are the batch's
    "prefill_energy_pj": {"label": "Prefill energy per sequence", "unit": "pJ", "better": "min"},
    "prefill_latency_us": {"label": "Prefill latency (time to first token)", "unit": "us", "better": "min"},
    "decode_energy_pj_per_token": {"label": "Decode energy per generated token", "unit": "pJ", "better": "min"},
    "decode_latency_us_per_token": {"label": "Decode latency per generated token", "unit": "us", "better": "min"},
    "generate_energy_pj": {"label": "Generation energy per sequence (prefill + decode)", "unit": "pJ",
                           "better": "min"},
    "generate_latency_us": {"label": "Generation latency (prefill + decode)", "unit": "us", "better": "min"},
    "macs_prefill": {"label": "MACs per prefill", "unit": "MACs", "better": "min"},
    "macs_decode_per_token": {"label": "MACs per generated token", "unit": "MACs", "better": "min"},
    "dram_bytes_decode_per_token": {"label": "DRAM traffic per generated token", "unit": "bytes", "better": "min"},
    "kv_cache_bytes_per_token": {"label": "KV cache per token", "unit": "bytes", "better": "min"},
    "kv_cache_bytes": {"label": "KV cache at the end of generation", "unit": "bytes", "better": "min"},
}

# Columns of `points` copied out of the config for filtering without JSON parsing.
POINT_COLUMNS = (
    "model", "dataset", "scheme", "family", "bits_w", "bits_a", "tech", "accelerator",
    "accuracy_source",
) + ("array_rows", "array_cols", "dataflow", "pe_kind", "clock_mhz", "sram_kb", "dram_bw")
# The resolved accelerator's main fields (config["hardware"]), as columns for filters and axes; the
# full set of fields is in the point's config. Added to older stores on open.
HARDWARE_COLUMNS = {"array_rows": "INTEGER", "array_cols": "INTEGER", "dataflow": "TEXT", "pe_kind": "TEXT",
                    "clock_mhz": "REAL", "sram_kb": "REAL", "dram_bw": "REAL"}


# a value of one SQL column of ``points``
Cell = str | int | float | None


def hardware_columns(hw: JsonDocument | None) -> dict[str, Cell]:
    """POINT_COLUMNS values of a resolved accelerator in the form the store keeps (``config["hardware"]``,
    ``Accelerator.to_dict()``)."""
    if not hw:
        return {}
    sram = hw.get("sram") or {}
    return {"array_rows": hw["array"]["rows"], "array_cols": hw["array"]["cols"],
            "dataflow": hw["array"]["dataflow"], "pe_kind": hw["pe"]["kind"], "clock_mhz": hw.get("clock_mhz"),
            "sram_kb": sum(float(v) for v in sram.values()),
            "dram_bw": (hw.get("dram") or {}).get("bandwidth_bytes_per_cycle")}

_DDL = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    id TEXT PRIMARY KEY,
    sweep TEXT,
    label TEXT,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    model TEXT, dataset TEXT, scheme TEXT, family TEXT,
    bits_w INTEGER, bits_a INTEGER, tech TEXT, accelerator TEXT,
    accuracy_source TEXT,
    array_rows INTEGER, array_cols INTEGER, dataflow TEXT, pe_kind TEXT, clock_mhz REAL, sram_kb REAL,
    dram_bw REAL,
    versions TEXT,
    started REAL, finished REAL, wall_s REAL
);
CREATE TABLE IF NOT EXISTS metrics (
    point TEXT NOT NULL REFERENCES points(id) ON DELETE CASCADE,
    name TEXT NOT NULL, value REAL,
    PRIMARY KEY (point, name)
);
CREATE TABLE IF NOT EXISTS layers (
    point TEXT NOT NULL REFERENCES points(id) ON DELETE CASCADE,
    layer TEXT NOT NULL, phase TEXT NOT NULL, name TEXT NOT NULL, value REAL,
    PRIMARY KEY (point, layer, phase, name)
);
CREATE TABLE IF NOT EXISTS curves (
    point TEXT NOT NULL REFERENCES points(id) ON DELETE CASCADE,
    epoch REAL NOT NULL, metric TEXT NOT NULL, value REAL,
    PRIMARY KEY (point, epoch, metric)
);
CREATE TABLE IF NOT EXISTS blobs (
    point TEXT NOT NULL REFERENCES points(id) ON DELETE CASCADE,
    name TEXT NOT NULL, json TEXT NOT NULL,
    PRIMARY KEY (point, name)
);
CREATE TABLE IF NOT EXISTS claims (
    point TEXT PRIMARY KEY,
    owner TEXT, expires REAL,
    lost INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS groups (
    key TEXT NOT NULL, sweep TEXT, label TEXT,
    started REAL NOT NULL, finished REAL, wall_s REAL,
    points TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key, started)
);
CREATE TABLE IF NOT EXISTS point_metrics (
    point TEXT PRIMARY KEY REFERENCES points(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS metric_columns (
    name TEXT PRIMARY KEY,
    col INTEGER NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS layers_point ON layers(point);
CREATE INDEX IF NOT EXISTS curves_point ON curves(point);
"""


class StoredPoint(TypedDict):
    """One point as :meth:`Store.point` reads it back: the ``points`` row, config and versions parsed."""

    id: str
    sweep: str | None
    label: str | None
    config: JsonDocument
    status: str
    error: str | None
    model: str | None
    dataset: str | None
    scheme: str | None
    family: str | None
    bits_w: int | None
    bits_a: int | None
    tech: str | None
    accelerator: str | None
    accuracy_source: str | None
    array_rows: int | None
    array_cols: int | None
    dataflow: str | None
    pe_kind: str | None
    clock_mhz: float | None
    sram_kb: float | None
    dram_bw: float | None
    versions: dict[str, str]
    started: float | None
    finished: float | None
    wall_s: float | None
    metrics: dict[str, float]


@dataclass
class PointResult:
    """Everything one finished (or failed) design point writes, in one transaction."""

    id: str
    config: JsonDocument                       # DesignPoint.to_json(): the document the store keeps
    status: str = "done"                       # done | failed
    error: str | None = None
    sweep: str | None = None
    label: str | None = None
    columns: dict[str, Cell] = field(default_factory=dict)      # POINT_COLUMNS values
    metrics: dict[str, float] = field(default_factory=dict)
    layers: list[tuple[str, str, str, float]] = field(default_factory=list)   # (layer, phase, name, value)
    curves: list[tuple[float, str, float]] = field(default_factory=list)      # (epoch, metric, value)
    blobs: dict[str, Json] = field(default_factory=dict)       # name -> document, kept as JSON
    versions: dict[str, str] = field(default_factory=dict)
    started: float | None = None
    finished: float | None = None


class Store:
    """A results store file. ``Store(path)`` creates it; ``Store(path, readonly=True)`` only reads."""

    def __init__(self, path: str | Path, readonly: bool = False, timeout: float = 30.0):
        self.path = Path(path)
        self.readonly = readonly
        try:
            self._open_checked(timeout)
        except sqlite3.OperationalError as e:
            if "readonly" in str(e) or "read-only" in str(e):
                raise UserError(str(self.path), "the store is read-only (a read-only file or file system); "
                                                "copy it somewhere writable") from None
            raise UserError(str(self.path), f"not a hwsim results store ({e})") from None
        except sqlite3.DatabaseError as e:
            raise UserError(str(self.path), f"not a hwsim results store ({e})") from None

    def _open_checked(self, timeout: float) -> None:
        """Open and check the schema, trying again while another process holds the file in a way
        SQLite reports at once rather than through its busy timeout (switching a new file to WAL,
        or upgrading a read to a write while another connection writes)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._open(timeout)
                self._check_schema()
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                conn = getattr(self, "conn", None)
                if conn is not None:
                    conn.close()
                time.sleep(0.05)

    def _open(self, timeout: float) -> None:
        readonly = self.readonly
        if readonly:
            if not self.path.exists():
                raise UserError(str(self.path), "results store not found; create one with `hwsim sweep FILE --db PATH`")
            uri = f"file:{self.path.resolve()}?mode=ro"
            self.conn = sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
        else:
            self._check_writable()
            self.conn = sqlite3.connect(str(self.path), timeout=timeout, check_same_thread=False)
            self._check_own()   # before the first write: WAL mode alone would alter a foreign file
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")

    def _check_writable(self) -> None:
        """A store hwsim will write: a regular SQLite file or a new path, in a folder it can write
        (SQLite keeps its journal beside the file); otherwise one line before anything is written."""
        p = self.path
        try:
            if p.parent and not p.parent.exists():
                p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(str(p), f"cannot create the store's folder ({e.strerror})") from None
        if p.exists() or p.is_symlink():
            if not p.is_file():
                raise UserError(str(p), "exists and is not a regular file; a results store is never written there")
            try:
                with p.open("rb") as f:
                    head = f.read(16)
            except OSError as e:
                raise UserError(str(p), f"cannot read the store ({e.strerror})") from None
            if head and head != b"SQLite format 3\x00":
                raise UserError(str(p), "exists and is not a SQLite file; hwsim writes only its own results stores")
            if not os.access(p, os.W_OK):
                raise UserError(str(p), "the store is read-only; open it with a read-only verb (pareto, report, "
                                        "serve) or copy it somewhere writable")
        if not os.access(p.parent if str(p.parent) else Path("."), os.W_OK | os.X_OK):
            raise UserError(str(p), "the store's folder is read-only (SQLite writes a journal beside the store)")

    def _check_own(self) -> None:
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "schema_version" not in tables:
            self.conn.close()
            raise UserError(str(self.path), f"a SQLite file with tables {', '.join(sorted(tables)[:5])} but not a "
                                            "hwsim results store; refused (hwsim alters only its own stores)")

    def _check_schema(self) -> None:
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "schema_version" not in tables:
            if self.readonly:
                raise UserError(str(self.path), "not a hwsim results store (no schema_version table)")
            # one transaction, so a second process opening the same new store waits on the lock and then
            # sees every table with its version row, never an empty schema_version (executescript would
            # otherwise commit each statement on its own)
            try:
                self.conn.executescript(
                    f"BEGIN IMMEDIATE;\n{_DDL}\nINSERT INTO schema_version SELECT {SCHEMA_VERSION} "
                    "WHERE NOT EXISTS (SELECT 1 FROM schema_version);\nCOMMIT;")
            except sqlite3.Error:
                if self.conn.in_transaction:
                    self.conn.rollback()
                raise
            return
        row = self.conn.execute("SELECT version FROM schema_version").fetchone()
        if row is None:
            raise UserError(str(self.path), "damaged results store: its schema_version table is empty")
        (v,) = row
        if v != SCHEMA_VERSION:
            raise UserError(str(self.path), f"store schema version {v}, this hwsim reads {SCHEMA_VERSION}")
        missing = CORE_TABLES - tables
        if missing:   # a table dropped by hand: say so here, not as a query error deep in a verb
            raise UserError(str(self.path), f"damaged results store: table {', '.join(sorted(missing))} is missing")
        # before the other tables are added: _DDL would create this one empty, leaving it unfilled
        if not self.readonly and not {"point_metrics", "metric_columns"} <= tables:
            self._add_point_metrics()
        if not self.readonly and not {"claims", "groups"} <= tables:   # written before these tables existed
            with self.conn:
                self.conn.executescript(_DDL)
        if not self.readonly:   # a store written before the hardware columns existed
            have = {r[1] for r in self.conn.execute("PRAGMA table_info(points)")}
            with self.conn:
                for col, typ in HARDWARE_COLUMNS.items():
                    if col not in have:
                        self.conn.execute(f"ALTER TABLE points ADD COLUMN {col} {typ}")

    def _add_point_metrics(self) -> None:
        """Give a store written before ``point_metrics`` existed the table, a column and triggers for each
        metric it has, and its points' rows, in one transaction (another process opening it at the same
        time waits, then finds it done)."""
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not {"point_metrics", "metric_columns"} <= tables:
                for stmt in _DDL.split(";"):
                    if "point_metrics" in stmt or "metric_columns" in stmt:
                        c.execute(stmt)
                names = [r[0] for r in c.execute("SELECT DISTINCT name FROM metrics")]
                cols = self._metric_columns(names)
                if names:
                    sel = ", ".join("MAX(CASE WHEN name=? THEN value END)" for _ in names)
                    c.execute(f"INSERT INTO point_metrics(point, {', '.join(f'm{cols[n]}' for n in names)}) "
                              f"SELECT point, {sel} FROM metrics GROUP BY point", names)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def _metric_columns(self, names: Iterable[str]) -> dict[str, int]:
        """The ``point_metrics`` column of each of ``names``, adding a column and its triggers for a name
        not seen before. Inside a write transaction (columns are only ever added, so a name this
        connection has seen keeps its column)."""
        known = getattr(self, "_columns", None)
        if known is None or any(n not in known for n in names):
            known = self._columns = dict(self.conn.execute("SELECT name, col FROM metric_columns"))
        for n in names:
            if n in known:
                continue
            col = max(known.values(), default=-1) + 1
            self.conn.execute(f"ALTER TABLE point_metrics ADD COLUMN m{col} REAL")
            self.conn.execute("INSERT INTO metric_columns(name, col) VALUES (?, ?)", (n, col))
            for stmt in _metric_triggers(n, col):
                self.conn.execute(stmt)
            known[n] = col
        return known

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------
    def has(self, point_id: str, status: str = "done") -> bool:
        row = self.conn.execute("SELECT status FROM points WHERE id=?", (point_id,)).fetchone()
        return row is not None and row[0] == status

    def status_of(self, point_id: str) -> str | None:
        row = self.conn.execute("SELECT status FROM points WHERE id=?", (point_id,)).fetchone()
        return row[0] if row else None

    def enqueue(self, points: Iterable[tuple[str, JsonDocument, str | None, str | None]]) -> None:
        """Record planned points ``(id, config, sweep, label)`` as ``queued`` (known ones are left alone),
        so readers see a sweep's whole size before it finishes."""
        with self.conn:
            self.conn.executemany(
                "INSERT OR IGNORE INTO points(id, sweep, label, config, status) VALUES (?,?,?,?,'queued')",
                [(pid, sw, label, json.dumps(cfg, sort_keys=True)) for pid, cfg, sw, label in points],
            )

    def claim(self, ids: list[str], owner: str, lease_s: float, skip: tuple[str, ...] = ("done", "failed"),
              ) -> list[str] | None:
        """Claim, all or nothing, the points of ``ids`` whose status is not in ``skip``.

        Returns the ids now owned by ``owner`` (empty when every one is finished), or None when a live
        claim of another run holds any of them. One IMMEDIATE transaction, so two runs never both win."""
        now = time.time()
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            marks = ",".join("?" * len(ids))
            status = dict(c.execute(f"SELECT id, status FROM points WHERE id IN ({marks})", ids).fetchall())
            todo = [i for i in ids if status.get(i) not in skip]
            held = c.execute(f"SELECT owner, expires FROM claims WHERE point IN ({','.join('?' * len(todo))}) "
                             "AND owner IS NOT NULL AND owner != ?", (*todo, owner)).fetchall() if todo else []
            if any(not claim_is_stale(o, e, now) for o, e in held):
                c.execute("COMMIT")
                return None
            c.executemany("INSERT INTO claims(point, owner, expires) VALUES (?,?,?) "
                          "ON CONFLICT(point) DO UPDATE SET owner=excluded.owner, expires=excluded.expires",
                          [(i, owner, now + lease_s) for i in todo])
            c.execute("COMMIT")
            return todo
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def renew(self, owner: str, lease_s: float) -> None:
        """Extend every claim ``owner`` holds (a heartbeat while it works)."""
        with self.conn:
            self.conn.execute("UPDATE claims SET expires=? WHERE owner=?", (time.time() + lease_s, owner))

    def release(self, ids: list[str], owner: str, reason: str | None = None) -> None:
        """Hand points back unfinished (their worker died, or the run was interrupted): they become
        ``queued`` again, so a plain rerun or another run computes them; ``reason`` counts a lost try."""
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        with self.conn:
            self.conn.execute(f"UPDATE claims SET owner=NULL, lost=lost+? WHERE owner=? AND point IN ({marks})",
                              (1 if reason else 0, owner, *ids))
            self.conn.execute(f"UPDATE points SET status='queued', error=? WHERE status='running' AND id IN ({marks})",
                              (reason, *ids))

    def lost_count(self, point_id: str) -> int:
        row = self.conn.execute("SELECT lost FROM claims WHERE point=?", (point_id,)).fetchone()
        return int(row[0]) if row else 0

    def mark_running(self, point_id: str, config: JsonDocument, sweep: str | None = None) -> None:
        """Record that a point started (so the dashboard shows progress); replaced when it ends."""
        self.mark_running_many([(point_id, config, sweep)])

    def mark_running_many(self, points: Iterable[tuple[str, JsonDocument, str | None]]) -> None:
        """:meth:`mark_running` for (id, config, sweep) of many points, in one transaction."""
        now = time.time()
        with self.conn:
            self.conn.executemany(
                "INSERT INTO points(id, sweep, config, status, started) VALUES (?,?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET status='running', started=excluded.started "
                "WHERE points.status != 'done'",
                [(pid, sweep, json.dumps(config, sort_keys=True), "running", now) for pid, config, sweep in points],
            )

    def write(self, r: PointResult) -> bool:
        """Write a finished or failed point atomically (one transaction) and drop its claim. A point
        already ``done`` is never overwritten (another run finished it first): returns False then."""
        cols = {k: r.columns.get(k) for k in POINT_COLUMNS}
        finished = r.finished or time.time()
        wall = (finished - r.started) if r.started else None
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            if self.has(r.id, "done"):
                return False
            self.conn.execute("DELETE FROM claims WHERE point=?", (r.id,))
            self.conn.execute("DELETE FROM points WHERE id=?", (r.id,))
            self._metric_columns(r.metrics)   # the metrics' triggers fill the point's point_metrics row
            self.conn.execute(
                f"INSERT INTO points(id, sweep, label, config, status, error, {', '.join(POINT_COLUMNS)}, "
                f"versions, started, finished, wall_s) VALUES ({', '.join('?' * (10 + len(POINT_COLUMNS)))})",
                (r.id, r.sweep, r.label, json.dumps(r.config, sort_keys=True), r.status, r.error,
                 *cols.values(), json.dumps(r.versions, sort_keys=True), r.started, finished, wall),
            )
            self.conn.executemany(
                "INSERT INTO metrics VALUES (?,?,?)", [(r.id, k, _num(v)) for k, v in r.metrics.items()]
            )
            self.conn.executemany(
                "INSERT OR REPLACE INTO layers VALUES (?,?,?,?,?)",
                [(r.id, la, ph, n, _num(v)) for la, ph, n, v in r.layers],
            )
            self.conn.executemany(
                "INSERT OR REPLACE INTO curves VALUES (?,?,?,?)", [(r.id, e, m, _num(v)) for e, m, v in r.curves]
            )
            self.conn.executemany(
                "INSERT INTO blobs VALUES (?,?,?)",
                [(r.id, k, json.dumps(v, sort_keys=True, default=str)) for k, v in r.blobs.items()],
            )
        return True

    def write_group(self, key: str, started: float, finished: float, ids: list[str], sweep: str | None = None,
                    label: str | None = None, done: int = 0, failed: int = 0) -> None:
        """Record one group's wall time (training, tracing and pricing of the points ``ids``)."""
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO groups(key, sweep, label, started, finished, wall_s, points, done, failed) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                (key, sweep, label, started, finished, finished - started, json.dumps(list(ids)), done, failed))

    # -- reading -------------------------------------------------------------
    def groups(self):
        """The groups runs computed, newest last (a pandas DataFrame; ``points`` is a list of ids).
        Empty for a store written before groups were recorded."""
        import pandas as pd

        cols = ["key", "sweep", "label", "started", "finished", "wall_s", "points", "done", "failed"]
        try:
            df = pd.read_sql_query(f"SELECT {', '.join(cols)} FROM groups ORDER BY started", self.conn)
        except (sqlite3.OperationalError, pd.errors.DatabaseError):   # no such table (an older store)
            return pd.DataFrame(columns=cols)
        df["points"] = [json.loads(p) for p in df["points"]]
        return df

    def point_ids(self, status: str | None = "done") -> list[str]:
        q = "SELECT id FROM points" + (" WHERE status=?" if status else "") + " ORDER BY id"
        return [r[0] for r in self.conn.execute(q, (status,) if status else ())]

    def points(self, status: str | None = None, ids: list[str] | None = None, with_config: bool = True):
        """All points (or the points ``ids``) with their metrics pivoted to columns (a pandas DataFrame);
        without the ``config`` and ``versions`` texts when not ``with_config`` (a reader that cuts the
        config into parts in SQL spares reading 50,000 whole configs)."""
        import pandas as pd

        where, params = [], []
        if status:
            where.append("status=?")
            params.append(status)
        if ids is not None:
            if not ids:
                where.append("0")
            else:   # a temporary table, not a parameter list: SQLite caps those (32,766)
                self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS _want(id TEXT PRIMARY KEY)")
                self.conn.execute("DELETE FROM _want")
                self.conn.executemany("INSERT OR IGNORE INTO _want VALUES (?)", [(i,) for i in ids])
                # end the implicit transaction those statements opened: left open, it would pin this
                # reader to the current snapshot, and later commits of a sweep would never be seen
                self.conn.commit()
                where.append("id IN (SELECT id FROM _want)")
        cond = (" WHERE " + " AND ".join(where)) if where else ""
        cols_sql = "*"
        if not with_config:
            names = [r[1] for r in self.conn.execute("PRAGMA table_info(points)")]
            cols_sql = ", ".join(n for n in names if n not in ("config", "versions"))
        # One read transaction, so the names, their columns, the points and their metrics are one snapshot
        # of a store a sweep is writing.
        in_txn = self.conn.in_transaction
        if not in_txn:
            self.conn.execute("BEGIN")
        try:
            try:
                cols = dict(self.conn.execute("SELECT name, col FROM metric_columns"))
            except sqlite3.OperationalError:   # an older store, opened read-only: no point_metrics
                cols = {}
            names = self._wide_names(cols) if not where else None
            if names is None:
                names = [r[0] for r in self.conn.execute("SELECT DISTINCT name FROM metrics" + (
                    " WHERE point IN (SELECT id FROM points" + cond + ")" if where else ""), params)]
            # A metric is its point_metrics column, read in a second scan and joined in pandas (cheaper than
            # SQLite's join, a lookup per point); a name without one (an older store read-only, or a name an
            # older hwsim wrote) is looked up by the metrics key (point, name).
            lookups, lparams = [], []
            for i, n in enumerate(names):
                if n not in cols:
                    lookups.append(f", (SELECT value FROM metrics m WHERE m.point = p.id AND m.name = ?) AS _m{i}")
                    lparams.append(n)
            df = pd.read_sql_query(f"SELECT p.*{''.join(lookups)} FROM (SELECT {cols_sql} FROM points{cond}) AS p",
                                   self.conn, params=[*lparams, *params] or None)
            wide_sel = [(i, n) for i, n in enumerate(names) if n in cols]
            if wide_sel:
                wide = pd.read_sql_query(
                    f"SELECT point, {', '.join(f'm{cols[n]} AS _m{i}' for i, n in wide_sel)} FROM point_metrics"
                    + (f" WHERE point IN (SELECT id FROM points{cond})" if where else ""), self.conn,
                    params=params or None)
                df = df.merge(wide, left_on="id", right_on="point", how="left").drop(columns="point")
                df = df[[*df.columns[:len(df.columns) - len(names)], *(f"_m{i}" for i in range(len(names)))]]
        finally:
            if not in_txn:
                self.conn.commit()
        pts = df.iloc[:, :len(df.columns) - len(names)]
        if names:
            wide = df[[f"_m{i}" for i in range(len(names))]].astype(float).set_axis(names, axis=1)
            wide.index = pts["id"]
            pts = pts.merge(wide, left_on="id", right_index=True, how="left")
        return pts

    def _wide_names(self, cols: dict[str, int]) -> list[str] | None:
        """The names of the metrics some point has, read off ``point_metrics`` (a column holding a value),
        when its columns hold every metric row; else None (a name written by an hwsim that kept no
        ``point_metrics``, or a metric stored without a value), and the caller reads the names off the
        metrics table. At 50,000 points this costs a count over each table (0.16 s) where the distinct
        names of 800,000 metric rows cost 0.4 s."""
        if not cols:
            return None
        names = sorted(cols)
        counted = ", ".join(f"COUNT(m{cols[n]})" for n in names)
        held = self.conn.execute(f"SELECT {counted} FROM point_metrics").fetchone()   # values per column
        if sum(held) != self.conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]:
            return None
        return [n for n, k in zip(names, held) if k]

    def statuses(self, since_rowid: int | None = None):
        """``rowid, id, status`` of every point: what a reader compares to find what changed since it last
        read (a finished point is written as a new row). With ``since_rowid``, only of the rows written
        after it and of the points not done: a done row is never changed in place, so a reader of a
        50,000-point store that follows a sweep reads the sweep's rows, not every row at each commit."""
        import pandas as pd

        if since_rowid is None:
            return pd.read_sql_query("SELECT rowid AS rowid_, id, status FROM points", self.conn)
        return pd.read_sql_query("SELECT rowid AS rowid_, id, status FROM points WHERE rowid > ? OR status != 'done'",
                                 self.conn, params=(since_rowid,))

    def max_rowid(self) -> int:
        """The newest row's rowid (0 for no rows): a reader's mark before it reads every point."""
        return int(self.conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM points").fetchone()[0])

    def point_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM points").fetchone()[0])

    def point(self, point_id: str) -> StoredPoint:
        """The point's row, its config and versions parsed, with its metrics."""
        row = self.conn.execute("SELECT * FROM points WHERE id=?", (point_id,)).fetchone()
        if row is None:
            raise UserError(f"point {point_id}", f"no such point in {self.path}")
        names = [d[0] for d in self.conn.execute("SELECT * FROM points LIMIT 0").description]
        d: StoredPoint = dict(zip(names, row))   # type: ignore[assignment]  # the columns StoredPoint names
        d["config"] = json.loads(d["config"])
        d["versions"] = json.loads(d["versions"]) if d.get("versions") else {}
        d["metrics"] = dict(self.conn.execute("SELECT name, value FROM metrics WHERE point=?", (point_id,)).fetchall())
        return d

    def resolve(self, prefix: str) -> str:
        """A full point id from a unique prefix (ids are hex hashes)."""
        rows = [r[0] for r in self.conn.execute("SELECT id FROM points WHERE id LIKE ?", (prefix + "%",))]
        if len(rows) == 1:
            return rows[0]
        if not rows:
            raise UserError(f"point {prefix}", f"no such point in {self.path}")
        raise UserError(f"point {prefix}", f"ambiguous prefix, matches {len(rows)} points")

    def layers(self, point_id: str):
        import pandas as pd

        return pd.read_sql_query(
            "SELECT layer, phase, name, value FROM layers WHERE point=?", self.conn, params=(point_id,)
        )

    def curves(self, point_id: str):
        import pandas as pd

        return pd.read_sql_query(
            "SELECT epoch, metric, value FROM curves WHERE point=? ORDER BY epoch", self.conn, params=(point_id,)
        )

    def blob(self, point_id: str, name: str) -> Json:
        row = self.conn.execute("SELECT json FROM blobs WHERE point=? AND name=?", (point_id, name)).fetchone()
        return json.loads(row[0]) if row else None

    def blob_names(self, point_id: str) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM blobs WHERE point=?", (point_id,))]

    def counts(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT status, COUNT(*) FROM points GROUP BY status").fetchall())

    def iter_rows(self, sql: str, params: Iterable[Any] = ()) -> Iterator[tuple]:
        yield from self.conn.execute(sql, tuple(params))


def _metric_triggers(name: str, col: int) -> list[str]:
    """Triggers that keep ``point_metrics.m<col>`` equal to the metric ``name`` of each point, whatever
    writes ``metrics`` (this module, an older hwsim, a hand-written UPDATE)."""
    q = "'" + name.replace("'", "''") + "'"
    m, t = f"m{col}", f"point_metrics_m{col}"
    upsert = (f"INSERT INTO point_metrics(point, {m}) VALUES (NEW.point, NEW.value) "
              f"ON CONFLICT(point) DO UPDATE SET {m} = excluded.{m}")
    return [
        f"CREATE TRIGGER IF NOT EXISTS {t}_ins AFTER INSERT ON metrics WHEN NEW.name = {q} BEGIN {upsert}; END",
        f"CREATE TRIGGER IF NOT EXISTS {t}_upd AFTER UPDATE ON metrics WHEN OLD.name = {q} OR NEW.name = {q} BEGIN "
        f"UPDATE point_metrics SET {m} = NULL WHERE OLD.name = {q} AND point = OLD.point; "
        f"INSERT INTO point_metrics(point, {m}) SELECT NEW.point, NEW.value WHERE NEW.name = {q} "
        f"ON CONFLICT(point) DO UPDATE SET {m} = excluded.{m}; END",
        f"CREATE TRIGGER IF NOT EXISTS {t}_del AFTER DELETE ON metrics WHEN OLD.name = {q} BEGIN "
        f"UPDATE point_metrics SET {m} = NULL WHERE point = OLD.point; END",
    ]


def owner_id() -> str:
    """Who holds a claim: ``host:pid:nonce`` (the nonce tells apart a reused pid)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


MAX_LEASE_S = 300.0   # the longest lease a claim may claim to have left; runs renew 60 s leases


def claim_is_stale(owner: str, expires: float | None, now: float) -> bool:
    """A claim is free once its lease ran out, at once when its owner's process is gone from this
    host (a killed run's points are resumed without waiting for the lease), and at once when it claims
    a lease longer than MAX_LEASE_S (written by something other than a hwsim run)."""
    if expires is None or expires < now:
        return True
    if expires > now + MAX_LEASE_S:   # a lease no hwsim run grants (expires=1e12): not a live run's claim
        return True
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return not _process_alive(int(pid))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # alive, another user's
        return True
    try:   # a killed process its parent has not reaped yet is a zombie: dead for our purpose
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None
