"""Governance report: one self-contained HTML page per database, plus the same figures as JSON.

Needs the ``report`` extra (matplotlib). ``build_report`` reads the ledger, the model files,
the latest validations and the tables; it never writes to the database.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["build_report"]


def build_report(db: str | Path, out: str | Path | None = "dp_synth_report.html",
                 json_out: str | Path | None = None, real_statistics: bool = False,
                 ledger_schema: str = "main") -> dict[str, Any]:
    """Write the HTML (and JSON) report for every twin in DuckDB file ``db``; returns the JSON dict."""
    from ..errors import InputError
    from ..io.duckdb import open_database
    from .collect import collect
    from .render import render_html

    path = Path(db)
    if not path.is_file():
        raise InputError(f"database file {str(path)!r} not found")
    with open_database(path, read_only=True) as con:
        report = collect(con, database=str(path), real_statistics=real_statistics, ledger_schema=ledger_schema)
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
