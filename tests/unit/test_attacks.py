"""The three attacks see a leaky twin and stay quiet on one that is independent of the people."""

import pytest

from dp_synth.evaluate.attacks import inference_attack, linkability_attack, singling_out_attack
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
