"""DP measurements as aggregate queries an engine runs: only exact counts come back to Python.

:class:`EngineCounts` answers :class:`dp_synth.counts.Counts` with SQL built here once for every
engine; an engine supplies its :class:`Dialect` (quoting, numeric and text forms of a column) and
runs the queries (:meth:`Engine.query`) over the rows in scope (:meth:`Engine.scope`: a keyed-hash
filter such as "not held out"). Cells are the same :class:`~dp_synth.counts.Binning` objects the
in-memory path uses, rendered as a binary search of ``CASE`` comparisons against exact double
literals, so an engine puts each value in the same cell as :meth:`Binning.index` (tested on both
engines). Questions asked together become one scan: scalar counts in one ``SELECT``, histograms and
category counts as ``GROUPING SETS``, all 2-way code tables of the tree in one more.

:class:`EngineSource` is what :func:`dp_synth.fit` learns from in an engine: counts over the
training rows, and a keyed-hash sample of about ``TRAIN_SAMPLE_ROWS`` rows for DP-SGD.
"""

from __future__ import annotations

import math
import time
from typing import Any, Iterable, Sequence

import numpy as np
import pyarrow as pa

from ..counts import POW2_MIN, Binning, Counts, Distinct, Equal, Fine, Hist, NonFinite, Pow2, Request, Rows, TimeOfDay, Values
from ..holdout import HoldoutPlan, new_key
from ..io.relation import Relation
from ..profile import OTHER, CategoricalProfile, NumericProfile
from .. import source as _source
from ..source import TrainingRows, TrainingSource
from ..spec import Kind
from .base import Engine, Keyed

__all__ = ["Dialect", "EngineCounts", "EngineSource", "number", "cell_sql", "bin_sql"]


class Dialect:
    """How an engine spells what the portable SQL below cannot."""

    def quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def numeric(self, col: str, kind: Kind) -> str:
        """A column as DOUBLE: dates in days, timestamps in microseconds since 1970 (UTC)."""
        raise NotImplementedError

    def text(self, col: str) -> str:
        """A categorical column as the text the in-memory path compares (booleans 'true'/'false')."""
        raise NotImplementedError

    def nonfinite(self, v: str) -> str:
        """A predicate: the DOUBLE ``v`` is NaN or ±infinity."""
        raise NotImplementedError

    def explode_keys(self, keys: Iterable[str]) -> str | None:
        """A select item giving one row per entry of ``keys`` (BIGINT expressions, read only by engines that
        use them), as a struct ``(p, k)`` with p the entry's index; None: code tables are counted by
        GROUPING SETS instead (DuckDB)."""
        return None


def number(x: float) -> str:
    """An exact DOUBLE literal both engines parse to ``x`` (shortest round-trip digits, exponent form)."""
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"no literal for {x}")
    text = repr(x)
    text = text if "e" in text or "E" in text else text + "e0"
    return f"({text})"


def _search(v: str, lows: Sequence[float], leaves: Sequence[int], a: int, b: int, right: bool) -> str:
    """A binary search of CASE comparisons over ascending ``lows[a..b]``: ``right`` gives the leaf of the
    largest lows[j] ≤ v (the first leaf if none), else the leaf of the smallest lows[h] ≥ v (the last if none)."""
    if a == b:
        return str(leaves[a])
    mid = (a + b + 1) // 2
    test = f"{v} < {number(lows[mid])}" if right else f"{v} <= {number(lows[mid - 1])}"
    return (f"CASE WHEN {test} THEN {_search(v, lows, leaves, a, mid - 1, right)} "
            f"ELSE {_search(v, lows, leaves, mid, b, right)} END")


def _below(v: str, lows: Sequence[float], leaves: Sequence[int], a: int, b: int) -> str:
    return _search(v, lows, leaves, a, b, right=True)


def _at_or_above(v: str, lows: Sequence[float], leaves: Sequence[int], a: int, b: int) -> str:
    return _search(v, lows, leaves, a, b, right=False)


def _clamp(v: str, lo: float, hi: float) -> str:
    return f"LEAST(GREATEST({v}, {number(lo)}), {number(hi)})"


def cell_sql(v: str, binning: Binning, clamped: bool = False) -> str:
    """SQL for ``binning.index`` of the (non-NULL, finite) DOUBLE expression ``v`` (``clamped``: already
    within the binning's [lo, hi], e.g. a column computed once below the search, so that ``v`` is a
    plain column reference in each of the search's comparisons)."""
    if isinstance(binning, Pow2):
        # the octave of |v| by comparisons with exact powers of two (a binary search, as for fine cells):
        # exact, and cheaper than log2 and power() (10⁷ rows: 0.36 → 0.09–0.12 s per column, stop 46)
        edges = [0.0] + [2.0 ** e for e in range(POW2_MIN + 1, binning.top + 1)]
        b = _below(f"abs({v})", edges, list(range(1, len(edges) + 1)), 0, len(edges) - 1)
        return f"CAST(CASE WHEN {v} = 0 THEN {binning.half} ELSE {binning.half} + sign({v}) * ({b}) END AS BIGINT)"
    if isinstance(binning, TimeOfDay):  # arithmetic both engines evaluate alike (no % on negative DOUBLEs)
        day, width = number(TimeOfDay.DAY), number(TimeOfDay.DAY / binning.cells)
        return (f"CAST(LEAST(GREATEST(floor(({v} - floor({v} / {day}) * {day}) / {width}), 0), "
                f"{binning.cells - 1}) AS BIGINT)")
    if isinstance(binning, Equal):
        lows = binning.edges[:-1].tolist()
        x = v if clamped else _clamp(v, binning.lo, binning.hi)
        return _below(x, lows, list(range(len(lows))), 0, len(lows) - 1)
    if isinstance(binning, Fine):
        x = v if clamped else _clamp(v, binning.lo, binning.hi)
        lows, highs = np.asarray(binning.lows), np.asarray(binning.highs)
        points, intervals = np.flatnonzero(lows == highs), np.flatnonzero(lows != highs)
        if not intervals.size:
            return _at_or_above(x, lows[points].tolist(), points.tolist(), 0, points.size - 1)
        search = _below(x, lows[intervals].tolist(), intervals.tolist(), 0, intervals.size - 1)
        if not points.size:
            return search
        exact = " ".join(f"WHEN {x} = {number(lows[p])} THEN {p}" for p in points.tolist())
        return f"CASE {exact} ELSE {search} END"
    raise TypeError(f"no SQL for {type(binning).__name__}")


def bin_sql(v: str, col: NumericProfile, clamped: bool = False) -> str:
    """SQL for the coarse bin (0-based, before the NULL offset) of the non-NULL DOUBLE ``v`` under a
    numeric profile: the same as the fine cell's bin, but searched over the ≤ 16 value thresholds where
    the bin changes (bins are runs of cells), so the expression stays small for any number of cells."""
    x = v if clamped else _clamp(v, col.lower, col.upper)
    lows, highs = np.asarray(col.lows), np.asarray(col.highs)
    bins = np.searchsorted(np.asarray(col.bin_starts), np.arange(len(lows)), side="right") - 1
    points, intervals = np.flatnonzero(lows == highs), np.flatnonzero(lows != highs)

    def runs(cells: np.ndarray, last: bool) -> tuple[list[float], list[int]]:
        """(threshold, bin) per run of equal bins: the run's first low, or its last point (``last``)."""
        out_v, out_b = [], []
        for n, c in enumerate(cells.tolist()):
            if last:
                if n + 1 == len(cells) or bins[cells[n + 1]] != bins[c]:
                    out_v.append(float(lows[c]))
                    out_b.append(int(bins[c]))
            elif n == 0 or bins[cells[n - 1]] != bins[c]:
                out_v.append(float(lows[c]))
                out_b.append(int(bins[c]))
        return out_v, out_b

    if not intervals.size:
        tv, tb = runs(points, last=True)
        return _at_or_above(x, tv, tb, 0, len(tb) - 1)
    tv, tb = runs(intervals, last=False)
    search = _below(x, tv, tb, 0, len(tb) - 1)
    if not points.size:
        return search
    exact = " ".join(f"WHEN {x} = {number(lows[p])} THEN {int(bins[p])}" for p in points.tolist())
    return f"CASE {exact} ELSE {search} END"


PAIRS_PER_QUERY = 256  # grouping sets (pair and triple tables) per engine scan


class EngineCounts(Counts):
    """Counts over ``rel``'s rows in scope (``where``), computed by the engine."""

    def __init__(self, engine: Engine, rel: Relation, where: Sequence[Keyed] = (), clock: dict | None = None,
                 repeats: Any = None):
        super().__init__()
        self.engine, self.rel, self.where, self.repeats = engine, rel, tuple(where), repeats
        self.d = engine.dialect
        self.clock = clock if clock is not None else {}

    def _run(self, body: str, params: Sequence[Any] = ()) -> list[tuple]:
        t0 = time.perf_counter()
        try:
            with self.engine.scope(self.rel, self.where, self.repeats) as (scope, scope_params):
                return self.engine.query(f"WITH s AS ({scope}) {body}", [*scope_params, *params])
        finally:
            self.clock["measure"] = self.clock.get("measure", 0.0) + time.perf_counter() - t0

    def _value(self, column: str, kind: Kind) -> str:
        return self.d.numeric(self.d.quote(column), kind)

    def _compute(self, requests: Sequence[Request]) -> list:
        answers: dict[int, Any] = {}
        scalar = [(i, r) for i, r in enumerate(requests) if isinstance(r, (Rows, Distinct, NonFinite))]
        grouped = [(i, r) for i, r in enumerate(requests) if isinstance(r, (Hist, Values))]
        exprs = []
        for i, r in scalar:
            if isinstance(r, NonFinite) and r.kind is not Kind.FLOAT:
                answers[i] = 0  # integers, dates and timestamps are always finite
            elif isinstance(r, Rows):
                exprs.append((i, "count(*)"))
            elif isinstance(r, Distinct):
                exprs.append((i, f"count(DISTINCT {self.d.quote(r.column)})"))
            else:
                v = self._value(r.column, r.kind)
                exprs.append((i, f"sum(CASE WHEN {v} IS NOT NULL AND ({self.d.nonfinite(v)}) THEN 1 ELSE 0 END)"))
        if exprs:
            row = self._run("SELECT " + ", ".join(e for _, e in exprs) + " FROM s")[0]
            answers.update((i, int(x or 0)) for (i, _), x in zip(exprs, row))
        step = self.engine.grouped_per_query or len(grouped) or 1
        for a in range(0, len(grouped), step):  # engines whose code generator limits expression size: batches
            answers.update(self._grouped(grouped[a:a + step]))
        return [answers[i] for i in range(len(requests))]

    def _clamped(self, column: str, kind: Kind, lo: float | None, hi: float | None) -> str:
        """The column as DOUBLE within [lo, hi], NULL for NULL (GREATEST/LEAST skip NULLs)."""
        q, v = self.d.quote(column), self._value(column, kind)
        return f"CASE WHEN {q} IS NULL THEN NULL ELSE {v if lo is None else _clamp(v, lo, hi)} END"

    def _prepared(self, r: Hist | Values) -> tuple[str, Any]:
        """(the value a request's key is computed from, computed once per row; how to key it)."""
        if isinstance(r, Values):
            return self.d.text(self.d.quote(r.column)), None
        if isinstance(r.binning, (Pow2, TimeOfDay)):
            return self._clamped(r.column, r.kind, None, None), r.binning
        return self._clamped(r.column, r.kind, r.binning.lo, r.binning.hi), r.binning

    def _grouped(self, grouped: list[tuple[int, Hist | Values]]) -> dict[int, Any]:
        keys = [f"k{n}" for n in range(len(grouped))]
        prepared = [self._prepared(r) for _, r in grouped]
        values = ", ".join(f"{x} AS x{n}" for n, (x, _) in enumerate(prepared))
        inner = ", ".join(f"x{n} AS k{n}" if b is None else
                          f"CASE WHEN x{n} IS NULL THEN -1 ELSE {cell_sql(f'x{n}', b, clamped=True)} END AS k{n}"
                          for n, (_, b) in enumerate(prepared))
        flags = ", ".join(f"GROUPING({k})" for k in keys)
        sets = ", ".join(f"({k})" for k in keys)
        rows = self._run(f", x AS (SELECT {values} FROM s), g AS (SELECT {inner} FROM x) "
                         f"SELECT {', '.join(keys)}, {flags}, count(*) FROM g GROUP BY GROUPING SETS ({sets})")
        m = len(keys)
        out: dict[int, Any] = {}
        for n, (i, r) in enumerate(grouped):
            mine = [(row[n], int(row[-1])) for row in rows if row[m + n] == 0]
            if isinstance(r, Values):
                nulls = sum(c for k, c in mine if k is None)
                out[i] = ({str(k): c for k, c in mine if k is not None}, nulls)
            else:
                true = np.zeros(r.binning.size + 1, dtype=np.int64)  # slot 0: NULLs
                for k, c in mine:
                    true[int(k) + 1] += c
                out[i] = true if r.nulls else true[1:]
        return out

    def pair_tables(self, encoder, pairs: Sequence[tuple[int, ...]]) -> dict[tuple[int, ...], np.ndarray]:
        """One scan per batch of at most PAIRS_PER_QUERY grouping sets: DuckDB keeps a hash table per set,
        and the 4,950 pairs of 100 columns in one query ran out of its 1 GB (20,000 rows)."""
        out: dict[tuple[int, ...], np.ndarray] = {}
        for a in range(0, len(pairs), PAIRS_PER_QUERY):
            out.update(self._pair_tables(encoder, pairs[a:a + PAIRS_PER_QUERY]))
        return out

    def _pair_tables(self, encoder, pairs: Sequence[tuple[int, ...]]) -> dict[tuple[int, ...], np.ndarray]:
        if not pairs:
            return {}
        cards = encoder.cardinalities
        used = sorted({c for p in pairs for c in p})
        values, codes, params = [], [], []
        for j in used:
            col = encoder.columns[j]
            offset = int(col.has_null)
            if isinstance(col, CategoricalProfile):
                values.append(f"{self.d.text(self.d.quote(col.name))} AS x{j}")
                lookup = {k: i for i, k in enumerate(col.categories)}
                fallback = lookup.get(OTHER, 0)
                whens = " ".join(f"WHEN x{j} = ? THEN {i + offset}" for i in lookup.values())
                params.extend(lookup)
                codes.append(f"CASE WHEN x{j} IS NULL THEN 0 {whens} ELSE {fallback + offset} END AS c{j}")
            else:
                values.append(f"{self._clamped(col.name, col.kind, col.lower, col.upper)} AS x{j}")
                codes.append(f"CASE WHEN x{j} IS NULL THEN 0 ELSE {bin_sql(f'x{j}', col, clamped=True)} "
                             f"+ {offset} END AS c{j}")
        cols = ", ".join(f"c{j}" for j in used)
        # group the rows by their whole code tuple first, then expand the (far fewer) groups into the pairs
        grouped = (f", x AS (SELECT {', '.join(values)} FROM s), c AS (SELECT {', '.join(codes)} FROM x), "
                   f"j AS (SELECT {cols}, count(*) AS n FROM c GROUP BY {cols}) ")
        out = {tuple(p): np.zeros(tuple(cards[j] for j in p), dtype=np.int64) for p in pairs}
        exploded = self.d.explode_keys(_mixed_radix(p, cards) for p in pairs)
        if exploded is not None:  # each group once per table, keyed by its cell's flat index
            rows = self._run(grouped + f", e AS (SELECT {exploded} AS pk, n FROM j) "
                             f"SELECT pk.p, pk.k, sum(n) FROM e GROUP BY pk.p, pk.k", params)
            for p, k, n in rows:
                table = out[tuple(pairs[int(p)])]
                table[np.unravel_index(int(k), table.shape)] += int(n)
            return out
        sets = ", ".join("(" + ", ".join(f"c{j}" for j in p) + ")" for p in pairs)
        rows = self._run(grouped + f"SELECT {cols}, sum(n) FROM j GROUP BY GROUPING SETS ({sets})", params)
        where = {j: n for n, j in enumerate(used)}
        for row in rows:  # a code is never NULL: the columns a row holds name its grouping set
            present = tuple(j for j in used if row[where[j]] is not None)
            if present in out:
                out[present][tuple(int(row[where[j]]) for j in present)] += int(row[-1])
        return out


def _mixed_radix(columns: Sequence[int], cards: Sequence[int]) -> str:
    """SQL for the flat (row-major) index of the codes ``c{j}`` of ``columns`` in their table's cells.

    >>> _mixed_radix((2, 5), [3, 4, 6, 1, 1, 7])
    '(CAST(c2 AS BIGINT)) * 7 + c5'
    """
    key = f"CAST(c{columns[0]} AS BIGINT)"
    for j in columns[1:]:
        key = f"({key}) * {int(cards[j])} + c{j}"
    return key


class EngineSource(TrainingSource):
    """A table left in its engine: counts by aggregate queries, a bounded keyed sample for DP-SGD
    (``repeats``: :meth:`Engine.repeated`'s value, for every keyed filter of the fit)."""

    holdout_by = "engine"

    def __init__(self, engine: Engine, rel: Relation, sample_rows: int | None = None, repeats: Any = None):
        self.engine, self.rel, self.repeats = engine, rel, repeats
        self.sample_rows = sample_rows if sample_rows is not None else _source.TRAIN_SAMPLE_ROWS
        self.holdout_rule = engine.keyed_rule
        self._schema: pa.Schema | None = None
        self.seconds: dict[str, float] = {}   # wall seconds in engine queries ("measure") and the sample read

    @property
    def schema(self) -> pa.Schema:
        if self._schema is None:
            self._schema = self.engine.arrow_schema(self.rel)
        return self._schema

    def count_all(self) -> int:
        return self.engine.count(self.rel)

    @staticmethod
    def train_scope(plan: HoldoutPlan) -> tuple[Keyed, ...]:
        return (Keyed(plan.key, plan.share, inside=False),) if plan.share > 0 else ()

    def counts(self, plan: HoldoutPlan) -> Counts:
        return EngineCounts(self.engine, self.rel, self.train_scope(plan), clock=self.seconds, repeats=self.repeats)

    def training_rows(self, plan: HoldoutPlan, n_noisy: float, key: str | None = None,
                      columns: Sequence[str] | None = None) -> TrainingRows:
        rate = min(1.0, self.sample_rows / max(n_noisy, 1.0))
        key = (key or new_key()) if rate < 1.0 else None
        t0 = time.perf_counter()
        rows = self.engine.read(self.rel, ((Keyed(key, rate),) if key else ()) + self.train_scope(plan),
                                self.repeats, columns)
        self.seconds["read"] = time.perf_counter() - t0
        return TrainingRows(rows, rate if key else 1.0, key)
