"""Accounting checked against the math, not against itself."""

import math

import pytest
from opacus.accountants import RDPAccountant
from scipy.optimize import brentq
from scipy.stats import norm

from dp_synth.privacy import Measurement, PrivacyStatement, calibrate_profile_rho, calibrate_sgd_sigma, compose


def exact_gaussian_epsilon(sigma: float, delta: float) -> float:
    """Tight ε of the Gaussian mechanism (Balle & Wang 2018, Thm. 8), sensitivity 1."""
    def delta_of(eps):
        return norm.cdf(0.5 / sigma - eps * sigma) - math.exp(eps) * norm.cdf(-0.5 / sigma - eps * sigma)
    return brentq(lambda e: delta_of(e) - delta, 0, 100)


@pytest.mark.parametrize("sigma, delta", [(1.0, 1e-5), (5.0, 1e-6), (20.0, 1e-5), (0.7, 1e-3)])
def test_gaussian_epsilon_between_exact_and_zcdp(sigma, delta):
    eps = compose([Measurement("profile", "discrete_gaussian", "x", sigma)], delta)
    rho = 1 / (2 * sigma**2)
    zcdp = rho + 2 * math.sqrt(rho * math.log(1 / delta))  # Bun & Steinke 2016, Prop. 1.3
    exact = exact_gaussian_epsilon(sigma, delta)
    assert exact <= eps * (1 + 1e-6), "reported ε below the tight value: not a valid guarantee"
    assert eps <= zcdp + 1e-9
    assert eps <= 1.6 * exact  # and not uselessly loose


def test_composition_of_k_gaussians_equals_one_with_scaled_noise():
    k, sigma = 16, 8.0
    many = [Measurement("profile", "discrete_gaussian", f"m{i}", sigma) for i in range(k)]
    one = [Measurement("profile", "discrete_gaussian", "all", sigma / math.sqrt(k))]
    assert compose(many, 1e-6) == pytest.approx(compose(one, 1e-6), rel=1e-9)


def test_dp_sgd_part_matches_opacus_accountant_history():
    q, sigma, steps, delta = 0.04, 1.3, 250, 1e-5
    acc = RDPAccountant()
    for _ in range(steps):
        acc.step(noise_multiplier=sigma, sample_rate=q)
    ours = compose([Measurement("training", "dp_sgd", "g", sigma, q, steps)], delta)
    assert ours == pytest.approx(acc.get_epsilon(delta), rel=0.02)  # our orders are a superset


def test_full_batch_sgd_is_plain_gaussian_composition():
    sgd = compose([Measurement("training", "dp_sgd", "g", 4.0, 1.0, 9)], 1e-5)
    gauss = compose([Measurement("profile", "discrete_gaussian", "g", 4.0 / 3.0)], 1e-5)
    assert sgd == pytest.approx(gauss, rel=1e-6)


@pytest.mark.parametrize("eps", [0.5, 1.0, 4.0])
def test_calibration_meets_target_tightly(eps):
    delta = 1e-5
    rho = calibrate_profile_rho(eps, delta, 0.3)
    profile = [Measurement("profile", "discrete_gaussian", "hist", 1 / math.sqrt(2 * rho))]
    sigma = calibrate_sgd_sigma(profile, 0.05, 200, eps, delta)
    total = compose([*profile, Measurement("training", "dp_sgd", "g", sigma, 0.05, 200)], delta)
    assert total <= eps and total >= 0.995 * eps
    # less noise would break the target
    assert compose([*profile, Measurement("training", "dp_sgd", "g", 0.98 * sigma, 0.05, 200)], delta) > eps


def test_threshold_delta_is_charged():
    m = Measurement("profile", "discrete_gaussian", "cats", 10.0, delta_extra=4e-6)
    plain = Measurement("profile", "discrete_gaussian", "cats", 10.0)
    assert compose([m], 1e-5) > compose([plain], 1e-5)
    assert compose([m], 4e-6) == float("inf")


def test_statement_parts_and_json_round_trip():
    ms = [Measurement("profile", "discrete_gaussian", "n", 30.0),
          Measurement("training", "dp_sgd", "g", 1.1, 0.02, 100)]
    st = PrivacyStatement.of(ms, 1e-6)
    assert set(st.parts) == {"profile", "training"}
    assert max(st.parts.values()) <= st.epsilon <= sum(st.parts.values()) + 1e-9
    assert PrivacyStatement.from_json(st.to_json()) == st
    assert "ε=" in str(st)
