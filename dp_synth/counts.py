"""Where exact counts come from: the one question the DP measurements ask of the data.

Every DP measurement of the profile (:mod:`dp_synth.profile`, :mod:`dp_synth.bounds`) and of the
tree (:mod:`dp_synth.marginals`) is a vector of exact counts to which noise is then added. A
:class:`Counts` answers those questions: :class:`FrameCounts` over rows in memory (the Python API),
:class:`dp_synth.engines.aggregates.EngineCounts` with aggregate queries the engine runs (the CLI,
dbt): only the counts come back, never rows. Both bin values with the same :class:`Binning`, so
they give the same counts for the same rows (tested).

>>> import polars as pl
>>> c = FrameCounts(pl.DataFrame({"x": [0.0, 1.5, 3.0, None]}))
>>> c.rows(), c.histogram("x", Kind.FLOAT, Fine(0.0, 3.0, (0.0, 0.0, 1.5), (0.0, 1.5, 3.0)), nulls=True).tolist()
(4, [1, 1, 0, 2])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import polars as pl

from .spec import GRAIN_UNITS, Kind

__all__ = ["Binning", "Pow2", "Equal", "Fine", "TimeOfDay", "Counts", "FrameCounts", "Request", "Rows", "Distinct",
           "NonFinite", "Hist", "Values", "cell_index", "numeric_values",
           "category_values", "POW2_MIN", "by_column", "code_pairs", "code_table", "as_counts"]

POW2_MIN = -20  # smallest magnitude bucket of the bounds histogram: 2^-20


def numeric_values(series: pl.Series, kind: Kind) -> pl.Series:
    """A numeric column as Float64: dates in days, timestamps in microseconds since 1970, times of day in
    microseconds since midnight."""
    if kind is Kind.DATE:
        return series.cast(pl.Date).cast(pl.Int32).cast(pl.Float64)
    if kind is Kind.TIMESTAMP:
        return series.dt.epoch("us").cast(pl.Float64)
    if kind is Kind.TIME:  # polars holds a time of day in nanoseconds
        return (series.cast(pl.Time).cast(pl.Int64) // 1000).cast(pl.Float64)
    return series.cast(pl.Float64)


def category_values(series: pl.Series) -> pl.Series:
    if series.dtype == pl.Boolean:
        return series.cast(pl.Utf8).str.to_lowercase()
    return series.cast(pl.Utf8)


def cell_index(x: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> np.ndarray:
    """Fine cell of each (already clamped) value: exact point cells win, else the interval."""
    is_point = lows == highs
    intervals, points = np.flatnonzero(~is_point), np.flatnonzero(is_point)
    idx = np.zeros(len(x), dtype=np.int64)
    if intervals.size:
        j = np.searchsorted(lows[intervals], x, side="right") - 1
        idx = intervals[np.clip(j, 0, intervals.size - 1)]
    if points.size:
        h = np.clip(np.searchsorted(lows[points], x), 0, points.size - 1)
        exact = lows[points][h] == x
        idx = np.where(exact | (intervals.size == 0), points[h], idx)
    return idx


class Binning(ABC):
    """Cells over a numeric column's (non-NULL) values; :meth:`index` is the reference semantics."""

    @property
    @abstractmethod
    def size(self) -> int:
        """Number of cells."""

    @abstractmethod
    def index(self, x: np.ndarray) -> np.ndarray:
        """Cell of each value."""


@dataclass(frozen=True)
class Pow2(Binning):
    """Signed powers of two: cell ``top − POW2_MIN + 1 + s·b`` where b = 0 for x = 0, else
    ``clip(⌊log₂|x|⌋, POW2_MIN, top) − POW2_MIN + 1`` and s the sign."""

    top: int

    @property
    def half(self) -> int:
        return self.top - POW2_MIN + 1

    @property
    def size(self) -> int:
        return 2 * self.half + 1

    def index(self, x: np.ndarray) -> np.ndarray:
        a = np.abs(x)
        mag = np.floor(np.log2(a, where=x != 0, out=np.ones_like(x)))
        # log2 can round across an exact power of two: settle the octave by comparison
        mag = mag - (np.exp2(mag) > a) + (np.exp2(mag + 1) <= a)
        b = (np.clip(mag, POW2_MIN, self.top) - POW2_MIN + 1).astype(np.int64)
        return np.where(x == 0, 0, np.sign(x).astype(np.int64) * b) + self.half


@dataclass(frozen=True)
class Equal(Binning):
    """``cells`` equal cells over [lo, hi]; values outside go to the first/last cell."""

    lo: float
    hi: float
    cells: int

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, self.cells + 1)

    @property
    def size(self) -> int:
        return self.cells

    def index(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self.edges, np.clip(x, self.lo, self.hi), side="right") - 1,
                       0, self.cells - 1)


@dataclass(frozen=True)
class Fine(Binning):
    """A profile's fine cells: values clamped to [lo, hi], then :func:`cell_index`."""

    lo: float
    hi: float
    lows: tuple[float, ...]
    highs: tuple[float, ...]

    @property
    def size(self) -> int:
        return len(self.lows)

    def index(self, x: np.ndarray) -> np.ndarray:
        return cell_index(np.clip(x, self.lo, self.hi), np.asarray(self.lows), np.asarray(self.highs))


@dataclass(frozen=True)
class TimeOfDay(Binning):
    """``cells`` equal cells over the day of a timestamp in microseconds since 1970 (UTC clock time):
    cell ⌊(x − ⌊x / DAY⌋·DAY) / (DAY / cells)⌋, the same before 1970.

    >>> TimeOfDay(24).index(np.array([0.0, 9.5 * 3.6e9, -1.0, 3 * 8.64e10 + 23 * 3.6e9])).tolist()
    [0, 9, 23, 23]
    """

    cells: int

    DAY = GRAIN_UNITS["day"]  # µs

    @property
    def size(self) -> int:
        return self.cells

    def index(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        of_day = x - np.floor(x / self.DAY) * self.DAY
        return np.clip(np.floor(of_day / (self.DAY / self.cells)), 0, self.cells - 1).astype(np.int64)


@dataclass(frozen=True)
class Rows:
    """The number of rows."""


@dataclass(frozen=True)
class Distinct:
    """Distinct non-NULL values of a column."""

    column: str


@dataclass(frozen=True)
class NonFinite:
    """Rows whose numeric value is NaN or ±infinity."""

    column: str
    kind: Kind


@dataclass(frozen=True)
class Hist:
    """Counts per cell of a numeric column's non-NULL values, after the NULL count if ``nulls``."""

    column: str
    kind: Kind
    binning: Binning
    nulls: bool = False


@dataclass(frozen=True)
class Values:
    """({text value: count}, NULL count) of a categorical column."""

    column: str


Request = Rows | Distinct | NonFinite | Hist | Values


class Counts(ABC):
    """Exact counts over the rows a twin learns from (never released without noise).

    A caller that knows several questions in advance asks them together with :meth:`prefetch`
    (an engine answers them in one scan); :meth:`get` answers from those results, asking alone
    what was not prefetched."""

    def __init__(self) -> None:
        self._answers: dict = {}

    def prefetch(self, requests: Sequence[Request]) -> None:
        todo = list(dict.fromkeys(r for r in requests if r not in self._answers))
        if todo:
            self._answers.update(zip(todo, self._compute(todo)))

    def get(self, request: Request):
        self.prefetch([request])
        return self._answers[request]

    @abstractmethod
    def _compute(self, requests: Sequence[Request]) -> list:
        """The answers to ``requests``, in order."""

    def rows(self) -> int:
        return self.get(Rows())

    def distinct(self, column: str) -> int:
        return self.get(Distinct(column))

    def nonfinite(self, column: str, kind: Kind) -> int:
        return self.get(NonFinite(column, kind))

    def histogram(self, column: str, kind: Kind, binning: Binning, nulls: bool = False) -> np.ndarray:
        return self.get(Hist(column, kind, binning, nulls))

    def value_counts(self, column: str) -> tuple[dict[str, int], int]:
        return self.get(Values(column))

    @abstractmethod
    def pair_tables(self, encoder, pairs: Sequence[tuple[int, ...]]) -> dict[tuple[int, ...], np.ndarray]:
        """For each pair (i, j) — or triple — of the encoder's columns, the k_i × k_j (× k_l) table of their codes."""


class FrameCounts(Counts):
    """Counts over a polars DataFrame in memory."""

    def __init__(self, df: pl.DataFrame):
        super().__init__()
        self.df = df
        self._codes: np.ndarray | None = None

    def _compute(self, requests: Sequence[Request]) -> list:
        return [self._one(r) for r in requests]

    def _one(self, r: Request):
        if isinstance(r, Rows):
            return self.df.height
        s = self.df[r.column]
        if isinstance(r, Distinct):
            return s.n_unique() - int(s.null_count() > 0)
        if isinstance(r, NonFinite):
            return int((~numeric_values(s, r.kind).drop_nulls().is_finite()).sum())
        if isinstance(r, Values):
            vc = category_values(s).drop_nulls().value_counts()
            return dict(zip(vc[:, 0].to_list(), vc[:, 1].to_list())), s.null_count()
        x = numeric_values(s, r.kind).drop_nulls().to_numpy()
        x = x[np.isfinite(x)]  # a column with NaN/inf is refused (NonFinite) before its counts are used
        true = np.bincount(r.binning.index(x), minlength=r.binning.size) if x.size else np.zeros(r.binning.size, np.int64)
        return np.concatenate([[s.null_count()], true]) if r.nulls else true

    def pair_tables(self, encoder, pairs: Sequence[tuple[int, ...]]) -> dict[tuple[int, ...], np.ndarray]:
        if self._codes is None:
            self._codes = encoder.encode(self.df)
        return code_pairs(self._codes, encoder.cardinalities, pairs)


def by_column(codes: np.ndarray) -> np.ndarray:
    """``codes`` (rows × columns) stored column by column as int32, for many :func:`code_table` calls: a
    column of a row-major array is strided (100 columns: 800 bytes between its values), and one weighted
    pair table of 200,000 rows took 4.2 ms instead of 0.8 ms. The same values; the same tables."""
    return codes if codes.dtype == np.int32 and codes.flags.f_contiguous else np.asfortranarray(codes, dtype=np.int32)


def code_table(codes: np.ndarray, cols: Sequence[int], cards: Sequence[int], weights: np.ndarray | None = None) -> np.ndarray:
    """The k_i × k_j (× k_l …) table of the code columns ``cols``: row counts, or sums of ``weights``."""
    dims = tuple(cards[c] for c in cols)
    flat = np.ravel_multi_index(tuple(codes[:, c] for c in cols), dims)
    return np.bincount(flat, weights=weights, minlength=int(np.prod(dims))).reshape(dims)


def code_pairs(codes: np.ndarray, cards: Sequence[int], pairs: Sequence[tuple[int, ...]]) -> dict:
    """The count table of each pair (or triple) of code columns.

    >>> code_pairs(np.array([[0, 1, 1], [1, 1, 0]]), [2, 2, 2], [(0, 1), (0, 1, 2)])[(0, 1, 2)].sum(axis=2)
    array([[0, 1],
           [0, 1]])
    """
    return {tuple(p): code_table(codes, p, cards) for p in pairs}


def as_counts(data: "Counts | pl.DataFrame") -> Counts:
    return data if isinstance(data, Counts) else FrameCounts(data)

