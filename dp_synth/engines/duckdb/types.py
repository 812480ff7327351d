"""Checks of a source's schema that need no data: run before anything is measured.

The Arrow schema decides each column's kind (:mod:`dp_synth.spec`); the engine's own SQL type
decides what values the twin's column can hold. Types whose values dp-synth cannot generate
(UUID and JSON when learned, nested types) are refused here, with the column named, instead of
failing at write time after training.
"""

from __future__ import annotations

from typing import Mapping

from ...errors import InputError
from ...io.relation import Relation
from ...spec import check_width

__all__ = ["check_source_schema", "sql_types"]

_NOT_LEARNABLE = {"UUID": "a UUID", "JSON": "a JSON document"}


def sql_types(con, rel: Relation) -> dict[str, str]:
    return dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = "
                            "current_database() AND schema_name = ? AND table_name = ? ORDER BY column_index",
                            [rel.schema, rel.name]).fetchall())


def check_source_schema(engine, rel: Relation, overrides: Mapping[str, Mapping], table: str) -> dict[str, dict]:
    """The user's overrides, completed for engine types (UUID columns default to keys), once the spec
    they give ``rel`` is known to be valid; else a clear error naming the column."""
    types = engine.column_types(rel)
    overrides = {k: dict(v) for k, v in overrides.items()}
    for name, typ in types.items():
        base = typ.split("(")[0].upper()
        if base in _NOT_LEARNABLE:
            role = overrides.get(name, {}).get("role")
            if base == "UUID" and role is None:
                overrides.setdefault(name, {})["role"] = "key"  # fresh random UUIDs: nothing is learned
            elif role in (None, "learn") or (base == "JSON" and role != "ignore"):
                raise InputError(f"table {table!r}, column {name!r} has type {typ}: each value is {_NOT_LEARNABLE[base]}, "
                                 "which dp-synth cannot learn. Declare {'role': 'ignore'} (NULL in the twin)"
                                 + (", {'role': 'key'} (fresh UUIDs)" if base == "UUID" else "")
                                 + " or cast it to a category in a copy (CREATE TABLE … AS SELECT: views are refused)")
    check_width(engine.arrow_schema(rel), overrides, table)
    return overrides
