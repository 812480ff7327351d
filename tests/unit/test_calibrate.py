"""Raking the generator to the DP 1-way marginals: marginals reached, within-context odds kept."""

import numpy as np
import pytest
import torch

from dp_synth.models.autoregressive import AutoregressiveGenerator
from dp_synth.models.calibrate import rake_marginals, sharpen


def _model():
    torch.manual_seed(0)
    g = AutoregressiveGenerator([4, 6, 3, 5], embed_dim=4, hidden=16, order=[1, 3, 0, 2])
    with torch.no_grad():  # strong dependencies between columns, far from any target
        for p in g.parameters():
            p.mul_(4.0)
    return g


def _marginals(g, n=60_000, seed=5):
    codes = g.sample(n, torch.Generator().manual_seed(seed)).numpy()
    return [np.bincount(codes[:, i], minlength=k) / n for i, k in enumerate(g.config["cardinalities"])]


def _tvd(a, b):
    return 0.5 * float(np.abs(np.asarray(a) - np.asarray(b)).sum())


def test_raking_moves_every_marginal_to_the_target():
    g = _model()
    rng = np.random.default_rng(1)
    target = [rng.dirichlet(np.ones(k)) for k in g.config["cardinalities"]]
    before = [_tvd(m, t) for m, t in zip(_marginals(g), target)]
    assert max(before) > 0.15
    rake_marginals(g, target, rows=60_000, rounds=4, generator=torch.Generator().manual_seed(2))
    after = [_tvd(m, t) for m, t in zip(_marginals(g), target)]
    assert max(after) < 0.02, (before, after)


def test_raking_keeps_the_odds_within_every_context():
    g = _model()
    ctx = torch.tensor([[0, 0, 0, 0], [3, 5, 2, 4], [1, 2, 0, 3]])[:, g.order]
    before = [torch.log_softmax(x, 1) for x in g.logits(ctx)]
    rake_marginals(g, [np.ones(k) / k for k in g.config["cardinalities"]], rows=20_000, rounds=2,
                   generator=torch.Generator().manual_seed(3))
    after = [torch.log_softmax(x, 1) for x in g.logits(ctx)]
    for b, a in zip(before[1:], after[1:]):
        moved = a - b  # the same shift for every context, up to normalisation
        moved = moved - moved[:, :1]
        assert torch.allclose(moved, moved[:1].expand_as(moved), atol=1e-5)
        assert moved.abs().max() > 1e-3  # the heads did move


def test_a_code_the_dp_marginals_hold_no_mass_of_is_never_drawn():
    """Column 1's code 5 and column 2's code 0 (an ``__other__`` or NULL released with no mass): the model,
    scaled far from any target, draws them on thousands of rows before raking, on none after, while the
    other codes still reach their targets."""
    g = _model()
    rng = np.random.default_rng(4)
    target = [rng.dirichlet(np.ones(k)) for k in g.config["cardinalities"]]
    target[1][5], target[2][0] = 0.0, 0.0
    target = [t / t.sum() for t in target]
    before = _marginals(g)
    assert before[1][5] * 60_000 > 100 and before[2][0] * 60_000 > 100
    rake_marginals(g, target, rows=60_000, rounds=6, generator=torch.Generator().manual_seed(2))
    after = _marginals(g)
    assert after[1][5] == 0.0 and after[2][0] == 0.0
    assert max(_tvd(m, t) for m, t in zip(after, target)) < 0.02


def test_sharpen_divides_every_later_heads_logits_and_the_sampler_follows():
    g = _model()
    codes = g.sample(500, torch.Generator().manual_seed(3))[:, g.order]
    before = g.logits(codes)
    probs_before = g.sampler().log_probs(codes)
    sharpen(g, 0.7)
    after = g.logits(codes)
    assert torch.equal(after[0], before[0])  # the first column is left to raking
    for j in range(1, len(before)):
        assert torch.allclose(after[j], before[j] / 0.7, atol=1e-5), j
        # what the sampler draws from: log-softmax of the sharpened logits, lower entropy in every context
        want = torch.log_softmax(before[j] / 0.7, dim=1)
        got = g.sampler().log_probs(codes)[j]
        assert torch.allclose(got.exp(), want.exp(), atol=1e-5), j  # (log of a CDF's difference: compare p)
        entropy = lambda lp: -(lp.exp() * lp).sum(1)  # noqa: E731
        assert bool((entropy(got) < entropy(probs_before[j]) + 1e-6).all()), j


def test_sharpen_at_one_changes_nothing_and_refuses_a_non_positive_temperature():
    g = _model()
    state = {k: v.clone() for k, v in g.state_dict().items()}
    sharpen(g, 1.0)
    assert all(torch.equal(state[k], v) for k, v in g.state_dict().items())
    for bad in (0.0, -0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature"):
            sharpen(g, bad)
