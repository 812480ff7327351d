"""The DuckDB engine (embedded default): a file path or a ``duckdb`` connection."""

from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

import duckdb
import pyarrow as pa

from ...errors import InputError
from ...io.relation import Relation, _split, quote_ident
from ..base import VALIDATION_COLUMNS, VALIDATIONS_TABLE, Engine, Keyed, Resolved
from . import catalog, publish, scan, types
from .dialect import DuckDBDialect
from .connection import check_writable, connect, database_file, open_database
from .ledger import DuckDBLedger

__all__ = ["DuckDBEngine", "open_database"]


class DuckDBEngine(Engine):
    name = "duckdb"
    default_schema = "main"
    describe_db = "a DuckDB file path, a duckdb connection or a SparkSession"
    dialect = DuckDBDialect()
    keyed_rule = scan.KEYED_RULE

    def __init__(self, con: duckdb.DuckDBPyConnection, owned: bool):
        super().__init__(con, owned)
        self.con = con
        # more than 2 GB of strings per column; the caller's connection gets its setting back
        self._large = con.execute("SELECT current_setting('arrow_large_buffer_size')").fetchall()[0][0]
        con.execute("SET arrow_large_buffer_size = true")

    @classmethod
    def accepts(cls, db: Any) -> bool:
        return True  # connect() says what it cannot open

    @classmethod
    def open(cls, db: Any, read_only: bool = False, **options: Any) -> "DuckDBEngine":
        con, owned = connect(db, read_only=read_only)
        return cls(con, owned)

    def close(self) -> None:
        if self.owned:
            self.con.close()
        else:
            self.con.execute(f"SET arrow_large_buffer_size = {'true' if self._large else 'false'}")

    @property
    def location(self) -> str | None:
        return database_file(self.con)

    def versions(self) -> dict[str, str]:
        return {"duckdb": duckdb.__version__}

    def in_transaction(self) -> bool:
        return catalog.in_transaction(self.con)

    # -- names and schemas
    def resolve(self, rel: Relation) -> Resolved | None:
        return catalog.resolve(self.con, rel)

    def canonical(self, rel: Relation) -> Relation:
        return catalog.canonical(self.con, rel)

    def check_name(self, rel: Relation, what: str) -> None:
        catalog.check_not_ambiguous(self.con, rel, what)

    def relation_of(self, obj: Any) -> Relation | None:
        """dbt-duckdb's ref()/source() is ``select * from "db"."schema"."name"``: recover schema.name."""
        if not isinstance(obj, duckdb.DuckDBPyRelation):
            return None
        m = re.match(r"(?is)^\s*select\s+\*\s+from\s+(.+?)\s*;?\s*$", obj.sql_query())
        parts = _split(m.group(1)) if m else []
        return Relation(parts[-2], parts[-1]) if len(parts) >= 2 else None

    def list_relations(self, schema: str | None = None) -> list[Resolved]:
        return catalog.list_relations(self.con, schema)

    def arrow_schema(self, rel: Relation) -> pa.Schema:
        return self.con.sql(f"SELECT * FROM {rel.sql} LIMIT 0").to_arrow_table().schema

    def column_types(self, rel: Relation) -> dict[str, str]:
        return types.sql_types(self.con, rel)

    def check_source_schema(self, rel: Relation, overrides: Mapping[str, Mapping], table: str) -> dict[str, dict]:
        return types.check_source_schema(self, rel, overrides, table)

    def check_run(self, twin: Relation, rows: int | None) -> None:
        if self.in_transaction():
            raise InputError("the connection has an open transaction; dp-synth writes the twin and its ledger row "
                             "in a transaction of its own. COMMIT or ROLLBACK first (nothing was done)")
        check_writable(self.con, rows)

    # -- reads
    def count(self, rel: Relation) -> int:
        return int(self.con.execute(f"SELECT count(*) FROM {rel.sql}").fetchall()[0][0])

    def fingerprint(self, rel: Relation) -> str:
        return scan.table_fingerprint(self.con, rel)

    def read(self, rel: Relation, where: Sequence[Keyed] = (), repeats: str | None = None,
             columns: Sequence[str] | None = None) -> pa.Table:
        return scan.read(self.con, rel, where, repeats=repeats, columns=columns)

    @contextmanager
    def repeated(self, rel: Relation) -> Iterator[str]:
        table = f"__dp_synth_repeats_{uuid.uuid4().hex}"  # the connection's own temp schema
        scan.repeated_hashes(self.con, rel, table)
        try:
            yield table
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS temp.{quote_ident(table)}")

    @contextmanager
    def scope(self, rel: Relation, where: Sequence[Keyed] = (), repeats: str | None = None) -> Iterator[tuple[str, list]]:
        yield scan.scoped(self.con, rel, where, repeats)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.con.execute(sql, list(params)).fetchall()

    # -- writes
    def write_twin(self, run: Any, model: Any, row: dict[str, Any]) -> int:
        return publish.write_twin(self.con, run, model, row)

    def drop_staging(self, run_id: str, twin: str | None = None, committed: bool = False) -> None:
        publish.drop_staging(self.con, run_id)  # twin and ledger row commit together: only the temp table

    def ledger(self, schema: str | None = None) -> DuckDBLedger:
        return DuckDBLedger(self.con, schema or self.default_schema)

    def create_table(self, rel: Relation, data: pa.Table, replace: bool = False) -> None:
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(rel.schema)}")
        view = "__dp_synth_load"
        self.con.register(view, data)
        try:
            verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"
            self.con.execute(f"{verb} {rel.sql} AS SELECT * FROM {quote_ident(view)}")
        finally:
            self.con.unregister(view)

    def record_validation(self, schema: str, row: dict[str, Any]) -> None:
        table = f"{quote_ident(schema)}.{quote_ident(VALIDATIONS_TABLE)}"
        self.con.execute(f"CREATE TABLE IF NOT EXISTS {table} (validated_at TIMESTAMP, twin VARCHAR, source VARCHAR, "
                         "suite VARCHAR, success BOOLEAN, summary VARCHAR, data_docs VARCHAR)")
        self.con.execute(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [row[k] for k in VALIDATION_COLUMNS])

    def validation_rows(self, schema: str) -> list[dict[str, Any]]:
        if self.resolve(Relation(schema, VALIDATIONS_TABLE)) is None:
            return []
        cur = self.con.execute(f"SELECT * FROM {quote_ident(schema)}.{quote_ident(VALIDATIONS_TABLE)} "
                               "ORDER BY validated_at")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

