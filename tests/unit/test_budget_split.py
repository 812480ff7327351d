"""The budget split by table size (``profile.smallness``): on few rows the profile (and inside it the
bounds) gets more of ρ, the extra pairs less; the shares depend on the DP row count only, and the total holds."""

import numpy as np
import polars as pl
import pytest

import dp_synth
from dp_synth.profile import smallness


def _table(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, 3.0, n)
    return pl.DataFrame({"x": x, "flag": np.where(x + rng.normal(0, 2, n) > 6, "yes", "no"),
                         "b": np.where(rng.random(n) < 0.4, "u", "v")})


def _sigma(model, target: str) -> float:
    return next(m.sigma for m in model.privacy.measurements if m.target.startswith(target))


@pytest.mark.parametrize("rows, small", [(900, True), (30_000, False)])
def test_bounds_weigh_four_times_more_against_the_histogram_on_a_small_table(rows, small):
    """Half the bounds' ρ goes to the powers-of-two histogram: σ_bounds / σ_histogram = √(2·h / w) for a
    bounds weight w of the histogram's and h the histogram's part of its own weight: on a large table
    w = 0.25, h = 0.7 (its ≥ 64 cells leave 30 % to the coarse bins' counts): 2.37; on a small one
    w = 1.0, h = 1: 1.41."""
    m = dp_synth.fit(_table(rows), epsilon=1.0, seed=0, config=dp_synth.TrainingConfig(epochs=1))
    ratio = _sigma(m, "x: bounds (powers of two)") / _sigma(m, "x: histogram")
    assert ratio == pytest.approx(2 ** 0.5 if small else (2 * 0.7 / 0.25) ** 0.5, rel=1e-6)
    assert m.privacy.epsilon <= 1.0 + 1e-9


def test_a_small_table_measures_its_profile_with_less_noise():
    """At the same (ε, δ) the profile takes 30 % of ρ on 900 rows and 25 % on 30,000; a histogram's σ is
    1/√(2·h·0.95·ρ·share/Σw) with Σw = the numeric histogram's 1 + two categorical histograms' weight
    (2 each small, 1 large) + the bounds' (1.0 small, 0.25 large), and h its part of its own weight
    (1 small, 0.7 large): their ratio is √((0.25·0.7/3.25) / (0.3/6))."""
    fits = {rows: dp_synth.fit(_table(rows), epsilon=1.0, delta=1e-6, seed=0,
                               config=dp_synth.TrainingConfig(epochs=1)) for rows in (900, 30_000)}
    hist = {rows: _sigma(m, "x: histogram") for rows, m in fits.items()}
    assert hist[900] / hist[30_000] == pytest.approx(((0.25 * 0.7 / 3.25) / (0.3 / 6)) ** 0.5, rel=1e-6)
    assert all(m.privacy.epsilon <= 1.0 + 1e-9 for m in fits.values())


@pytest.mark.parametrize("rows, weight", [(900, 2.0), (30_000, 1.0)])
def test_an_undeclared_categorical_weighs_twice_a_numeric_histogram_on_a_small_table(rows, weight):
    """A category under the release threshold (≈ 4.8σ) is lost whole: seattle_weather's `rain` (≈ 165 of
    935 rows, threshold 122 at σ = 25) went unreleased in 1 CLI run of 12 at ε = 1. On a small table an
    undeclared categorical's histogram gets twice a numeric one's ρ (σ ratio 1/√2); on a large one the same."""
    m = dp_synth.fit(_table(rows), epsilon=1.0, seed=0, config=dp_synth.TrainingConfig(epochs=1))
    ratio = _sigma(m, "flag: histogram") / _sigma(m, "x: histogram")
    h = 1.0 if rows < 1000 else 0.7  # the numeric histogram's part of its weight (coarse bins take the rest)
    assert ratio == pytest.approx((h / weight) ** 0.5, rel=1e-6)
    assert m.privacy.epsilon <= 1.0 + 1e-9


def test_a_tiny_table_at_a_large_epsilon_leaves_dp_sgd_a_budget():
    """128 rows at ε = 40 (the membership audit's control): with 90 % of ρ fixed before DP-SGD the run
    failed ("profile already uses the whole budget"); at ≤ 75 % it trains."""
    df = pl.DataFrame({"a": ["p", "q", "r", "s"] * 32, "b": ["w", "x"] * 64})
    m = dp_synth.fit(df, epsilon=40.0, delta=1e-5, seed=0, min_rows=50, config=dp_synth.TrainingConfig(epochs=1))
    assert m.privacy.epsilon <= 40.0 + 1e-9 and m.metadata["noise_multiplier"] < 10


def test_a_mid_sized_table_measuring_extra_pairs_stays_within_its_budget():
    """3,000 rows of five related binary columns (smallness ≈ 0.5): the extra pairs keep about half their
    shares, and at ε = 2 their 4-cell tables are affordable — every share is spent, and ε still holds."""
    assert 0.3 < smallness(3000 * 0.8) < 0.7
    rng = np.random.default_rng(1)
    base = rng.random(3000)
    df = pl.DataFrame({f"c{i}": np.where(base + rng.normal(0, 0.3, 3000) > 0.5, "y", "n") for i in range(5)})
    m = dp_synth.fit(df, epsilon=2.0, seed=1, config=dp_synth.TrainingConfig(epochs=1))
    assert any("(adaptive)" in s.target for s in m.privacy.measurements)
    assert m.privacy.epsilon <= 2.0 + 1e-9
    assert m.metadata["steps"] > 0 and m.metadata["noise_multiplier"] < 1e3


def test_a_table_measuring_extra_pairs_trains_at_the_largest_epsilon():
    """12,000 rows of related binary columns at ε = 40 and 50 (the most dp-synth accepts): the fixed
    shares reach 82 % of ρ with the extra pairs; a whole-table count at 0.002·ε² added 22 % more and the
    run refused ("profile already uses the whole budget"). The count is flat from ε = 5 now."""
    rng = np.random.default_rng(1)
    base = rng.random(12_000)
    df = pl.DataFrame({f"c{i}": np.where(base + rng.normal(0, 0.3, 12_000) > 0.5, "y", "n") for i in range(5)})
    for eps in (40.0, 50.0):
        m = dp_synth.fit(df, epsilon=eps, seed=1, config=dp_synth.TrainingConfig(epochs=1))
        assert any("(adaptive)" in s.target for s in m.privacy.measurements)
        assert m.privacy.epsilon <= eps + 1e-9 and m.metadata["noise_multiplier"] < 10
