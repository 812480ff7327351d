"""DP bounds of numeric columns: a histogram over signed powers of two, then a refinement in equal cells
for data in one octave far from 0 (dates and timestamps: also two; 32 cells per octave, 8 for small
tables; dates and timestamps of many rows: a second refinement in 32 cells over the first's support, the
budget split between the two) or else a second measurement of the same histogram, read off as the support
of the noisy counts. Post-processing of discrete Gaussian count vectors only; values outside the bounds are clamped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .counts import POW2_MIN, Counts, Equal, Pow2
from .privacy.noise import NoisyCounter
from .support import NOISE_MAX_P, clear, combine, extent, found_support, grow_run, neighbours, support, thick, widen
from .spec import ColumnSpec, Kind, type_range

__all__ = ["dp_bounds", "dp_bounds_with_octaves", "Octaves", "pow2_top", "POW2_MIN", "POW2_MAX"]

POW2_MAX = 62  # largest magnitude of the bounds histogram (wider for wide types)
ZERO_REACH = 16  # a one-signed support whose inner bound is ≤ 1/ZERO_REACH of its outer one reaches 0 (0: off)
ZOOM_DEPTH = 4  # refinements of dated bounds past the second, at most (each ≥ 4× finer)
ZOOM_CELLS = 6  # a support of at most this many of REFINE_AGAIN cells is zoomed into (with its margins ≤ 1/4)
ZOOM_FLOOR = {Kind.DATE: 1.0, Kind.TIMESTAMP: 1e6}  # the finest cell a zoom measures: a day, a second (in µs)
REFINE_AGAIN = 32  # dates/timestamps of many rows: a second refinement's cells (one was 1/32 octave: 407 days
# for 2024's microseconds; a year of events got bounds 2023-07 … 2025-09, 1.6 % of twin rows outside the year)


def pow2_top(arrow_type) -> int:
    """Largest power-of-two bucket for a column type: its range (int64: 2⁶³, HUGEINT/DECIMAL(38): 2¹²⁷),
    at most 2¹²⁸ for floats (larger magnitudes are clamped there)."""
    rng = type_range(arrow_type)
    if rng is None or pa.types.is_floating(arrow_type):
        return 128
    return int(min(128, max(POW2_MAX, math.ceil(math.log2(max(abs(rng[0]), abs(rng[1]), 2.0))))))


def bucket_edges(b: int) -> tuple[float, float]:
    """The values of signed power-of-two bucket ``b`` (0: zero; b > 0: [2^(b-1+POW2_MIN), 2^(b+POW2_MIN)))."""
    if b == 0:
        return 0.0, 0.0
    lo, hi = 2.0 ** (abs(b) - 1 + POW2_MIN), 2.0 ** (abs(b) + POW2_MIN)
    return (lo, hi) if b > 0 else (-hi, -lo)


@dataclass(frozen=True)
class Octaves:
    """The bounds' noisy histogram over signed powers of two, inside the support it found (negative counts
    and buckets outside it as 0), and its noise scale: where a column's mass lies, for free
    (post-processing). ``mass[b]`` is bucket ``b - half`` (:func:`bucket_edges`)."""

    half: int
    mass: tuple[float, ...]
    sigma: float = 0.0
    found: bool = True  # False: no bucket stood out from the noise, and the bounds are a placeholder


def dp_bounds(counts: Counts, counter: NoisyCounter, rho: float, c: ColumnSpec, arrow_type=None) -> tuple[float, float]:
    """DP bounds of a numeric column (see the module's docstring)."""
    return dp_bounds_with_octaves(counts, counter, rho, c, arrow_type)[:2]


def dp_bounds_with_octaves(counts: Counts, counter: NoisyCounter, rho: float, c: ColumnSpec,
                           arrow_type=None, noise_p: float = NOISE_MAX_P) -> tuple[float, float, Octaves]:
    """:func:`dp_bounds` and the octaves it read; ``noise_p``: :func:`~dp_synth.support.pooled_support`'s."""
    top = pow2_top(arrow_type) if arrow_type is not None else POW2_MAX
    binning = Pow2(top)
    k = binning.half
    true = counts.histogram(c.name, c.kind, binning)
    rho = rho / 2  # half for the powers of two; the other half refines, or re-measures them
    noisy, sigma = counter.counts(true, rho, f"{c.name}: bounds (powers of two)")
    whole = c.kind is not Kind.FLOAT  # whole numbers: read with the zero atom and ±[1, 2) side by side
    noisy, k = (_whole(noisy, k), k + POW2_MIN) if whole else (noisy, k)
    first, last, found = found_support(noisy, sigma, k, noise_p)
    dated = c.kind in (Kind.DATE, Kind.TIMESTAMP)
    if dated:
        first, last = _date_neighbour(noisy, sigma, first, last, k)
    refine = _refinable(noisy, sigma, first, last, k, c.kind)
    if not dated:  # a refinement (its cells per octave kept) trims the neighbours again if they are empty
        grown = neighbours(noisy, sigma, first, last)
        refine = refine // (last - first + 1) * (grown[1] - grown[0] + 1)
        first, last = grown
    if not refine:  # no refinement: the second half measures the same buckets again (nothing is left unspent)
        again, sigma2 = counter.counts(true, rho, f"{c.name}: bounds (powers of two, second measurement)")
        noisy, sigma = combine(noisy, sigma, _whole(again, binning.half) if whole else again, sigma2)
        first, last, found = found_support(noisy, sigma, k, noise_p)
        if not dated and found:
            first, last = neighbours(noisy, sigma, first, last)
    if not found:  # nothing told from the noise: the zero bucket, a placeholder ([0, 1]; notices.py says so)
        first = last = k
    # a sign whose whole side of the histogram holds no clear mass is noise: counts and amounts whose
    # data are ≥ 0 never get a negative lower bound (and vice versa) because of one noisy bucket
    # (a side is clear when some window of its cells clears 4.5σ√m; an unclear side of a support that
    # reaches 0 is dropped when the other side is clear or absent — a one-signed unclear support, or two
    # unclear sides, is thin data the pooled search found: kept; cut, it gave −1 … 0 or inverted bounds)
    neg_unclear = first < k and not clear(noisy[first:k], sigma)
    pos_unclear = last > k and not clear(noisy[k + 1:last + 1], sigma)
    if neg_unclear and not pos_unclear and last >= k:
        first = k
    elif pos_unclear and not neg_unclear and first <= k:
        last = k
    inside = np.zeros(len(noisy))
    inside[first:last + 1] = np.clip(noisy[first:last + 1], 0, None)
    if whole:  # back to every bucket (those under magnitude 1 empty)
        first, last, inside, k = _every(first, k), _every(last, k), _unwhole(inside, k), binning.half
    lo = bucket_edges(first - k)[0]
    hi = bucket_edges(last - k)[1]
    octaves = Octaves(k, tuple(inside.tolist()), float(np.max(sigma)), found)
    if c.kind is Kind.FLOAT:  # integers: their octaves near 0 are single values, which the neighbours rule takes
        lo, hi = _reach_zero(lo, hi)
    # all data in one octave far from 0 (dates, years, timestamps), or dates in two: refine, if there is signal
    if refine and dated and refine >= 32:  # many rows: the refined support is refined again (REFINE_AGAIN)
        lo, hi = _refine_bounds(counts, counter, rho / 2, c, lo, hi, cells=refine, grow=False)
        lo, hi = _zoom(counts, counter, rho / 2, c, lo, hi)
    elif refine:
        lo, hi = _refine_bounds(counts, counter, rho, c, lo, hi, cells=refine, grow=not dated)
    if c.kind is not Kind.FLOAT:
        lo, hi = math.floor(lo), math.ceil(hi)
    if lo == hi:
        hi = lo + 1.0
    limits = type_range(arrow_type) if arrow_type is not None else None
    if limits is not None:  # the twin's values must fit the column's type
        lo, hi = min(max(lo, limits[0]), limits[1]), max(min(hi, limits[1]), limits[0])
        if lo >= hi:
            lo, hi = (hi - 1.0, hi) if hi > limits[0] else (lo, lo + 1.0)
    return float(lo), float(hi), octaves


def _whole(noisy: np.ndarray, zero: int) -> np.ndarray:
    """The buckets a whole-number column can fill: the buckets of magnitudes under 1 (between −1 and 0 and
    between 0 and 1) dropped, so the zero atom sits beside ±[1, 2). They hold no value of an integer, date
    or timestamp column (its type is public), only noise; kept, the support rules saw [1, 2) and 0 twenty
    buckets apart: a 0/1 column of 455 rows (σ ≈ 60) lost one of its values on 10 of 12 seeds. Post-processing.

    >>> f = -POW2_MIN
    >>> _whole(np.arange(2 * (f + 2) + 1.0), f + 2).tolist()  # zero at f + 2: −2, −1 | 0 | 1, 2 kept
    [0.0, 1.0, 22.0, 43.0, 44.0]
    """
    f = -POW2_MIN
    return np.concatenate([noisy[:zero - f], noisy[zero:zero + 1], noisy[zero + f + 1:]])


def _every(i: int, zero: int) -> int:
    """:func:`_whole`'s bucket ``i`` (its zero at ``zero``) as an index of every bucket."""
    return i if i < zero else i - POW2_MIN if i == zero else i - 2 * POW2_MIN


def _unwhole(values: np.ndarray, zero: int) -> np.ndarray:
    """:func:`_whole`'s buckets (zero at ``zero``) back in every bucket, the dropped ones 0."""
    f = -POW2_MIN
    return np.concatenate([values[:zero], np.zeros(f), values[zero:zero + 1], np.zeros(f), values[zero + 1:]])


def _refinable(noisy: np.ndarray, sigma: float, first: int, last: int, zero: int, kind: Kind) -> int:
    """Cells of the refinement worth measuring over the support (0: none). The support must lie on one
    side of 0 in one octave — or, for dates and timestamps (whose zero is arbitrary), in two neighbouring
    octaves: days 2012–2015 straddle 2¹⁴ (2014-11-10) and would otherwise get bounds 2¹³ … 2¹⁵ (67 years
    for 4); microsecond timestamps straddle 2⁵⁰ in 2005. Numbers in two octaves keep them: trimming there
    clamped the thin tails of ages and hours (docs/benchmarks.md, 2026-11-22). 32 cells per octave when
    the support's noisy mass clears 40σ√m (m octaves), 8 when it clears 8σ√m (small tables: 1,168 days
    at ε = 1 hold ≈ 18σ), else none."""
    octaves = 2 if kind in (Kind.DATE, Kind.TIMESTAMP) else 1
    m = last - first + 1
    if not (first > zero or last < zero) or m > octaves:
        return 0
    mass = float(noisy[first:last + 1].sum()) / (sigma * math.sqrt(m))
    return 32 * m if mass > 40 else 8 * m if mass > 8 else 0


def _date_neighbour(noisy: np.ndarray, sigma: float, first: int, last: int, zero: int) -> tuple[int, int]:
    """Dates found in one octave also take the fuller neighbouring octave when its noisy count clears
    1.5σ: the refinement trims it again if it is empty, while a thin octave missed at the support's 3σ
    clamped its rows to one day — seattle's 265 rows of 2014-11 … 2015 at ε = 1 (4.2σ) in 8 of 100
    profiles, 28 % of the rows on 2014-11-10. Post-processing."""
    if first != last or first == zero:
        return first, last
    side = [b for b in (first - 1, last + 1) if 0 <= b < len(noisy) and b != zero and (b > zero) == (first > zero)]
    if not side:
        return first, last
    best = max(side, key=lambda b: noisy[b])
    if noisy[best] <= 1.5 * sigma:
        return first, last
    return min(first, best), max(last, best)


def _reach_zero(lo: float, hi: float) -> tuple[float, float]:
    """Bounds on one side of 0 whose inner edge is at most 1/ZERO_REACH of the outer one are taken to 0:
    the range grows by at most 1/(ZERO_REACH − 1), and the thin data between 0 and the support — each
    octave of it below the noise, as octaves shrink towards 0 — is no longer clamped: seattle_weather's
    temp_min (−7 … 18 °C; 935 rows) got a lower bound of 1 or 2 °C in 51 of 60 profiles at ε = 1,
    clamping 8–12 % of the days. Floats only: an integer's octaves near 0 are one or two values each (the
    neighbour rule takes them), and reaching 0 could push its range past one cell per value (Adult's
    hours per week [4, 128] → [0, 128]: 129 values, binned in twos at ε = 0.5 while one cell per value
    stopped at 128 values). Post-processing.

    >>> _reach_zero(2.0, 32.0), _reach_zero(4.0, 32.0), _reach_zero(-64.0, -2.0), _reach_zero(-4.0, 8.0)
    ((0.0, 32.0), (4.0, 32.0), (-64.0, 0.0), (-4.0, 8.0))
    """
    if ZERO_REACH <= 0:
        return lo, hi
    if 0 < lo <= hi / ZERO_REACH:
        return 0.0, hi
    if hi < 0 and -hi <= -lo / ZERO_REACH:
        return lo, 0.0
    return lo, hi


def _zoom(counts: Counts, counter: NoisyCounter, rho: float, c: ColumnSpec, lo: float, hi: float,
          depth: int = 0) -> tuple[float, float]:
    """Refine dated bounds in REFINE_AGAIN cells, with a margin of one cell (its edge cells hold few rows).
    Half of ``rho`` measures the cells first. When the data (with the thin data beside them that the cells
    show, :func:`_refined_cells`) fill at most ZOOM_CELLS of them with a clear count — a day of events: 2024's
    microseconds in cells of 12.7 days, so the twin spread 5.5 hours of events over 9 — the other half zooms
    into them, recursively (at most ZOOM_DEPTH times, to cells no finer than ZOOM_FLOOR); else it measures the
    same cells again, and the two combine to what one release of ``rho`` gives
    (:func:`~dp_synth.support.combine`). Either way the whole ``rho`` is spent, and nothing else. Thin data
    that no level's cells show are clamped to the bounds: 1 % of rows spread over the 30 days after a day of
    20,000 events (0.9–1.0 % clamped; at 5 % the zoom stops at 38 days and clamps none).
    """
    binning = Equal(lo, hi, REFINE_AGAIN)
    step = (hi - lo) / REFINE_AGAIN
    true = counts.histogram(c.name, c.kind, binning)
    level = f"bounds zoom {depth}" if depth else "bounds refinement"
    noisy, sigma = counter.counts(true, rho / 2, f"{c.name}: {level} ({REFINE_AGAIN} cells)")
    a, z = _refined_cells(noisy, sigma, grow=False)
    m = z - a + 1
    if (m <= ZOOM_CELLS and depth < ZOOM_DEPTH and (m + 2) * step / REFINE_AGAIN >= ZOOM_FLOOR[c.kind]
            and float(noisy[a:z + 1].sum()) > 40 * sigma * math.sqrt(m) and not (lo < 0 < hi)):
        edges = binning.edges
        return _zoom(counts, counter, rho / 2, c, max(lo, edges[a] - step), min(hi, edges[z + 1] + step), depth + 1)
    again, sigma2 = counter.counts(true, rho / 2, f"{c.name}: {level} ({REFINE_AGAIN} cells, again)")
    noisy, sigma = combine(noisy, sigma, again, sigma2)
    a, z = _refined_support(noisy, float(np.max(sigma)), binning.edges, grow=True)
    return max(lo, a - step), min(hi, z + step)


def _refine_bounds(counts: Counts, counter: NoisyCounter, rho: float, c: ColumnSpec, lo: float, hi: float,
                   cells: int = 32, grow: bool = True) -> tuple[float, float]:
    """Trim power-of-two bounds to the outermost of ``cells`` equal cells with a clear noisy count:
    values far from 0 (dates, timestamps, years) otherwise get bounds decades too wide. ``grow``: then
    :func:`grow_run` (not for dates: a false step there is a year or more beside a support of a few cells)."""
    if lo < 0 < hi:
        return lo, hi
    binning = Equal(lo, hi, cells)
    true = counts.histogram(c.name, c.kind, binning)
    noisy, sigma = counter.counts(true, rho, f"{c.name}: bounds refinement ({cells} cells)")
    return _refined_support(noisy, sigma, binning.edges, grow)


def _refined_support(noisy: np.ndarray, sigma: float, edges: np.ndarray, grow: bool) -> tuple[float, float]:
    """The bounds a refinement's noisy cells give (:func:`_refine_bounds`). Post-processing."""
    a, z = _refined_cells(noisy, sigma, grow)
    return float(edges[a]), float(edges[z + 1])


def _refined_cells(noisy: np.ndarray, sigma: float, grow: bool) -> tuple[int, int]:
    """First and last of a refinement's cells holding data (:func:`_refine_bounds`). Post-processing."""
    a, z = widen(noisy, sigma, *support(noisy, sigma, extend=3.0))
    # thin data beside the support (few rows per cell): trimming would clamp those rows. When the cells
    # outside hold clear mass — above a tenth of the support's *and* above 2σ√m for their m cells (the
    # noise of empty cells alone, σ√14 ≈ 240 rows beside seattle's 935 at ε = 1, otherwise passed for a
    # tenth of the data) — each side grows over the cells next to it whose running sum is clear. Keeping
    # the whole octave instead gave 11 of 300 such profiles 1992…2059 for 2012…2015 (test_bounds.py)
    outside = np.concatenate([noisy[:a], noisy[z + 1:]])
    if thick(outside, sigma, float(noisy[a:z + 1].sum())):
        z += extent(noisy[z + 1:], sigma)
        a -= extent(noisy[:a][::-1], sigma)
    if grow:
        a, z = grow_run(noisy, sigma, a, z)
    return a, z


