"""The reported ε recomputed from the model's own measurements by a second accountant (Google's
dp-accounting), and the category-release threshold against the noise diffprivlib actually draws."""
import math

import numpy as np
import polars as pl
import pytest

import dp_synth
from dp_synth.profile import NoisyCounter, discrete_gaussian_tail, discrete_gaussian_threshold
from dp_synth.privacy.rdp import ORDERS
from helpers import FAST, adult_sample

dp_accounting = pytest.importorskip("dp_accounting")
from dp_accounting import dp_event as ev  # noqa: E402
from dp_accounting.pld import pld_privacy_accountant  # noqa: E402
from dp_accounting.rdp import rdp_privacy_accountant  # noqa: E402


def _event(m):
    if m.mechanism == "discrete_gaussian":  # RDP α/(2σ²) per count vector (Canonne et al. 2020)
        return ev.SelfComposedDpEvent(ev.GaussianDpEvent(m.sigma), m.steps)
    if m.mechanism == "exponential":        # ε²/8-zCDP per draw (Cesar & Rogers 2021)
        return ev.SelfComposedDpEvent(ev.ZCDpEvent(m.sigma ** 2 / 8.0), m.steps)
    if m.mechanism == "dp_sgd":
        return ev.SelfComposedDpEvent(ev.PoissonSampledDpEvent(m.sample_rate, ev.GaussianDpEvent(m.sigma)), m.steps)
    raise AssertionError(m.mechanism)


@pytest.fixture(scope="module")
def model():
    return dp_synth.fit(adult_sample(3000, seed=1), epsilon=1.0, seed=3, config=FAST)


def test_reported_epsilon_matches_googles_rdp_accountant(model):
    st = model.privacy
    delta_rdp = st.delta - sum(m.delta_extra for m in st.measurements)
    acc = rdp_privacy_accountant.RdpAccountant(list(ORDERS))
    acc.compose(ev.ComposedDpEvent([_event(m) for m in st.measurements]))
    theirs = acc.get_epsilon(delta_rdp)
    assert theirs == pytest.approx(st.epsilon, rel=1e-6), (theirs, st.epsilon)  # measured: equal to 1e-15
    assert st.epsilon <= 1.0 + 1e-9


def test_pld_lower_accounting_never_exceeds_the_claim_by_much(model):
    """PLD is tighter than RDP for Gaussians: it must not find *more* privacy loss than we report."""
    st = model.privacy
    events = [_event(m) for m in st.measurements if m.mechanism != "exponential"]
    acc = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-3)
    acc.compose(ev.ComposedDpEvent(events))
    delta_rdp = st.delta - sum(m.delta_extra for m in st.measurements)
    assert acc.get_epsilon(delta_rdp) <= st.epsilon * 1.001


@pytest.mark.parametrize("sigma, delta", [(0.7, 1e-3), (2.0, 1e-4), (6.0, 1e-6), (40.0, 1e-9)])
def test_threshold_is_the_smallest_that_keeps_a_one_row_category_below_delta(sigma, delta):
    t = discrete_gaussian_threshold(sigma, delta)
    assert discrete_gaussian_tail(t, sigma) <= delta < discrete_gaussian_tail(t - 1, sigma)


def test_discrete_tail_matches_diffprivlibs_sampler():
    """Empirical P(Z ≥ t) of the noise the profile draws agrees with the exact tail used for δ."""
    counter = NoisyCounter(np.random.RandomState(0))
    sigma = 1.2
    rho = 1.0 / (2 * sigma * sigma)
    z, _ = counter.counts(np.zeros(200_000, dtype=int), rho, "tail check")
    for t in (1, 2, 3, 4):
        empirical = float((z >= t).mean())
        exact = discrete_gaussian_tail(t, sigma)
        se = math.sqrt(exact * (1 - exact) / z.size)
        assert abs(empirical - exact) < 5 * se + 1e-6, (t, empirical, exact)
    from scipy.stats import norm  # the continuous tail the old rule used understates the discrete one

    assert discrete_gaussian_tail(3, sigma) > 1.1 * norm.sf(3 / sigma)


def test_a_category_held_by_one_row_is_released_at_most_at_rate_delta():
    df = pl.DataFrame({"c": ["common"] * 2000 + ["lonely"], "x": list(range(2001))})
    released = 0
    for seed in range(30):
        m = dp_synth.fit(df, epsilon=1.0, seed=seed, config=FAST, spec={"x": {"bounds": [0, 2001]}})
        released += "lonely" in m.profile.columns[0].categories
    assert released == 0


def test_unseeded_runs_do_not_follow_numpys_global_seed():
    """Every seed not given by the user comes from the OS CSPRNG: np.random.seed() changes nothing."""
    df = pl.DataFrame({"a": [i % 7 for i in range(600)], "b": ["x", "y", "z"] * 200})
    cfg = dp_synth.TrainingConfig(epochs=1, batch_size=64, hidden=8, embed_dim=4, pretrain_rows=500, pretrain_epochs=1)
    runs = []
    for _ in range(2):
        np.random.seed(1234)
        m = dp_synth.fit(df, 2.0, config=cfg)
        runs.append((m.profile.to_json(), [v.clone() for v in m.generator.state_dict().values()], m.holdout_key))
    assert runs[0][0] != runs[1][0] and runs[0][2] != runs[1][2]  # profile noise and holdout key differ
    from dp_synth.models import build_generator
    from dp_synth.training import train_dp

    codes = np.random.default_rng(0).integers(0, 3, size=(500, 2))
    weights = []
    for _ in range(2):  # the same model, data and settings: only the DP-SGD noise can differ
        np.random.seed(1234)
        import torch

        torch.manual_seed(0)
        gen = build_generator("autoregressive", cardinalities=[3, 3], embed_dim=4, hidden=8)
        train_dp(gen, codes, sample_rate=0.1, steps=5, noise_multiplier=1.0, expected_batch_size=50,
                 config=cfg, seed=None)
        weights.append([v.clone() for v in gen.state_dict().values()])
    assert any(not bool((a == b).all()) for a, b in zip(*weights))
    np.random.seed(1234)
    from dp_synth.marginals import _exponential

    draws = {_exponential(np.zeros(1000), 1.0, None) for _ in range(5)}
    assert len(draws) > 1


def test_poisson_batches_have_the_poisson_distribution():
    """O(batch) sampling: sizes Binomial(n, q), every row included w.p. q, independently of others."""
    import torch

    from dp_synth.training import poisson_batch

    gen = torch.Generator().manual_seed(0)
    n, q, trials = 5000, 0.01, 4000
    counts = np.zeros(n)
    sizes = []
    pair = 0
    for _ in range(trials):
        idx = poisson_batch(n, q, gen).numpy()
        assert len(set(idx.tolist())) == len(idx)  # no row twice
        sizes.append(len(idx))
        counts[idx] += 1
        pair += (0 in idx) and (1 in idx)
    sizes = np.asarray(sizes)
    assert abs(sizes.mean() - n * q) < 4 * math.sqrt(n * q * (1 - q) / trials)
    assert abs(sizes.var() - n * q * (1 - q)) < 0.15 * n * q  # Binomial variance, not a fixed size
    assert abs(counts.mean() / trials - q) < 1e-3 and counts.std() / trials < 3 * math.sqrt(q / trials)
    assert pair <= 5  # P(both 0 and 1) = q² → 0.4 expected in 4000 trials
