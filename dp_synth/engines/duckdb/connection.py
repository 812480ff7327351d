"""Opening DuckDB: files, connections, and the checks that a run's writes can land."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import duckdb

from ...errors import InputError

__all__ = ["open_database", "connect", "database_file", "check_writable", "MEMORY_LIMIT"]

MEMORY_LIMIT = "1GB"         # DuckDB buffer pool of connections dp-synth opens itself


def open_database(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file, turning the engine's I/O errors into messages that say what to do."""
    p = Path(path)
    if str(path) in (":memory:", ""):
        return duckdb.connect(":memory:")
    if p.is_dir():
        raise InputError(f"database {str(p)!r} is a directory; give the path of a .duckdb file")
    if read_only and not p.is_file():
        raise InputError(f"database file {str(p)!r} not found")
    try:
        con = duckdb.connect(str(p), read_only=read_only)
    except duckdb.IOException as e:
        text = str(e)
        if "lock" in text.lower():
            raise InputError(f"database {str(p)!r} is in use by another process (DuckDB allows one writer): "
                             "wait for it to finish, or close it, and run again") from None
        if "read-only" in text.lower() or "permission" in text.lower():
            raise InputError(f"database {str(p)!r} cannot be opened for writing ({text.splitlines()[0]}); "
                             "check the file's and its directory's permissions") from None
        raise InputError(f"{str(p)!r} cannot be opened as a DuckDB database ({text.splitlines()[0]})") from None
    except duckdb.Error as e:
        raise InputError(f"{str(p)!r} is not a DuckDB database this version can open "
                         f"({str(e).splitlines()[0]})") from None
    con.execute("SET arrow_large_buffer_size = true")  # strings > 2 GB per batch in total
    # our own connection: DuckDB's buffer pool may otherwise grow to most of RAM while a 10⁷-row twin
    # is written; it spills instead (measured in benchmarks/scale.py)
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    return con


def connect(db: Any, read_only: bool = False) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """A connection and whether we own it (and must close it)."""
    for _ in range(3):  # dbt-duckdb wraps its cursor (turning engine errors into DbtRuntimeError): unwrap
        if isinstance(db, duckdb.DuckDBPyConnection):
            return db, False
        if not hasattr(db, "_cursor"):
            break
        db = db._cursor
    if isinstance(db, (str, Path)):
        return open_database(db, read_only=read_only), True
    raise InputError(f"db must be a DuckDB file path, a duckdb connection or a SparkSession, got a "
                     f"{type(db).__name__}")


def database_file(con) -> str | None:
    """Path of the connection's current database file (None in memory)."""
    rows = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    return rows[0][0] if rows and rows[0][0] else None


def check_writable(con, rows: int | None) -> None:
    ro = con.execute("SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    if ro and ro[0][0]:
        raise InputError("the database is open read-only; the twin and its ledger row cannot be written. "
                         "Open it for writing")
    path = database_file(con)
    if path:
        folder = Path(path).resolve().parent
        if not os.access(path, os.W_OK) or not os.access(folder, os.W_OK):
            raise InputError(f"database {path!r} or its directory is not writable; the twin, its ledger row "
                             "and its model file could not be written. Fix the permissions")
        if rows is not None:
            free = shutil.disk_usage(folder).free
            if rows * 64 > free:  # a generous lower estimate of DuckDB's bytes per row, 8 columns
                raise InputError(f"rows={rows:,} would not fit in the {free / 2**30:.1f} GiB free next to {path!r}")
