"""Utility and risk measures tell a copied or broken twin from a faithful one."""

import numpy as np
import polars as pl
import pytest

from dp_synth.evaluate import RiskReport, dcr_share, exact_copy_rate, mean_marginal_tvd, tstr_auc
from helpers import adult_sample


@pytest.fixture(scope="module")
def split():
    df = adult_sample(6000, seed=1)
    return df[:2000], df[2000:4000], df[4000:]


def shuffled(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns([df[c].shuffle(seed=i) for i, c in enumerate(df.columns)])


def test_copied_twin_is_flagged_as_risky(split):
    train, hold, other = split
    copied = RiskReport.of(train, train, hold)
    fresh = RiskReport.of(other, train, hold)
    assert copied.exact_copy_rate == 1.0 and copied.dcr_share > 0.95
    assert fresh.exact_copy_rate < 0.01 and 0.35 < fresh.dcr_share < 0.65  # unseen people: ≈ 0.5
    assert fresh.holdout_copy_rate == pytest.approx(exact_copy_rate(hold, train))
    assert RiskReport.of(hold, train, hold).dcr_share == 0.0  # the holdout itself sits on the holdout


def test_shuffled_columns_lose_joint_structure_but_keep_marginals(split):
    train, hold, _ = split
    broken = shuffled(hold)
    assert mean_marginal_tvd(train, broken, 1) == pytest.approx(mean_marginal_tvd(train, hold, 1))
    assert mean_marginal_tvd(train, broken, 2) > 1.5 * mean_marginal_tvd(train, hold, 2)


def test_ml_efficacy_drops_when_dependencies_are_gone(split):
    train, hold, _ = split
    real = tstr_auc(train, hold, "income", ">50K")
    broken = tstr_auc(shuffled(train), hold, "income", ">50K")
    assert real > 0.85 and broken < 0.65


def test_dcr_share_handles_dates_and_nulls():
    import datetime as dt

    a = pl.DataFrame({"d": [dt.date(2020, 1, 1 + i % 28) for i in range(200)], "c": [None, "x"] * 100})
    assert 0.0 <= dcr_share(a, a, a) <= 1.0


def test_dcr_share_of_an_honest_twin_with_unreleased_categories_is_one_half():
    """A twin from the same distribution whose rare categories became ``__other__``, and a holdout with
    three rows of a category the training rows lack: those three rows used to be all-zero one-hots like
    ``__other__``, so every such twin row was "nearest" to them (airports' DCR share 0.11–0.14)."""
    rng = np.random.default_rng(0)

    def draw(n, cats):
        return pl.DataFrame({"state": rng.choice(cats, n), "lat": rng.uniform(0, 50, n), "lon": rng.uniform(0, 50, n)})

    cats = [f"s{i}" for i in range(40)]
    train, holdout = draw(2000, cats), draw(597, cats)
    holdout = pl.concat([holdout, draw(3, ["ZZ"])])
    twin = draw(2000, cats).with_columns(pl.when(pl.col("state").is_in(cats[:32])).then(pl.lit("__other__"))
                                         .otherwise(pl.col("state")).alias("state"))
    assert 0.45 <= dcr_share(twin, train, holdout) <= 0.55


def test_per_column_fidelity_and_correlations(split):
    from dp_synth.evaluate import column_fidelity, correlation_difference

    train, hold, _ = split
    same = column_fidelity(train, train)
    assert all(v["value"] == 0 for v in same.values())
    assert same["age"]["metric"] == "ks" and same["income"]["metric"] == "tvd"
    assert column_fidelity(train, hold)["age"]["value"] < 0.08
    assert correlation_difference(train, shuffled(hold)) > 2 * correlation_difference(train, hold)


def test_a_numeric_column_null_throughout_matches_only_another_null_throughout():
    """An all-NULL numeric column and its all-NULL twin match (KS 0; it was 1, failing the utility suite);
    NULL on one side only is as far apart as columns get."""
    from dp_synth.evaluate import column_fidelity

    null = pl.DataFrame({"a": pl.Series([None] * 50, dtype=pl.Int64), "b": list(range(50))})
    full = null.with_columns(pl.Series("a", list(range(50)), dtype=pl.Int64))
    assert column_fidelity(null, null)["a"] == {"metric": "ks", "value": 0.0}
    assert column_fidelity(null, full)["a"]["value"] == 1.0 == column_fidelity(full, null)["a"]["value"]


def test_nndr_flags_copies(split):
    from dp_synth.evaluate import nndr

    train, hold, _ = split
    assert float(nndr(train, train).mean()) < 0.05  # each row sits on itself
    assert float(nndr(hold, train).mean()) > 0.3


def test_association_difference_measures_the_twin_not_the_reference():
    """Cramér's V of the twin is computed on the twin's own values (bins from the real table)."""
    from dp_synth.evaluate import association_difference, association_matrix

    rng = np.random.default_rng(0)
    a = rng.choice(["x", "y", "z"], 3000)
    real = pl.DataFrame({"a": a, "b": a, "n": rng.normal(size=3000)})
    twin = pl.DataFrame({"a": a, "b": rng.permutation(a), "n": rng.normal(size=3000)})
    assert association_matrix(real)[1][0, 1] > 0.99
    assert association_matrix(twin, real)[1][0, 1] < 0.05
    diff = association_difference(real, twin)
    assert diff["max"] > 0.95 and diff["worst_pair"] == ["a", "b"]
    assert association_difference(real, real)["max"] < 1e-9


def test_tstr_handles_categories_beyond_gradient_boostings_255_levels():
    """A city-like column with 600 values (airports) must not crash ML efficacy; its signal survives."""
    import numpy as np
    import polars as pl

    from dp_synth.evaluate import tstr_auc

    rng = np.random.default_rng(0)
    city = rng.integers(0, 600, 4000)
    df = pl.DataFrame({"city": [f"c{c}" for c in city], "y": np.where(city < 60, "yes", "no"),
                       "noise": rng.normal(size=4000)})
    auc = tstr_auc(df[:3000], df[3000:], "y", "yes")
    assert auc > 0.75


def test_a_twin_without_the_positive_class_scores_chance_and_fails_ml_efficacy():
    """A twin that lost the target's class (seattle_weather at ε = 0.5: `rain` under the release threshold)
    predicts nothing: its TSTR is a constant predictor's 0.5, reported, not NaN hidden from a mean; the
    suite's ML-efficacy check fails on it. Real test rows of one class leave the AUC undefined."""
    import math

    import numpy as np
    import polars as pl

    from dp_synth.evaluate import tstr_auc
    from dp_synth.evaluate.summary import ml_efficacy

    rng = np.random.default_rng(0)
    x = rng.normal(size=3000)
    real = pl.DataFrame({"x": x, "w": np.where(x + 0.3 * rng.normal(size=3000) > 0.8, "rain", "sun")})
    train, hold = real[:2000], real[2000:]
    twin = train.with_columns(pl.lit("sun").alias("w"))
    assert tstr_auc(train, hold, "w", "rain") > 0.9
    assert tstr_auc(twin, hold, "w", "rain") == 0.5
    assert math.isnan(tstr_auc(train, hold.filter(pl.col("w") == "sun"), "w", "rain"))
    result = ml_efficacy(twin, train, hold, "w", "rain")
    assert result["synthetic"] == 0.5 and result["ratio"] == 0.0 and result["real_has_skill"]
