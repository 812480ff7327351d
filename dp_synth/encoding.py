"""Encoder/decoder between rows and small integer codes, driven only by the DP profile.

Code layout per learned column: ``[NULL]`` (if the profile saw NULLs) then the coarse bins
(numeric) or released categories (categorical, ``OTHER`` last). Decoding draws a fine cell
inside the bin by its noisy mass, then a value uniformly inside that cell.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from .counts import TimeOfDay, category_values, cell_index, numeric_values
from .profile import OTHER, CategoricalProfile, NumericProfile, TableProfile
from .spec import DAY_US, Kind, Role, TableSpec, is_text

__all__ = ["Encoder"]


class Encoder:
    """Rows ↔ codes for the learned columns of ``spec`` under ``profile``.

    >>> # see tests/unit/test_encoding.py for a round trip
    """

    def __init__(self, spec: TableSpec, profile: TableProfile):
        self.spec = spec
        self.profile = profile
        self.columns = profile.columns
        self._cells: list | None = None
        self._ranges: dict[str, tuple[float, float]] = {}

    @property
    def cardinalities(self) -> list[int]:
        return [c.n_codes for c in self.columns]

    def marginals(self) -> list[np.ndarray]:
        return [c.marginal() for c in self.columns]

    # ------------------------------------------------------------------ encode
    def encode(self, df: pl.DataFrame) -> np.ndarray:
        out = np.empty((df.height, len(self.columns)), dtype=np.int64)
        for j, col in enumerate(self.columns):
            out[:, j] = _encode_column(col, df[col.name])
        return out

    # ------------------------------------------------------------------ decode
    def prepare(self) -> "Encoder":
        """Build what decoding reads (once per encoder; call it before decoding from several threads)."""
        if self._cells is None:
            # the range a numeric column's values are drawn in (its cells'): no clamp where the type holds it
            self._ranges = {c.name: (float(min(c.lows)), float(max(c.highs))) for c in self.columns
                            if isinstance(c, NumericProfile) and len(c.lows)}
            # a declared grain with the range it is applied in (spec; rounding is post-processing)
            self._grains = {c.name: (c.grain, *self._ranges[c.name]) for c in self.spec.columns
                            if c.grain and c.name in self._ranges}
            # alias tables of each numeric column; set last: a set ``_cells`` means everything is built
            self._cells = [CellDraw.of(c) if isinstance(c, NumericProfile) else None for c in self.columns]
        return self

    def decode(self, codes: np.ndarray, rng: np.random.Generator, row_offset: int = 0,
               dictionary: bool = False) -> pa.Table:
        """Codes → an Arrow table with every column of the spec, in order, in its type (``dictionary``:
        string categories as dictionary arrays over the released categories, the same values)."""
        self.prepare()
        by_name = {col.name: _decode_column(col, codes[:, j], rng, self._cells[j], self._grains.get(col.name))
                   for j, col in enumerate(self.columns)}
        n = codes.shape[0]
        arrays = []
        for c, field in zip(self.spec.columns, self.spec.schema):
            if c.role is Role.LEARN:
                arr = by_name[c.name]
            elif c.role is Role.KEY:
                arr = _fresh_keys(field.type, n, row_offset, rng)
            elif c.role is Role.PII:
                arr = _fake_values(field, n, rng)
            else:
                arr = pa.nulls(n)
            if pa.types.is_dictionary(arr.type) and not (dictionary and is_text(field.type)):
                arr = arr.dictionary.take(arr.indices)  # a NULL index gives NULL
            arrays.append(_cast(arr, field.type, c.kind, self._ranges.get(c.name) if c.role is Role.LEARN else None))
        # fields are nullable in the twin's Arrow schema; the warehouse table keeps its own DDL
        schema = pa.schema([pa.field(f.name, a.type, True) for f, a in zip(self.spec.schema, arrays)])
        return pa.Table.from_arrays(arrays, schema=schema)


def _encode_column(col, values: pl.Series) -> np.ndarray:
    null = values.is_null().to_numpy()
    offset = int(col.has_null)
    if isinstance(col, NumericProfile):
        x = numeric_values(values, col.kind).fill_null(col.lower).to_numpy()
        cells = cell_index(np.clip(x, col.lower, col.upper), np.asarray(col.lows), np.asarray(col.highs))
        code = np.searchsorted(np.asarray(col.bin_starts), cells, side="right") - 1 + offset
    else:
        lookup = {k: i for i, k in enumerate(col.categories)}
        fallback = lookup.get(OTHER, 0)  # unreleased categories → "other"
        code = category_values(values).replace_strict(lookup, default=fallback, return_dtype=pl.Int64)
        code = code.fill_null(fallback).to_numpy() + offset
    # NULLs the profile did not release are mapped to the first code (rare by construction)
    return np.where(null, 0, code).astype(np.int64)


def _decode_column(col, codes: np.ndarray, rng: np.random.Generator, cells=None,
                   grain: tuple[float, float, float] | None = None) -> pa.Array:
    """One column's values from its codes; ``grain``: (step, lo, hi) to round numeric values to (:func:`to_grain`)."""
    offset = int(col.has_null)
    null = (codes == 0) if col.has_null else None  # None: no validity bitmap to build
    k = np.clip(codes - offset, 0, None) if offset else codes  # codes are ≥ 0
    if isinstance(col, CategoricalProfile):
        idx = pa.array(np.minimum(k, len(col.categories) - 1).astype(np.int32, copy=False), mask=null)
        return pa.DictionaryArray.from_arrays(idx, pa.array(col.categories, pa.string()))
    x = _draw_numeric(col, k, rng, cells)
    if grain:
        x = to_grain(x, *grain)
    return pa.array(x, type=pa.float64(), mask=null)


def to_grain(x: np.ndarray, grain: float, lo: float, hi: float) -> np.ndarray:
    """Values rounded to multiples of a declared ``grain`` (spec), kept within [lo, hi] (the profile's cells)
    by rounding inward at the edges; a range holding no multiple leaves the values as they are.
    Powers of ten round by decimals (12.8, not 12.800000000000001).

    >>> to_grain(np.array([12.8367, 3.04, 0.02]), 0.1, 0.0, 20.0).tolist()
    [12.8, 3.0, 0.0]
    >>> to_grain(np.array([121.0, 126.0, 3.0]), 5.0, 2.0, 127.0).tolist()  # 125 at most, 5 at least
    [120.0, 125.0, 5.0]
    """
    first, last = math.ceil(lo / grain - 1e-9), math.floor(hi / grain + 1e-9)
    if first > last:
        return x
    steps = np.clip(np.round(x / grain), first, last)
    d = -math.log10(grain)
    if abs(d - round(d)) < 1e-9 and d > 0:
        return np.round(steps * grain, round(d))
    return steps * grain


def _draw_numeric(col: NumericProfile, bins: np.ndarray, rng: np.random.Generator,
                  cells: "CellDraw | None" = None) -> np.ndarray:
    """A value for each row's bin: a fine cell by its share of the bin's DP mass, then uniformly inside it."""
    lows, highs = np.asarray(col.lows), np.asarray(col.highs)
    cell = (cells or CellDraw.of(col)).draw(np.asarray(bins, dtype=np.int64), rng)
    lo, hi = lows[cell], highs[cell]
    x = lo + rng.random(len(cell)) * (hi - lo)
    if col.kind is not Kind.FLOAT:
        x = np.where(hi > lo, np.floor(x), lo)
    day_mass = getattr(col, "day_mass", ())  # a timestamp in cells of an hour or more: its clock time apart
    if day_mass and sum(day_mass) > 0:
        x = with_time_of_day(x, day_mass, rng, col.lower, col.upper)
    return x


def with_time_of_day(x: np.ndarray, mass, rng: np.random.Generator, lower: float, upper: float) -> np.ndarray:
    """Timestamps (µs) that keep their day and take a clock time drawn from the DP time-of-day cells
    (``mass``: :class:`~dp_synth.counts.TimeOfDay` cells), uniform inside its cell, whole µs, within the bounds.

    >>> t = with_time_of_day(np.array([0.0, 5.5 * 86_400e6]), [0.0, 1.0, 0.0, 0.0], np.random.default_rng(0), 0.0, 1e12)
    >>> [round(float(v) / 3.6e9 % 24, 1) for v in t], int(t[1] // 86_400e6)  # 6 h to 12 h; the day kept
    ([6.2, 6.1], 5)
    """
    day = TimeOfDay.DAY
    p = np.clip(np.asarray(mass, dtype=float), 0.0, None)
    cdf = np.cumsum(p)
    cell = np.minimum(np.searchsorted(cdf, rng.random(len(x)) * cdf[-1], side="right"), len(p) - 1)
    t = np.floor(x / day) * day + np.floor((cell + rng.random(len(x))) * (day / len(p)))
    return np.clip(t, lower, upper)


@dataclass(frozen=True)
class CellDraw:
    """Walker's alias tables, one row of ``slots`` per coarse bin: a cell of bin b is drawn with its
    share of b's noisy mass (equal shares in a bin with none) from one uniform and three lookups —
    O(1) per row whatever the number of cells (a guided binary search before: decode 0.22 → 0.16 µs per Adult row).

    >>> from types import SimpleNamespace  # a profile's two fields are all it reads
    >>> d = CellDraw.of(SimpleNamespace(cell_mass=[1.0, 3.0, 0.0, 2.0], bin_starts=[0, 2, 4]))
    >>> c = d.draw(np.array([0] * 4000 + [1] * 4000), np.random.default_rng(0))
    >>> bool(abs(np.mean(c[:4000] == 1) - 0.75) < 0.03), sorted(set(c[4000:].tolist()))  # 3 of 4; cell 2 has none
    (True, [3])
    """

    slots: int             # M = the most cells any bin has
    threshold: np.ndarray  # (bins · M,): keep the slot's own cell when the uniform's fraction is below
    own: np.ndarray        # (bins · M,) int64: the slot's cell (padding slots: the bin's heaviest cell)
    alias: np.ndarray      # (bins · M,) int64: the cell taken otherwise

    @classmethod
    def of(cls, col) -> "CellDraw":
        starts = [int(b) for b in col.bin_starts]
        mass = np.clip(np.asarray(col.cell_mass, dtype=float), 0.0, None)
        m = max(1, max(b - a for a, b in zip(starts[:-1], starts[1:])))
        threshold = np.ones((len(starts) - 1, m))
        own, alias = np.zeros((len(starts) - 1, m), np.int64), np.zeros((len(starts) - 1, m), np.int64)
        for b, (a, z) in enumerate(zip(starts[:-1], starts[1:])):
            w = mass[a:z] if mass[a:z].sum() > 0 else np.ones(z - a)
            q = np.concatenate([w / w.sum() * m, np.zeros(m - (z - a))])  # padding slots: no mass
            cells = np.concatenate([np.arange(a, z), np.full(m - (z - a), a + int(np.argmax(w)))])
            own[b], alias[b] = cells, cells
            small, large = [i for i in range(m) if q[i] < 1.0], [i for i in range(m) if q[i] >= 1.0]
            while small and large:  # Vose: a light slot is topped up by a heavy one
                i, j = small.pop(), large[-1]
                threshold[b, i], alias[b, i] = q[i], cells[j]
                q[j] -= 1.0 - q[i]
                if q[j] < 1.0:
                    small.append(large.pop())
            # what is left holds (up to rounding) exactly one slot's worth: keep its own cell
        return cls(m, threshold.ravel(), own.ravel(), alias.ravel())

    def draw(self, bins: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A cell index for each row's bin."""
        r = rng.random(len(bins)) * self.slots
        slot = np.minimum(r.astype(np.int64), self.slots - 1)
        r -= slot
        idx = bins * self.slots + slot
        return np.where(r < self.threshold[idx], self.own[idx], self.alias[idx])


_NS_LIMIT_US = 9.2e15  # a nanosecond timestamp's range in microseconds (int64 / 1000, rounded in)


def _cast(arr: pa.Array, typ: pa.DataType, kind: Kind, within: tuple[float, float] | None = None) -> pa.Array:
    """``arr`` in the column's type; ``within``: a range the values are known to lie in (no clamp needed
    where the type holds all of it)."""
    if pa.types.is_dictionary(arr.type):  # categories kept as a dictionary: cast the dictionary only
        return pa.DictionaryArray.from_arrays(arr.indices, arr.dictionary.cast(typ))
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), typ)
    if pa.types.is_date(typ) and pa.types.is_floating(arr.type):
        return pc.cast(pc.cast(arr, pa.int32()), pa.date32()).cast(typ)
    if pa.types.is_timestamp(typ) and pa.types.is_floating(arr.type):  # microseconds since 1970
        if typ.unit == "ns":  # nanoseconds hold 1677–2262 only: clamp there rather than wrap
            arr = pc.max_element_wise(pc.min_element_wise(arr, _NS_LIMIT_US, skip_nulls=False), -_NS_LIMIT_US,
                                      skip_nulls=False)
        # seconds and milliseconds: truncated to the column's unit, as the source's values are
        return pc.cast(pc.cast(arr, pa.int64()), pa.timestamp("us", tz=typ.tz)).cast(typ, safe=False)
    if pa.types.is_time(typ) and pa.types.is_floating(arr.type):  # microseconds since midnight, in the day
        arr = pc.max_element_wise(pc.min_element_wise(arr, DAY_US[1], skip_nulls=False), 0.0, skip_nulls=False)
        return pc.cast(pc.cast(arr, pa.int64()), pa.time64("us")).cast(typ, safe=False)
    if pa.types.is_boolean(typ):
        return pc.equal(arr, "true")
    if pa.types.is_integer(typ) and pa.types.is_floating(arr.type):
        info = np.iinfo(typ.to_pandas_dtype())
        if within is not None and info.min <= within[0] and within[1] <= info.max:
            return pc.cast(arr, typ, safe=False)
        arr = pc.max_element_wise(pc.min_element_wise(arr, float(info.max), skip_nulls=False), float(info.min), skip_nulls=False)
        return pc.cast(arr, typ, safe=False)
    if pa.types.is_decimal(typ):
        top = 10.0 ** (typ.precision - typ.scale) - 10.0 ** (-typ.scale)
        arr = pc.max_element_wise(pc.min_element_wise(arr, top, skip_nulls=False), -top, skip_nulls=False)
        return pc.cast(pc.round(arr, typ.scale), typ, safe=False)
    if pa.types.is_dictionary(typ):
        return pc.cast(arr, typ.value_type).dictionary_encode()
    return pc.cast(arr, typ, safe=False)


def _fresh_keys(typ: pa.DataType, n: int, offset: int, rng: np.random.Generator) -> pa.Array:
    """Unique values carrying no information: 1..n for integers, random UUIDs otherwise."""
    if pa.types.is_integer(typ):
        return pa.array(np.arange(offset + 1, offset + n + 1), pa.int64())
    if pa.types.is_decimal(typ) or pa.types.is_floating(typ):
        return pa.array(np.arange(offset + 1, offset + n + 1, dtype=float))
    return pa.array([str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)], pa.string())


def _fake_values(field: pa.Field, n: int, rng: np.random.Generator) -> pa.Array:
    """PII filler: strings like ``email_3fa2c1d0`` (obviously synthetic); NULL for other types."""
    if is_text(field.type):
        tokens = rng.integers(0, 2**32, size=n, dtype=np.uint64)
        return pa.array([f"{field.name}_{t:08x}" for t in tokens.tolist()], pa.string())
    return pa.nulls(n)
