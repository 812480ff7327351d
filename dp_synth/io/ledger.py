"""The privacy ledger: one row per privacy spend, in the warehouse next to the data.

created_at is UTC (TIMESTAMP without zone: readable without pytz). Every later tool (dbt package, validation, governance report) finds twins and their
privacy statements here. Rows are only written in the same transaction as their twin.
Budget caps compose spends by simple addition of ε and δ (basic composition: always valid,
whatever the runs had in common).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import duckdb

from ..errors import BudgetExceededError
from .relation import quote_ident

__all__ = ["LEDGER_TABLE", "LEDGER_COLUMNS", "Ledger", "settings_hash"]

LEDGER_TABLE = "dp_synth_ledger"
LEDGER_COLUMNS: dict[str, str] = {
    "run_id": "VARCHAR", "created_at": "TIMESTAMP", "source": "VARCHAR",
    "source_schema": "VARCHAR", "source_table": "VARCHAR",
    "source_fingerprint": "VARCHAR", "columns_learned": "VARCHAR", "twin": "VARCHAR",
    "twin_schema": "VARCHAR", "twin_table": "VARCHAR",
    "twin_rows": "BIGINT", "mechanisms": "VARCHAR", "epsilon": "DOUBLE", "delta": "DOUBLE",
    "epsilon_profile": "DOUBLE", "epsilon_training": "DOUBLE", "budget_cap": "DOUBLE",
    "privacy": "VARCHAR", "settings_hash": "VARCHAR", "package_version": "VARCHAR",
    "model_path": "VARCHAR", "invoked_by": "VARCHAR", "dbt_invocation_id": "VARCHAR",
    "dbt_model": "VARCHAR",
}


def settings_hash(**settings: Any) -> str:
    """Identity of a run's settings: same source fingerprint + same hash ⇒ the twin can be reused."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Ledger:
    con: duckdb.DuckDBPyConnection
    schema: str = "main"

    @property
    def sql(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(LEDGER_TABLE)}"

    def exists(self) -> bool:
        return bool(self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [self.schema, LEDGER_TABLE]).fetchall()[0][0])

    def _table(self, table: str) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(table)}"

    def ensure(self, table: str = LEDGER_TABLE) -> None:
        cols = ", ".join(f"{quote_ident(k)} {v}" for k, v in LEDGER_COLUMNS.items())
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.schema)}")
        self.con.execute(f"CREATE TABLE IF NOT EXISTS {self._table(table)} ({cols})")

    def append(self, row: dict[str, Any], table: str = LEDGER_TABLE) -> None:
        """Insert one row (lists/dicts as JSON); ``table`` may be the dbt staging table."""
        values = [json.dumps(v) if isinstance(v, (list, dict)) else v
                  for v in (row.get(k) for k in LEDGER_COLUMNS)]
        marks = ", ".join("?" for _ in LEDGER_COLUMNS)
        self.con.execute(f"INSERT INTO {self._table(table)} VALUES ({marks})", values)

    def spent(self, source: str) -> tuple[float, float]:
        """Total (ε, δ) charged to ``source`` so far, by basic composition."""
        if not self.exists():
            return 0.0, 0.0
        eps, dlt = self.con.execute(
            f"SELECT coalesce(sum(epsilon), 0), coalesce(sum(delta), 0) FROM {self.sql} WHERE source = ?",
            [source]).fetchall()[0]
        return float(eps), float(dlt)

    def check_cap(self, source: str, epsilon: float, cap: float | None) -> None:
        """Refuse, before any work, a run that would take ``source`` over its ε cap."""
        if cap is None:
            return
        spent, _ = self.spent(source)
        if spent + epsilon > float(cap) + 1e-12:
            raise BudgetExceededError(
                f"source {source!r}: budget cap ε={float(cap):.4g} would be exceeded: already spent "
                f"ε={spent:.4g}, this run asks ε={epsilon:.4g} (total {spent + epsilon:.4g}). Nothing was "
                "trained or charged. Raise the cap, lower epsilon, or reuse the existing twin")

    def rows(self, source: str | None = None) -> list[dict[str, Any]]:
        if not self.exists():
            return []
        where, params = ("WHERE source = ?", [source]) if source else ("", [])
        cur = self.con.execute(f"SELECT * FROM {self.sql} {where} ORDER BY created_at", params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def find_reusable(self, source: str, fingerprint: str, settings_hash: str, twin: str) -> dict | None:
        for r in reversed(self.rows(source)):
            if (r["source_fingerprint"], r["settings_hash"], r["twin"]) == (fingerprint, settings_hash, twin):
                return r
        return None

    def is_twin(self, twin: str) -> bool:
        return self.exists() and bool(self.con.execute(
            f"SELECT count(*) FROM {self.sql} WHERE twin = ?", [twin]).fetchall()[0][0])
