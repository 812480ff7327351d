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
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from ..counts import POW2_MIN, Binning, Counts, Distinct, Equal, Fine, Hist, NonFinite, Pow2, Request, Rows, Values
from ..holdout import HoldoutPlan, new_key
from ..io.relation import Relation
from ..profile import OTHER, CategoricalProfile
from .. import source as _source
from ..source import TrainingRows, TrainingSource
from ..spec import Kind
from .base import Engine, Keyed

__all__ = ["Dialect", "EngineCounts", "EngineSource", "number", "cell_sql"]


class Dialect:
    """How an engine spells what the portable SQL below cannot."""

    def quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def numeric(self, col: str, kind: Kind) -> str:
        """A column as DOUBLE: dates in days, timestamps in microseconds since 1970 (UTC)."""
        raise NotImplementedError

    def text(self, col: str, kind: Kind) -> str:
        """A categorical column as the text the in-memory path compares (booleans 'true'/'false')."""
        raise NotImplementedError

    def nonfinite(self, v: str) -> str:
        """A predicate: the DOUBLE ``v`` is NaN or ±infinity."""
        raise NotImplementedError


def number(x: float) -> str:
    """An exact DOUBLE literal both engines parse to ``x`` (shortest round-trip digits, exponent form)."""
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"no literal for {x}")
    text = repr(x)
    text = text if "e" in text or "E" in text else text + "e0"
    return f"({text})"


def _below(v: str, lows: Sequence[float], leaves: Sequence[int], a: int, b: int) -> str:
    """Leaf j of the largest lows[j] ≤ v in lows[a..b] (the first leaf if none): a binary search."""
    if a == b:
        return str(leaves[a])
    mid = (a + b + 1) // 2
    return (f"CASE WHEN {v} < {number(lows[mid])} THEN {_below(v, lows, leaves, a, mid - 1)} "
            f"ELSE {_below(v, lows, leaves, mid, b)} END")


def _at_or_above(v: str, lows: Sequence[float], leaves: Sequence[int], a: int, b: int) -> str:
    """Leaf h of the smallest lows[h] ≥ v in lows[a..b] (the last leaf if none)."""
    if a == b:
        return str(leaves[a])
    mid = (a + b + 1) // 2
    return (f"CASE WHEN {v} <= {number(lows[mid - 1])} THEN {_at_or_above(v, lows, leaves, a, mid - 1)} "
            f"ELSE {_at_or_above(v, lows, leaves, mid, b)} END")


def _clamp(v: str, lo: float, hi: float) -> str:
    return f"LEAST(GREATEST({v}, {number(lo)}), {number(hi)})"


def cell_sql(v: str, binning: Binning) -> str:
    """SQL for ``binning.index`` of the (non-NULL, finite) DOUBLE expression ``v``."""
    if isinstance(binning, Pow2):
        a = f"abs({v})"
        m0 = f"LEAST(GREATEST(floor(log2({a})), -30), 200)"  # clamped first: no overflow in power()
        m = (f"({m0} - CASE WHEN power(2.0, {m0}) > {a} THEN 1 ELSE 0 END "
             f"+ CASE WHEN power(2.0, {m0} + 1) <= {a} THEN 1 ELSE 0 END)")
        b = f"(LEAST(GREATEST({m}, {POW2_MIN}), {binning.top}) - ({POW2_MIN}) + 1)"
        return (f"CAST(CASE WHEN {v} = 0 THEN {binning.half} WHEN {v} < 0 THEN {binning.half} - {b} "
                f"ELSE {binning.half} + {b} END AS BIGINT)")
    if isinstance(binning, Equal):
        lows = binning.edges[:-1].tolist()
        return _below(_clamp(v, binning.lo, binning.hi), lows, list(range(len(lows))), 0, len(lows) - 1)
    if isinstance(binning, Fine):
        x = _clamp(v, binning.lo, binning.hi)
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


class EngineCounts(Counts):
    """Counts over ``rel``'s rows in scope (``where``), computed by the engine."""

    def __init__(self, engine: Engine, rel: Relation, where: Sequence[Keyed] = (), clock: dict | None = None):
        super().__init__()
        self.engine, self.rel, self.where = engine, rel, tuple(where)
        self.d = engine.dialect
        self.clock = clock if clock is not None else {}

    def _run(self, body: str, params: Sequence[Any] = ()) -> list[tuple]:
        t0 = time.perf_counter()
        try:
            with self.engine.scope(self.rel, self.where) as (scope, scope_params):
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
        if grouped:
            answers.update(self._grouped(grouped))
        return [answers[i] for i in range(len(requests))]

    def _key(self, r: Hist | Values) -> str:
        col = self.d.quote(r.column)
        if isinstance(r, Values):
            return self.d.text(col, Kind.CATEGORICAL)
        v = self._value(r.column, r.kind)
        return f"CASE WHEN {col} IS NULL THEN -1 ELSE {cell_sql(v, r.binning)} END"

    def _grouped(self, grouped: list[tuple[int, Hist | Values]]) -> dict[int, Any]:
        keys = [f"k{n}" for n in range(len(grouped))]
        inner = ", ".join(f"{self._key(r)} AS {k}" for (_, r), k in zip(grouped, keys))
        flags = ", ".join(f"GROUPING({k})" for k in keys)
        sets = ", ".join(f"({k})" for k in keys)
        rows = self._run(f", g AS (SELECT {inner} FROM s) SELECT {', '.join(keys)}, {flags}, count(*) "
                         f"FROM g GROUP BY GROUPING SETS ({sets})")
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

    def pair_tables(self, encoder, pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], np.ndarray]:
        if not pairs:
            return {}
        cards = encoder.cardinalities
        used = sorted({c for p in pairs for c in p})
        fine, codes, params = [], [], []
        for j in used:
            col = encoder.columns[j]
            q = self.d.quote(col.name)
            offset = int(col.has_null)
            if isinstance(col, CategoricalProfile):
                fine.append(f"{self.d.text(q, Kind.CATEGORICAL)} AS f{j}")
                lookup = {k: i for i, k in enumerate(col.categories)}
                fallback = lookup.get(OTHER, 0)
                whens = " ".join(f"WHEN f{j} = ? THEN {i + offset}" for i in lookup.values())
                params.extend(lookup)
                codes.append(f"CASE WHEN f{j} IS NULL THEN 0 {whens} ELSE {fallback + offset} END AS c{j}")
            else:
                binning = Fine(col.lower, col.upper, col.lows, col.highs)
                v = self._value(col.name, col.kind)
                fine.append(f"CASE WHEN {q} IS NULL THEN -1 ELSE {cell_sql(v, binning)} END AS f{j}")
                starts = list(col.bin_starts[:-1])
                bins = _below(f"f{j}", [float(b) for b in starts], list(range(len(starts))), 0, len(starts) - 1)
                codes.append(f"CASE WHEN f{j} < 0 THEN 0 ELSE {bins} + {offset} END AS c{j}")
        cols = ", ".join(f"c{j}" for j in used)
        sets = ", ".join(f"(c{i}, c{j})" for i, j in pairs)
        rows = self._run(f", f AS (SELECT {', '.join(fine)} FROM s), c AS (SELECT {', '.join(codes)} FROM f) "
                         f"SELECT {cols}, count(*) FROM c GROUP BY GROUPING SETS ({sets})", params)
        where = {j: n for n, j in enumerate(used)}
        out = {(i, j): np.zeros((cards[i], cards[j]), dtype=np.int64) for i, j in pairs}
        for row in rows:
            present = tuple(j for j in used if row[where[j]] is not None)
            if present in out:
                i, j = present
                out[present][int(row[where[i]]), int(row[where[j]])] += int(row[-1])
        return out


class EngineSource(TrainingSource):
    """A table left in its engine: counts by aggregate queries, a bounded keyed sample for DP-SGD."""

    holdout_by = "engine"

    def __init__(self, engine: Engine, rel: Relation, sample_rows: int | None = None):
        self.engine, self.rel = engine, rel
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
        return EngineCounts(self.engine, self.rel, self.train_scope(plan), clock=self.seconds)

    def training_rows(self, plan: HoldoutPlan, n_noisy: float, key: str | None = None) -> TrainingRows:
        rate = min(1.0, self.sample_rows / max(n_noisy, 1.0))
        key = (key or new_key()) if rate < 1.0 else None
        t0 = time.perf_counter()
        rows = self.engine.read(self.rel, ((Keyed(key, rate),) if key else ()) + self.train_scope(plan))
        self.seconds["read"] = time.perf_counter() - t0
        return TrainingRows(rows, rate if key else 1.0, key)
