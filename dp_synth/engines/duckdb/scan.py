"""Reading a relation in DuckDB: its order-independent fingerprint and its rows or a keyed sample.

Both are computed by the engine: the fingerprint is an aggregate of row hashes (no copy of the table),
the sample a filter on a keyed row hash.
"""

from __future__ import annotations

from ...io.relation import Relation

__all__ = ["sample_filter", "read", "table_fingerprint"]


def sample_filter(key: str | None, rate: float | None) -> tuple[str, list]:
    """SQL predicate (and its parameters) keeping a row iff hash(row, key) < rate·2⁶⁴: a function of
    the row and the run's key only, so one added row moves no other row in or out of the sample."""
    if key is None or rate is None or rate >= 1.0:
        return "TRUE", []
    return "hash(t, ?) < CAST(? AS UBIGINT)", [key, str(int(rate * 2**64))]


def read(con, rel: Relation, sample: tuple[str, float] | None = None, batch_rows: int = 1_000_000):
    """The whole relation or its keyed-hash sample, as Arrow (never through pandas)."""
    where, params = sample_filter(*(sample or (None, None)))
    query = con.sql(f"SELECT * FROM {rel.sql} AS t WHERE {where}", params=params) if params \
        else con.sql(f"SELECT * FROM {rel.sql}")
    return query.to_arrow_reader(batch_rows).read_all()


def table_fingerprint(con, rel: Relation) -> str:
    """Order-independent content hash, computed by the engine: column names and types, row count,
    and the sum (mod 2¹²⁸) of every row's hash. Equal tables give equal fingerprints whatever order
    a scan returns their rows in; no copy of the table is made."""
    import hashlib

    cols = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
                       "AND schema_name = ? AND table_name = ? ORDER BY column_index", [rel.schema, rel.name]).fetchall()
    n, s, x = con.execute(f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0), coalesce(bit_xor(hash(t)), 0) "
                          f"FROM {rel.sql} AS t").fetchall()[0]
    return hashlib.sha256(repr((cols, int(n), int(s), int(x))).encode()).hexdigest()
