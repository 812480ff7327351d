"""The bundled demo data: UCI Adult (32,561 rows, CC BY 4.0; see data/README.md)."""

from __future__ import annotations

from importlib import resources

import duckdb

__all__ = ["demo_data_path", "load_demo_table"]


def demo_data_path() -> str:
    return str(resources.files("dp_synth") / "data" / "adult.parquet")


def load_demo_table(con: duckdb.DuckDBPyConnection, table: str = "adult") -> int:
    """(Re)create ``main.<table>`` from the bundled Parquet file; returns its row count."""
    from .io.relation import Relation

    rel = Relation.parse(table)
    con.execute(f"CREATE OR REPLACE TABLE {rel.sql} AS SELECT * FROM read_parquet(?)", [demo_data_path()])
    return con.execute(f"SELECT count(*) FROM {rel.sql}").fetchall()[0][0]
