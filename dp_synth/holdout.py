"""Holdout: a share of the real rows kept out of training, so risk measures have a control.

A row is held out when a keyed hash of the row itself falls below ``share``: the split depends on
nothing but the row and a random per-run key, so it is the same whatever order the engine returns
rows in, and adding or removing one row moves no other row across it. The key is kept in the
ledger row (a governance record), never in the shareable model file; :func:`split` with the same
key gives the same rows back.

>>> import pyarrow as pa
>>> t = pa.table({"x": list(range(1000))})
>>> key = new_key()
>>> train, hold = split(t, 0.3, key)
>>> train.num_rows + hold.num_rows
1000
>>> split(t.take(list(range(999, -1, -1))), 0.3, key)[1].sort_by("x").equals(hold.sort_by("x"))
True
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from .io.relation import fresh_name

__all__ = ["HoldoutPlan", "split", "new_key", "AUTO_MIN_ROWS", "AUTO_SHARE", "HOLDOUT_MAX_ROWS", "RULE", "polars_frame"]

AUTO_MIN_ROWS = 1000  # below this the training set cannot spare rows
AUTO_SHARE = 0.2
HOLDOUT_MAX_ROWS = 10_000  # large tables withhold min(20 %, ~10,000 rows), by the DP row count
RULE = ("a row is held out iff its keyed 64-bit hash (polars hash_rows of the row and its occurrence among "
        "identical rows, seeded with the run key, mixed with splitmix64) divided by 2^64 is below share; the key "
        "is in the ledger row (holdout_key), and re-deriving it needs the same polars version (recorded with the key)")


def new_key() -> str:
    """A random holdout key (OS CSPRNG), as 64 hex digits."""
    return secrets.token_hex(32)


@dataclass(frozen=True)
class HoldoutPlan:
    share: float
    key: str

    @classmethod
    def choose(cls, n_rows: int, share: float | None, key: str | None = None) -> "HoldoutPlan":
        if share is None:
            share = AUTO_SHARE if n_rows >= AUTO_MIN_ROWS else 0.0
        if not 0.0 <= float(share) < 0.9:
            raise ValueError(f"holdout share must be in [0, 0.9), got {share!r}")
        return cls(float(share), key or new_key())

    def to_json(self) -> dict:
        """What the model file records: the share and the rule, not the key."""
        return {"share": self.share, "rule": RULE}


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _hashable(table: pa.Table) -> pa.Table:
    """``table`` with its interval columns (DuckDB's INTERVAL, which polars cannot import) as their 16 bytes
    per value (months, days, nanoseconds): hashed like any other value. Other columns are untouched, so their
    tables hash as before.

    >>> t = pa.table({"d": pa.array([(1, 2, 3), None], pa.month_day_nano_interval())})
    >>> _hashable(t).schema.field("d").type, _hashable(t).column("d").null_count
    (FixedSizeBinaryType(fixed_size_binary[16]), 1)
    """
    cols = []
    for col in table.columns:
        if pa.types.is_interval(col.type):
            col = pa.chunked_array([pa.Array.from_buffers(pa.binary(16), len(c), c.buffers()[:2], c.null_count,
                                                          c.offset) for c in col.chunks], pa.binary(16))
        cols.append(col)
    return pa.Table.from_arrays(cols, names=table.column_names)


def polars_frame(table: pa.Table) -> pl.DataFrame:
    """``table`` as a polars DataFrame, interval columns as their bytes (:func:`_hashable`)."""
    df = pl.from_arrow(_hashable(table))
    return df.to_frame() if isinstance(df, pl.Series) else df


def row_hashes(table: pa.Table, key: str) -> np.ndarray:
    """A 64-bit hash of each row under ``key`` (polars' row hash seeded with one key word, mixed
    with the others): a function of the row's values, its occurrence among identical rows and the key
    only (identical rows are split like any others, not held out or kept together)."""
    words = [int(key[i:i + 16], 16) for i in range(0, 64, 16)]
    df = polars_frame(table)
    occ = fresh_name(df.columns, "__dp_synth_occurrence")  # its name is not hashed, only its values
    # numbered within the rows equal in every column (not of equal hash: no two different rows share a group)
    df = df.with_columns(pl.int_range(pl.len()).over(df.columns).alias(occ)) if df.width else df
    h = df.hash_rows(seed=words[0]).to_numpy().astype(np.uint64)
    for w in words[1:]:
        h = _splitmix(h ^ np.uint64(w))
    return h


def _mask(table: pa.Table, share: float, key: str) -> np.ndarray:
    if table.num_rows == 0 or share <= 0:
        return np.zeros(table.num_rows, dtype=bool)
    return (row_hashes(table, key).astype(np.float64) / 2.0**64) < share


def split(table: pa.Table, share: float, key: str) -> tuple[pa.Table, pa.Table]:
    """(training rows, holdout rows) of ``table`` under (share, key)."""
    mask = _mask(table, share, key)
    return table.filter(pa.array(~mask)), table.filter(pa.array(mask))
