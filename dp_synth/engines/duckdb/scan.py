"""Reading a relation in DuckDB: its order-independent fingerprint and its rows or a keyed sample.

Both are computed by the engine: the fingerprint is an aggregate of row hashes (no copy of the table),
samples and the holdout filters on a keyed row hash.
"""

from __future__ import annotations

from typing import Sequence

from ...io.relation import Relation
from ..base import Keyed

__all__ = ["keyed_filter", "scoped", "read", "table_fingerprint", "KEYED_RULE"]

KEYED_RULE = ("a row is held out iff DuckDB's hash(row, key) < share·2^64 (key: the ledger row's holdout_key); "
              "re-deriving it needs the same DuckDB version (recorded with the model)")


def keyed_filter(where: Sequence[Keyed]) -> tuple[str, list]:
    """SQL predicate (and its parameters) for :class:`Keyed` filters on the row ``t``: hash(t, key) <
    rate·2⁶⁴, a function of the row and the key only, so one added row moves no other row across."""
    preds, params = [], []
    for k in where:
        if k.rate <= 0.0 or k.rate >= 1.0:
            preds.append("TRUE" if (k.rate >= 1.0) == k.inside else "FALSE")
            continue
        p = "hash(t, ?) < CAST(? AS UBIGINT)"
        preds.append(p if k.inside else f"NOT ({p})")
        params += [k.key, str(int(k.rate * 2**64))]
    return " AND ".join(preds) or "TRUE", params


def scoped(rel: Relation, where: Sequence[Keyed]) -> tuple[str, list]:
    """A SELECT of the rows ``where`` keeps."""
    pred, params = keyed_filter(where)
    return f"SELECT * FROM {rel.sql} AS t WHERE {pred}", params


def read(con, rel: Relation, where: Sequence[Keyed] = (), batch_rows: int = 1_000_000):
    """The rows ``where`` keeps, as Arrow (never through pandas)."""
    query, params = scoped(rel, where)
    return con.sql(query, params=params).to_arrow_reader(batch_rows).read_all() if params \
        else con.sql(query).to_arrow_reader(batch_rows).read_all()


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
