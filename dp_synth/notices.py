"""What a run tells its user about the twin it built, read off DP outputs only (the released profile):
a column made constant by its bounds, or whose values nothing measured, or finer than the bounds resolve;
values pooled as ``__other__``; a column that looks like a row number.
Each notice names the table and column and what to declare; they are shown once the run succeeded and kept
in its ledger row (docs/privacy.md: no notice carries an exact count).
"""

from __future__ import annotations

import numpy as np

from .counts import POW2_MIN
from .profile import OTHER, CategoricalProfile, NumericProfile
from .spec import Kind, TableSpec

__all__ = ["profile_notices", "POOLED_NOTICE", "ROW_NUMBER_SPAN", "ROW_NUMBER_EVEN"]


def profile_notices(tspec: TableSpec, profile, table: str, eps: float) -> list[str]:
    """Every notice the released profile of ``table`` (spec ``tspec``, run at ``eps``) calls for."""
    return [*_unfound(profile, table, eps), *_collapsed_bounds(tspec, profile, table, eps),
            *_below_resolution(tspec, profile, table), *_pooled_categories(profile, table, eps),
            *_row_numbers(profile, table)]


def _below_resolution(tspec: TableSpec, profile, table: str) -> list[str]:
    """A notice per float column whose DP bounds lie within ±2^(POW2_MIN + 2): its values are at the finest
    magnitude the bounds' histogram resolves (2^POW2_MIN ≈ 10⁻⁶; smaller ones are counted there), so the
    twin's are off in scale — 5,000 values of 10⁻¹⁰ … 10⁻⁷ came out as 9.5·10⁻⁷. Declared bounds give the
    column its own cells (median 2.3·10⁻⁹ against 2.1·10⁻⁹). Reads DP outputs only (the released bounds).

    >>> from types import SimpleNamespace as N
    >>> p = NumericProfile("p", Kind.FLOAT, 2.0 ** -20, 2.0 ** -19, (0.0,), (1.0,), (1.0,), (0, 1), 0.0)
    >>> [t[:44] for t in _below_resolution(N(columns=()), N(columns=(p,)), "main.t")]
    ["table 'main.t': column 'p': its values are b"]
    """
    declared = {c.name for c in tspec.columns if c.bounds is not None}
    edge = 2.0 ** (POW2_MIN + 2)
    return [f"table {table!r}: column {c.name!r}: its values are below {edge:.0e} in magnitude, finer than the DP "
            "bounds resolve, so the twin's are off in scale. Declare public bounds for it in the spec (they cost "
            "nothing), or store it scaled (e.g. in millionths)"
            for c in profile.columns if isinstance(c, NumericProfile) and c.kind is Kind.FLOAT and c.found
            and c.name not in declared and max(abs(c.lower), abs(c.upper)) <= edge]


def _unfound(profile, table: str, eps: float) -> list[str]:
    """One notice naming the numeric columns none of whose values stood out from their bounds' noise: their
    twin columns hold placeholder values in [0, 1] (96 rows of 23 columns at ε = 1 gave such columns bounds
    like −5.8·10¹⁷ before). Reads DP outputs only.

    >>> from types import SimpleNamespace as N
    >>> x = NumericProfile("x", Kind.INTEGER, 0, 1, (0,), (1,), (0.0,), (0, 1), 0.0, found=False)
    >>> [t[:64] for t in _unfound(N(columns=(x,)), "main.t", 1.0)]
    ["table 'main.t': column 'x': no value stood out from the noise at"]
    """
    names = [c.name for c in profile.columns if isinstance(c, NumericProfile) and not c.found
             and (not c.has_null or c.marginal()[0] < 0.99)]  # not for a column the twin leaves NULL
    if not names:
        return []
    which = f"column {names[0]!r}" if len(names) == 1 else "columns " + ", ".join(map(repr, names))
    return [f"table {table!r}: {which}: no value stood out from the noise at ε={eps:g}, so the DP bounds are "
            "unknown and the twin holds placeholder values in [0, 1] there, not the column's. Declare public "
            "bounds in the spec (they cost nothing), raise ε, or add rows"]


def _collapsed_bounds(tspec: TableSpec, profile, table: str, eps: float) -> list[str]:
    """A notice per non-float column whose DP bounds hold a single value: its twin column is constant,
    and a column with rare other values (capital loss at ε = 0.5: 5 % of rows) loses them. Reads DP
    outputs only (the released bounds)."""
    declared = {c.name for c in tspec.columns if c.bounds is not None}
    return [f"table {table!r}: column {c.name!r}: its DP bounds hold one value ({c.lower:g}), so the twin's "
            f"column is constant; other values, if the column has them, were too rare to measure at ε={eps:g}. "
            "Declare public bounds for it in the spec (they cost nothing) or raise ε"
            for c in profile.columns if isinstance(c, NumericProfile) and c.name not in declared
            and c.kind is not Kind.FLOAT and c.upper - c.lower <= 1 and c.found]


POOLED_NOTICE = 0.05  # share of a column's rows (by its DP counts) written as OTHER above which a run says so


def _pooled_categories(profile, table: str, eps: float) -> list[str]:
    """A notice per categorical column whose values too rare to release hold at least POOLED_NOTICE of its
    rows (their pooled noisy mass): the twin writes them as OTHER, a value the real column may not have
    (200,000 rows of 4,913 Zipf-distributed zip codes at ε = 1: 20 % of the twin's rows). Reads DP outputs
    only (the released categories' noisy masses).

    >>> from types import SimpleNamespace as N
    >>> zips = CategoricalProfile("zip", Kind.CATEGORICAL, ("1", "2", OTHER), (600.0, 200.0, 200.0), 0.0)
    >>> [t[:52] for t in _pooled_categories(N(columns=(zips,)), "main.t", 1.0)]
    ["table 'main.t': column 'zip': about 20 % of its rows"]
    """
    out = []
    for c in profile.columns:
        if not isinstance(c, CategoricalProfile) or OTHER not in c.categories:
            continue
        total = sum(c.mass) + c.null_mass
        share = c.mass[c.categories.index(OTHER)] / total if total > 0 else 0.0
        if share >= POOLED_NOTICE:
            out.append(f"table {table!r}: column {c.name!r}: about {100 * share:.0f} % of its rows hold values too "
                       f"rare to release at ε={eps:g}; the twin writes them as {OTHER!r}. Declare the column's "
                       "categories in the spec (a public list costs nothing and keeps every value listed) or raise ε")
    return out


ROW_NUMBER_SPAN = 1000  # an integer column over at least this many values, about one row on each (0.5–1.5) …
ROW_NUMBER_EVEN = 0.5   # … spread evenly (coefficient of variation of its clear cells' masses below this)


def _row_numbers(profile, table: str) -> list[str]:
    """A notice per integer column that looks like a row number (an id): its noisy histogram puts about one
    row on each integer of the range its clear cells occupy, evenly. The twin draws such a column's values
    like any number, so they repeat (50,000 event ids: 31,569 distinct in the twin); declared a key, the
    twin numbers its rows uniquely. Reads DP outputs only (the released cells and their noise scale).

    >>> from types import SimpleNamespace as N
    >>> ids = NumericProfile("id", Kind.INTEGER, 0, 8192, (0, 2048, 4096, 6144), (2048, 4096, 6144, 8192),
    ...                      (2100.0, 1990.0, 2050.0, 0.0), (0, 4), 0.0, sigma=20.0)
    >>> ages = NumericProfile("age", Kind.INTEGER, 0, 128, (0, 64), (64, 128), (5000.0, 800.0), (0, 2), 0.0, sigma=20.0)
    >>> [t[:40] for t in _row_numbers(N(columns=(ids, ages)), "main.t")]
    ["table 'main.t': column 'id' looks like a"]
    """
    out = []
    for c in profile.columns:
        if not isinstance(c, NumericProfile) or c.kind is not Kind.INTEGER:
            continue
        mass = np.asarray(c.cell_mass, dtype=float)
        clear = np.flatnonzero(mass > 3.0 * c.sigma)
        if clear.size < 2:
            continue
        a, z = int(clear[0]), int(clear[-1])
        span = c.highs[z] - c.lows[a] + 1.0
        width = np.maximum(np.asarray(c.highs[a:z + 1]) - np.asarray(c.lows[a:z + 1]) + 1.0, 1.0)
        density = mass[a:z + 1] / width  # rows per integer in each cell
        if (span >= ROW_NUMBER_SPAN and 0.5 <= mass[a:z + 1].sum() / span <= 1.5
                and density.std() < ROW_NUMBER_EVEN * density.mean()):
            out.append(f"table {table!r}: column {c.name!r} looks like a row number (about one row per value, "
                       "evenly, by its DP histogram): the twin draws its values, so they repeat. If it identifies "
                       "rows, declare it {'role': 'key'} and the twin numbers its rows uniquely")
    return out
