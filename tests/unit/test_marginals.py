"""The tree's tables as further measurements of the 1-way marginals: pooled by inverse variance, and
written back into the profile without changing any code."""
import numpy as np
import polars as pl

import dp_synth
from dp_synth.marginals import pooled_marginals, pooled_noise, reweighted
from dp_synth.profile import CategoricalProfile, Kind, NumericProfile, TableProfile


def test_pooling_the_tree_tables_margins_lowers_the_marginals_error_as_inverse_variance_predicts():
    """A column measured once (σ = 20 per code) and in two released tables (σ = 10 per cell, partners of
    2 and 4 codes: their margins' noise variances are 200 and 400): its pooled marginal's L1 error falls
    to ≈ √(1/(1/400 + 1/200 + 1/400)) / 20 = 0.5 of the profile's, as the inverse-variance weights say; the
    estimate stays unbiased."""
    rng = np.random.default_rng(3)
    counts = np.array([400.0, 250.0, 200.0, 100.0, 50.0])
    n = counts.sum()
    partners = [np.array([0.3, 0.7]), np.array([0.1, 0.2, 0.3, 0.4])]
    before, after, bias = [], [], []
    for _ in range(400):
        profile = np.clip(counts + rng.normal(0, 20, 5), 1, None)
        raw = {(0, 1): np.outer(counts, partners[0]) + rng.normal(0, 10, (5, 2)),
               (0, 2): np.outer(counts, partners[1]) + rng.normal(0, 10, (5, 4))}
        margs = [profile / profile.sum(), partners[0], partners[1]]
        noise = [np.full(5, 20.0), np.zeros(2) + 1e-9, np.zeros(4) + 1e-9]
        pooled = pooled_marginals(margs, noise, n, raw, 10.0)[0]
        before.append(np.abs(margs[0] - counts / n).sum())
        after.append(np.abs(pooled - counts / n).sum())
        bias.append(pooled - counts / n)
    ratio = np.mean(after) / np.mean(before)
    assert 0.42 < ratio < 0.58, ratio
    assert np.abs(np.mean(bias, axis=0)).max() < 0.005


def test_pooling_in_two_steps_with_the_pooled_noise_equals_pooling_at_once_and_a_triple_counts_its_cells():
    """Tree tables first, then a further 2-way and a 3-way table: pooled with :func:`pooled_noise` in between,
    the result is what pooling all of them at once gives. A 3-way table's margin of a column sums the
    other two axes' cells (4 × 3 = 12 here), so its noise variance is 12σ² per code."""
    rng = np.random.default_rng(0)
    cards, n = [3, 4, 3], 6000.0
    truth = rng.dirichlet(np.ones(36)).reshape(cards) * n
    margs = [np.asarray(truth.sum(axis=tuple(a for a in range(3) if a != c))) / n for c in range(3)]
    noisy = [np.clip(m + rng.normal(0, 0.01, m.shape), 1e-3, None) for m in margs]
    noisy = [m / m.sum() for m in noisy]
    noise = [np.full(k, 30.0) for k in cards]
    first = {(0, 1): truth.sum(axis=2) + rng.normal(0, 20, (3, 4))}
    second = {(1, 2): truth.sum(axis=0) + rng.normal(0, 10, (4, 3)),
              (0, 1, 2): truth + rng.normal(0, 10, tuple(cards))}
    sigmas = {(0, 1): 20.0, (1, 2): 10.0, (0, 1, 2): 10.0}
    at_once = pooled_marginals(noisy, noise, n, {**first, **second}, sigmas)
    step = pooled_marginals(noisy, noise, n, first, 20.0)
    two_steps = pooled_marginals(step, pooled_noise(noise, first, 20.0), n, second, sigmas)
    for a, b in zip(at_once, two_steps):
        assert np.allclose(a, b, atol=2e-3), (a, b)
    # column 0: its own σ 30, in the (0, 1) table (4 partners at σ 20) and the triple (12 cells at σ 10)
    expected = 1 / np.sqrt(1 / 30 ** 2 + 1 / (4 * 20 ** 2) + 1 / (12 * 10 ** 2))
    got = pooled_noise(noise, {**first, **second}, sigmas)[0]
    assert np.allclose(got, expected)


def test_reweighting_a_profile_sets_each_codes_mass_and_keeps_the_shape_within_a_bin():
    num = NumericProfile("x", Kind.INTEGER, 0.0, 3.0, (0., 1., 2., 3.), (0., 1., 2., 3.), (10., 30., 20., 40.),
                         (0, 2, 4), null_mass=50.0, sigma=5.0)
    cat = CategoricalProfile("c", Kind.CATEGORICAL, ("a", "b", "__other__"), (60., 90., 0.), 0.0, sigma=5.0)
    profile = TableProfile(150.0, (num, cat))
    out = reweighted(profile, [np.array([0.2, 0.4, 0.4]), np.array([0.5, 0.5, 0.0])])
    x, c = out.columns
    assert np.allclose(x.marginal(), [0.2, 0.4, 0.4]) and np.allclose(c.marginal(), [0.5, 0.5, 0.0])
    assert np.isclose(x.cell_mass[1] / x.cell_mass[0], 3.0) and np.isclose(x.cell_mass[3] / x.cell_mass[2], 2.0)
    assert (x.lows, x.bin_starts, c.categories) == (num.lows, num.bin_starts, cat.categories)
    assert x.has_null and not c.has_null


def test_a_fit_keeps_the_pooled_marginals_in_its_model(monkeypatch):
    """The model's profile (what raking pulls the twin to and the decoder draws from) holds the pooled
    marginals, not the profile's alone, over the same codes the generator was trained on."""
    import importlib

    from helpers import spy_on

    seen = spy_on(monkeypatch, importlib.import_module("dp_synth.fit"), "measure_profile", "measure_tree")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 1500)
    df = pl.DataFrame({"a": a, "b": np.where(rng.random(1500) < 0.8, a % 2, 1 - a % 2).astype(str),
                       "c": rng.integers(0, 3, 1500).astype(str)})
    m = dp_synth.fit(df, epsilon=1.0, seed=0, config=dp_synth.TrainingConfig(epochs=1))
    raw = seen["measure_profile"][1].columns
    pooled = seen["measure_tree"].marginals
    assert len(pooled) == 3
    for before, after, p in zip(raw, m.profile.columns, pooled):
        assert np.allclose(after.marginal(), p)
        assert after.n_codes == before.n_codes
    assert any(not np.allclose(b.marginal(), p) for b, p in zip(raw, pooled))
    assert list(m.generator.cardinalities) == [c.n_codes for c in m.profile.columns]
