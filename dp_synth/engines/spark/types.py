"""Spark column types dp-synth can learn, and clear errors for those it cannot (before any work)."""

from __future__ import annotations

from typing import Mapping

from ...errors import InputError
from ...spec import check_width

__all__ = ["check_source_schema", "UNSUPPORTED"]

# Spark types with no value dp-synth can generate: nested and binary values, intervals, variants
UNSUPPORTED = {"ArrayType": "an array", "MapType": "a map", "StructType": "a struct", "BinaryType": "binary data",
               "VariantType": "a variant", "CalendarIntervalType": "an interval",
               "DayTimeIntervalType": "an interval", "YearMonthIntervalType": "an interval"}


def check_source_schema(engine, rel, overrides: Mapping[str, Mapping], table: str) -> dict[str, dict]:
    overrides = {k: dict(v) for k, v in overrides.items()}
    for f in engine.struct(rel).fields:
        kind = type(f.dataType).__name__
        if kind in UNSUPPORTED:
            role = overrides.get(f.name, {}).get("role")
            if role != "ignore":
                raise InputError(f"table {table!r}, column {f.name!r} has Spark type {f.dataType.simpleString()}: "
                                 f"each value is {UNSUPPORTED[kind]}, which dp-synth cannot learn. Declare "
                                 "{'role': 'ignore'} (NULL in the twin), or flatten it into scalar columns in "
                                 "a table of its own")
    check_width(engine.arrow_schema(rel), overrides, table)
    return overrides
