"""The bundled demo data: UCI Adult (32,561 rows, CC BY 4.0; see data/README.md)."""

from __future__ import annotations

from importlib import resources
from typing import Any

__all__ = ["demo_data_path", "load_demo_table"]


def demo_data_path() -> str:
    return str(resources.files("dp_synth") / "data" / "adult.parquet")


def load_demo_table(db: Any, table: str = "adult") -> int:
    """(Re)create ``<default schema>.<table>`` in ``db`` (any engine) from the bundled Parquet file;
    returns its row count."""
    import pyarrow.parquet as pq

    from .engines import open_engine
    from .io.relation import Relation

    eng = open_engine(db)
    try:
        rel = Relation.parse(table, eng.default_schema)
        data = pq.read_table(demo_data_path())
        eng.create_table(rel, data, replace=True)
        return data.num_rows
    finally:
        if eng is not db:
            eng.close()
