"""Reading a source in DuckDB: its order-independent fingerprint and the rows a twin learns from.

Both are computed by the engine: the fingerprint is an aggregate of row hashes (no copy of the table),
the training rows are the whole table or a keyed-hash sample of about ``TRAIN_SAMPLE_ROWS`` rows.
"""

from __future__ import annotations

from .relation import Relation

__all__ = ["TRAIN_SAMPLE_ROWS", "sample_filter", "read_training_rows", "table_fingerprint"]


TRAIN_SAMPLE_ROWS = 250_000  # a twin learns from at most about this many rows (by the DP count): cost flat in n


def sample_filter(key: str | None, rate: float | None) -> tuple[str, list]:
    """SQL predicate (and its parameters) keeping a row iff hash(row, key) < rate·2⁶⁴: a function of
    the row and the run's key only, so one added row moves no other row in or out of the sample."""
    if key is None or rate is None or rate >= 1.0:
        return "TRUE", []
    return "hash(t, ?) < CAST(? AS UBIGINT)", [key, str(int(rate * 2**64))]


def read_training_rows(con, source: Relation, epsilon: float, seed: int | None):
    """The rows a twin learns from: the whole table, or — when the DP row count exceeds
    TRAIN_SAMPLE_ROWS — a keyed-hash sample of about that many rows, read by the engine.

    Returns (Arrow table, [the whole-table count's Measurement], {n_noisy, key, rate}). Training on a
    subset chosen row by row by a function of the row keeps the guarantee w.r.t. the whole table
    (a neighbour adds or removes at most one sampled row); no amplification is claimed.
    """
    import numpy as np

    from ..fit import count_rho
    from ..holdout import new_key
    from ..profile import NoisyCounter

    counter = NoisyCounter(np.random.RandomState(seed) if seed is not None else None)
    n = con.execute(f"SELECT count(*) FROM {source.sql}").fetchall()[0][0]
    n_noisy = max(float(counter.counts(np.array([n]), count_rho(epsilon), "row count (sampling rate)")[0][0]), 0.0)
    rate = min(1.0, TRAIN_SAMPLE_ROWS / max(n_noisy, 1.0))
    key = new_key() if rate < 1.0 else None
    where, params = sample_filter(key, rate)
    rel = con.sql(f"SELECT * FROM {source.sql} AS t WHERE {where}", params=params) if params \
        else con.sql(f"SELECT * FROM {source.sql}")
    data = rel.to_arrow_reader(1_000_000).read_all()
    return data, counter.measurements, {"n_noisy": n_noisy, "key": key, "rate": rate if key else None}


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
