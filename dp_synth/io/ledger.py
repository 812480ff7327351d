"""The privacy ledger: one row per privacy spend, in the warehouse next to the data.

created_at is UTC (TIMESTAMP without zone: readable without pytz). Every later tool (dbt package,
validation, governance report) finds twins and their privacy statements here.

Rules this module enforces:

- Rows are only written as the last step of publishing their twin, by :meth:`Ledger.commit_spend`,
  which first takes the engine's ledger lock (DuckDB: bumps the single row of
  ``dp_synth_ledger_lock`` inside the publishing transaction, so two writers conflict and the
  loser retries with a fresh snapshot; Spark: an exclusive lock for the publish), so the cap check
  that runs just before the append sees every committed spend.
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
from abc import ABC, abstractmethod
from typing import Any

from ..errors import BudgetExceededError, DPSynthError

__all__ = ["LEDGER_TABLE", "LOCK_TABLE", "LEDGER_COLUMNS", "Ledger", "LedgerError", "settings_hash",
           "check_cap_value", "validate_rows", "encode_row", "json_list"]

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


class LedgerError(DPSynthError):
    """A ledger row is not a valid spend; nothing is granted on its basis."""


def json_list(value: Any) -> list:
    """A ledger list column (mechanisms, notes) as a list: DuckDB's ledger keeps JSON text, Spark's may hand
    back a list; a row from before the column: empty.

    >>> json_list('["a", "b"]'), json_list(["a"]), json_list(None)
    (['a', 'b'], ['a'], [])
    """
    return json.loads(value) if isinstance(value, str) else list(value or [])


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


def encode_row(row: dict[str, Any]) -> list[Any]:
    """A row's values in :data:`LEDGER_COLUMNS` order (lists/dicts as JSON)."""
    return [json.dumps(v) if isinstance(v, (list, dict)) else v for v in (row.get(k) for k in LEDGER_COLUMNS)]


class Ledger(ABC):
    """The ledger's rules; each engine stores it (``dp_synth/engines/<name>/ledger.py``)."""

    schema: str

    @property
    def name(self) -> str:
        return f"{self.schema}.{LEDGER_TABLE}"

    @abstractmethod
    def exists(self, table: str = LEDGER_TABLE) -> bool:
        """Whether the ledger table exists."""

    @abstractmethod
    def ensure(self, table: str = LEDGER_TABLE) -> None:
        """Create the ledger if missing (race-free), adding columns newer versions record."""

    @abstractmethod
    def append(self, row: dict[str, Any], table: str = LEDGER_TABLE) -> None:
        """Insert one row."""

    @abstractmethod
    def _fetch(self) -> list[dict[str, Any]]:
        """Every stored row as a dict, oldest first (created_at, run_id)."""

    @abstractmethod
    def lock(self) -> None:
        """Serialise against every other ledger writer until the publish ends."""

    def has_run(self, run_id: str) -> bool:
        return self.exists() and any(r.get("run_id") == run_id for r in self._fetch())

    def rows(self, source: str | None = None) -> list[dict[str, Any]]:
        """Every row (validated), oldest first; ``source`` filters by name, case-insensitively."""
        if not self.exists():
            return []
        rows = validate_rows(self._fetch())
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

    def commit_spend(self, row: dict[str, Any], source_key: tuple[str, str], cap: float | None,
                     delta_cap: float | None) -> None:
        """Inside the publish: lock, re-check the caps on committed spends, append."""
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
