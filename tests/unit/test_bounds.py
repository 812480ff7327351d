"""DP bounds: tight for values far from zero (dates), robust to a lone noisy bucket, the tail of a
zero-inflated column found, no half of the budget left unspent, thin refinements kept wide."""

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from dp_synth import TableSpec
from dp_synth.bounds import dp_bounds
from dp_synth.support import combine as _combine
from dp_synth.counts import as_counts
from dp_synth.privacy.noise import NoisyCounter
from dp_synth.profile import measure_profile


def _numeric_profile(series: pl.Series, seed: int = 0):
    df = series.to_frame()
    spec = TableSpec.from_arrow(df.to_arrow().schema, table="t")
    _, prof, _ = measure_profile(df, spec, 0.05, 1e-6, np.random.RandomState(seed))
    return prof.columns[0]


def test_date_bounds_are_refined_to_years_not_decades():
    rng = np.random.default_rng(0)
    days = [dt.date(2021, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 900, 20000)]
    col = _numeric_profile(pl.Series("d", days))
    span_days = col.upper - col.lower
    assert col.lower <= 18628 + 1 and col.upper >= 18628 + 899  # 2021-01-01 .. 2023-06-19 inside
    assert span_days < 5 * 365  # power-of-two bounds alone would span 16384..32768 days (45 years)


def test_dates_across_a_power_of_two_are_refined_too():
    """Days 2012–2015 straddle 2¹⁴ (2014-11-10): power-of-two bounds would be 2¹³ … 2¹⁵ (67 years for 4,
    seattle_weather's date at every ε before). Numbers in two octaves are not trimmed (their tails)."""
    days = [dt.date(2012, 1, 1) + dt.timedelta(days=d) for d in range(1461)]  # 15340 … 16800
    for seed in range(3):
        col = _numeric_profile(pl.Series("d", days), seed)
        assert 15340 - 400 <= col.lower <= 15340 and 16800 <= col.upper <= 16800 + 400, (col.lower, col.upper)
    x = pl.DataFrame({"t": np.random.default_rng(0).uniform(10.0, 30.0, 5000)})  # octaves 2³ … 2⁵
    (lo, hi), ms = _bounds(x, 0.05, 0)
    assert (lo, hi) == (8.0, 32.0) and "second measurement" in ms[-1].target


def test_bounds_never_jump_to_far_away_buckets():
    for seed in range(5):
        col = _numeric_profile(pl.Series("x", np.random.default_rng(seed).normal(100, 5, 3000)), seed)
        assert 32 <= col.lower and col.upper <= 256


def _bounds(df: pl.DataFrame, rho: float, seed: int):
    spec = TableSpec.from_arrow(df.to_arrow().schema, {}, table="t")
    counter = NoisyCounter(np.random.RandomState(seed))
    col = spec.column(df.columns[0])
    return dp_bounds(as_counts(df), counter, rho, col, df.to_arrow().schema.field(0).type), counter.measurements


def _capital_gain_like(n: int = 20_800, seed: int = 0) -> pl.DataFrame:
    """92 % zeros; the rest spread over octaves 2^9 … 2^17 as Adult's capital gains are."""
    rng = np.random.default_rng(seed)
    share = np.array([47, 102, 701, 1003, 596, 89, 7, 159], float)
    octave = rng.choice(np.arange(9, 17), size=int(0.083 * n), p=share / share.sum())
    tail = np.floor(2.0 ** (octave + rng.random(octave.size))).astype(np.int64)
    return pl.DataFrame({"gain": np.concatenate([np.zeros(n - tail.size, np.int64), tail])})


def test_the_tail_of_a_zero_inflated_column_is_found_where_no_single_octave_clears_the_noise():
    """At ρ = 1.5e-5 (σ ≈ 129 after both halves) the fullest octave holds ≈ 640 rows (< 4.5σ): the tail is
    found from windows of neighbouring octaves (≈ 90 % of runs here)."""
    df = _capital_gain_like()
    uppers = [_bounds(df, 3e-5, seed)[0][1] for seed in range(20)]
    assert sum(u >= 8192 for u in uppers) >= 15, uppers  # 3 of 4 runs of the earlier rule gave [0, 1]
    assert all(u <= 2 ** 18 for u in uppers)  # never wider than the data's last octave allows


def test_without_refinement_the_second_half_remeasures_and_both_are_accounted():
    df = _capital_gain_like()
    rho = 3e-5
    _, ms = _bounds(df, rho, 0)
    assert [m.target for m in ms] == ["gain: bounds (powers of two)", "gain: bounds (powers of two, second measurement)"]
    assert sum(1 / (2 * m.sigma ** 2) for m in ms) == pytest.approx(rho)  # the whole ρ, charged once each


def test_combined_measurements_have_the_variance_of_one_release_of_the_summed_budget():
    rng = np.random.default_rng(1)
    a = 100 + rng.normal(0, 3.0, 200_000)
    b = 100 + rng.normal(0, 4.0, 200_000)
    mean, sigma = _combine(a, 3.0, b, 4.0)
    assert sigma == pytest.approx(1 / math.sqrt(1 / 9 + 1 / 16))
    assert np.std(mean) == pytest.approx(sigma, rel=0.01)


def _seattle_days():
    """935 distinct days of 2012–2015, and their DP bounds by noise seed at the σ the CLI gives them at
    ε = 1 (63.6)."""
    x = np.random.default_rng(5).choice(1461, 935, replace=False) + 15340
    df = pl.DataFrame({"d": [dt.date(1970, 1, 1) + dt.timedelta(days=int(v)) for v in x]})
    c = TableSpec.from_arrow(df.to_arrow().schema, table="t").learned[0]
    return x, lambda seed: dp_bounds(as_counts(df), NoisyCounter(np.random.RandomState(seed)),
                                     2 / (2 * 63.6 ** 2), c, df.to_arrow().schema.field("d").type)


def test_a_small_date_table_gets_years_not_decades_and_keeps_its_rows():
    """935 days of 2012–2015 (seattle_weather after both holdouts) at the σ the CLI gives them at ε = 1
    (63.6): 67-year bounds in 29 of 100 profiles before — the noise of the empty refinement cells passed
    for a tenth of the data — and 2015's thin octave (4.2σ) missed in 8, clamping 28 % of the rows."""
    x, bounds = _seattle_days()
    tight = kept = 0
    for seed in range(60):
        lo, hi = bounds(seed)
        tight += hi - lo < 10 * 365
        kept += np.mean((x >= lo) & (x <= hi)) >= 0.95
    assert tight >= 54 and kept >= 57, (tight, kept)


def test_noise_beside_a_refined_date_support_does_not_keep_decades():
    """The same 935 days over 300 profiles: when the noise of the empty refinement cells sums past 2σ√m
    (it passed for thin data beside the support), each side now grows only over the cells whose running
    sum is clear, instead of keeping both octaves — 1992…2059 for 2012…2015 in 11 of 300 before."""
    x, bounds = _seattle_days()
    decades = 0
    for seed in range(300):
        lo, hi = bounds(seed)
        decades += (lo, hi) == (8192.0, 32768.0)
    assert decades <= 3, decades


def test_non_negative_data_never_get_a_negative_bound():
    df = _capital_gain_like(seed=3)
    assert all(_bounds(df, 3e-5, seed)[0][0] >= 0 for seed in range(30))


def test_a_thin_refinement_keeps_the_octave_instead_of_clamping_to_the_densest_cell():
    """2,000 rows spread over [-125, -67] (all in one octave) at a σ where only the densest refinement
    cell would clear: the bounds must keep ≥ 90 % of the rows, not collapse to one cell."""
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.uniform(-125, -67, 1700), rng.normal(-85, 0.5, 300)])
    df = pl.DataFrame({"lon": x})
    for seed in range(10):
        (lo, hi), ms = _bounds(df, 5e-4, seed)
        assert "refinement" in ms[-1].target  # all clear mass in one octave: the refinement ran
        assert np.mean((x >= lo) & (x <= hi)) >= 0.9, (seed, lo, hi)


def test_empty_cells_far_from_the_data_almost_never_set_a_bound():
    """The support search's family of lone cells and windows, on 20,000 histograms of pure noise beside
    one atom: a bound jumps to an empty cell in ≤ 2 of them (the 4.5σ rule of before: ≈ 11 expected)."""
    from dp_synth.support import pooled_support as _pooled_support

    rng = np.random.default_rng(7)
    jumps = 0
    for _ in range(20_000):
        noisy = rng.normal(0.0, 1.0, 169)
        noisy[84] += 20_000.0  # the data: one atom
        a, z = _pooled_support(noisy, 1.0)
        jumps += (a, z) != (84, 84) and (a < 83 or z > 85)  # beyond the contiguous growth of one cell
    assert jumps <= 2, jumps


def test_the_octave_next_to_a_support_joins_it_when_its_count_is_clear_of_the_noise():
    """Wind speeds like seattle_weather's after both holdouts: 142 / 520 / 250 rows in [1, 2), [2, 4),
    [4, 8.8] at the σ the CLI gives bounds at ε = 1 (63.6). The support's own rule (3σ per octave) left
    out a side octave holding 15–27 % of the rows in 60 of 100 profiles; one octave per side at 1.5σ
    (`_neighbours`) in 18."""
    rng = np.random.default_rng(7)
    x = np.round(np.concatenate([rng.uniform(1, 2, 142), rng.uniform(2, 4, 520), rng.uniform(4, 8.8, 250)]), 1)
    df = pl.DataFrame({"wind": x})
    c = TableSpec.from_arrow(df.to_arrow().schema, table="t").learned[0]
    clamped = 0
    for seed in range(50):
        lo, hi = dp_bounds(as_counts(df), NoisyCounter(np.random.RandomState(seed)), 2 / (2 * 63.6 ** 2), c,
                           df.to_arrow().schema.field("wind").type)
        assert (lo >= 0.5 or lo == 0) and hi <= 16  # one octave beyond the data at most, or down to 0
        clamped += np.mean((x >= lo) & (x <= hi)) < 0.9
    assert clamped <= 15, clamped


def test_a_support_far_from_0_relative_to_its_width_reaches_0():
    """Daily minimum temperatures like seattle_weather's (935 rows, −7 … 18 °C, the 44 days below 0 and
    the 65 in [0, 2) each spread over octaves under the noise) at the σ the CLI gives bounds at ε = 1
    (35.7): the octaves' rule set a lower bound of 1 or 2 °C in most profiles, clamping ≥ 10 % of the
    days; a lower bound ≤ 1/16 of the upper one now reaches 0 (`_reach_zero`)."""
    import dp_synth.bounds as B

    rng = np.random.default_rng(3)
    parts = [(-8, -0.5, 44), (0, 0, 9), (0.5, 1, 18), (1, 2, 38), (2, 4, 101), (4, 8, 248), (8, 16, 442), (16, 18.3, 34)]
    x = np.round(np.concatenate([rng.uniform(a, b, n) for a, b, n in parts]), 1)
    df = pl.DataFrame({"temp_min": x})
    c = TableSpec.from_arrow(df.to_arrow().schema, table="t").learned[0]

    def kept(reach):
        default, B.ZERO_REACH = B.ZERO_REACH, reach
        try:
            out = []
            for seed in range(40):
                lo, hi = dp_bounds(as_counts(df), NoisyCounter(np.random.RandomState(seed)), 1 / 35.7 ** 2, c,
                                   df.to_arrow().schema.field("temp_min").type)
                assert lo <= 2 and hi <= 64
                out.append(np.mean((x >= lo) & (x <= hi)))
            return np.array(out)
        finally:
            B.ZERO_REACH = default

    before, after = kept(0), kept(B.ZERO_REACH)
    assert np.sum(before >= 0.9) <= 10  # the failure this guards against
    assert np.sum(after >= 0.9) >= 20 and after.mean() > before.mean() + 0.02


def test_a_thin_tail_beside_a_zero_atom_is_kept_and_noise_alone_rarely_moves_it():
    """seattle_weather's rain: 55 % dry days, the wet ones spread over the octaves 0.25 … 64 mm. At σ ≈ 26 per
    octave the wet days missed _widen's 5.3σ√8 on 8 of 20 splits and the bounds were [0, 1] mm (a third of
    the days clamped). The zero atom's own windows (4.5σ√m) keep the tail on most seeds, and move a support
    of pure noise on few of 20,000 draws."""
    from dp_synth.support import zero_tails as _zero_tails

    rng = np.random.default_rng(0)
    n = 935
    wet = np.exp(rng.uniform(np.log(0.25), np.log(64.0), int(0.45 * n)))
    df = pl.DataFrame({"p": np.concatenate([np.zeros(n - wet.size), wet])})
    clamped = []
    for seed in range(20):
        (lo, hi), _ = _bounds(df, 1 / 37.3 ** 2, seed)  # σ ≈ 37 per measurement (half of ρ each), as seattle's
        clamped.append(float(np.mean(df["p"].to_numpy() > hi)))
    assert sum(c > 0.1 for c in clamped) <= 4, clamped
    k = 82
    moved = sum(_zero_tails(np.concatenate([rng.normal(0, 26, k), [500.0], rng.normal(0, 26, k)]), 26.0, k, k, k)
                != (k, k) for _ in range(20_000))
    assert moved < 0.005 * 20_000


def test_a_refined_number_keeps_the_cells_beside_its_support_that_clear_one_and_a_half_sigma():
    """800 normal(50, 10) values at σ = 30 (a 1,000-row table at ε = 1): the refinement trimmed cells of
    60–80 rows that missed the support's 3σ, and the median profile clamped 11 % of the rows (31 of 60
    profiles more than 10 %). Grown over the next cells that clear 1.5σ: a median of 7 %, 21 of 60."""
    x = np.random.default_rng(3).normal(50, 10, 800)
    df = pl.DataFrame({"x": x})
    clamped = []
    for seed in range(60):
        (lo, hi), ms = _bounds(df, 1 / 900, seed)
        clamped.append(np.mean((x < lo) | (x > hi)))
    clamped = np.array(clamped)
    assert "refinement" in ms[-1].target
    assert np.median(clamped) <= 0.08 and (clamped > 0.1).sum() <= 25, (np.median(clamped), (clamped > 0.1).sum())


def test_dates_of_many_rows_get_bounds_near_their_range():
    """5,000 dates over 200 days of 2020 lie in one octave of days (2¹⁴ … 2¹⁵, 45 years): one refinement
    in 32 cells gives cells of 512 days, bounds 5.2× the data's range on every seed. The second refinement
    over the first's support gives 1.45× (median), and its margin of one cell clamps no row."""
    rng = np.random.default_rng(0)
    days = [dt.date(2020, 3, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 200, 5000)]
    v = np.array([(d - dt.date(1970, 1, 1)).days for d in days])
    spans, clamped = [], []
    for seed in range(10):
        col = _numeric_profile(pl.Series("d", days), seed)
        spans.append((col.upper - col.lower) / (v.max() - v.min()))
        clamped.append(np.mean((v < col.lower) | (v > col.upper)))
    assert max(spans) < 2.0 and np.median(spans) < 1.6 and max(clamped) == 0.0, (spans, clamped)


def test_a_zero_one_integer_column_keeps_both_values():
    """455 rows of a 0/1 integer column (170 zeros), bounds at σ ≈ 60 (what a 31-column table of 455 rows
    gives each column at ε = 1): the zero atom and [1, 2) are read side by side, so the bounds hold both
    values. With the twenty buckets of magnitudes under 1 between them, one value was lost on 10 of 12
    seeds (bounds [1, 2) or [0, 1)), and the twin's column was constant."""
    x = pl.DataFrame({"t": [0] * 170 + [1] * 285})
    kept = [_bounds(x, 1 / 3600, seed)[0] for seed in range(20)]
    assert sum(lo <= 0 and hi >= 1 for lo, hi in kept) >= 19, kept


def _thin_profile(x: np.ndarray, rho: float, seed: int):
    df = pl.DataFrame({"x": x})
    spec = TableSpec.from_arrow(df.to_arrow().schema, table="t")
    return measure_profile(df, spec, rho, 1e-6, np.random.RandomState(seed))[1].columns[0]


@pytest.mark.parametrize("case", ["counts", "normal"])
def test_data_thin_against_the_noise_get_their_octave_or_a_named_placeholder_never_a_far_bucket(case):
    """96 rows whose octaves barely clear the bounds' noise (ρ = 0.003): counts near 135,000, and normal(0, 1)
    spread over a dozen octaves. Before, 15 of 30 profiles of the counts had bounds [−1, 0] (a one-signed
    support below 4.5σ was cut down to nothing) and 21 of 30 of the normal data the fullest of 297 noise
    buckets (−2·10²⁸ once). Now a profile either overlaps the data within 8× their magnitude or says it
    found nothing (``found`` False, placeholder bounds [0, 1]); and the counts are still found."""
    rng = np.random.default_rng(1)
    x = rng.integers(130_000, 146_000, 96) if case == "counts" else rng.normal(size=96)
    far = found = 0
    for seed in range(30):
        col = _thin_profile(x, 0.003, seed)
        if not col.found:
            assert (col.lower, col.upper) == (0.0, 1.0)
            continue
        found += 1
        span = max(x.max() - x.min(), abs(x).max())
        far += not (col.upper > x.min() and col.lower < x.max() and col.upper - col.lower < 8 * span)
    assert far <= 2, far
    if case == "counts":
        assert found >= 20, found


def test_a_day_of_timestamps_is_zoomed_into_and_the_budget_is_spent_exactly():
    """16,000 events in 4.4 hours of 2024-01-01 (a daily partition): two refinements gave cells of 12.7 days
    and bounds of 51 days, so the twin's events spread over 9 hours (its fine cells). Zooming into a support
    of ≤ 6 of 32 cells with half of what is left gives bounds within 1.5× the data's range, clamping no row,
    and the measurements' ρ sums to the bounds' budget."""
    base = dt.datetime(2024, 1, 1)
    ts = [base + dt.timedelta(seconds=int(s)) for s in range(16_000)]
    df = pl.DataFrame({"t": ts})
    c = TableSpec.from_arrow(df.to_arrow().schema, table="t").learned[0]
    v = np.array([(t - dt.datetime(1970, 1, 1)) / dt.timedelta(microseconds=1) for t in ts])
    rho = 0.01
    for seed in range(3):
        counter = NoisyCounter(np.random.RandomState(seed))
        lo, hi = dp_bounds(as_counts(df), counter, rho, c, df.to_arrow().schema.field("t").type)
        assert lo <= v.min() and hi >= v.max()
        assert (hi - lo) / (v.max() - v.min()) < 1.5, (lo, hi)
        assert sum(1 / (2 * m.sigma ** 2) for m in counter.measurements) == pytest.approx(rho)
        assert "t: bounds zoom 1 (32 cells)" in [m.target for m in counter.measurements]  # zoomed, and named so


def test_a_year_of_timestamps_is_not_zoomed_and_measures_its_second_refinement_twice():
    """Data over 29 of the second refinement's 32 cells: no zoom; its two halves are combined (one release
    of the same budget), as before the zoom existed."""
    rng = np.random.default_rng(0)
    base = dt.datetime(2024, 1, 1)
    ts = [base + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 365 * 86_400, 20_000)]
    df = pl.DataFrame({"t": ts})
    c = TableSpec.from_arrow(df.to_arrow().schema, table="t").learned[0]
    counter = NoisyCounter(np.random.RandomState(0))
    lo, hi = dp_bounds(as_counts(df), counter, 0.01, c, df.to_arrow().schema.field("t").type)
    targets = [m.target for m in counter.measurements]
    assert targets == ["t: bounds (powers of two)", "t: bounds refinement (32 cells)",
                       "t: bounds refinement (32 cells)", "t: bounds refinement (32 cells, again)"]
    days = (hi - lo) / 86_400e6
    assert 365 <= days < 1.3 * 365, days  # 458 days: the second refinement's cells (12.7 days) and a margin of one


def test_a_week_of_dates_is_zoomed_to_days_and_a_constant_date_stays_within_a_few_days():
    """20,000 rows over 7 days: the second refinement's cells are 16–32 days, so the twin drew dates over
    weeks around them. The zoom stops at cells of a day (ZOOM_FLOOR), where the bounds are within a few days."""
    for days in (7, 1):
        d = [dt.date(2024, 3, 1) + dt.timedelta(days=i % days) for i in range(20_000)]
        df = pl.DataFrame({"d": d})
        c = TableSpec.from_arrow(df.to_arrow().schema, table="t").learned[0]
        v = np.array([(x - dt.date(1970, 1, 1)).days for x in d])
        for seed in range(3):
            lo, hi = dp_bounds(as_counts(df), NoisyCounter(np.random.RandomState(seed)), 0.01, c,
                               df.to_arrow().schema.field("d").type)
            assert v.min() - 5 <= lo <= v.min() and v.max() <= hi <= v.max() + 5, (days, lo - v.min(), hi - v.max())


def test_a_day_of_events_with_late_arrivals_over_a_month_is_not_clamped():
    """95 % of 20,000 events on one day, 5 % over the 30 days after: the late arrivals show in the cells
    beside the day, so the zoom keeps them (bounds ≈ 38 days) and clamps no row."""
    rng = np.random.default_rng(0)
    secs = np.concatenate([rng.integers(0, 86_400, 19_000), rng.integers(86_400, 31 * 86_400, 1_000)])
    base = dt.datetime(2024, 1, 1)
    df = pl.DataFrame({"t": [base + dt.timedelta(seconds=int(s)) for s in secs]})
    c = TableSpec.from_arrow(df.to_arrow().schema, table="t").learned[0]
    v = secs * 1e6 + (base - dt.datetime(1970, 1, 1)).total_seconds() * 1e6
    for seed in range(3):
        lo, hi = dp_bounds(as_counts(df), NoisyCounter(np.random.RandomState(seed)), 0.01, c,
                           df.to_arrow().schema.field("t").type)
        assert lo <= v.min() and hi >= v.max() and (hi - lo) / 86_400e6 < 45, (lo, hi)
