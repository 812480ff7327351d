"""The privacy ledger: one row per privacy spend, in the warehouse next to the data.

created_at is UTC (TIMESTAMP without zone: readable without pytz). Every later tool (dbt package,
validation, governance report) finds twins and their privacy statements here.

Rules this module enforces:

- Rows are only written in the same transaction as their twin, by :meth:`Ledger.commit_spend`,
  which first bumps the single row of ``dp_synth_ledger_lock``. Two writers therefore conflict
  (DuckDB: "Conflict on update"), the loser rolls back and retries with a fresh snapshot, and the
  cap check that runs *inside* the committing transaction sees every committed spend: caps hold
  under threads and processes.
- Rows are validated when read (:class:`LedgerError`): an ε or δ that is negative, NULL or not
  finite, or a twin that is also a source, grants nothing; the run stops and says which row.
- A cap counts every spend on the source — by name (as the catalog resolves it, case-insensitively)
  and on any table with the same content fingerprint (a ``CREATE TABLE … AS`` copy).
  Spends compose by basic composition (ε and δ add up: valid whatever the runs shared).
  A cap is a guard rail for honest users of one warehouse, not an access control: anyone who can
  edit the ledger or copy the data elsewhere is not stopped by it (docs/privacy.md).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any

import duckdb

from ..errors import BudgetExceededError, DPSynthError
from .relation import quote_ident

__all__ = ["LEDGER_TABLE", "LOCK_TABLE", "LEDGER_COLUMNS", "Ledger", "LedgerError", "settings_hash",
           "check_cap_value", "retry_on_conflict"]

LEDGER_TABLE = "dp_synth_ledger"
LOCK_TABLE = "dp_synth_ledger_lock"
LEDGER_COLUMNS: dict[str, str] = {
    "run_id": "VARCHAR", "created_at": "TIMESTAMP", "source": "VARCHAR",
    "source_schema": "VARCHAR", "source_table": "VARCHAR",
    "source_fingerprint": "VARCHAR", "columns_learned": "VARCHAR", "twin": "VARCHAR",
    "twin_schema": "VARCHAR", "twin_table": "VARCHAR",
    "twin_rows": "BIGINT", "mechanisms": "VARCHAR", "epsilon": "DOUBLE", "delta": "DOUBLE",
    "epsilon_profile": "DOUBLE", "epsilon_training": "DOUBLE", "budget_cap": "DOUBLE",
    "privacy": "VARCHAR", "settings_hash": "VARCHAR", "package_version": "VARCHAR",
    "model_path": "VARCHAR", "invoked_by": "VARCHAR", "dbt_invocation_id": "VARCHAR",
    "dbt_model": "VARCHAR", "twin_fingerprint": "VARCHAR", "delta_cap": "DOUBLE", "holdout_key": "VARCHAR", "notes": "VARCHAR",
    "sample_key": "VARCHAR", "sample_rate": "DOUBLE",
}
RETRIES = 30


class LedgerError(DPSynthError):
    """A ledger row is not a valid spend; nothing is granted on its basis."""


def settings_hash(**settings: Any) -> str:
    """Identity of a run's settings: same source fingerprint + same hash ⇒ the twin can be reused."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def check_cap_value(cap: Any, what: str = "budget_cap") -> float | None:
    """A cap is None or a finite number ≥ 0 (``nan`` would never be enforced)."""
    if cap is None:
        return None
    try:
        value = float(cap)
    except (TypeError, ValueError):
        raise BudgetExceededError(f"{what} must be a number, got {cap!r}") from None
    if not math.isfinite(value) or value < 0:
        raise BudgetExceededError(f"{what} must be a finite number ≥ 0, got {cap!r}")
    return value


def _is_conflict(e: Exception) -> bool:
    text = str(e).lower()
    return isinstance(e, (duckdb.TransactionException, duckdb.CatalogException, duckdb.ConstraintException)) and (
        "conflict" in text or "already exists" in text or "duplicate key" in text)


def retry_on_conflict(fn, *args, retries: int = RETRIES, **kwargs):
    """Run ``fn`` (a whole transaction) again after a write-write conflict with another writer."""
    for attempt in range(retries):
        try:
            return fn(*args, **kwargs)
        except (duckdb.TransactionException, duckdb.CatalogException, duckdb.ConstraintException) as e:
            if not _is_conflict(e) or attempt == retries - 1:
                raise
            time.sleep(min(0.5, 0.01 * 2 ** attempt))


def _bad(row: dict[str, Any], why: str) -> LedgerError:
    return LedgerError(f"ledger row run_id={row.get('run_id')!r} (source {row.get('source')!r}, twin "
                       f"{row.get('twin')!r}) is invalid: {why}. It grants nothing; nothing was trained or "
                       "written. Restore the ledger from a backup or remove that row deliberately")


def _fold(s: Any) -> str:
    return str(s or "").casefold()


def validate_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Refuse a ledger whose rows could lift a cap or let a real table be taken for a twin."""
    sources = {(_fold(r.get("source_schema")), _fold(r.get("source_table"))) for r in rows}
    for r in rows:
        for k in ("epsilon", "delta"):
            v = r.get(k)
            if v is None or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise _bad(r, f"{k} = {v!r} (must be a finite number ≥ 0)")
        if (_fold(r.get("twin_schema")), _fold(r.get("twin_table"))) in sources:
            raise _bad(r, "its twin is also recorded as the source of a twin")
        if not r.get("twin_schema") or not r.get("twin_table") or not r.get("source_table"):
            raise _bad(r, "source or twin is missing")
    return rows


@dataclass(frozen=True)
class Ledger:
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
        """Insert one row (lists/dicts as JSON); ``table`` may be the dbt staging table."""
        values = [json.dumps(v) if isinstance(v, (list, dict)) else v
                  for v in (row.get(k) for k in LEDGER_COLUMNS)]
        names = ", ".join(quote_ident(k) for k in LEDGER_COLUMNS)
        marks = ", ".join("?" for _ in LEDGER_COLUMNS)
        self.con.execute(f"INSERT INTO {self._table(table)} ({names}) VALUES ({marks})", values)

    def rows(self, source: str | None = None) -> list[dict[str, Any]]:
        """Every row (validated), oldest first; ``source`` filters by name, case-insensitively."""
        if not self.exists():
            return []
        cur = self.con.execute(f"SELECT * FROM {self.sql} ORDER BY created_at, run_id")
        names = [d[0] for d in cur.description]
        rows = validate_rows([dict(zip(names, r)) for r in cur.fetchall()])
        return [r for r in rows if source is None or _fold(r["source"]) == _fold(source)]

    @staticmethod
    def _of_source(rows: list[dict], source_key: tuple[str, str], fingerprint: str | None) -> list[dict]:
        """Spends on a source: by name (case-insensitively) or on any table with the same content."""
        return [r for r in rows if (_fold(r["source_schema"]), _fold(r["source_table"])) == source_key
                or (fingerprint and r.get("source_fingerprint") == fingerprint)]

    def spent(self, source_key: tuple[str, str], fingerprint: str | None = None,
              rows: list[dict] | None = None) -> tuple[float, float]:
        """Total (ε, δ) charged to a source — by name, or to any table with the same content — so far."""
        mine = self._of_source(self.rows() if rows is None else rows, source_key, fingerprint)
        return sum(float(r["epsilon"]) for r in mine), sum(float(r["delta"]) for r in mine)

    def recorded_caps(self, source_key: tuple[str, str], fingerprint: str | None, twin_key: tuple[str, str] | None,
                      rows: list[dict] | None = None) -> tuple[float | None, float | None]:
        """The strictest (ε, δ) caps still declared by the *other* twins of this source: each twin's
        latest run's caps (a twin may change its own cap; it cannot lift another twin's)."""
        latest = {(_fold(r["twin_schema"]), _fold(r["twin_table"])): r
                  for r in self._of_source(self.rows() if rows is None else rows, source_key, fingerprint)}
        others = [r for k, r in latest.items() if k != twin_key]
        eps = [float(r["budget_cap"]) for r in others if r.get("budget_cap") is not None]
        dlt = [float(r["delta_cap"]) for r in others if r.get("delta_cap") is not None]
        return (min(eps) if eps else None), (min(dlt) if dlt else None)

    def check_cap(self, source: str, source_key: tuple[str, str], fingerprint: str | None, epsilon: float,
                  delta: float, cap: float | None, delta_cap: float | None = None,
                  twin_key: tuple[str, str] | None = None) -> None:
        """Refuse a run that would take the source's total ε (or δ) over its cap — the strictest of
        ``cap`` and the caps other twins of the same source declared."""
        rows = self.rows()  # read (and validated) once for both
        rec_eps, rec_dlt = self.recorded_caps(source_key, fingerprint, twin_key, rows)
        cap = min(c for c in (cap, rec_eps) if c is not None) if (cap, rec_eps) != (None, None) else None
        delta_cap = min(c for c in (delta_cap, rec_dlt) if c is not None) if (delta_cap, rec_dlt) != (None, None) else None
        if cap is None and delta_cap is None:
            return
        spent, spent_d = self.spent(source_key, fingerprint, rows)
        if cap is not None and spent + epsilon > cap + 1e-12:
            raise BudgetExceededError(
                f"source {source!r}: budget cap ε={cap:.4g} would be exceeded: already spent "
                f"ε={spent:.4g}, this run asks ε={epsilon:.4g} (total {spent + epsilon:.4g}). Nothing was "
                "written or charged. Raise the cap, lower epsilon, or reuse the existing twin"
                + (" (the cap is the strictest declared for this source, by any of its twins)" if rec_eps == cap else ""))
        if delta_cap is not None and spent_d + delta > delta_cap * (1 + 1e-9):
            raise BudgetExceededError(
                f"source {source!r}: δ cap {delta_cap:.3g} would be exceeded: already spent δ={spent_d:.3g}, "
                f"this run asks δ={delta:.3g}. Nothing was written or charged. Raise the δ cap or lower delta")

    def lock(self) -> None:
        """Inside a transaction: serialise against every other ledger writer (conflicts on update)."""
        self.con.execute(f"UPDATE {self._table(LOCK_TABLE)} SET version = version + 1 WHERE k = 0")

    def commit_spend(self, row: dict[str, Any], source_key: tuple[str, str], cap: float | None,
                     delta_cap: float | None) -> None:
        """Inside the caller's transaction: lock, re-check the caps on committed spends, append."""
        self.lock()
        self.check_cap(row["source"], source_key, row.get("source_fingerprint"), float(row["epsilon"]),
                       float(row["delta"]), cap, delta_cap, (_fold(row["twin_schema"]), _fold(row["twin_table"])))
        self.append(row)

    def latest_for_twin(self, twin_key: tuple[str, str]) -> dict | None:
        rows = [r for r in self.rows() if (_fold(r["twin_schema"]), _fold(r["twin_table"])) == twin_key]
        return rows[-1] if rows else None

    def is_twin(self, twin_key: tuple[str, str]) -> bool:
        return self.latest_for_twin(twin_key) is not None

    def is_source(self, key: tuple[str, str]) -> bool:
        return any((_fold(r["source_schema"]), _fold(r["source_table"])) == key for r in self.rows())
