"""Governance report: one self-contained HTML page per database, plus the same figures as JSON.

Needs the ``report`` extra (matplotlib). ``build_report`` reads the ledger, the model files,
the latest validations and the tables; it never writes to the database.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["build_report"]


def build_report(db: Any, out: str | Path | None = "dp_synth_report.html",
                 json_out: str | Path | None = None, real_statistics: bool = False,
                 ledger_schema: str | None = None, engine: str | None = None) -> dict[str, Any]:
    """Write the HTML (and JSON) report for every twin in ``db`` (a DuckDB file, opened read-only, a
    connection, a SparkSession or an Engine); returns the JSON dict."""
    from ..engines import open_engine
    from ..errors import InputError
    from .collect import collect
    from .render import render_html

    if isinstance(db, (str, Path)) and engine in (None, "duckdb") and not Path(db).is_file():
        raise InputError(f"database file {str(db)!r} not found")
    eng = open_engine(str(db) if isinstance(db, Path) else db, engine, read_only=True)
    try:
        name = str(db) if isinstance(db, (str, Path)) else (eng.location or eng.name)
        report = collect(eng, database=name, real_statistics=real_statistics, ledger_schema=ledger_schema)
    finally:
        if eng is not db:
            eng.close()
    if out is not None:
        _write(Path(out), render_html(report))
    if json_out is not None:
        _write(Path(json_out), json.dumps(report, indent=2, default=str))
    return report


def _write(path: Path, text: str) -> None:
    """Atomic: a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
