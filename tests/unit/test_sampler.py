"""The sampler (fused first layer, sigmoid form, one evaluation per distinct prefix) samples the trained model."""
import types

import pytest
import torch

from dp_synth.models.autoregressive import AutoregressiveGenerator
from dp_synth.models.sampler import Sampler


def _random_model(seed: int = 0) -> AutoregressiveGenerator:
    torch.manual_seed(seed)
    g = AutoregressiveGenerator([17, 9, 16, 7, 2, 42, 3, 1, 5], embed_dim=8, hidden=32,
                                order=[6, 5, 4, 3, 2, 1, 0, 8, 7])
    for p in g.parameters():
        p.data.normal_(0, 0.3)
    return g


def test_sampler_gives_the_trained_probabilities():
    g = _random_model()
    codes = torch.stack([torch.randint(0, k, (500,)) for k in g.cardinalities], 1)
    ref = [torch.log_softmax(x, dim=1) for x in g.logits(codes)]
    got = g.sampler().log_probs(codes)
    assert len(got) == len(ref)
    for j, (a, b) in enumerate(zip(got, ref)):
        assert torch.allclose(a, b, atol=1e-4), f"head {j}"


def _reference_sample(g: AutoregressiveGenerator, n: int, gen: torch.Generator) -> torch.Tensor:
    """Row by row through the trained layers (tanh, softmax), the same uniforms in the same order."""
    codes = torch.zeros(n, len(g.cardinalities), dtype=torch.long)
    with torch.no_grad():
        for j in range(len(g.cardinalities)):
            cdf = torch.softmax(g.logits(codes)[j], dim=1).cumsum(1)
            u = torch.rand(n, generator=gen) * cdf[:, -1]
            codes[:, j] = (cdf[:, :-1] < u[:, None]).sum(1)
    out = torch.empty_like(codes)
    out[:, g.order] = codes
    return out


@pytest.mark.parametrize("dense_share", [0.0, 0.3, 0.8, 1.0])
def test_shared_prefixes_draw_what_the_trained_layers_draw(dense_share):
    """Whichever heads share their prefixes, the draws are the reference's (up to float ties)."""
    g = _random_model(1)
    n = 20_000
    ref = _reference_sample(g, n, torch.Generator().manual_seed(7))
    got = Sampler.of(g, dense_share=dense_share).sample(n, torch.Generator().manual_seed(7))
    assert got.dtype == torch.int32 and got.shape == ref.shape
    assert (got != ref).any(1).float().mean() < 1e-3
    assert all(int(got[:, i].max()) < k for i, k in enumerate(g.config["cardinalities"]))


@pytest.mark.parametrize("chunk", [1, 999, 16_384])
def test_chunk_size_changes_no_draw(chunk, monkeypatch):
    """Heads run CHUNK rows at a time: any chunk size, even one row or one that does not divide the batch,
    draws the reference's rows (20,000 rows: 1 to 20,000 chunks per head)."""
    import dp_synth.models.sampler as sampler

    g = _random_model(1)
    n = 20_000
    ref = _reference_sample(g, n, torch.Generator().manual_seed(7))
    monkeypatch.setattr(sampler, "CHUNK", chunk)
    got = Sampler.of(g).sample(n, torch.Generator().manual_seed(7))
    assert (got != ref).any(1).float().mean() < 1e-3


def test_sampler_edge_sizes():
    g = _random_model(2)
    assert g.sample(0).shape == (0, 9)
    one = AutoregressiveGenerator([4])
    assert one.sample(100, torch.Generator().manual_seed(0)).shape == (100, 1)


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


@pytest.mark.parametrize("k", [2, 255, 256, 257, 300])
def test_pick_counts_past_a_byte(k):
    """The inverse-CDF pick counts in bytes up to 256 codes and in int32 beyond: the last codes are reached."""
    cdf = torch.arange(1, k + 1, dtype=torch.float32)[:, None].expand(k, 4).contiguous()  # uniform over k codes
    want = [0, k // 2, k - 2, k - 1]
    u = torch.tensor([(m + 0.5) / k for m in want])  # u · k = m + ½: m codes lie below it
    assert Sampler._pick(cdf, u).to(torch.int64).tolist() == want


def test_alias_tables_draw_every_cell_by_its_share():
    """Bins of 1 to 40 cells with random masses (some zero): each cell's frequency is its share of its
    bin's mass within 4.5 σ, no row leaves its bin, and a zero-mass cell is never drawn."""
    import numpy as np

    from dp_synth.encoding import CellDraw

    rng = np.random.default_rng(5)
    widths = [1, 2, 7, 40, 3]
    starts = np.concatenate([[0], np.cumsum(widths)])
    mass = rng.exponential(1.0, starts[-1]) * (rng.random(starts[-1]) > 0.2)
    mass[starts[1]:starts[2]] = 0.0  # a bin with no mass: equal shares
    d = CellDraw.of(types.SimpleNamespace(cell_mass=mass.tolist(), bin_starts=starts.tolist()))
    n = 200_000
    for b, (a, z) in enumerate(zip(starts[:-1], starts[1:])):
        cells = d.draw(np.full(n, b), rng)
        assert cells.min() >= a and cells.max() < z, b
        w = mass[a:z] if mass[a:z].sum() > 0 else np.ones(z - a)
        p = w / w.sum()
        freq = np.bincount(cells - a, minlength=z - a) / n
        assert (np.abs(freq - p) <= 4.5 * np.sqrt(p * (1 - p) / n) + 1e-12).all(), b
        assert (freq[p == 0] == 0).all(), b


@pytest.mark.parametrize("scale", [0.3, 3.0])
def test_static_or_per_row_max_gives_the_trained_probabilities(scale):
    """Heads whose logits provably stay within MAX_SPREAD skip the per-row max; heads with wide logits
    (large weights) keep it. Either way the sampler's probabilities are the trained ones, finite."""
    g = _random_model(4)
    with torch.no_grad():
        for head in g.heads[1:]:
            head[2].weight.mul_(scale / 0.3)
    s = g.sampler()
    assert {h.capped for h in s.heads} == ({True} if scale < 1 else {False})
    codes = torch.stack([torch.randint(0, k, (500,)) for k in g.cardinalities], 1)
    ref = [torch.log_softmax(x, dim=1) for x in g.logits(codes)]
    for j, (a, b) in enumerate(zip(s.log_probs(codes), ref)):
        assert not torch.isnan(a).any(), f"head {j}"
        assert torch.allclose(a.exp(), b.exp(), atol=1e-5), f"head {j}"  # probabilities, tails included
    drawn = s.sample(2_000, torch.Generator().manual_seed(0))
    assert all(int(drawn[:, i].max()) < k for i, k in enumerate(g.config["cardinalities"]))


def test_numpy_generator_draws_reproducibly_from_the_model():
    """The write path's numpy generator: the same seed gives the same rows, another seed other rows, and
    the first modelled column follows the model's marginal."""
    import numpy as np

    g = _random_model(6)
    s = g.sampler()
    a = s.sample(30_000, np.random.default_rng(11))
    assert torch.equal(a, s.sample(30_000, np.random.default_rng(11)))
    assert (a != s.sample(30_000, np.random.default_rng(12))).any(1).float().mean() > 0.5
    first = g.order[0]
    p = torch.diff(s.first, prepend=s.first.new_zeros(1)) / s.first[-1]
    freq = torch.bincount(a[:, first].long(), minlength=len(p)).double() / a.shape[0]
    assert torch.allclose(freq, p.double(), atol=4.5 * float(p.max() * (1 - p.max()) / a.shape[0]) ** 0.5 + 1e-9)


def test_integer_cast_clamps_unless_the_drawn_range_fits_the_type():
    """A decoded number goes into the column's integer type: clamped to the type when its cells' range
    may leave it, cast directly when the whole range fits (the write path's common case)."""
    import pyarrow as pa

    from dp_synth.encoding import _cast
    from dp_synth.spec import Kind

    arr = pa.array([1e6, -5.0, 3.0, None], pa.float64())
    assert _cast(arr, pa.int8(), Kind.INTEGER).to_pylist() == [127, -5, 3, None]
    assert _cast(arr, pa.int8(), Kind.INTEGER, within=(-5.0, 1e6)).to_pylist() == [127, -5, 3, None]
    fits = pa.array([100.0, -5.0, 3.0, None], pa.float64())
    got = _cast(fits, pa.int8(), Kind.INTEGER, within=(-128.0, 127.0))
    assert got.type == pa.int8() and got.to_pylist() == [100, -5, 3, None]


def test_timestamp_cast_keeps_the_columns_unit():
    """Decoded microseconds go into second, millisecond and nanosecond timestamps (DuckDB's TIMESTAMP_S,
    _MS, _NS): truncated to a coarser unit instead of refused, clamped to nanoseconds' range instead of
    wrapped past it."""
    import datetime as dt

    import pyarrow as pa

    from dp_synth.encoding import _cast
    from dp_synth.spec import Kind

    us = pa.array([1_700_000_000_123_456.0, None, -1_500_000.0], pa.float64())
    sec = _cast(us, pa.timestamp("s"), Kind.TIMESTAMP)
    assert sec.type == pa.timestamp("s")
    assert sec.to_pylist()[:2] == [dt.datetime(2023, 11, 14, 22, 13, 20), None]
    ms = _cast(us, pa.timestamp("ms", tz="UTC"), Kind.TIMESTAMP)
    assert ms.type == pa.timestamp("ms", tz="UTC") and ms.cast(pa.int64()).to_pylist() == [1_700_000_000_123, None, -1_500]
    far = pa.array([3e16, -3e16, 1_700_000_000_123_456.0], pa.float64())  # years ≈ 2920 and ≈ 1020
    ns = _cast(far, pa.timestamp("ns"), Kind.TIMESTAMP).cast(pa.int64()).to_pylist()
    assert ns == [9_200_000_000_000_000_000, -9_200_000_000_000_000_000, 1_700_000_000_123_456_000]
