"""The engine seam: everything dp-synth does to a warehouse, as one small interface.

An :class:`Engine` wraps one open connection or session. The runtime (:mod:`dp_synth.runtime`),
validation, the report and the dbt helper call only these methods; only an engine's own folder
imports its driver (``duckdb``, ``pyspark``). Adding an engine = one folder with a subclass and
a line in :mod:`dp_synth.engines`' registry.

What an engine must guarantee:

- names: :meth:`resolve` gives the catalog's spelling, :func:`identity` is the key two names
  share when the engine resolves them to the same relation (case-insensitive in both engines);
- reads: :meth:`count`, :meth:`fingerprint` (order-independent aggregate of row hashes),
  :meth:`read` (rows kept by :class:`Keyed` filters: a keyed-hash sample, the holdout) and every DP
  measurement (:meth:`scope` + :meth:`query` with the engine's ``dialect``: the portable aggregate
  SQL of :mod:`dp_synth.engines.aggregates`) run *in* the engine; only counts or the bounded sample
  come back;
- writes: :meth:`write_twin` stages the twin apart and publishes it with the ledger row appended
  last, so a failed run leaves neither; :meth:`drop_staging` removes what a killed run staged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import pyarrow as pa

from ..io.relation import Relation

__all__ = ["Engine", "Resolved", "Keyed", "identity", "VALIDATIONS_TABLE", "VALIDATION_COLUMNS"]

VALIDATIONS_TABLE = "dp_synth_validations"   # one row per suite run by ``dp-synth validate``
VALIDATION_COLUMNS = ("validated_at", "twin", "source", "suite", "success", "summary", "data_docs")


@dataclass(frozen=True)
class Resolved:
    relation: Relation   # the names as stored in the catalog
    kind: str            # 'BASE TABLE' | 'VIEW'


@dataclass(frozen=True)
class Keyed:
    """Rows whose keyed 64-bit hash (of the row's values and ``key`` only) falls below ``rate``·2⁶⁴
    (``inside``), or those that do not: a training sample, a holdout, or the rows not held out. The
    same rows in any scan order; one added row moves no other row in or out."""

    key: str
    rate: float
    inside: bool = True


def identity(rel: Relation) -> tuple[str, str]:
    """The key two names share exactly when the engine resolves them to the same relation."""
    return rel.schema.casefold(), rel.name.casefold()


class Engine(ABC):
    """One open connection/session of a warehouse engine."""

    name: ClassVar[str]
    default_schema: ClassVar[str] = "main"
    describe_db: ClassVar[str] = "a connection or session of this engine"   # for errors

    def __init__(self, handle: Any, owned: bool):
        self.handle, self.owned = handle, owned

    # -- life cycle ---------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def accepts(cls, db: Any) -> bool:
        """Whether ``db`` (a path, URL, connection or session) is this engine's."""

    @classmethod
    @abstractmethod
    def open(cls, db: Any, **options: Any) -> "Engine":
        """An engine on ``db``; it owns (and closes) what it opened itself, never the caller's."""

    def close(self) -> None:
        """Release what :meth:`open` opened (the caller's connection/session is left open)."""

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    @abstractmethod
    def location(self) -> str | None:
        """What identifies the warehouse (database file, warehouse folder); None in memory."""

    def default_model_dir(self) -> Path | None:
        """Where model files go unless told: ``.dp_synth/models`` next to :attr:`location`."""
        loc = self.location
        return None if not loc else Path(loc).resolve().parent / ".dp_synth" / "models"

    def versions(self) -> dict[str, str]:
        return {}

    # -- names and schemas ----------------------------------------------------------------------
    @abstractmethod
    def resolve(self, rel: Relation) -> Resolved | None:
        """The relation ``rel`` names, with its catalog spelling, or None."""

    def canonical(self, rel: Relation) -> Relation:
        found = self.resolve(rel)
        return found.relation if found else rel

    def check_name(self, rel: Relation, what: str) -> None:
        """Refuse a name the engine could resolve in more than one way (default: none can)."""

    def relation_of(self, obj: Any) -> Relation | None:
        """The table a dbt ``ref()``/``source()`` object (the engine's relation/DataFrame) reads, or None."""
        return None

    @abstractmethod
    def list_relations(self, schema: str | None = None) -> list[Resolved]:
        """Tables and views (optionally of one schema), catalog spelling."""

    @abstractmethod
    def arrow_schema(self, rel: Relation) -> pa.Schema:
        """The relation's columns as Arrow types (no rows read)."""

    @abstractmethod
    def column_types(self, rel: Relation) -> dict[str, str]:
        """Column name → the engine's own type name, in column order."""

    @abstractmethod
    def check_source_schema(self, rel: Relation, overrides: Mapping[str, Mapping], table: str) -> dict[str, dict]:
        """The user's spec overrides completed for engine types, or a clear error naming the column."""

    def check_run(self, twin: Relation, rows: int | None) -> None:
        """Refuse, before any work, a run whose twin could not be written (read-only, no space…)."""

    # -- reads (computed by the engine) --------------------------------------------------------
    @abstractmethod
    def count(self, rel: Relation) -> int:
        """Exact row count (only ever released with noise)."""

    @abstractmethod
    def fingerprint(self, rel: Relation) -> str:
        """Order-independent content hash: column names and types, count, aggregates of row hashes."""

    @abstractmethod
    def read(self, rel: Relation, where: Sequence[Keyed] = (), repeats: Any = None,
             columns: Sequence[str] | None = None) -> pa.Table:
        """All rows, or those every :class:`Keyed` filter in ``where`` keeps (``repeats``: :meth:`repeated`);
        ``columns``: only these (the filters still hash every column), else all."""

    def repeated(self, rel: Relation) -> AbstractContextManager[Any]:
        """A context whose value, passed as ``repeats`` to :meth:`read` and :meth:`scope` inside it, saves
        each keyed filter from finding again which rows of ``rel`` share their unkeyed row hash with another
        row (the only rows whose occurrence among identical rows needs numbering): they are found once, on
        entry. The rows kept are the same with or without it; ``rel`` must not change inside the context.
        Default: None (every filter finds them itself)."""
        return nullcontext()

    # -- aggregate queries (the DP measurements, :mod:`dp_synth.engines.aggregates`) -----------
    dialect: ClassVar[Any]          # an aggregates.Dialect
    keyed_rule: ClassVar[str] = ""  # how :class:`Keyed` hashes a row, for the model file's record
    grouped_per_query: ClassVar[int | None] = None  # histograms per GROUPING SETS query (None: all at once)

    @abstractmethod
    def scope(self, rel: Relation, where: Sequence[Keyed] = (),
              repeats: Any = None) -> AbstractContextManager[tuple[str, list]]:
        """A context giving (a ``SELECT`` of the rows ``where`` keeps, its parameters)."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run one aggregate query (``?`` parameters); its rows."""

    def counts(self, rel: Relation, where: Sequence[Keyed] = ()):
        """:class:`~dp_synth.counts.Counts` over the rows ``where`` keeps, computed by this engine."""
        from .aggregates import EngineCounts

        return EngineCounts(self, rel, where)

    # -- writes ---------------------------------------------------------------------------------
    @abstractmethod
    def write_twin(self, run: Any, model: Any, row: dict[str, Any]) -> int:
        """Stage the twin apart, publish it, append the ledger row last; returns rows written."""

    @abstractmethod
    def drop_staging(self, run_id: str, twin: str | None = None, committed: bool = False) -> None:
        """Remove what a dead run staged (its temp table; a twin it published with no ledger row)."""

    @abstractmethod
    def ledger(self, schema: str | None = None) -> Any:
        """The privacy ledger in ``schema`` (:class:`dp_synth.io.ledger.Ledger`)."""

    @abstractmethod
    def create_table(self, rel: Relation, data: pa.Table, replace: bool = False) -> None:
        """A table from Arrow data (demo and tests; never a twin)."""

    @abstractmethod
    def record_validation(self, schema: str, row: dict[str, Any]) -> None:
        """Append one row to ``<schema>.dp_synth_validations``."""

    @abstractmethod
    def validation_rows(self, schema: str) -> list[dict[str, Any]]:
        """Rows of ``<schema>.dp_synth_validations``, oldest first ([] if none)."""
