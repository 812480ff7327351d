"""DP bounds of numeric columns: a histogram over signed powers of two (and a 32-cell refinement for
data in one octave far from 0), read off as the support of the noisy counts. Post-processing of
discrete Gaussian count vectors only; values outside the bounds are clamped.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from .counts import POW2_MIN, Counts, Equal, Pow2
from .privacy.noise import NoisyCounter
from .spec import ColumnSpec, Kind, type_range

__all__ = ["dp_bounds", "pow2_top", "POW2_MIN", "POW2_MAX"]

POW2_MAX = 62  # largest magnitude of the bounds histogram (wider for wide types)


def pow2_top(arrow_type) -> int:
    """Largest power-of-two bucket for a column type: its range (int64: 2⁶³, HUGEINT/DECIMAL(38): 2¹²⁷),
    at most 2¹²⁸ for floats (larger magnitudes are clamped there)."""
    rng = type_range(arrow_type)
    if rng is None or pa.types.is_floating(arrow_type):
        return 128
    return int(min(128, max(POW2_MAX, math.ceil(math.log2(max(abs(rng[0]), abs(rng[1]), 2.0))))))


def _bucket_edges(b: int) -> tuple[float, float]:
    if b == 0:
        return 0.0, 0.0
    lo, hi = 2.0 ** (abs(b) - 1 + POW2_MIN), 2.0 ** (abs(b) + POW2_MIN)
    return (lo, hi) if b > 0 else (-hi, -lo)


def _dp_bounds(counts: Counts, counter: NoisyCounter, rho: float, c: ColumnSpec, arrow_type=None) -> tuple[float, float]:
    top = pow2_top(arrow_type) if arrow_type is not None else POW2_MAX
    binning = Pow2(top)
    k = binning.half
    true = counts.histogram(c.name, c.kind, binning)
    rho = rho / 2  # half for the powers of two, half for the refinement
    noisy, sigma = counter.counts(true, rho, f"{c.name}: bounds (powers of two)")
    first, last = _pooled_support(noisy, sigma)
    # a sign whose whole side of the histogram holds no clear mass is noise: counts and amounts whose
    # data are ≥ 0 never get a negative lower bound (and vice versa) because of one noisy bucket
    if first < k < last:
        neg, pos = noisy[first:k], noisy[k + 1:last + 1]
        if neg.sum() < 4.5 * sigma * math.sqrt(len(neg)):
            first = k
        elif pos.sum() < 4.5 * sigma * math.sqrt(len(pos)):
            last = k
    lo = _bucket_edges(first - k)[0]
    hi = _bucket_edges(last - k)[1]
    # all data in one octave far from 0 (dates, years, timestamps): refine, if there is signal
    if first == last and first != k and noisy[first] > 40 * sigma:
        lo, hi = _refine_bounds(counts, counter, rho, c, lo, hi)
    if c.kind is not Kind.FLOAT:
        lo, hi = math.floor(lo), math.ceil(hi)
    if lo == hi:
        hi = lo + 1.0
    limits = type_range(arrow_type) if arrow_type is not None else None
    if limits is not None:  # the twin's values must fit the column's type
        lo, hi = min(max(lo, limits[0]), limits[1]), max(min(hi, limits[1]), limits[0])
        if lo >= hi:
            lo, hi = (hi - 1.0, hi) if hi > limits[0] else (lo, lo + 1.0)
    return float(lo), float(hi)


def _support(noisy: np.ndarray, sigma: float, extend: float) -> tuple[int, int]:
    """First and last cell holding data, from a noisy histogram over ordered cells.

    The contiguous run around the fullest cell, grown while the next cell clears ``extend``·σ,
    joined with the outermost cells that clear 4.5σ (an empty cell does so w.p. 3e-6, so a
    lone noisy cell far from the data almost never sets a bound, while gaps in real data —
    zero-inflated amounts — are bridged).
    """
    a = z = int(np.argmax(noisy))
    while a > 0 and noisy[a - 1] > extend * sigma:
        a -= 1
    while z < len(noisy) - 1 and noisy[z + 1] > extend * sigma:
        z += 1
    strong = np.flatnonzero(noisy > 4.5 * sigma)
    if strong.size:
        a, z = min(a, int(strong.min())), max(z, int(strong.max()))
    return a, z


def _pooled_support(noisy: np.ndarray, sigma: float) -> tuple[int, int]:
    """:func:`_support` on the finest pooling of neighbouring cells (1, 2, 4, … cells summed) whose
    fullest pool clears 4.5σ√m: data spread thinly over many octaves (few rows, small ε) is found
    from pooled counts instead of being mistaken for the single noisiest cell. Post-processing only."""
    for m in (1, 2, 4, 8, 16, 32):
        pad = (-len(noisy)) % m
        pooled = np.concatenate([noisy, np.zeros(pad)]).reshape(-1, m).sum(axis=1)
        s = sigma * math.sqrt(m)
        if pooled.max() > 4.5 * s:
            a, z = _support(pooled, s, extend=2.0)
            return a * m, min(len(noisy) - 1, (z + 1) * m - 1)
    return _support(noisy, sigma, extend=2.0)


def _refine_bounds(counts: Counts, counter: NoisyCounter, rho: float, c: ColumnSpec, lo: float, hi: float,
                   cells: int = 32) -> tuple[float, float]:
    """Trim power-of-two bounds to the outermost of 32 equal cells with a clear noisy count:
    values far from 0 (dates, timestamps, years) otherwise get bounds decades too wide."""
    if lo < 0 < hi:
        return lo, hi
    binning = Equal(lo, hi, cells)
    edges = binning.edges
    true = counts.histogram(c.name, c.kind, binning)
    noisy, sigma = counter.counts(true, rho, f"{c.name}: bounds refinement ({cells} cells)")
    a, z = _support(noisy, sigma, extend=3.0)
    return float(edges[a]), float(edges[z + 1])


dp_bounds = _dp_bounds
