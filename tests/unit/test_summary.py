"""Headline figures shared by the GX suites and the report (dp_synth.evaluate.summary)."""
import numpy as np
import polars as pl
import pytest

from dp_synth.evaluate.summary import attack_risk, ml_efficacy


def _table(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    g = rng.choice(["a", "b", "c"], n)
    y = 3 * x + (g == "b") * 2 + rng.normal(scale=0.5, size=n)
    label = np.where(x + rng.normal(scale=0.5, size=n) > 1.0, "yes", "no")  # 'yes' is the rarer class
    return pl.DataFrame({"x": x, "g": g, "y": y, "label": label})


def test_numeric_target_uses_r2_and_a_broken_twin_loses_it():
    real, hold = _table(seed=0), _table(seed=1)
    same = ml_efficacy(_table(seed=2), real, hold, "y")
    assert same["metric"] == "r2" and same["real"] > 0.9 and same["ratio"] > 0.95
    broken = _table(seed=2).with_columns(pl.Series("y", np.random.default_rng(3).permutation(_table(seed=2)["y"].to_numpy())))
    assert ml_efficacy(broken, real, hold, "y")["ratio"] < 0.1


def test_categorical_target_defaults_to_rarer_class_and_ratio_is_skill_above_chance():
    real, hold = _table(seed=0), _table(seed=1)
    r = ml_efficacy(_table(seed=2), real, hold, "label")
    assert r["metric"] == "auc" and r["positive"] == "yes" and 0.9 < r["ratio"] <= 1.1
    noise = _table(seed=2).with_columns(pl.Series("label", np.random.default_rng(4).choice(["yes", "no"], 1500)))
    assert abs(ml_efficacy(noise, real, hold, "label")["ratio"]) < 0.25


def test_without_holdout_ml_efficacy_splits_real_rows_and_attacks_refuse():
    real = _table()
    assert ml_efficacy(real, real, None, "label")["real"] > 0.8
    with pytest.raises(ValueError, match="holdout"):
        attack_risk(real, real, None, "linkability")
    with pytest.raises(ValueError, match="unknown attack"):
        attack_risk(real, real, real, "guessing")
    with pytest.raises(ValueError, match="target column 'nope'"):
        ml_efficacy(real, real, None, "nope")
