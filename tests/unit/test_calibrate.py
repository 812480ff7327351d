"""Raking the generator to the DP 1-way marginals: marginals reached, within-context odds kept."""

import numpy as np
import torch

from dp_synth.models.autoregressive import AutoregressiveGenerator
from dp_synth.models.calibrate import rake_marginals


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
