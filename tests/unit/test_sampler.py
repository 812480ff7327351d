"""The sampler's fused first layer (embedding_bag over precomputed tables) equals the trained layers."""
import torch

from dp_synth.models.autoregressive import AutoregressiveGenerator


def test_bag_tables_give_the_trained_logits():
    torch.manual_seed(0)
    g = AutoregressiveGenerator([17, 9, 16, 7, 2, 42, 3], embed_dim=8, hidden=32, order=[6, 5, 4, 3, 2, 1, 0])
    for p in g.parameters():
        p.data.normal_(0, 0.3)
    codes = torch.stack([torch.randint(0, k, (500,)) for k in g.cardinalities], 1)
    ref = g.logits(codes)
    for j, (table, offsets) in enumerate(g.bag_tables(), start=1):
        pre = torch.nn.functional.embedding_bag(codes[:, :j] + offsets, table, mode="sum")
        got = g.heads[j][2](torch.tanh(pre + g.heads[j][0].bias))
        assert torch.allclose(got, ref[j], atol=1e-4)


def test_samples_follow_the_model():
    """A two-column model whose second column copies the first: samples must respect it."""
    torch.manual_seed(1)
    g = AutoregressiveGenerator([3, 3], embed_dim=4, hidden=16)
    opt = torch.optim.Adam(g.parameters(), lr=0.05)
    x = torch.randint(0, 3, (2000,))
    data = torch.stack([x, x], 1)
    for _ in range(300):
        opt.zero_grad()
        g(data).mean().backward()
        opt.step()
    s = g.sample(5000, generator=torch.Generator().manual_seed(2))
    assert (s[:, 0] == s[:, 1]).float().mean() > 0.95
    assert all(0.25 < (s[:, 0] == v).float().mean() < 0.42 for v in range(3))


def test_numeric_cells_are_drawn_by_their_dp_mass():
    """Within a bin, a cell is drawn with its share of the bin's (DP) mass; a massless bin uniformly."""
    import types

    import numpy as np

    from dp_synth.encoding import _draw_numeric
    from dp_synth.spec import Kind

    col = types.SimpleNamespace(lows=[0, 10, 20, 30, 40, 50], highs=[10, 20, 30, 40, 50, 60],
                                cell_mass=[1.0, 0.0, 3.0, 0.0, 0.0, 5.0], bin_starts=[0, 3, 5, 6], kind=Kind.FLOAT)
    bins = np.repeat([0, 1, 2], 40000)
    x = _draw_numeric(col, bins, np.random.default_rng(0))
    cells = (x // 10).astype(int)
    b0 = np.bincount(cells[:40000], minlength=6) / 40000
    assert abs(b0[0] - 0.25) < 0.01 and b0[1] == 0 and abs(b0[2] - 0.75) < 0.01
    b1 = np.bincount(cells[40000:80000], minlength=6) / 40000
    assert abs(b1[3] - 0.5) < 0.01 and abs(b1[4] - 0.5) < 0.01  # no mass: equal shares
    assert set(cells[80000:]) == {5}
