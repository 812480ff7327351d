import math

import numpy as np
import polars as pl
import pytest

from dp_synth import InputError, Role, TableSpec
from dp_synth.domains import public_values
from dp_synth.profile import OTHER, NoisyCounter, measure_profile


def test_discrete_gaussian_noise_has_the_accounted_scale():
    rho = 0.002
    counter = NoisyCounter(np.random.RandomState(0))
    noisy, sigma = counter.counts(np.full(20000, 50), rho, "x")
    assert sigma == pytest.approx(1 / math.sqrt(2 * rho))
    assert np.std(noisy - 50) == pytest.approx(sigma, rel=0.03)
    assert abs(np.mean(noisy - 50)) < 4 * sigma / math.sqrt(20000)
    assert np.all(noisy == np.round(noisy))  # discrete
    assert counter.measurements[0].sigma == sigma


def _profile(df, overrides=None, rho=0.5, delta=1e-6, seed=0):
    spec = TableSpec.from_arrow(df.to_arrow().schema, overrides or {}, table="t")
    return measure_profile(df, spec, rho, delta, np.random.RandomState(seed))


def test_rare_categories_are_not_released():
    vals = ["common"] * 3000 + ["also"] * 2000 + ["Rare Person"]
    df = pl.DataFrame({"c": vals, "x": list(range(len(vals)))})
    _, prof, ms = _profile(df)
    cats = prof.columns[0].categories
    assert "common" in cats and "also" in cats and "Rare Person" not in cats
    assert OTHER in cats
    assert any(m.delta_extra > 0 for m in ms)


def test_public_categories_cost_no_threshold_delta():
    df = pl.DataFrame({"c": ["a"] * 500 + ["b"] * 3, "x": list(range(503))})
    _, prof, ms = _profile(df, {"c": {"categories": ["a", "b", "z"]}})
    assert prof.columns[0].categories[:3] == ("a", "b", "z")
    assert all(m.delta_extra == 0 for m in ms)


def test_near_unique_strings_become_pii_with_a_warning():
    df = pl.DataFrame({"email": [f"user{i}@example.com" for i in range(2000)], "x": [i % 10 for i in range(2000)]})
    with pytest.warns(UserWarning, match="'email'.*treated as PII"):
        spec, prof, _ = _profile(df)
    assert spec.column("email").role is Role.PII
    assert [c.name for c in prof.columns] == ["x"]


def test_declared_role_skips_detection():
    df = pl.DataFrame({"code": [f"c{i}" for i in range(500)], "x": [1] * 500})
    spec, _, ms = _profile(df, {"code": {"role": "learn"}})
    assert spec.column("code").role is Role.LEARN
    assert not any("distinct" in m.target for m in ms)


def test_dp_bounds_cover_the_bulk_and_clamp_outliers():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(50, 10, 5000), [1e9]])
    _, prof, _ = _profile(pl.DataFrame({"x": x}))
    col = prof.columns[0]
    assert col.lower <= 25 and col.upper >= 75  # ±2.5 sd: ≥ 98.8 % of the rows inside
    assert col.upper < 1e6  # a single outlier does not set the bound
    assert 8 <= col.n_bins <= 16


def test_nan_and_inf_are_rejected_with_column_name():
    with pytest.raises(InputError, match=r"column .x. holds NaN or infinite"):
        _profile(pl.DataFrame({"x": [1.0, float("nan")] * 100}))
    with pytest.raises(InputError, match=r"column .x. holds NaN or infinite"):
        _profile(pl.DataFrame({"x": [1.0, float("inf")] * 100}))


def test_null_rate_is_measured():
    df = pl.DataFrame({"x": [None] * 2000 + list(range(2000))})
    _, prof, _ = _profile(df)
    p = prof.columns[0].marginal()
    assert prof.columns[0].has_null and p[0] == pytest.approx(0.5, abs=0.05)


def test_columns_without_nulls_rarely_get_a_null_code_and_a_few_percent_of_nulls_are_kept():
    """Six NULL-free nullable columns (numbers with and without the coarse bins, categories, public categories)
    over 40 profiles (σ ≈ 20 per count): at the cells' 1.5σ rule ≈ 16 of 240 columns got NULLs, which the
    twin then writes (a not_null test on it fails); at 3σ ≈ 0.3 are expected. A column with 5 % NULLs
    (100 rows, ≈ 5σ) keeps them in every profile."""
    rng = np.random.default_rng(0)
    n = 2000
    df = pl.DataFrame({"a": rng.normal(50, 10, n), "b": rng.integers(0, 5, n), "c": rng.choice(["x", "y", "z"], n),
                       "d": rng.choice(["u", "v"], n), "e": rng.lognormal(3, 1, n), "f": rng.integers(0, 90, n),
                       "g": [None if i % 20 == 0 else float(i) for i in range(n)]})
    spurious = kept = 0
    for seed in range(40):
        _, prof, _ = _profile(df, {"d": {"categories": ["u", "v"]}}, rho=0.016, seed=seed)
        spurious += sum(c.has_null for c in prof.columns if c.name != "g")
        kept += next(c for c in prof.columns if c.name == "g").has_null
    assert spurious <= 3, spurious
    assert kept == 40


def test_values_a_column_never_has_are_not_invented_and_pooled_rare_values_are_kept():
    """An all-true boolean, a declared category never seen, a two-valued text column (nothing rare to pool)
    over 40 profiles: at the 1.5σ of before the twin wrote false, 'c' and OTHER in about a third of them
    (Adult's sex and income got an OTHER value in 12–18 of 30 fits), failing accepted_values tests. A
    column with 10 % of its rows over 400 rare values keeps its OTHER mass in every profile."""
    rng = np.random.default_rng(0)
    n = 4000
    rare = [f"r{i}" for i in rng.integers(0, 400, n // 10)]
    df = pl.DataFrame({"flag": np.ones(n, bool), "d": rng.choice(["a", "b"], n), "k": rng.choice(["u", "v"], n),
                       "z": rare + list(rng.choice(["x", "y"], n - len(rare)))})
    invented = pooled = 0
    for seed in range(40):
        _, prof, _ = _profile(df, {"d": {"categories": ["a", "b", "c"]}}, rho=0.01, seed=seed)
        col = {c.name: dict(zip(c.categories, c.mass)) for c in prof.columns}
        invented += (col["flag"]["false"] > 0) + (col["d"]["c"] > 0) + (col["k"][OTHER] > 0)
        pooled += col["z"][OTHER] > 0.05 * n
    assert invented <= 2, invented
    assert pooled == 40


def test_quantile_bins_give_the_tail_of_a_zero_inflated_column_its_own_bins():
    """92 % of the mass on one cell: the atom is one bin, the other 8 % share the remaining bins (plain
    quantiles gave them two); every bin holds mass, bins are contiguous and cover every cell."""
    from dp_synth.profile import _quantile_bins

    mass = np.concatenate([[9200.0], np.full(200, 4.0)])
    cuts = _quantile_bins(mass, k=16)
    assert cuts[0] == 0 and cuts[-1] == len(mass) and cuts == sorted(set(cuts))
    assert cuts[1] == 1  # the atom alone
    assert len(cuts) - 1 == 16
    sums = [mass[a:b].sum() for a, b in zip(cuts[:-1], cuts[1:])]
    assert min(sums) > 0 and max(sums[1:]) / min(sums[1:]) < 1.5  # the tail bins of about equal mass
    # an atom in the middle (40 hours a week) is cut out on both sides
    mid = np.concatenate([np.full(40, 10.0), [4000.0], np.full(40, 10.0)])
    cuts = _quantile_bins(mid, k=16)
    assert 40 in cuts and 41 in cuts
    # empty cells at the end join the last bin with mass; an all-zero tail adds no empty bin
    cuts = _quantile_bins(np.array([3.0, 0.0, 5.0, 0.0, 0.0]), k=4)
    assert all(np.array([3.0, 0.0, 5.0, 0.0, 0.0])[a:b].sum() > 0 for a, b in zip(cuts[:-1], cuts[1:]))


def test_bin_masses_combine_both_releases_at_the_variance_the_math_gives():
    """Bins of 10 cells: the sum of the raw cells has variance 10·σ_f², the bin's own count σ_c²; the
    combined estimate must have 1/(1/(10σ_f²) + 1/σ_c²) — and be unbiased."""
    from dp_synth.profile import _combine_bins

    rng = np.random.default_rng(0)
    sf, sc, starts = 5.0, 8.0, [0, 10, 20]
    cells = np.full(20, 100.0)
    got = []
    for _ in range(20_000):
        raw = cells + rng.normal(0, sf, 20)
        coarse = np.array([1000.0, 1000.0]) + rng.normal(0, sc, 2)
        m = _combine_bins(raw, sf, raw, starts, coarse, sc)
        got.append([m[:10].sum(), m[10:].sum()])
    got = np.asarray(got)
    want = 1 / (1 / (10 * sf ** 2) + 1 / sc ** 2)
    assert abs(got.mean() - 1000.0) < 0.3
    assert got.var() == pytest.approx(want, rel=0.05)  # 10σ_f² = 250 from the cells alone, σ_c² = 64 alone


def test_numeric_bins_are_measured_closer_to_the_data_than_their_cells_alone(monkeypatch):
    """The profile's coarse-bin marginal (the generator's start and raking target) over 20 profiles
    of a 20,000-row column: lower error with the bins' own release than with the cells' sums alone."""
    import dp_synth.profile as P
    from dp_synth.counts import cell_index

    rng = np.random.default_rng(1)
    df = pl.DataFrame({"x": rng.gamma(2.0, 300.0, 20_000)})
    spec = TableSpec.from_arrow(df.to_arrow().schema, table="t")

    def error(share):
        monkeypatch.setattr(P, "COARSE_SHARE", share)
        errs = []
        for seed in range(20):
            _, prof, _ = measure_profile(df, spec, 0.004, 0.0, np.random.RandomState(seed))
            c = prof.columns[0]
            x = np.clip(df["x"].to_numpy(), c.lower, c.upper)
            cells = cell_index(x, np.asarray(c.lows), np.asarray(c.highs))
            real = np.bincount(np.searchsorted(c.bin_starts, cells, side="right") - 1, minlength=c.n_bins) / len(x)
            p = c.marginal()[int(c.has_null):]  # a NULL code by noise (there are none) is left out
            errs.append(0.5 * np.abs(p / p.sum() - real).sum())
        return np.mean(errs)

    assert error(0.3) < 0.8 * error(0.0)


def _states_table(seed=0):
    """Mostly US state codes, most of them rarer than the release threshold, plus one non-state value."""
    rng = np.random.default_rng(seed)
    codes = ["AK"] * 900 + ["TX"] * 700 + ["CA"] * 600 + [s for s in ("OH", "FL", "GA", "NY") for _ in range(12)]
    codes += ["RI", "DE", "VT"] + ["Overseas"] * 400
    return pl.DataFrame({"state": codes, "x": rng.integers(0, 9, len(codes)).tolist()})


def test_a_column_of_us_state_codes_gets_every_code_even_the_rare_ones():
    from dp_synth.domains import US_STATE_CODES

    df = _states_table()
    _, prof, ms = _profile(df, rho=0.02)  # σ of the histogram ≈ 10, threshold ≈ 50 rows
    col = prof.columns[0]
    assert set(US_STATE_CODES.values) <= set(col.categories)
    assert "Overseas" in col.categories and OTHER in col.categories  # unknown values still by threshold
    mass = dict(zip(col.categories, col.mass))
    # the three large states keep their own noisy counts; the rare ones share what the codes hold beyond
    assert mass["AK"] > mass["TX"] > mass["CA"] > 5 * max(mass["RI"], mass["OH"])
    assert min(mass[k] for k in US_STATE_CODES.values) >= 0
    # the codes' total mass is an unbiased sum of their noisy counts: 2,251 rows ± noise of 62 cells
    sigma = next(m.sigma for m in ms if m.target.startswith("state: histogram"))
    total = sum(mass[k] for k in US_STATE_CODES.values)
    assert abs(total - 2251) < 5 * sigma * math.sqrt(len(US_STATE_CODES.values))
    # one histogram measures the column, as for any text column: the public codes cost nothing more
    assert sum(m.target.startswith("state: histogram") for m in ms) == 1


def test_a_few_state_codes_in_another_column_are_not_released_below_the_threshold():
    vals = ["common"] * 3000 + ["also"] * 2000 + ["CA", "TX"]
    df = pl.DataFrame({"c": vals, "x": list(range(len(vals)))})
    _, prof, _ = _profile(df)
    cats = prof.columns[0].categories
    assert "CA" not in cats and "TX" not in cats and "AK" not in cats
    assert set(cats) == {"common", "also", OTHER}


def test_the_vocabulary_decision_reads_only_the_noisy_counts():
    from dp_synth.domains import US_STATE_CODES, vocabulary_of

    counted = {k: 0.0 for k in US_STATE_CODES.values} | {"x": 0.0}
    counted["x"] = 600.0
    counted["AK"] = 390.0
    assert vocabulary_of(counted, n_noisy=1000.0) is None  # 39 % of rows: not the vocabulary's column
    counted["AK"] = 510.0
    assert vocabulary_of(counted, n_noisy=1000.0) is US_STATE_CODES


def test_a_column_of_a_few_non_state_values_never_takes_a_vocabulary_from_noise():
    """seattle_weather's `weather` at the CLI's ε = 1 noise (σ ≈ 25 on 935 rows): the summed noise of the
    62 state codes (≈ 200 rows' worth) passed half of n̂ in ≈ 2 % of fits with the share rule alone."""
    from dp_synth.domains import vocabulary_of

    rng = np.random.default_rng(7)
    true = {"sun": 454, "fog": 261, "rain": 165, "drizzle": 39, "snow": 15}
    keys = sorted(set(true) | set(public_values()))
    sigma, n_noisy, tau = 25.3, 935.0, 122.0
    old = new = 0
    for _ in range(2000):
        counted = {k: true.get(k, 0) + rng.normal(0, sigma) for k in keys}
        released = sum(v for k, v in counted.items() if k in true and v > tau)
        old += vocabulary_of(counted, n_noisy) is not None
        new += vocabulary_of(counted, n_noisy, sigma, released) is not None
    assert old > 10  # the share rule alone: the failure this guards against
    assert new == 0


def test_a_small_column_of_state_codes_still_takes_its_vocabulary():
    from dp_synth.domains import US_STATE_CODES, vocabulary_of

    rng = np.random.default_rng(8)
    states = list(US_STATE_CODES.values)[:50]
    true = {s: 20 for s in states} | {"Overseas": 150}  # 1,000 rows in state codes, none over τ ≈ 122
    sigma, n_noisy, tau = 25.3, 1150.0, 122.0
    keys = sorted(set(true) | set(public_values()))
    old = new = 0
    for _ in range(500):
        counted = {k: true.get(k, 0) + rng.normal(0, sigma) for k in keys}
        released = sum(v for k, v in counted.items() if k not in public_values() and v > tau)
        old += vocabulary_of(counted, n_noisy) is US_STATE_CODES
        new += vocabulary_of(counted, n_noisy, sigma, released) is US_STATE_CODES
    assert new == old >= 475  # the share rule binds here (n̂/2 = 575 > 2σ√62 ≈ 400): nothing lost


def test_an_integer_spike_keeps_its_value_when_the_bounds_span_up_to_256_values():
    """Hours per week: 40 holds half the rows. DP bounds of [4, 256] (Adult at ε = 0.5, split 0: noise
    in the top octave) are 253 values; binned three to a cell, the twin drew 38, 39 and 40 alike and the
    column's 1-way TVD was 0.36 (docs/benchmarks.md, stop 36). Up to MAX_CELLS values each has its own
    cell, so 40 keeps its mass — and a wider range is still binned."""
    rng = np.random.default_rng(0)
    hours = np.where(rng.random(20_000) < 0.5, 40, rng.integers(1, 100, 20_000))
    df = pl.DataFrame({"h": hours})
    _, prof, _ = _profile(df, {"h": {"bounds": [4, 256]}}, rho=0.0002)  # σ ≈ 60: ≈ 80 cells affordable
    col = prof.columns[0]
    assert col.lows == col.highs and len(col.lows) == 253  # one point cell per value
    mass = np.asarray(col.cell_mass) / sum(col.cell_mass)
    assert mass[col.lows.index(40.0)] == pytest.approx(0.5 + 0.5 / 99, abs=0.03)
    _, wide, _ = _profile(df, {"h": {"bounds": [0, 400]}}, rho=0.0002)
    assert len(wide.columns[0].lows) < 401


@pytest.mark.parametrize("sign", [1, -1])
def test_a_log_distributed_column_gets_cells_by_octave_and_its_twin_keeps_its_quantiles(sign, monkeypatch):
    """5,000 amounts log-uniform over 1 … 4.9·10⁸ (or their negatives): equal cells of ≈ 9·10⁶ put 63 % of
    them in one cell, drawn uniformly (the twin's median 6·10⁶ against 2·10⁴, KS 0.62). Cells by octave
    resolve every octave; a normal column keeps equal cells."""
    import dp_synth
    import dp_synth.cells as cells
    from helpers import FAST
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(0)
    df = pl.DataFrame({"x": sign * np.exp(rng.uniform(0, 20, 5000)), "n": rng.normal(50, 10, 5000)})
    spec, prof, _ = _profile(df, rho=0.05)
    x, n = prof.columns
    widths = np.asarray(x.highs) - np.asarray(x.lows)
    assert np.sort(widths[widths > 0])[len(widths) // 4] < 1e3  # a quarter of the cells are narrower than 1,000
    assert np.allclose(np.diff(np.asarray(n.lows)[1:]), np.diff(np.asarray(n.lows)[1:])[0])  # equal widths

    def ks(model):
        return ks_2samp(df["x"].to_numpy(), model.sample(5000, seed=1)["x"].to_numpy()).statistic

    assert ks(dp_synth.fit(df, 1.0, seed=0, config=FAST, holdout=0)) < 0.1
    equal = cells.cell_edges
    monkeypatch.setattr(cells, "cell_edges", lambda c, b, budget, octaves: equal(c, b, budget, None))
    assert ks(dp_synth.fit(df, 1.0, seed=0, config=FAST, holdout=0)) > 0.3  # what equal cells gave
