"""Reading a relation in DuckDB: its order-independent fingerprint and its rows or a keyed sample.

Both are computed by the engine: the fingerprint is an aggregate of row hashes (no copy of the table),
samples and the holdout filters on a keyed row hash.
"""

from __future__ import annotations

from typing import Sequence

from ...io.relation import Relation, fresh_name, quote_ident
from ..base import Keyed

__all__ = ["keyed_filter", "scoped", "read", "repeated_hashes", "table_fingerprint", "KEYED_RULE"]

KEYED_RULE = ("a row is held out iff DuckDB's hash(row + its occurrence among identical rows, key) < share·2^64 "
              "(occurrence: row_number() over the rows equal in every column; key: the ledger row's holdout_key); "
              "re-deriving it needs the same DuckDB version (recorded with the model)")


def row_alias(columns: Sequence[str], base: str = "__dp_synth_row") -> str:
    """A name for the row itself that no column has: in ``hash(alias)`` DuckDB resolves a column of that
    name before the table alias (a column named ``t`` would make ``hash(t)`` the hash of that column
    alone). The alias is not part of the hash: tables without such a column hash as before."""
    return quote_ident(fresh_name(columns, base))


def _columns(con, rel: Relation) -> list[str]:
    return [d[0] for d in con.execute(f"SELECT * FROM {rel.sql} LIMIT 0").description]


def keyed_filter(where: Sequence[Keyed], row: str) -> tuple[str, list]:
    """SQL predicate (and its parameters) for :class:`Keyed` filters on the row ``row``: hash(row, key) <
    rate·2⁶⁴, a function of the row and the key only, so one added row moves no other row across."""
    preds, params = [], []
    for k in where:
        if k.rate <= 0.0 or k.rate >= 1.0:
            preds.append("TRUE" if (k.rate >= 1.0) == k.inside else "FALSE")
            continue
        p = f"hash({row}, ?) < CAST(? AS UBIGINT)"
        preds.append(p if k.inside else f"NOT ({p})")
        params += [k.key, str(int(k.rate * 2**64))]
    return " AND ".join(preds) or "TRUE", params


def repeated_hashes(con, rel: Relation, table: str) -> None:
    """Create the temporary table ``table`` of the unkeyed row hashes that more than one row of ``rel`` has:
    :func:`scoped` numbers only those rows (on 10⁷ Adult-like rows, 196,441 hashes, built in 1.0 s; each
    keyed scan then took 0.7 s, not 5.4 s with a window over every row)."""
    row = row_alias(_columns(con, rel))
    con.execute(f"CREATE TEMP TABLE {quote_ident(table)} AS SELECT hash({row}) AS h FROM {rel.sql} AS {row} "
                "GROUP BY 1 HAVING count(*) > 1")


def scoped(con, rel: Relation, where: Sequence[Keyed], repeats: str | None = None) -> tuple[str, list]:
    """A SELECT of the rows ``where`` keeps. Each row is hashed with its occurrence among identical rows
    (which of them is which does not matter: they are equal), so a filter keeps about ``rate`` of every
    group of identical rows instead of all or none: 18,000 zero amounts in three groups of identical rows
    were otherwise held out or trained on whole, and the training rows' share of zeros was 0.65, not 0.60.
    ``repeats`` (:func:`repeated_hashes`' table): only the rows whose hash another row shares are numbered,
    the others are 1 — the same numbers, since identical rows share their hash."""
    columns = _columns(con, rel)
    row = row_alias(columns)
    if not where:
        return f"SELECT * FROM {rel.sql} AS {row}", []
    occ = row_alias(columns, "__dp_synth_occurrence")
    pred, params = keyed_filter(where, row)
    # partitioned by the values themselves, not their hash: rows that differ never share a group, so adding
    # a row moves no other row across a filter, even one built to collide with another row's hash
    same = ", ".join(quote_ident(c) for c in columns)
    window = f"row_number() OVER (PARTITION BY {same})"
    if repeats is None:
        numbered = f"SELECT *, {window} AS {occ} FROM {rel.sql} AS {row}"
    else:
        rep = f"temp.{quote_ident(repeats)}"
        on = f"{rep} ON hash({row}) = {rep}.h"
        numbered = (f"SELECT {row}.*, 1::BIGINT AS {occ} FROM {rel.sql} AS {row} ANTI JOIN {on} "
                    f"UNION ALL SELECT *, {window} AS {occ} FROM {rel.sql} AS {row} SEMI JOIN {on}")
    return f"SELECT * EXCLUDE ({occ}) FROM ({numbered}) AS {row} WHERE {pred}", params


def read(con, rel: Relation, where: Sequence[Keyed] = (), batch_rows: int = 1_000_000, repeats: str | None = None,
         columns: Sequence[str] | None = None):
    """The rows ``where`` keeps, as Arrow (never through pandas); ``columns``: only these, picked after the
    filters (which hash every column)."""
    query, params = scoped(con, rel, where, repeats)
    if columns is not None:
        query = f"SELECT {', '.join(quote_ident(c) for c in columns)} FROM ({query}) AS {row_alias(columns, '__dp_synth_read')}"
    return con.sql(query, params=params).to_arrow_reader(batch_rows).read_all() if params \
        else con.sql(query).to_arrow_reader(batch_rows).read_all()


def table_fingerprint(con, rel: Relation) -> str:
    """Order-independent content hash, computed by the engine: column names and types, row count,
    and the sum (mod 2¹²⁸) of every row's hash. Equal tables give equal fingerprints whatever order
    a scan returns their rows in; no copy of the table is made."""
    import hashlib

    cols = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
                       "AND schema_name = ? AND table_name = ? ORDER BY column_index", [rel.schema, rel.name]).fetchall()
    row = row_alias([c for c, _ in cols])
    n, s, x = con.execute(f"SELECT count(*), coalesce(sum(hash({row})::HUGEINT), 0), coalesce(bit_xor(hash({row})), 0) "
                          f"FROM {rel.sql} AS {row}").fetchall()[0]
    return hashlib.sha256(repr((cols, int(n), int(s), int(x))).encode()).hexdigest()
