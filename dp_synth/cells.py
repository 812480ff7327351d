"""A numeric column's fine cells, set before its histogram is measured (post-processing of public values:
the DP bounds, the DP row count, the noise scale, and the bounds' noisy power-of-two histogram).

Cells are equal in width, or one per value for a small integer range. A column whose values span many
octaves on one side of 0 (amounts, prices, sizes: log-distributed) gets cells by octave instead, when equal
widths would put much of its mass into the first cell, where the twin then draws values uniformly:
5,000 log-uniform amounts 1 … 4.8·10⁸ had 63 % of their rows in a first cell [0, 9.3·10⁶), and the twin's
median was 6.0·10⁶ against the data's 2.1·10⁴ (KS 0.62).

>>> from dp_synth.bounds import Octaves
>>> from dp_synth.spec import ColumnSpec, Kind
>>> mass = [0.0] * 20 + [0.0] + [100.0] * 20 + [0.0] * 5        # 20 octaves 2^-20 … 2^0 hold mass
>>> octaves = Octaves(20, tuple(mass), sigma=10.0)
>>> lows, highs = cell_edges(ColumnSpec("x", Kind.FLOAT), (0.0, 1.0), 64, octaves)
>>> len(lows), float(highs[0]), float(highs[1]), [float(v) for v in lows[-3:]]  # 3 cells per octave
(62, 0.0, 9.5367431640625e-07, [0.5, 0.6666666666666666, 0.8333333333333333])
>>> lows, highs = cell_edges(ColumnSpec("x", Kind.FLOAT), (0.0, 1.0), 64, None)   # without: equal widths
>>> len(lows), float(highs[1])
(65, 0.015625)
"""

from __future__ import annotations

import math

import numpy as np

from .bounds import Octaves, bucket_edges
from .counts import Fine
from .spec import ColumnSpec, Kind

__all__ = ["fine_binning", "cell_edges", "MAX_CELLS", "CELL_SIGMAS", "SMALL_INTEGER_RANGE", "WIDE_OCTAVES",
           "WIDE_SHARE", "OCTAVE_Z"]

MAX_CELLS = 256              # fine cells per numeric column
SMALL_INTEGER_RANGE = 256    # integer columns with at most this many values get one cell per value (was 128:
                             # Adult at ε = 0.5, split 0, hours per week got DP bounds [4, 256], cells of 3 values,
                             # and its 40-hour spike drawn as 38, 39, 40: 1-way TVD 0.36, 2-way 0.101 → 0.060)
CELL_SIGMAS = 4.0            # a numeric column gets about n̂/(CELL_SIGMAS·σ) fine cells
WIDE_OCTAVES = 8             # a one-signed support over at least this many octaves may get cells by octave …
WIDE_SHARE = 0.25            # … when equal widths would put this share of its noisy non-zero mass in one cell
OCTAVE_Z = 3.0               # an octave holds mass when its noisy count clears this many σ


def fine_binning(c: ColumnSpec, bounds, unit: float, n_noisy: float, octaves: Octaves | None = None) -> Fine:
    """The column's cells for a histogram measured with zCDP ``unit``: as many as the noise allows, about
    n̂/(CELL_SIGMAS·σ) rows per cell on average."""
    lo, hi = bounds
    sigma = 1.0 / math.sqrt(2.0 * unit)
    budget = int(np.clip(n_noisy / (CELL_SIGMAS * sigma), 8, MAX_CELLS))
    if c.kind is not Kind.FLOAT and hi - lo + 1 <= SMALL_INTEGER_RANGE:  # one cell per value: spikes survive
        budget = max(budget, int(hi - lo + 1))
    lows, highs = cell_edges(c, (lo, hi), budget, octaves)
    return Fine(float(lo), float(hi), tuple(lows.tolist()), tuple(highs.tolist()))


def cell_edges(c: ColumnSpec, bounds, budget: int, octaves: Octaves | None) -> tuple[np.ndarray, np.ndarray]:
    """(lows, highs) of about ``budget`` cells over ``bounds``: by octave where :func:`_wide` says so."""
    lo, hi = bounds
    integral = c.kind is not Kind.FLOAT
    lows, highs = _cells(lo, hi, integral, budget)
    if octaves is None or (integral and hi - lo + 1 <= budget):
        return lows, highs
    if lo >= 0 and _wide(octaves, lows, highs, lo):
        return _by_octave(lo, hi, integral, budget, octaves)
    if hi <= 0:  # a one-signed negative column: the same, mirrored
        k, mass = octaves.half, octaves.mass
        mirrored = Octaves(k, tuple(mass[2 * k - b] if 0 <= 2 * k - b < len(mass) else 0.0 for b in range(len(mass))))
        if _wide(mirrored, -highs[::-1], -lows[::-1], -hi):
            m_lows, m_highs = _by_octave(-hi, -lo, integral, budget, mirrored)
            return -m_highs[::-1], -m_lows[::-1]
    return lows, highs


def _cells(lo: float, hi: float, integral: bool, max_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Fine cells: one per integer when the range is small, else equal width; 0 is its own cell."""
    if integral and hi - lo + 1 <= max_cells:
        pts = np.arange(lo, hi + 1)
        return pts, pts.copy()
    edges = np.linspace(lo, hi, max_cells + 1)
    if integral:
        edges = np.unique(np.round(edges))
    return _with_zero(lo, hi, edges[:-1], edges[1:])


def _with_zero(lo: float, hi: float, lows: np.ndarray, highs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if lo < 0 < hi or lo == 0:  # zero-inflated columns (amounts, counts) keep their atom
        lows = np.concatenate([[0.0], lows])
        highs = np.concatenate([[0.0], highs])
        order = np.lexsort((highs, lows))
        lows, highs = lows[order], highs[order]
    return lows, highs


def _positive(octaves: Octaves) -> list[int]:
    """Bucket indices of the positive octaves from the first to the last whose noisy mass clears
    OCTAVE_Z·σ (Adult's capital gains: noise of ≈ 1σ in most of the 20 octaves below 1)."""
    held = [b for b in range(octaves.half + 1, len(octaves.mass)) if octaves.mass[b] > OCTAVE_Z * octaves.sigma]
    return list(range(held[0], held[-1] + 1)) if held else []


def _wide(octaves: Octaves, lows: np.ndarray, highs: np.ndarray, lo: float) -> bool:
    """Mass over ≥ WIDE_OCTAVES positive octaves, of which ≥ WIDE_SHARE lies in octaves that end inside
    the first equal-width cell above 0."""
    pos = _positive(octaves)
    if len(pos) < WIDE_OCTAVES:
        return False
    first = next((h for l_, h in zip(lows, highs) if h > l_ and h > 0), None)
    if first is None:
        return False
    mass = np.array([octaves.mass[b] if octaves.mass[b] > OCTAVE_Z * octaves.sigma else 0.0 for b in pos])
    inside = np.array([bucket_edges(b - octaves.half)[1] <= first for b in pos])
    return bool(mass.sum() > 0 and mass[inside].sum() >= WIDE_SHARE * mass.sum())


def _by_octave(lo: float, hi: float, integral: bool, budget: int, octaves: Octaves) -> tuple[np.ndarray, np.ndarray]:
    """Cells by octave over [lo, hi] (lo ≥ 0): each octave from the first holding noisy mass to the last
    gets one cell plus its share of the rest of ``budget`` by its noisy mass, in equal widths; values
    below the first octave share one cell, and 0 keeps its atom."""
    pos = _positive(octaves)
    mass = np.array([octaves.mass[b] for b in pos])
    spare = max(budget - len(pos) - 1, 0)
    counts = 1 + np.floor(spare * mass / mass.sum()).astype(int)
    edges = []
    for b, n in zip(pos, counts.tolist()):
        a, z = bucket_edges(b - octaves.half)
        a, z = max(a, lo), min(z, hi)
        if z > a:
            edges.append(np.linspace(a, z, n + 1)[:-1])
    start = float(edges[0][0]) if edges else lo
    edges = np.concatenate(([np.array([lo])] if lo < start else []) + edges + [np.array([hi])])
    if integral:
        edges = np.round(edges)
    edges = np.unique(edges)
    if len(edges) < 2:
        return _cells(lo, hi, integral, budget)
    return _with_zero(lo, hi, edges[:-1], edges[1:])
