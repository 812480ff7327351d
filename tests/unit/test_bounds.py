"""DP bounds: tight for values far from zero (dates), robust to a lone noisy bucket."""

import datetime as dt

import numpy as np
import polars as pl

from dp_synth import TableSpec
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


def test_bounds_never_jump_to_far_away_buckets():
    for seed in range(5):
        col = _numeric_profile(pl.Series("x", np.random.default_rng(seed).normal(100, 5, 3000)), seed)
        assert 32 <= col.lower and col.upper <= 256
