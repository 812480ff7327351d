"""The support of a noisy histogram over ordered cells: where the data are, read off discrete Gaussian
counts (post-processing only). The rules the DP bounds (bounds.py) use: the contiguous run around the
fullest cell, windows of cells that clear the noise of their family, the octaves beside a support, the
thin tail beside a zero atom, and no support at all when nothing stands out from the noise.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

__all__ = ["support", "pooled_support", "found_support", "zero_tails", "neighbours", "widen", "grow_run",
           "extent", "thick", "clear", "combine", "window_sums", "noise_max", "WINDOW_Z", "NEIGHBOUR_Z",
           "ZERO_TAIL_Z", "NOISE_MAX_P"]

WINDOW_Z = 5.3  # noise multiple a lone cell or window of cells away from the support must clear
NEIGHBOUR_Z = 1.5  # noise multiple the octave next to a support must clear to join it (0: off)
ZERO_TAIL_Z = 4.5  # noise multiple (σ√m) a window beside a support of the zero atom alone must clear
NOISE_MAX_P = 0.01  # a histogram with no pooled window clear of the noise keeps its fullest bucket only if pure
# noise tops it w.p. ≤ this over the table's columns (profile.py divides it among them), else placeholder bounds
# [0, 1] that notices.py names. 96 rows of 23 count columns at ε = 1 (σ ≈ 46, the data's bucket ≈ 2σ) got bounds
# like −5.8·10¹⁷; at 1 % per column, 2 of 5 fits of 16 such columns still had one at 2³³ or −2³⁰


def found_support(noisy: np.ndarray, sigma: float, zero: int,
                  noise_p: float = NOISE_MAX_P) -> tuple[int, int, bool]:
    """The support (:func:`pooled_support`, then :func:`zero_tails`), and whether any of it stood out
    from the noise (False: the zero bucket, a placeholder)."""
    pooled = pooled_support(noisy, sigma, noise_p)
    first, last = zero_tails(noisy, sigma, *(pooled or (zero, zero)), zero)
    return first, last, pooled is not None or (first, last) != (zero, zero)


def noise_max(buckets: int, p: float = NOISE_MAX_P) -> float:
    """The noise multiple that the largest of ``buckets`` empty buckets' counts exceeds w.p. ``p``
    (Bonferroni, Gaussian): a fullest bucket below it is as likely noise as data.

    >>> round(noise_max(85), 2), round(noise_max(297), 2)  # an integer's buckets, a float's
    (3.68, 3.99)
    """
    return NormalDist().inv_cdf(1.0 - p / buckets)


def zero_tails(noisy: np.ndarray, sigma: float, first: int, last: int, zero: int) -> tuple[int, int]:
    """A support of the zero atom alone, grown on each side to the outermost window of 4, 6 or 8 octaves
    whose noisy sum clears ZERO_TAIL_Z·σ√m: the one family of windows a zero-inflated column is tested
    with again, below :func:`widen`'s 5.3σ√m (set for every window of every column). seattle_weather's
    450 wet days over the 8 octaves 0.25 … 64 mm (σ ≈ 26) missed 5.3σ√8 on 8 of 20 splits, and the
    bounds were [0, 1] mm. Post-processing.

    >>> noisy = np.zeros(41); noisy[20] = 520.0; noisy[30:38] = 50.0  # 400 rows in octaves 30 … 37, σ = 26
    >>> zero_tails(noisy, 26.0, 20, 20, 20)  # an 8-window with one empty octave still clears, as in widen
    (20, 38)
    """
    if not first == last == zero:
        return first, last
    for m in (4, 6, 8):
        s = ZERO_TAIL_Z * sigma * math.sqrt(m)
        hit = np.flatnonzero(window_sums(noisy[zero + 1:], m) > s)
        if hit.size:
            last = max(last, zero + int(hit.max()) + m)
        hit = np.flatnonzero(window_sums(noisy[:zero], m) > s)
        if hit.size:
            first = min(first, int(hit.min()))
    return first, last


def neighbours(noisy: np.ndarray, sigma: float, first: int, last: int) -> tuple[int, int]:
    """The support grown by the octave next to it on each side whose noisy count clears NEIGHBOUR_Z·σ
    (one octave per side at most: a false step doubles that side's width, no more). The support's own
    rule (3σ per octave) clamped seattle_weather's windiest quarter of days to 4 m/s (wind's 234 rows
    of [4, 8) at σ = 64, ε = 1) in about 1 profile of 4. Post-processing.

    >>> neighbours(np.array([0.0, 10, 120, 900, 200, 30]), 60.0, 3, 3)
    (2, 4)
    """
    if NEIGHBOUR_Z <= 0:
        return first, last
    if first > 0 and noisy[first - 1] > NEIGHBOUR_Z * sigma:
        first -= 1
    if last < len(noisy) - 1 and noisy[last + 1] > NEIGHBOUR_Z * sigma:
        last += 1
    return first, last


def support(noisy: np.ndarray, sigma: float, extend: float) -> tuple[int, int]:
    """First and last cell holding data, from a noisy histogram over ordered cells.

    The contiguous run around the fullest cell, grown while the next cell clears ``extend``·σ,
    joined with the outermost cells that clear WINDOW_Z·σ, so that gaps in real data (zero-inflated
    amounts) are bridged. An empty cell clears 5.3σ w.p. 6·10⁻⁸, ≈ 10⁻⁵ over a column's 169 cells; at
    the 4.5σ used before, 3·10⁻⁶ per cell gave 2 of 300 Adult fits a bound of 2⁴⁷ or −2³³ (secure
    sampler, ε = 0.5: that column's twin is then one fine cell of noise).
    """
    top = int(np.argmax(noisy))
    a, z = grow_run(noisy, sigma, top, top, z_score=extend)
    strong = np.flatnonzero(noisy > WINDOW_Z * sigma)
    if strong.size:
        a, z = min(a, int(strong.min())), max(z, int(strong.max()))
    return a, z


def combine(a: np.ndarray, sa: float, b: np.ndarray, sb: float) -> tuple[np.ndarray, float]:
    """Inverse-variance mean of two independent noisy measurements of the same counts, and its σ
    (two Gaussian releases of ρ₁ and ρ₂ are worth one of ρ₁ + ρ₂). Post-processing.

    >>> combine(np.array([10.0]), 2.0, np.array([20.0]), 2.0)
    (array([15.]), 1.414...)
    """
    wa, wb = 1.0 / np.square(sa), 1.0 / np.square(sb)  # scales may be arrays (one per count) or floats
    s = 1.0 / np.sqrt(wa + wb)
    return (wa * np.asarray(a, float) + wb * np.asarray(b, float)) / (wa + wb), float(s) if np.ndim(s) == 0 else s


def pooled_support(noisy: np.ndarray, sigma: float, noise_p: float = NOISE_MAX_P) -> tuple[int, int] | None:
    """:func:`support` on the finest pooling of neighbouring cells (1, 2, 4, … cells summed) whose
    fullest pool clears 4.5σ√m: data spread thinly over many octaves (few rows, small ε) is found
    from pooled counts instead of being mistaken for the single noisiest cell. Then, beyond that
    support on either side, windows of 2 to 8 cells whose sum clears 5.3σ√m widen it: the tail of a
    zero-inflated amount (capital gains: 8 % of rows over ten octaves beside an atom at 0) is mass
    no single octave shows. When no pool clears, the fullest cell alone, if pure noise tops it w.p. ≤
    ``noise_p`` (:func:`noise_max`); else None: nothing stood out. Post-processing only."""
    for m in (1, 2, 4, 8, 16, 32):
        pad = (-len(noisy)) % m
        pooled = np.concatenate([noisy, np.zeros(pad)]).reshape(-1, m).sum(axis=1)
        s = sigma * math.sqrt(m)
        if pooled.max() > 4.5 * s:
            a, z = support(pooled, s, extend=3.0)
            a, z = a * m, min(len(noisy) - 1, (z + 1) * m - 1)
            break
    else:
        if noisy.max() <= noise_max(noisy.size, noise_p) * sigma:
            return None
        a, z = support(noisy, sigma, extend=3.0)
    return widen(noisy, sigma, a, z)


def window_sums(cells: np.ndarray, m: int) -> np.ndarray:
    """Sums of every m neighbouring cells: entry j is cells j … j+m−1 (empty when fewer than m cells)."""
    return np.convolve(cells, np.ones(m), mode="valid") if len(cells) >= m else np.empty(0)


def clear(cells: np.ndarray, sigma: float) -> bool:
    """Whether some window of m ∈ {1, 2, 3, 4, 6, 8} neighbouring cells has a noisy sum above 4.5σ√m."""
    return any(np.any(window_sums(cells, m) > 4.5 * sigma * math.sqrt(m)) for m in (1, 2, 3, 4, 6, 8))


def widen(noisy: np.ndarray, sigma: float, a: int, z: int) -> tuple[int, int]:
    """Grow [a, z] to the outermost window of m ∈ {2, 3, 4, 6, 8} neighbouring cells past it whose noisy
    sum clears WINDOW_Z·σ√m. The threshold is set for the whole family: ≈ 230 independent windows per
    column (overlapping windows of a size are correlated), each cleared by pure noise w.p. 6·10⁻⁸ at
    5.3σ, so one column's bounds jump to a far, empty octave w.p. ≈ 1.4·10⁻⁵ (at 4.5σ, ≈ 10⁻³: 2 of 150
    Adult fits got a bound of 2⁵⁷ or −2³⁶).

    >>> noisy = np.zeros(40); noisy[20] = 5000.0; noisy[24:27] = 100.0   # 300 rows over 3 cells, σ = 20
    >>> widen(noisy, 20.0, 20, 20)
    (20, 26)
    """
    for m in (2, 3, 4, 6, 8):
        s = WINDOW_Z * sigma * math.sqrt(m)
        hit = np.flatnonzero(window_sums(noisy[z + 1:], m) > s)  # window j: cells z+1+j … z+j+m
        if hit.size:
            z = z + int(hit.max()) + m
        hit = np.flatnonzero(window_sums(noisy[:a], m) > s)  # window j: cells j … j+m−1
        if hit.size:
            a = int(hit.min())
    return a, z


def grow_run(noisy: np.ndarray, sigma: float, a: int, z: int, *, z_score: float = NEIGHBOUR_Z) -> tuple[int, int]:
    """A support grown over each next cell whose noisy count clears ``z_score``·σ (:func:`support`'s
    contiguous run, at its ``extend``). For a refined support, NEIGHBOUR_Z: trimming a cell
    of data clamps its rows, keeping an empty one widens the bounds by one cell. 1,000 normal(50, 10)
    values (8 cells per octave, σ ≈ 30) lost the cell [32, 38) of 84 rows (noisy 59, under the support's
    3σ), and the bounds clamped more than 10 % of the rows on 15 of 30 seeds (10 after). Post-processing.

    >>> grow_run(np.array([0.0, 59, 150, 180, 40, 20]), 34.0, 2, 3)
    (1, 3)
    """
    while a > 0 and noisy[a - 1] > z_score * sigma:
        a -= 1
    while z < len(noisy) - 1 and noisy[z + 1] > z_score * sigma:
        z += 1
    return a, z


def extent(cells: np.ndarray, sigma: float) -> int:
    """How many of ``cells`` (ordered outward from a support) hold the thin data beside it: the largest w
    whose first w cells' noisy sum clears 2σ√w (0: none) — past the data while its mass still clears
    the noise of the empty cells after it, never past the octave. Post-processing.

    >>> extent(np.array([250.0, 0, 0, 0, 0, 0]), 60.0), extent(np.array([-40.0, 30, -20, 10]), 60.0)
    (4, 0)
    """
    if cells.size == 0:
        return 0
    ok = np.flatnonzero(np.cumsum(cells) > 2.0 * sigma * np.sqrt(np.arange(1, cells.size + 1)))
    return int(ok.max()) + 1 if ok.size else 0


def thick(cells: np.ndarray, sigma: float, inside: float) -> bool:
    """Whether cells beside a support hold mass that trimming them would clamp: more than a tenth of
    the support's and more than their noise makes but rarely (2σ√m: empty cells pass w.p. 2.3 %; passed
    by mistake, only the sides' running sums limit the bounds, failed by mistake it clamps rows).

    >>> thick(np.full(14, 20.0), 60.0, 900.0), thick(np.full(14, 40.0), 60.0, 900.0)
    (False, True)
    """
    total = float(cells.sum())
    return cells.size > 0 and total > 0.1 * inside and total > 2.0 * sigma * math.sqrt(cells.size)
