"""Fault and bad-input cases (docs/reliability.md). Small tables, fast training."""
import duckdb
import numpy as np
import pyarrow as pa
import pytest

from helpers import FAST

CFG = FAST


def small_table(n: int = 300, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({"age": rng.integers(18, 90, n), "city": rng.choice(["a", "b", "c"], n),
                     "score": rng.normal(50, 10, n)})


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "r.duckdb"
    with duckdb.connect(str(path)) as con:
        con.register("t", small_table())
        con.execute("CREATE TABLE main.s3k AS SELECT * FROM t")
        con.unregister("t")
    return path


def snapshot(path):
    """Every table of the database with its rows, sorted (for before/after comparisons)."""
    with duckdb.connect(str(path)) as con:
        names = con.execute("SELECT schema_name, table_name FROM duckdb_tables() ORDER BY ALL").fetchall()
        return {f"{s}.{t}": sorted(map(repr, con.execute(f'SELECT * FROM "{s}"."{t}"').fetchall()))
                for s, t in names}
