"""Notices read off the released profile: a column that looks like a row number is named; the columns
that merely hold integers are not."""
import numpy as np
import polars as pl

import dp_synth
from helpers import FAST


def test_an_integer_column_of_row_numbers_is_named_and_a_key_numbers_the_twins_rows():
    """5,000 event ids (0 … 4,999, shuffled) are named as a row number; user ids (500 values, 10 rows each),
    ages and wide amounts are not. Declared a key, the id is unique in the twin and the notice goes."""
    rng = np.random.default_rng(0)
    n = 5000
    df = pl.DataFrame({"event_id": rng.permutation(n), "user_id": rng.integers(0, 500, n),
                       "age": rng.integers(18, 90, n), "cents": rng.lognormal(8, 1.5, n).astype(np.int64)})
    said = lambda m: [t for t in m.notices if "looks like a row number" in t]  # noqa: E731
    m = dp_synth.fit(df, epsilon=1.0, seed=0, config=FAST, defer_notices=True)
    assert len(said(m)) == 1 and "column 'event_id'" in said(m)[0] and "'role': 'key'" in said(m)[0], m.notices
    assert m.sample(n, seed=1)["event_id"].n_unique() < 0.9 * n  # what the notice warns of
    keyed = dp_synth.fit(df, epsilon=1.0, seed=0, config=FAST, defer_notices=True,
                         spec={"columns": {"event_id": {"role": "key"}}})
    assert said(keyed) == [] and keyed.sample(n, seed=1)["event_id"].n_unique() == n


def test_columns_whose_values_never_stand_out_from_the_noise_are_named_with_placeholders_not_far_values():
    """120 rows of 16 count columns near 125,000 at ε = 1: each column's octave holds ≈ 2σ of its bounds'
    noise. Before, most columns got the fullest noise bucket as bounds (−5.8·10¹⁷, 2³³) silently. Now one
    notice names the columns where nothing stood out, their twin values are placeholders in [0, 1], and
    no other column's twin leaves [0, 10⁶] (a far bucket in any column w.p. ≤ 1 % per fit)."""
    rng = np.random.default_rng(0)
    df = pl.DataFrame({f"c{j}": rng.integers(100_000, 150_000, 120) for j in range(16)})
    for seed in range(4):
        m = dp_synth.fit(df, epsilon=1.0, seed=seed, config=FAST, defer_notices=True)
        said = [t for t in m.notices if "no value stood out from the noise" in t]
        assert len(said) == 1 and "declare public bounds" in said[0].lower(), m.notices
        named = [c for c in df.columns if f"'{c}'" in said[0]]
        assert len(named) >= 8, said
        twin = m.sample(500, seed=1)
        for c in df.columns:
            lo, hi = (0, 1) if c in named else (0, 1_000_000)
            assert lo <= twin[c].min() and twin[c].max() <= hi, (seed, c, twin[c].min(), twin[c].max())


def test_an_all_null_column_is_not_named_as_holding_placeholders():
    """Its bounds find nothing either, but the twin writes NULL there, as the column has: no notice."""
    rng = np.random.default_rng(0)
    df = pl.DataFrame({"x": rng.normal(0, 1, 3000), "empty": pl.Series([None] * 3000, dtype=pl.Float64)})
    m = dp_synth.fit(df, epsilon=1.0, seed=0, config=FAST, defer_notices=True)
    assert not [t for t in m.notices if "no value stood out" in t], m.notices
    assert m.sample(3000, seed=1)["empty"].null_count() >= 2970


def test_a_float_column_finer_than_the_bounds_resolve_is_named_and_declared_bounds_fix_it():
    """5,000 values of 10⁻¹⁰ … 10⁻⁷: the bounds' smallest octave is 2⁻²⁰ ≈ 10⁻⁶, the twin's values came out
    near 9.5·10⁻⁷. The run names the column; with public bounds its twin's median is the data's scale."""
    rng = np.random.default_rng(0)
    df = pl.DataFrame({"tiny": rng.lognormal(-20, 1, 5000), "x": rng.normal(0, 1, 5000)})
    said = lambda m: [t for t in m.notices if "finer than the DP bounds resolve" in t]  # noqa: E731
    m = dp_synth.fit(df, epsilon=1.0, seed=0, config=FAST, defer_notices=True)
    assert len(said(m)) == 1 and "column 'tiny'" in said(m)[0], m.notices
    fixed = dp_synth.fit(df, epsilon=1.0, seed=0, config=FAST, defer_notices=True,
                         spec={"columns": {"tiny": {"bounds": [0, 1e-7]}}})
    assert said(fixed) == []
    real, twin = df["tiny"].median(), fixed.sample(5000, seed=1)["tiny"].median()
    assert real / 3 < twin < real * 3, (real, twin)
