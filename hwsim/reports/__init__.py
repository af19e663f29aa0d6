"""Cost reports that architects export and share: CSV, JSON, XLSX and standalone HTML.

``export(store_path, point_ids, fmt, out_dir, name=None, command=None) -> Path`` is the one
entry point, used by ``hwsim report``, the dashboard and the Python API.
"""

from __future__ import annotations

from pathlib import Path

from hwsim.errors import UserError
from hwsim.reports.document import REPORT_SCHEMA_VERSION, ReportDocument, build_document
from hwsim.reports.safe_io import atomic_write, resolve_inside
from hwsim.reports.writers import EXTENSIONS, WRITERS

SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
FORMATS = tuple(EXTENSIONS)

__all__ = ["FORMATS", "REPORT_SCHEMA_VERSION", "SCHEMA_PATH", "ReportDocument", "build_document", "export"]


def default_name(point_ids: list[str], fmt: str) -> str:
    stem = "-".join(i[:12] for i in point_ids[:4]) + ("-etc" if len(point_ids) > 4 else "")
    return f"hwsim-report-{stem}{EXTENSIONS[fmt]}"


def export(store_path: str | Path, point_ids: list[str], fmt: str, out_dir: str | Path,
           name: str | None = None, command: str | None = None, force: bool = False) -> Path:
    """Write a report of ``point_ids`` in format ``fmt`` to ``out_dir/name`` atomically; an existing
    file is overwritten only with ``force``."""
    writer = WRITERS.get(fmt, where="--format")
    if not point_ids:
        raise UserError("--point", "name at least one design point")
    doc = build_document(store_path, list(point_ids), command=command)
    target = resolve_inside(out_dir, name or default_name([p.id for p in doc.points], fmt))
    if target.exists() and not force:
        raise UserError(str(target), "exists; pass --force to overwrite it")
    return atomic_write(target, lambda tmp: writer(doc, tmp))
