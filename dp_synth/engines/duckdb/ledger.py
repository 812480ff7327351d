"""The ledger stored in DuckDB: a table, plus a one-row lock table bumped inside the publishing
transaction so that concurrent writers conflict and retry (caps hold under threads and processes)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import duckdb

from ...io.ledger import LEDGER_COLUMNS, LEDGER_TABLE, LOCK_TABLE, Ledger, encode_row
from ...io.relation import quote_ident

__all__ = ["DuckDBLedger", "retry_on_conflict"]

RETRIES = 30
_CONFLICTS = (duckdb.TransactionException, duckdb.CatalogException, duckdb.ConstraintException)


def _is_conflict(e: Exception) -> bool:
    text = str(e).lower()
    return isinstance(e, _CONFLICTS) and ("conflict" in text or "already exists" in text or "duplicate key" in text)


def retry_on_conflict(fn, *args, retries: int = RETRIES, **kwargs):
    """Run ``fn`` (a whole transaction) again after a write-write conflict with another writer."""
    for attempt in range(retries):
        try:
            return fn(*args, **kwargs)
        except _CONFLICTS as e:
            if not _is_conflict(e) or attempt == retries - 1:
                raise
            time.sleep(min(0.5, 0.01 * 2 ** attempt))


@dataclass(frozen=True)
class DuckDBLedger(Ledger):
    con: duckdb.DuckDBPyConnection
    schema: str = "main"

    @property
    def sql(self) -> str:
        return self._table(LEDGER_TABLE)

    def _table(self, table: str) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(table)}"

    def exists(self, table: str = LEDGER_TABLE) -> bool:
        return bool(self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
            "AND lower(schema_name) = lower(?) AND lower(table_name) = lower(?)",
            [self.schema, table]).fetchall()[0][0])

    def ensure(self, table: str = LEDGER_TABLE) -> None:
        """Create the ledger (and its lock row) race-free: each DDL commits on its own and a conflict
        with a concurrent creator is retried, after which ``IF NOT EXISTS`` finds the winner's table."""
        cols = ", ".join(f"{quote_ident(k)} {v}" for k, v in LEDGER_COLUMNS.items())
        for ddl in (f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.schema)}",
                    f"CREATE TABLE IF NOT EXISTS {self._table(table)} ({cols})",
                    f"CREATE TABLE IF NOT EXISTS {self._table(LOCK_TABLE)} (k INTEGER PRIMARY KEY, version BIGINT)",
                    f"INSERT OR IGNORE INTO {self._table(LOCK_TABLE)} VALUES (0, 0)"):
            retry_on_conflict(self.con.execute, ddl)
        present = {r[0] for r in self.con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND lower(schema_name) = lower(?) AND lower(table_name) = lower(?)", [self.schema, table]).fetchall()}
        for k, v in LEDGER_COLUMNS.items():  # ledgers written by older versions gain the new columns
            if k not in present:
                retry_on_conflict(self.con.execute,
                                  f"ALTER TABLE {self._table(table)} ADD COLUMN IF NOT EXISTS {quote_ident(k)} {v}")

    def append(self, row: dict[str, Any], table: str = LEDGER_TABLE) -> None:
        names = ", ".join(quote_ident(k) for k in LEDGER_COLUMNS)
        marks = ", ".join("?" for _ in LEDGER_COLUMNS)
        self.con.execute(f"INSERT INTO {self._table(table)} ({names}) VALUES ({marks})", encode_row(row))

    def _fetch(self) -> list[dict[str, Any]]:
        cur = self.con.execute(f"SELECT * FROM {self.sql} ORDER BY created_at, run_id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def has_run(self, run_id: str) -> bool:
        return self.exists() and bool(self.con.execute(f"SELECT count(*) FROM {self.sql} WHERE run_id = ?",
                                                       [run_id]).fetchall()[0][0])

    def lock(self) -> None:
        """Inside a transaction: serialise against every other ledger writer (conflicts on update)."""
        self.con.execute(f"UPDATE {self._table(LOCK_TABLE)} SET version = version + 1 WHERE k = 0")
