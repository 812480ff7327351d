"""The three attacks see a leaky twin and stay quiet on one that is independent of the people."""

import numpy as np
import polars as pl
import pytest

from dp_synth.evaluate.attacks import (TARGETS, AttackResult, inference_attack, linkability_attack,
                                       singling_out_attack, verdict)
from helpers import adult_sample


@pytest.fixture(scope="module")
def data():
    df = adult_sample(6000, seed=2)
    return df[:2000], df[2000:4000], df[4000:]  # train, control, fresh people from the same population


def test_inference(data):
    train, control, fresh = data
    leaky = inference_attack(train, train, control, secret="marital_status")
    safe = inference_attack(fresh, train, control, secret="marital_status")
    assert leaky.risk > 0.5 and leaky.risk_low > 0.3
    assert safe.risk_low < 0.1
    assert 0 <= safe.risk_low <= safe.risk <= safe.risk_high <= 1


def test_linkability(data):
    train, control, fresh = data
    a, b = ["age", "education", "sex", "race"], ["occupation", "hours_per_week", "fnlwgt"]
    assert linkability_attack(train, train, control, a, b).risk > 0.5
    assert linkability_attack(fresh, train, control, a, b).risk_low < 0.1


def test_singling_out(data):
    train, control, fresh = data
    leaky = singling_out_attack(train, train, control, n_predicates=150)
    safe = singling_out_attack(fresh, train, control, n_predicates=150)
    assert leaky.n_targets == 150 and leaky.risk > 0.3
    assert safe.risk_low < 0.1


@pytest.mark.parametrize("a,c,n", [(0.80, 0.75, 500), (0.75, 0.75, 2000), (0.30, 0.10, 300), (0.05, 0.02, 1000)])
def test_risk_interval_covers_the_true_risk(a, c, n):
    """Newcombe's interval, divided by 1 − c, holds the true risk (a − c)/(1 − c) in about 95 % of
    binomial draws (not far more: a needlessly wide interval hides leaks); a miss above the truth
    (a false alarm) in at most about 2.5 %."""
    rng = np.random.default_rng(7)
    truth = (a - c) / (1 - c)
    draws = [AttackResult.of("x", int(h), int(k), n) for h, k in zip(rng.binomial(n, a, 2000), rng.binomial(n, c, 2000))]
    covered = np.mean([r.risk_low <= truth <= r.risk_high for r in draws])
    alarms = np.mean([r.risk_low > truth for r in draws])
    assert 0.93 <= covered <= 0.985 and alarms <= 0.035


def test_honest_twin_is_never_judged_above_the_limit_across_seeds():
    """A twin of other people (no excess risk) against income, whose control rate is ≈ 0.75: the
    point estimate is noisy (σ ≈ 0.11 at 500 targets), the verdict must not be."""
    df = adult_sample(32561, seed=0)
    verdicts, points = [], []
    for s in range(6):
        p = df.sample(fraction=1.0, shuffle=True, seed=s)
        r = inference_attack(p[26000:], p[:20000], p[20000:26000], secret="income", seed=s)
        assert r.n_targets == min(TARGETS, 6000)
        verdicts.append(r.verdict(0.1))
        points.append(r.risk)
    assert "above" not in verdicts, list(zip(points, verdicts))


def test_partly_copied_twin_is_judged_above_the_limit(data):
    """Half the twin copied from training rows: a leak well above 0.1, and the verdict says so."""
    train, control, fresh = data
    half = pl.concat([train[:1000], fresh[:1000]])
    r = inference_attack(half, train, control, secret="marital_status")
    assert r.risk > 0.2 and r.verdict(0.1) == "above"
    assert verdict(None, None, 0.1) == "inconclusive"
