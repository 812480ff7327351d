"""DuckDB's spelling of the portable aggregate SQL (:mod:`dp_synth.engines.aggregates`)."""

from __future__ import annotations

from ...spec import Kind
from ..aggregates import Dialect

__all__ = ["DuckDBDialect"]


class DuckDBDialect(Dialect):
    def numeric(self, col: str, kind: Kind) -> str:
        if kind is Kind.DATE:
            return f"CAST(date_diff('day', DATE '1970-01-01', {col}) AS DOUBLE)"
        if kind in (Kind.TIMESTAMP, Kind.TIME):  # a TIME's epoch_us: microseconds since midnight
            return f"CAST(epoch_us({col}) AS DOUBLE)"
        return f"CAST({col} AS DOUBLE)"

    def text(self, col: str) -> str:
        return f"CAST({col} AS VARCHAR)"   # booleans: 'true'/'false', as the in-memory path

    def nonfinite(self, v: str) -> str:
        return f"isnan({v}) OR isinf({v})"
