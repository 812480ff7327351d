"""Relation identity as the engine sees it.

DuckDB preserves the case of names but resolves them case-insensitively: ``MAIN.S3K``,
``main.s3k`` and ``"Main"."S3k"`` are one table. Every comparison dp-synth makes between
relations (is the target the source? is it a twin we wrote? is it the source of another twin?)
goes through :func:`resolve` and :func:`identity`, never through the strings the user typed.

>>> import duckdb
>>> con = duckdb.connect()
>>> _ = con.execute('CREATE TABLE "S3k" (x INT)')
>>> resolve(con, Relation.parse("MAIN.s3K"))
Resolved(relation=Relation(schema='main', name='S3k'), kind='BASE TABLE')
>>> identity(Relation("MAIN", "S3K")) == identity(Relation("main", "s3k"))
True
"""

from __future__ import annotations

from ...errors import InputError
from ...io.relation import Relation
from ..base import Resolved, identity

__all__ = ["Resolved", "resolve", "identity", "canonical", "check_not_ambiguous", "in_transaction",
           "list_relations"]


def resolve(con, rel: Relation) -> Resolved | None:
    """The relation ``rel`` names in the current database, with its catalog spelling, or None."""
    rows = con.execute(
        "SELECT schema_name, table_name, 'BASE TABLE' FROM duckdb_tables() "
        "WHERE database_name = current_database() AND NOT temporary "
        "AND lower(schema_name) = lower(?) AND lower(table_name) = lower(?) "
        "UNION ALL SELECT schema_name, view_name, 'VIEW' FROM duckdb_views() "
        "WHERE database_name = current_database() AND NOT internal AND NOT temporary "
        "AND lower(schema_name) = lower(?) AND lower(view_name) = lower(?)",
        [rel.schema, rel.name, rel.schema, rel.name]).fetchall()
    if not rows:
        return None
    schema, name, kind = rows[0]
    return Resolved(Relation(schema, name), kind)


def canonical(con, rel: Relation) -> Relation:
    """``rel`` spelt as the catalog spells it (its schema's spelling if the relation is new)."""
    found = resolve(con, rel)
    if found is not None:
        return found.relation
    rows = con.execute("SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database() "
                       "AND lower(schema_name) = lower(?)", [rel.schema]).fetchall()
    return Relation(rows[0][0], rel.name) if rows else rel


def check_not_ambiguous(con, rel: Relation, what: str) -> None:
    """A schema named like an attached database makes ``schema.table`` ambiguous in DuckDB."""
    dbs = [r[0] for r in con.execute("SELECT database_name FROM duckdb_databases() "
                                     "WHERE database_name <> current_database()").fetchall()]
    if any(d.casefold() == rel.schema.casefold() for d in dbs):
        raise InputError(f"{what} {str(rel)!r}: {rel.schema!r} is also the name of an attached database, so "
                         "the name is ambiguous. dp-synth reads and writes only the current database; "
                         "choose a schema whose name is not a database name (or DETACH it)")


def in_transaction(con) -> bool:
    """Whether the caller has a transaction open on ``con`` (we must neither join nor end it).

    Probed without side effects: in autocommit mode every statement runs in a new transaction,
    inside an explicit one two statements share its id. (A failed ``BEGIN`` would abort it.)
    """
    ids = [con.execute("SELECT txid_current()").fetchall()[0][0] for _ in range(2)]
    return ids[0] == ids[1]


def list_relations(con, schema: str | None = None) -> list[Resolved]:
    """Tables and views of the current database (optionally of one schema), catalog spelling."""
    rows = con.execute(
        "SELECT schema_name, table_name, 'BASE TABLE' FROM duckdb_tables() "
        "WHERE database_name = current_database() AND NOT temporary "
        "UNION ALL SELECT schema_name, view_name, 'VIEW' FROM duckdb_views() "
        "WHERE database_name = current_database() AND NOT internal AND NOT temporary").fetchall()
    return [Resolved(Relation(s, n), k) for s, n, k in rows
            if schema is None or s.casefold() == schema.casefold()]
