"""Publishing a twin in DuckDB: stage the rows in a temp table (batches committed one by one, so memory
stays bounded), then one short transaction — old twin dropped, rename, caps re-checked, ledger row.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import duckdb
import pyarrow as pa

from ...errors import InputError
from ...faults import kill_point
from ...io.relation import Relation, quote_ident
from .catalog import canonical, identity, resolve
from .ledger import retry_on_conflict
from .scan import table_fingerprint

__all__ = ["write_twin", "drop_staging", "ROW_GROUP_ROWS"]

# DuckDB's row group size: inserts of whole row groups are written straight to the file (measured, 4M-row
# Adult twin on 2 cores, one DuckDB thread: 1.28–1.36M rows/s in batches of 122,880, 0.84–1.0M in 100,000)
ROW_GROUP_ROWS = 122_880


def _staging(twin: Relation, run_id: str) -> Relation:
    return Relation(twin.schema, f"__dp_synth_tmp_{run_id[:12]}")


def write_twin(con, run, model, row: dict[str, Any]) -> int:
    """Stage the twin in a temp table (batches committed one by one: memory stays bounded however many
    rows), then publish in one short transaction: old twin dropped, rename, cap re-checked, ledger row.
    The temp table is never a twin; a failed run drops it, a killed run's is dropped by the next run."""
    source, twin = run.source, run.twin
    tmp = _staging(twin, row["run_id"])
    retry_on_conflict(con.execute, f"CREATE SCHEMA IF NOT EXISTS {quote_ident(twin.schema)}")
    # the source's own column types, names and order; no rows
    con.execute(f"CREATE TABLE {tmp.sql} AS SELECT * FROM {source.sql} LIMIT 0")
    inserter = _Inserter(con, source, tmp)
    try:
        try:
            n = _insert(con, model.map_batches(inserter, run.rows, batch_size=ROW_GROUP_ROWS, dictionary=True))
        finally:
            inserter.close()
        fingerprint = table_fingerprint(con, canonical(con, tmp))
        retry_on_conflict(_publish, con, run, tmp, {**row, "twin_rows": n, "twin_fingerprint": fingerprint})
    except BaseException:
        con.execute(f"DROP TABLE IF EXISTS {tmp.sql}")
        raise
    return n


class _Inserter:
    """Inserts one batch into the staging table through its thread's own cursor (a connection to the
    same database, in the caller's catalog and schema), each insert committed on its own: the drawing
    threads insert side by side (DuckDB appends to one table from several connections in parallel)."""

    def __init__(self, con, source: Relation, tmp: Relation):
        self.con, self.source, self.tmp = con, source, tmp
        self.where = con.execute("SELECT current_database(), current_schema()").fetchall()[0]
        self.local = threading.local()
        self.cursors: list = []
        self.lock = threading.Lock()

    def cursor(self):
        cur = getattr(self.local, "cursor", None)
        if cur is None:
            cur = self.con.cursor()
            cur.execute(f"USE {quote_ident(self.where[0])}.{quote_ident(self.where[1])}")
            with self.lock:
                self.cursors.append(cur)
            self.local.cursor = cur
        return cur

    def __call__(self, table: pa.Table) -> int:
        cur = self.cursor()
        view = f"__dp_synth_batch_{threading.get_ident()}"
        cur.register(view, table)
        try:
            cur.execute(f"INSERT INTO {self.tmp.sql} SELECT * FROM {quote_ident(view)}")
        except duckdb.ConversionException as e:
            raise InputError(f"table {str(self.source)!r}: a generated value does not fit the source's column "
                             f"types ({str(e).splitlines()[0]}); nothing was written or charged") from None
        finally:
            cur.unregister(view)
        return table.num_rows

    def close(self) -> None:
        for cur in self.cursors:
            cur.close()


def _insert(con, inserts) -> int:
    """Every batch into the staging table (``inserts``: each batch's row count once it is in); the count.

    One DuckDB thread per insert: every drawing thread inserts its own batches (2 cores: two DuckDB
    threads inserting one batch at a time were slower than one)."""
    threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    con.execute("SET threads = 1")
    n = 0
    try:
        for rows in inserts:
            n += rows
            kill_point("during_insert")
    finally:
        inserts.close()  # stops the drawing threads if the inserts stopped early
        con.execute(f"SET threads = {int(threads)}")
    return n


def _publish(con, run, tmp: Relation, row: dict[str, Any]) -> None:
    source, twin, ledger = run.source, run.twin, run.ledger
    con.execute("BEGIN TRANSACTION")
    try:
        old = resolve(con, twin)
        if old is not None:
            con.execute(f"DROP TABLE {old.relation.sql}")
        con.execute(f"ALTER TABLE {tmp.sql} RENAME TO {quote_ident(twin.name)}")
        kill_point("after_rename")
        ledger.commit_spend({**row, "created_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)},
                            identity(source), run.cap, run.delta_cap)
        kill_point("after_ledger_append")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def drop_staging(con, run_id: str) -> None:
    """A dead run's temp table, in whatever schema it staged its twin."""
    name = f"__dp_synth_tmp_{run_id[:12]}"
    for schema, table in con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = "
                                     "current_database() AND table_name = ?", [name]).fetchall():
        con.execute(f"DROP TABLE IF EXISTS {Relation(schema, table).sql}")
