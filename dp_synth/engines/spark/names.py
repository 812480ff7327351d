"""Spark SQL names: backtick quoting, and the catalog's spelling (Hive stores names lower-case)."""

from __future__ import annotations

from ...io.relation import Relation
from ..base import Resolved

__all__ = ["qualified", "quote", "resolve", "list_relations"]


def quote(name: str) -> str:
    """Spark's identifier quoting: backticks, a backtick doubled. User strings never reach SQL bare."""
    return "`" + str(name).replace("`", "``") + "`"


def qualified(rel: Relation) -> str:
    return f"{quote(rel.schema)}.{quote(rel.name)}"


def _schemas(spark) -> list[str]:
    return [d.name for d in spark.catalog.listDatabases()]


def list_relations(spark, schema: str | None = None) -> list[Resolved]:
    out = []
    for db in _schemas(spark):
        if schema is not None and db.casefold() != schema.casefold():
            continue
        for t in spark.catalog.listTables(db):
            if t.isTemporary:
                continue
            out.append(Resolved(Relation(db, t.name), "VIEW" if t.tableType == "VIEW" else "BASE TABLE"))
    return out


def resolve(spark, rel: Relation) -> Resolved | None:
    dbs = [d for d in _schemas(spark) if d.casefold() == rel.schema.casefold()]
    if not dbs:
        return None
    for found in list_relations(spark, dbs[0]):
        if found.relation.name.casefold() == rel.name.casefold():
            return found
    return None


def canonical(spark, rel: Relation) -> Relation:
    found = resolve(spark, rel)
    if found is not None:
        return found.relation
    dbs = [d for d in _schemas(spark) if d.casefold() == rel.schema.casefold()]
    return Relation(dbs[0] if dbs else rel.schema.lower(), rel.name.lower())
