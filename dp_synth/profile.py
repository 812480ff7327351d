"""DP profile: everything the encoder and decoder need from the data, measured under DP.

All measurements are noisy count vectors of L2-sensitivity 1 under add/remove-one-row
(each row falls in exactly one cell), noised with diffprivlib's discrete Gaussian and
accounted as zCDP (ρ = 1/(2σ²)) in :mod:`dp_synth.privacy`:

1. ``n``: the row count (sets DP-SGD's sampling rate and the default twin size).
2. distinct-value counts of string columns whose role the user did not declare:
   a column with more distinct values than half its rows is free text / an identifier
   and becomes PII (a categorical that sparse could not be learned under DP anyway).
3. per numeric column without public bounds: a histogram over signed powers of two;
   the outermost buckets with a clear noisy count become the bounds (values outside
   are clamped).
4. per learned column, one histogram over [NULL] + fine cells (numeric) or [NULL] +
   categories (categorical). Undeclared categories are released only if their noisy
   count clears a threshold set by δ (Gaussian stability histogram); the rest become
   "other". A text column also counts every value of the public vocabularies
   (:mod:`dp_synth.domains`); when they hold most of its rows, each is a category.
   Bin edges, NULL rates and the marginals that initialise the generator are all
   post-processing of these histograms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np
import polars as pl

from .errors import InputError
from .bounds import dp_bounds_with_octaves, pow2_top
from .support import NOISE_MAX_P, combine
from .cells import fine_binning
from .domains import VOCABULARIES, Vocabulary, public_values, vocabulary_of
from .counts import Counts, Distinct, Fine, Hist, NonFinite, Pow2, Rows, TimeOfDay, Values, as_counts
from .privacy import Measurement
from .privacy.noise import NoisyCounter, discrete_gaussian_tail, discrete_gaussian_threshold
from .spec import GRAIN_UNITS, ColumnSpec, Kind, Role, TableSpec, is_text, warn_pii

__all__ = ["NumericProfile", "CategoricalProfile", "TableProfile", "measure_profile", "NoisyCounter", "smallness",
           "OTHER", "discrete_gaussian_tail", "discrete_gaussian_threshold"]

OTHER = "__other__"          # code label for released-too-rare categories
PII_DISTINCT_SHARE = 0.5
CELL_THRESHOLD = 1.5         # a fine cell's noisy count below this many σ is taken as empty
ABSENT_Z = 3.0               # a value the data may lack entirely — NULL, a declared category (false of a boolean),
                             # OTHER — gets mass only above this many σ of its noise: at 1.5σ (the cells' rule)
                             # 6.7 % of NULL-free columns got NULLs (0.4–0.9 columns per benchmark fit, ≈ 3 % of
                             # seattle's rows), an all-true boolean 0.6 % false, Adult's sex or income an OTHER
                             # value in 12–18 of 30 fits: failing not_null and accepted_values tests on the twin
COARSE_SHARE = 0.3           # of a numeric column's histogram budget: its coarse bins' own counts, when
COARSE_MIN_CELLS = 64        # it has this many fine cells or more (4 per bin: below, a bin's sum gains little)
BOUNDS_WEIGHT = 0.25         # a numeric column's bounds budget, as a share of its histogram's weight
SMALL_BOUNDS_WEIGHT = 1.0    # the same on small tables (smallness 1; interpolated as the profile's share)
SMALL_CATEGORICAL_WEIGHT = 2.0  # an undeclared categorical's histogram weight on small tables (1 on large ones)
TIME_OF_DAY_CELLS = 48       # a timestamp's clock time in half hours (TimeOfDay), measured when its fine cells are
TIME_OF_DAY_MIN_WIDTH = GRAIN_UNITS["hour"]  # at least an hour wide (µs; median of the cells that are ranges): a value drawn
TIME_OF_DAY_SHARE = 0.2      # uniformly in such a cell loses the time of day (a year of business-hours orders:
                             # 2/3 of the twin's rows outside 9–17 h). It takes this share of the column's budget
SMALL_ROWS, LARGE_ROWS = 1_000, 10_000  # a table is small at ≤ SMALL_ROWS rows by a DP count, large at ≥ LARGE_ROWS


@dataclass(frozen=True)
class NumericProfile:
    """Bounds, fine cells (``lows``/``highs``, equal for point cells) with noisy masses,
    and coarse bins as ranges of fine cells: ``bin_starts[i]`` .. ``bin_starts[i+1]``."""

    name: str
    kind: Kind
    lower: float
    upper: float
    lows: tuple[float, ...]
    highs: tuple[float, ...]
    cell_mass: tuple[float, ...]
    bin_starts: tuple[int, ...]
    null_mass: float
    sigma: float = 0.0      # noise scale of a fine cell's count, and of a bin's own count (0: none; public)
    bin_sigma: float = 0.0
    found: bool = True      # False: no value stood out from the bounds' noise; the bounds are a placeholder
    day_mass: tuple[float, ...] = ()  # a timestamp's noisy counts per clock-time cell (TimeOfDay), when measured

    @property
    def n_bins(self) -> int:
        return len(self.bin_starts) - 1

    @property
    def has_null(self) -> bool:
        return self.null_mass > 0

    @property
    def n_codes(self) -> int:
        return self.n_bins + int(self.has_null)

    def marginal(self) -> np.ndarray:
        mass = np.asarray(self.cell_mass)
        bins = [mass[a:b].sum() for a, b in zip(self.bin_starts[:-1], self.bin_starts[1:])]
        return _normalise(([self.null_mass] if self.has_null else []) + bins)


@dataclass(frozen=True)
class CategoricalProfile:
    """Released categories (``OTHER`` last if present) with noisy masses."""

    name: str
    kind: Kind
    categories: tuple[str, ...]
    mass: tuple[float, ...]
    null_mass: float
    sigma: float = 0.0      # noise scale of each category's count (public)

    @property
    def has_null(self) -> bool:
        return self.null_mass > 0

    @property
    def n_codes(self) -> int:
        return len(self.categories) + int(self.has_null)

    def marginal(self) -> np.ndarray:
        return _normalise(([self.null_mass] if self.has_null else []) + list(self.mass))


ColumnProfile = NumericProfile | CategoricalProfile


@dataclass(frozen=True)
class TableProfile:
    n_noisy: float
    columns: tuple[ColumnProfile, ...]

    def to_json(self) -> dict[str, Any]:
        return {"n_noisy": self.n_noisy, "columns": [
            {"type": type(c).__name__, **{k: (v.value if isinstance(v, Kind) else v)
                                         for k, v in c.__dict__.items()}} for c in self.columns]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "TableProfile":
        cols = []
        for c in d["columns"]:
            c = dict(c)
            typ = {"NumericProfile": NumericProfile, "CategoricalProfile": CategoricalProfile}[c.pop("type")]
            c["kind"] = Kind(c["kind"])
            cols.append(typ(**{k: tuple(v) if isinstance(v, list) else v for k, v in c.items()}))
        return cls(n_noisy=float(d["n_noisy"]), columns=tuple(cols))


def _normalise(xs) -> np.ndarray:
    a = np.clip(np.asarray(xs, dtype=float), 0, None)
    return a / a.sum() if a.sum() > 0 else np.full(len(a), 1.0 / max(len(a), 1))


# --------------------------------------------------------------------------- measuring

def smallness(n_noisy: float) -> float:
    """1 for a small table (≤ SMALL_ROWS rows by a DP count), 0 for a large one (≥ LARGE_ROWS), log-linear
    between. Budget rules that favour the profile on few rows use it: there, a power-of-two bucket holding
    a quarter of the rows is 4σ of its noise (seattle_weather's wind at ε = 1), and DP-SGD's ≈ 50 steps at
    σ ≈ 15 change the twin little (docs/benchmarks.md, stop 32). Public: the row count is a DP release.

    >>> smallness(500.0), round(smallness(3162.3), 2), smallness(20_000.0)
    (1.0, 0.5, 0.0)
    """
    x = math.log10(LARGE_ROWS / max(n_noisy, 1.0)) / math.log10(LARGE_ROWS / SMALL_ROWS)
    return float(min(1.0, max(0.0, x)))


def measure_profile(data: Counts | pl.DataFrame, spec: TableSpec, rho: float, delta_threshold: float,
                    rng: np.random.RandomState | None) -> tuple[TableSpec, TableProfile, list[Measurement]]:
    """Measure the profile with zCDP budget ``rho``; returns the (maybe PII-updated) spec.
    ``data``: the rows' :class:`~dp_synth.counts.Counts` (a DataFrame is counted in memory)."""
    counts = as_counts(data)
    counter = NoisyCounter(rng)
    undeclared = [c for c in spec.learned if c.kind is Kind.CATEGORICAL and not c.role_declared
                  and c.categories is None]
    rho_first = 0.05 * rho / (1 + len(undeclared))
    counts.prefetch([Rows(), *(Distinct(c.name) for c in undeclared)])  # one scan in an engine
    n_noisy, sigma_n = counter.counts(np.array([counts.rows()]), rho_first, "row count")
    n_noisy = max(float(n_noisy[0]), 1.0)
    for c in undeclared:
        distinct, _ = counter.counts(np.array([counts.distinct(c.name)]),
                                     rho_first, f"{c.name}: distinct values")
        if distinct[0] > PII_DISTINCT_SHARE * n_noisy:
            warn_pii(spec.table, c.name, min(distinct[0] / n_noisy, 1.0))
            spec = spec.with_role(c.name, Role.PII)

    learned = spec.learned
    need_bounds = [c for c in learned if c.kind.is_numeric and c.bounds is None]
    small = smallness(n_noisy)  # public: a function of the DP count
    bounds_weight = BOUNDS_WEIGHT + (SMALL_BOUNDS_WEIGHT - BOUNDS_WEIGHT) * small
    # an undeclared category under the release threshold (≈ 4.8σ) is lost whole: on few rows that is a
    # large share of them, while a numeric column only loses resolution
    category_weight = 1.0 + (SMALL_CATEGORICAL_WEIGHT - 1.0) * small
    weights = {("hist", c.name): (category_weight if not c.kind.is_numeric and c.categories is None else 1.0)
               for c in learned}
    weights |= {("bounds", c.name): bounds_weight for c in need_bounds}
    unit = 0.95 * rho / sum(weights.values())
    categorical = [c for c in learned if not c.kind.is_numeric]
    per_column_delta = delta_threshold / max(1, sum(c.categories is None for c in categorical))

    numeric = [c for c in learned if c.kind.is_numeric]
    # the questions known in advance are asked together: three scans of the table in an engine
    counts.prefetch([*(NonFinite(c.name, c.kind) for c in numeric),
                     *(Hist(c.name, c.kind, Pow2(pow2_top(spec.schema.field(c.name).type))) for c in need_bounds)])
    bounds, octaves = {}, {}
    noise_p = NOISE_MAX_P / max(1, len(need_bounds))  # a far, empty bucket in any column w.p. ≤ NOISE_MAX_P
    for c in numeric:
        _check_finite(counts, spec.table, c)
        if c.bounds is None:  # the bounds' noisy octaves also place the cells of a wide column (cells.py)
            *found, octaves[c.name] = dp_bounds_with_octaves(counts, counter, unit * weights[("bounds", c.name)], c,
                                                             spec.schema.field(c.name).type, noise_p)
        bounds[c.name] = c.bounds or tuple(found)
    nullable = {c.name: spec.schema.field(c.name).nullable for c in learned}
    binnings = {c.name: fine_binning(c, bounds[c.name], unit, n_noisy, octaves.get(c.name)) for c in numeric}
    clock = {c.name for c in numeric if wants_time_of_day(c.kind, binnings[c.name])}  # public: from the DP cells
    counts.prefetch([*(Hist(c.name, c.kind, binnings[c.name], nullable[c.name]) if c.kind.is_numeric
                       else Values(c.name) for c in learned),
                     *(Hist(name, Kind.TIMESTAMP, TimeOfDay(TIME_OF_DAY_CELLS)) for name in sorted(clock))])
    profiles = []
    for c in learned:
        if c.kind.is_numeric:
            clocked = c.name in clock
            p = _numeric(counts, c, binnings[c.name], counter, unit * (1 - TIME_OF_DAY_SHARE * clocked), nullable[c.name])
            if clocked:
                p = replace(p, day_mass=_time_of_day(counts, c, counter, unit * TIME_OF_DAY_SHARE))
            if c.name in octaves and not octaves[c.name].found:  # no value stood out (bounds.py)
                p = replace(p, found=False)
                s_rest = math.hypot(sigma_n, p.sigma)  # of n̂ − NULLs: NULL alone, unless n̂ itself is noise
                if p.has_null and n_noisy - p.null_mass <= ABSENT_Z * s_rest < n_noisy / 2:
                    p = replace(p, cell_mass=(0.0,) * len(p.cell_mass))  # an all-NULL column: no placeholders
            profiles.append(p)
        else:
            profiles.append(_categorical(counts, c, counter, unit * weights[("hist", c.name)], nullable[c.name],
                                         n_noisy, per_column_delta, sigma_n=sigma_n,
                                         text=is_text(spec.schema.field(c.name).type)))
    return spec, TableProfile(n_noisy=n_noisy, columns=tuple(profiles)), counter.measurements


def wants_time_of_day(kind: Kind, binning: Fine) -> bool:
    """Whether a column's clock time is measured apart (:data:`TIME_OF_DAY_CELLS`): a timestamp whose fine cells
    (the ranges among them) are :data:`TIME_OF_DAY_MIN_WIDTH` or wider at the median. Public: the cells come
    from DP bounds and the DP row count.

    >>> day = 86_400e6
    >>> wants_time_of_day(Kind.TIMESTAMP, Fine(0.0, 30 * day, tuple(i * day for i in range(30)), tuple((i + 1) * day for i in range(30))))
    True
    >>> wants_time_of_day(Kind.DATE, Fine(0.0, 30.0, tuple(range(30)), tuple(range(1, 31))))
    False
    """
    if kind is not Kind.TIMESTAMP:
        return False
    width = np.asarray(binning.highs, float) - np.asarray(binning.lows, float)
    ranges = width[width > 0]
    return bool(ranges.size) and float(np.median(ranges)) >= TIME_OF_DAY_MIN_WIDTH


def _time_of_day(counts: Counts, c: ColumnSpec, counter: NoisyCounter, rho: float) -> tuple[float, ...]:
    """A timestamp's non-NULL rows per half hour of clock time (UTC for a time zone's column), noisy, the
    cells under CELL_THRESHOLD·σ emptied as the fine cells are; the decoder draws the time of day from them."""
    true = counts.histogram(c.name, Kind.TIMESTAMP, TimeOfDay(TIME_OF_DAY_CELLS))
    raw, sigma = counter.counts(true, rho, f"{c.name}: time of day ({TIME_OF_DAY_CELLS} cells)")
    return tuple(_kept(raw, sigma).astype(float).tolist())


def _check_finite(counts: Counts, table: str, c: ColumnSpec) -> None:
    if counts.nonfinite(c.name, c.kind):
        raise InputError(f"table {table!r}, column {c.name!r} holds NaN or infinite values. "
                         "Replace them with NULL or finite values before synthesizing (e.g. in a copy: CREATE TABLE … AS "
                         "SELECT …; views are refused).")


def _numeric(counts: Counts, c: ColumnSpec, binning: Fine, counter: NoisyCounter, unit: float,
             nullable: bool) -> NumericProfile:
    """The fine histogram, coarse bins cut from it; with ≥ COARSE_MIN_CELLS cells, the histogram takes
    (1 − COARSE_SHARE) of the column's budget and the bins' own counts the rest, combined with the cells'
    sums (:func:`_combine_bins`). Adult at ε = 0.5, 4 splits: 2-way 0.070 → 0.065; with bins of 1–2
    cells (airports, seattle_weather: 10–25 cells) the split made the cells noisier for no gain."""
    lo, hi, lows, highs = binning.lo, binning.hi, np.asarray(binning.lows), np.asarray(binning.highs)
    true = counts.histogram(c.name, c.kind, binning, nulls=nullable)
    share = COARSE_SHARE if len(lows) >= COARSE_MIN_CELLS else 0.0  # public: the cell count is set from n̂
    raw, sigma = counter.counts(true, (1 - share) * unit, f"{c.name}: histogram ({len(lows)} cells + NULL)")
    noisy = _kept(raw, sigma)
    null_mass, mass = (_present(raw[0], sigma), noisy[1:]) if nullable else (0.0, noisy)
    if mass.sum() <= 0:
        mass = np.ones_like(mass)
    starts = _quantile_bins(mass)
    if share > 0:  # the bins' true counts are sums of the cells' (no new query); a second release
        k = int(nullable)
        bins_true = np.concatenate([true[:k], np.add.reduceat(np.asarray(true[k:]), starts[:-1])])
        bins_noisy, sigma_c = counter.counts(bins_true, share * unit,
                                             f"{c.name}: bin counts ({len(starts) - 1} bins + NULL)")
        mass = _combine_bins(raw[k:], sigma, mass, starts, bins_noisy[k:], sigma_c)
        if k:
            null_mass = _null_mass(raw[0], sigma, bins_noisy[0], sigma_c)
    return NumericProfile(name=c.name, kind=c.kind, lower=lo, upper=hi, lows=tuple(lows.tolist()),
                          highs=tuple(highs.tolist()), cell_mass=tuple(np.asarray(mass, float).tolist()),
                          bin_starts=tuple(starts), null_mass=float(null_mass), sigma=sigma,
                          bin_sigma=sigma_c if share > 0 else 0.0)


def _kept(raw: np.ndarray, sigma: float) -> np.ndarray:
    """Noisy cell counts with the cells under CELL_THRESHOLD·σ (indistinguishable from noise) emptied."""
    return np.where(raw > CELL_THRESHOLD * sigma, raw, 0.0)


def _null_mass(fine: float, sigma_f: float, coarse: float, sigma_c: float) -> float:
    """The NULL count from both releases (inverse-variance mean), 0 when it is indistinguishable from noise."""
    return _present(*combine(fine, sigma_f, coarse, sigma_c))


def _present(count: float, sigma: float) -> float:
    """A noisy count of a value the data may lack entirely (NULL, a declared category, OTHER): itself above
    ABSENT_Z·σ, else 0.

    >>> _present(100.0, 20.0), _present(50.0, 20.0)
    (100.0, 0.0)
    """
    return float(count) if count > ABSENT_Z * sigma else 0.0


def _combine_bins(raw: np.ndarray, sigma_f: float, mass: np.ndarray, starts: list[int], coarse: np.ndarray,
                  sigma_c: float) -> np.ndarray:
    """Cell masses rescaled so that each bin holds the inverse-variance mean of its two estimates: the sum
    of its c raw fine cells (variance c·σ_f²) and its own count (σ_c²). A bin of ten cells is known
    ≈ 3× better than from its cells alone (Adult's numeric 1-way marginals feed the generator's start and
    its raking); a bin of one cell exactly as well as one release of the whole budget. Post-processing.

    >>> m = _combine_bins(np.array([50., 30., 20.]), 1.0, np.array([50., 30., 20.]), [0, 1, 3], np.array([60., 60.]), 1.0)
    >>> [round(float(v), 1) for v in m]
    [55.0, 34.0, 22.7]

    A thin tail: the bin's two estimates say 100 rows, its kept cell 60; the two dropped cells get 20 each.

    >>> m = _combine_bins(np.array([60., 20., 20.]), 1.0, np.array([60., 0., 0.]), [0, 3], np.array([100.]), 1.0)
    >>> [round(float(v), 1) for v in m]
    [60.0, 20.0, 20.0]
    """
    c = np.diff(starts).astype(float)
    fine_sum = np.add.reduceat(np.asarray(raw, float), starts[:-1])
    target = np.clip(combine(fine_sum, sigma_f * np.sqrt(c), coarse, sigma_c)[0], 0, None)
    mass = np.asarray(mass, float)
    have = np.add.reduceat(mass, starts[:-1])
    owner = np.repeat(np.arange(len(c)), c.astype(int))
    # what the bin holds beyond its kept cells goes to its dropped ones, evenly: a thin tail (fnlwgt's top bin)
    empty = np.add.reduceat((mass <= 0).astype(float), starts[:-1])
    fill = np.where((target > have) & (empty > 0), (target - have) / np.maximum(empty, 1), 0.0)
    mass = np.where(mass <= 0, fill[owner], mass)
    have = np.add.reduceat(mass, starts[:-1])
    # a bin whose combined count is ≤ 0 keeps a trace of its cells' shape, so every bin stays drawable
    scale = np.where(have > 0, np.maximum(target, 1e-3 * have) / np.where(have > 0, have, 1), 0.0)
    return mass * scale[owner]


def _vocabulary_masses(vocab: Vocabulary, counted: Mapping[str, float], sigma: float) -> list[tuple[str, float]]:
    """Each value's noisy count if it clears ``CELL_THRESHOLD``·σ, else an even share of what the
    vocabulary's total (an unbiased sum) holds beyond those (as numeric cells dropped under the noise)."""
    raw = np.array([counted[k] for k in vocab.values])
    kept = raw > CELL_THRESHOLD * sigma
    fill = max(raw.sum() - raw[kept].sum(), 0.0) / max(int((~kept).sum()), 1)
    return [(k, float(v) if ok else fill) for k, v, ok in zip(vocab.values, raw, kept)]


def _quantile_bins(mass: np.ndarray, k: int = 16) -> list[int]:
    """Cut the fine cells into ≤ k contiguous bins of about equal noisy mass, left to right, each bin's
    target being the mass still to cut over the bins still to fill. A cell heavier than that target (an
    atom: 0 capital gain, 40 hours a week) becomes a bin of its own and the rest of the range shares the
    remaining bins: plain quantiles give a column that is 92 % zeros 2 bins for its other 8 %, this ≈ 15.
    Post-processing of the noisy ``mass``; every bin has mass > 0, so every bin can be sampled.

    >>> _quantile_bins(np.array([0, 92, 1, 1, 1, 1, 2, 2]), k=4)
    [0, 2, 5, 7, 8]
    """
    mass = np.clip(np.asarray(mass, dtype=float), 0.0, None)
    cuts, acc, left, bins = [0], 0.0, float(mass.sum()), k
    for i, m in enumerate(mass):
        if bins > 1 and acc > 0 and acc + m > left / bins and acc + m - left / bins > left / bins - acc:
            cuts.append(i)  # cell i would overshoot by more than stopping short: close the bin before it
            left, bins, acc = left - acc, bins - 1, 0.0
        acc += m
        if bins > 1 and acc > 0 and acc >= left / bins:
            cuts.append(i + 1)
            left, bins, acc = left - acc, bins - 1, 0.0
    if cuts[-1] != len(mass):
        cuts.append(len(mass))
    # an empty last bin (the tail past the last cut holds no mass) joins its left neighbour
    if len(cuts) > 2 and mass[cuts[-2]:cuts[-1]].sum() <= 0:
        del cuts[-2]
    return cuts


def _categorical(counts: Counts, c: ColumnSpec, counter: NoisyCounter, unit: float, nullable: bool,
                 n_noisy: float, delta_col: float, text: bool = False,
                 sigma_n: float = 0.0) -> CategoricalProfile:
    """A categorical column's noisy counts; ``n_noisy``: the DP row count, ``sigma_n`` its noise scale."""
    observed, nulls = counts.value_counts(c.name)
    if c.categories is not None:  # public domain: every category, no threshold
        cats = list(c.categories)
        other = sum(v for k, v in observed.items() if k not in set(cats))
        true = np.array([nulls] + [observed.get(k, 0) for k in cats] + [other])
        noisy, sigma = counter.counts(true, unit, f"{c.name}: histogram ({len(cats)} public categories)")
        noisy = np.clip(noisy, 0, None)
        null_mass = _present(noisy[0], sigma) if nullable else 0.0  # ≈ 0 measured ⇒ no NULLs
        cats_mass = [_present(v, sigma) for v in noisy[1:-1]]  # declared, maybe never seen
        if noisy[-1] > 0.5 * max(n_noisy, 1.0) and noisy[-1] > 4.5 * sigma:
            raise InputError(f"column {c.name!r}: most values are not among the declared categories "
                             f"(DP estimate {min(noisy[-1] / max(n_noisy, 1.0), 1.0):.0%} of rows). Check the "
                             "spelling and type of the categories (nothing was written or charged)")
        # declared categories are the only values the twin holds: no "other" code (rows outside the
        # declaration — refused above when they are most rows — are encoded as the first category)
        return CategoricalProfile(c.name, c.kind, tuple(cats), tuple(cats_mass), float(null_mass), sigma)
    # the public vocabularies' values are counted whether seen or not (a text column: a schema fact)
    keys = sorted(set(observed) | set(public_values())) if text else sorted(observed)
    true = np.array([nulls] + [observed.get(k, 0) for k in keys])
    sigma = 1.0 / math.sqrt(2 * unit)
    tau = 1.0 + discrete_gaussian_threshold(sigma, delta_col) - 0.5  # count 1 + noise clears τ w.p. ≤ δ_col
    noisy, _ = counter.counts(true, unit, f"{c.name}: histogram (categories with noisy count > {tau:.0f}"
                              + (f"; every value of {', '.join(v.name for v in VOCABULARIES)} counted)" if text else ")"),
                              delta_extra=delta_col)
    null_mass = _present(noisy[0], sigma) if nullable else 0.0
    counted = dict(zip(keys, noisy[1:]))
    public = set(public_values())
    released = sum(v for k, v in counted.items() if v > tau and k not in public)
    vocab = vocabulary_of(counted, n_noisy, sigma, released) if text else None
    keep = [(k, v) for k, v in counted.items() if v > tau and (vocab is None or k not in vocab)]
    if vocab is not None:  # every value of the vocabulary is a category, however rare
        keep += _vocabulary_masses(vocab, counted, sigma)
    keep.sort(key=lambda kv: -kv[1])
    other = n_noisy - null_mass - sum(v for _, v in keep)
    cats = [k for k, _ in keep]
    mass = [v for _, v in keep]
    # always keep an "other" code: rows of unreleased categories are encoded there. Its mass is a difference
    # of noisy counts (n̂ minus the released ones): noise σ_n² + σ² per count subtracted
    other_sigma = math.sqrt(sigma_n ** 2 + (len(keep) + int(null_mass > 0)) * sigma ** 2)
    cats, mass = cats + [OTHER], mass + [_present(other, other_sigma)]
    return CategoricalProfile(c.name, c.kind, tuple(cats), tuple(mass), float(null_mass), sigma)
