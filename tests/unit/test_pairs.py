"""Adaptive extra pairs: IPF reweighting matches the measured tables; selection goes for the worst
pair; every release is in the privacy statement."""
import numpy as np
import polars as pl

import dp_synth
from dp_synth.counts import by_column, code_pairs, code_table
from dp_synth.marginals import all_pairs
from dp_synth.pairs import measure_extra_pairs, reweight
from dp_synth.privacy.noise import NoisyCounter


def test_reweighting_matches_measured_pair_tables():
    rng = np.random.default_rng(0)
    sample = rng.integers(0, 3, size=(20000, 3))  # independent columns
    target = np.array([[5.0, 1, 1], [1, 5, 1], [1, 1, 5]])  # 0×1 strongly diagonal
    w = reweight(sample, {(0, 1): target}, [3, 3, 3])
    got = code_table(sample, (0, 1), [3, 3, 3], w)
    assert np.allclose(got, target / target.sum(), atol=1e-6)
    assert abs(w.sum() - 1) < 1e-9


def test_selection_finds_the_pair_the_sample_gets_wrong():
    rng = np.random.default_rng(1)
    n = 20000
    x = rng.integers(0, 4, n)
    codes = np.column_stack([x, x, rng.integers(0, 4, n), rng.integers(0, 4, n)])  # columns 0 and 1 equal
    sample = rng.integers(0, 4, size=(5000, 4))  # a synthetic sample that knows no pair
    counter = NoisyCounter(np.random.RandomState(0))
    tables, w, _ = measure_extra_pairs(code_pairs(codes, [4] * 4, all_pairs(4)), [4] * 4, sample, set(), float(n), 1, 0.5, 0.5, counter,
                                    np.random.default_rng(2))
    assert list(tables) == [(0, 1)]
    targets = [m.target for m in counter.measurements]
    assert any("adaptive" in t for t in targets) and any("selection" in t for t in targets)


def test_fit_with_extra_pairs_keeps_the_budget_and_pools_their_margins(monkeypatch):
    """The extra pairs are in the privacy statement, and their margins are pooled into the model's
    1-way marginals after the tree's (inverse variance, from the tree's pooled noise scales)."""
    import importlib

    from helpers import spy_on

    from dp_synth.marginals import pooled_marginals

    seen = spy_on(monkeypatch, importlib.import_module("dp_synth.fit"), "measure_tree", "measure_extra_pairs")
    # 12,000 rows: a large table by profile.smallness once 20 % are held out (smaller ones shrink the pairs' shares)
    df = pl.DataFrame({"a": [i % 5 for i in range(12_000)], "b": [(i % 5) * 2 for i in range(12_000)],
                       "c": [i % 3 for i in range(12_000)]})
    m = dp_synth.fit(df, 1.0, 1e-5, seed=0, config=dp_synth.TrainingConfig(epochs=1, extra_pairs=2))
    assert m.privacy.epsilon <= 1.0 + 1e-9
    assert sum("adaptive" in ms.target for ms in m.privacy.measurements) >= 1
    tree, (found, _, sigma) = seen["measure_tree"], seen["measure_extra_pairs"]
    assert found and sigma > 0 and len(tree.noise) == 3
    want = pooled_marginals([np.asarray(p) for p in tree.marginals], [np.asarray(s) for s in tree.noise],
                            m.profile.n_noisy, found, sigma)
    for column, p, before in zip(m.profile.columns, want, tree.marginals):
        assert np.allclose(column.marginal(), p)
    assert any(not np.allclose(p, before) for p, before in zip(want, tree.marginals))


def test_selection_discounts_the_noise_a_large_table_will_get():
    """AIM's penalty: a 900-cell pair the sample gets more wrong (L1 38,667) loses to a 4-cell pair
    (L1 20,000) once the L1 error its own noise would leave (√(2/π)·σ·cells ≈ 22,700 at σ = 31.6) is
    taken off; with enough budget (σ = 1) the large pair wins."""
    rng = np.random.default_rng(3)
    n = 20000
    b, c = rng.integers(0, 2, n), rng.integers(0, 30, n)
    codes = np.column_stack([b, b, c, c])  # 0 = 1 (binary), 2 = 3 (30 values)
    cards = [2, 2, 30, 30]
    sample = np.column_stack([rng.integers(0, k, 20000) for k in cards])  # knows no pair
    true = code_pairs(codes, cards, all_pairs(4))

    def pick(rho_measure):
        counter = NoisyCounter(np.random.RandomState(0))
        tables, _, _ = measure_extra_pairs(true, cards, sample, set(), float(n), 1, 2.0, rho_measure, counter,
                                        np.random.default_rng(4))
        return list(tables)

    assert pick(0.0005) == [(0, 1)]
    assert pick(0.5) == [(2, 3)]


def test_a_triple_is_picked_when_the_structure_is_three_way_and_the_weights_then_hold_it():
    """c = a XOR b: every pair is independent, so no pair table tells the sample anything; the triple
    does, and the reweighted sample then holds c = a XOR b."""
    import itertools

    rng = np.random.default_rng(5)
    n = 20000
    a, b = rng.integers(0, 2, n), rng.integers(0, 2, n)
    codes = np.column_stack([a, b, a ^ b, rng.integers(0, 2, n)])
    cards = [2, 2, 2, 2]
    sets = all_pairs(4) + list(itertools.combinations(range(4), 3))
    true = code_pairs(codes, cards, sets)
    assert np.allclose(true[(0, 2)], n / 4, rtol=0.05)  # the pairs look independent
    sample = rng.integers(0, 2, size=(8000, 4))
    counter = NoisyCounter(np.random.RandomState(0))
    tables, w, _ = measure_extra_pairs(true, cards, sample, set(), float(n), 1, 2.0, 2.0, counter,
                                    np.random.default_rng(6), marginals=[np.full(2, 0.5)] * 4)
    assert list(tables) == [(0, 1, 2)]
    xor = code_table(sample, (0, 1, 2), cards, w)
    assert xor[0, 0, 0] + xor[0, 1, 1] + xor[1, 0, 1] + xor[1, 1, 0] > 0.99
    assert any(m.target.startswith("3-way marginal of columns 0×1×2") for m in counter.measurements)


def test_no_pair_is_measured_when_its_noise_would_outweigh_what_it_tells():
    """935 rows at σ ≈ 36 per pair (seattle_weather at ε = 1): a 20-cell pair's noise alone leaves an
    expected L1 error of ≈ 580 rows — worth nothing. No pair is measured and nothing is spent on it;
    with 100× the rows the same pairs are measured."""
    rng = np.random.default_rng(7)
    cards = [5, 4, 4]

    def picks(n):
        x = rng.integers(0, 4, n)
        codes = np.column_stack([rng.integers(0, 5, n), x, x])
        counter = NoisyCounter(np.random.RandomState(0))
        tables, w, _ = measure_extra_pairs(code_pairs(codes, cards, all_pairs(3)), cards,
                                        rng.integers(0, 4, size=(4000, 3)), set(), float(n), 8, 0.0006, 0.003,
                                        counter, np.random.default_rng(8))
        return tables, w, counter.measurements

    tables, w, spent = picks(935)
    assert tables == {} and spent == [] and np.allclose(w, 1 / 4000)
    tables, _, spent = picks(93_500)
    assert (1, 2) in tables and any("adaptive" in m.target for m in spent)


def test_a_small_table_gives_the_unmeasured_pairs_budget_to_dp_sgd():
    df = pl.DataFrame({"a": [i % 5 for i in range(900)], "b": [(i * 7) % 4 for i in range(900)],
                       "c": [(i // 3) % 4 for i in range(900)], "d": [(i // 7) % 5 for i in range(900)]})
    m = dp_synth.fit(df, 1.0, 1e-5, seed=0, config=dp_synth.TrainingConfig(epochs=1))
    assert not any("adaptive" in ms.target for ms in m.privacy.measurements)
    assert 0.99 < m.privacy.epsilon <= 1.0 + 1e-9  # the whole budget is still used (by DP-SGD)


def test_tree_scores_discount_what_sampling_alone_puts_between_independent_columns():
    """On few rows two independent 16-value columns are far from the product of their marginals by chance
    (≈ 366 at 935 rows: independence_l1, checked here against simulation), more than a real binary
    dependence (≈ 187); the tree's score takes the chance part off, so the dependent pair ranks first."""
    from dp_synth.marginals import edge_scores, independence_l1

    rng = np.random.default_rng(5)
    n, p = 935, np.full(16, 1 / 16)
    sims, expected = [], []
    for _ in range(300):
        t = np.histogram2d(rng.integers(0, 16, n), rng.integers(0, 16, n), bins=16)[0]
        r, c = t.sum(axis=1) / n, t.sum(axis=0) / n
        sims.append(np.abs(t - n * np.outer(r, c)).sum())
        expected.append(independence_l1(r, c, n))
    assert abs(np.mean(sims) / np.mean(expected) - 1) < 0.05
    a, b = rng.integers(0, 16, n), rng.integers(0, 16, n)
    c = rng.integers(0, 2, n)
    d = np.where(rng.random(n) < 0.7, c, 1 - c)  # c and d agree on 70 % of rows
    codes = np.column_stack([a, b, c, d])
    cards = [16, 16, 2, 2]
    tables = code_pairs(codes, cards, all_pairs(4))
    marg = [np.bincount(codes[:, j], minlength=k) / n for j, k in enumerate(cards)]
    raw = {q: np.abs(tables[q] - n * np.outer(marg[q[0]], marg[q[1]])).sum() for q in [(0, 1), (2, 3)]}
    assert raw[(0, 1)] > raw[(2, 3)]  # uncorrected, the independent pair wins
    scores = dict(zip([(0, 1), (2, 3)], edge_scores(tables, marg, float(n), [(0, 1), (2, 3)])))
    assert scores[(2, 3)] > scores[(0, 1)] + 100


def test_tree_scores_discount_the_noise_of_the_dp_marginals_they_compare_with():
    """A column whose DP marginal is noisy (16 codes, σ = 25 rows each) is far from independent columns'
    product by that noise alone, so uncorrected every pair of it outscores a real binary dependence and
    the tree becomes a star around it (1,600 rows of Adult at ε = 1: around age). Given each code's noise
    scale (code_noise), the score of an independent pair is ≈ 0 in expectation and the dependent pair
    ranks first."""
    from dp_synth.marginals import code_noise, edge_scores
    from dp_synth.profile import NumericProfile

    rng = np.random.default_rng(11)
    n, cards, sigma = 1500, [16, 2, 2, 2], 25.0
    pairs = [(0, 1), (2, 3)]
    indep, dep, plain = [], [], []
    for _ in range(100):
        c = rng.integers(0, 2, n)
        codes = np.column_stack([rng.integers(0, 16, n), rng.integers(0, 2, n), c,
                                 np.where(rng.random(n) < 0.55, c, 1 - c)])  # c, d agree on 55 %
        tables = code_pairs(codes, cards, pairs)
        counts = [np.bincount(codes[:, j], minlength=k).astype(float) for j, k in enumerate(cards)]
        noisy = [np.clip(counts[0] + rng.normal(0, sigma, 16), 1, None)] + counts[1:]  # only column 0's is noisy
        marg = [m / m.sum() for m in noisy]
        col = NumericProfile("a", None, 0.0, 15.0, tuple(range(16)), tuple(range(16)), tuple(noisy[0]),
                             tuple(range(17)), 0.0, sigma=sigma)
        noise = [code_noise(col), np.zeros(2), np.zeros(2), np.zeros(2)]
        s_new = edge_scores(tables, marg, float(n), pairs, noise)
        s_old = edge_scores(tables, marg, float(n), pairs)
        indep.append(s_new[0]), dep.append(s_new[1]), plain.append(s_old[0] - s_old[1])
    assert np.mean(plain) > 0  # uncorrected, the independent pair of the noisy column wins
    assert abs(np.mean(indep)) < 25 and np.mean(dep) > 60  # corrected: chance ≈ 0, the dependence stands
    assert np.mean(np.array(dep) > np.array(indep)) > 0.9


def test_a_sparse_tree_table_takes_noisy_cells_under_its_threshold_as_empty():
    """A sparse 2-way table like airports' state × longitude (each parent code's rows in 2 of 9 cells;
    here 30 codes of 30 rows: 900 rows, σ = 5): clipping the noise at 0 leaves ≈ 0.4σ of spurious mass in
    every empty cell; taking cells under table_threshold(n̂)·σ as empty puts more of each parent's
    conditional on its own cells. Post-processing of the released table; off where cells hold more than σ."""
    import dp_synth.marginals as M

    parents, cells = 30, 9
    t = np.zeros((parents, cells))
    for p in range(parents):
        t[p, p % 8] = t[p, p % 8 + 1] = 15
    n = t.sum()
    marginals = [t.sum(1) / n, t.sum(0) / n]
    assert M.table_threshold(n, t.size, 5.0) == M.TABLE_THRESHOLD > 0  # 3.3 rows per cell < σ: sparse
    assert M.table_threshold(n, t.size, 3.0) == 0  # 3.3 rows per cell > σ: most cells hold rows

    def on_true_cells(threshold):
        default, M.TABLE_THRESHOLD = M.TABLE_THRESHOLD, threshold
        try:
            out = []
            for s in range(10):
                prior = M.measure_tree({(0, 1): t}, [parents, cells], marginals, n, 1e-3, 1 / (2 * 5.0 ** 2),
                                       NoisyCounter(np.random.RandomState(s)), np.random.default_rng(s))
                assert prior.order == (0, 1)
                out.append(np.mean((np.asarray(prior.conditionals[1]) * (t > 0)).sum(axis=1)))
            return float(np.mean(out))
        finally:
            M.TABLE_THRESHOLD = default

    clipped, thresholded = on_true_cells(0.0), on_true_cells(M.TABLE_THRESHOLD)
    assert clipped < 0.58 and thresholded > clipped + 0.06, (clipped, thresholded)


def test_tables_of_a_sample_stored_by_column_are_the_same_tables():
    """The adaptive selection scores every candidate on its sample stored column by column (int32): the
    weighted tables, and so the picks, are those of the row-major sample, bit for bit."""
    rng = np.random.default_rng(3)
    cards = [7, 3, 300, 2]
    sample = np.stack([rng.integers(0, k, 5000) for k in cards], axis=1)
    w = rng.random(5000)
    cols = by_column(sample)
    assert cols.flags.f_contiguous and cols.dtype == np.int32 and by_column(cols) is cols
    for p in [(0, 1), (2, 3), (0, 2, 3)]:
        assert np.array_equal(code_table(cols, p, cards, w), code_table(sample, p, cards, w))
