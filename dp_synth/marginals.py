"""DP 2-way marginals on a spanning tree (in the spirit of MST, McKenna et al. 2021).

DP-SGD at ε≈1 learns little of a table's pairwise structure; noisy marginals capture it
cheaply. We (1) pick a maximum spanning tree of column pairs, one edge at a time with the
exponential mechanism (score: L1 distance of the pair's true counts from the independent
product of the DP 1-way marginals, less what sampling alone would put there; sensitivity 1),
(2) measure each chosen pair's code table with discrete Gaussian noise, (3) turn the tree into
a Bayesian network we can sample.
Everything after the measurements is post-processing: samples from the tree pretrain the
generator for free, and DP-SGD then only has to add what a tree cannot express.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np

from .privacy import Measurement
from .profile import OTHER, CategoricalProfile, NoisyCounter, NumericProfile, TableProfile

__all__ = ["TreePrior", "measure_tree", "pooled_marginals", "pooled_noise", "reweighted", "all_pairs",
           "edge_scores", "independence_l1", "code_noise", "table_threshold"]

TABLE_THRESHOLD = 2.0  # in a sparse 2-way table, a noisy cell under this many σ is taken as empty


@dataclass(frozen=True)
class TreePrior:
    """A tree-shaped Bayesian network over column codes: ``order`` lists columns so that each
    column's ``parent`` comes before it; ``conditionals[j][parent_code]`` is p(x_j | parent)."""

    order: tuple[int, ...]
    parent: tuple[int, ...]           # parent column of each column, -1 for the root
    root_marginal: tuple[float, ...]
    conditionals: tuple[tuple[tuple[float, ...], ...] | None, ...]
    marginals: tuple[tuple[float, ...], ...] = ()  # each column's 1-way marginal pooled with the tree's tables
    noise: tuple[tuple[float, ...], ...] = ()      # … and its noise scale per code, in rows (pooled_noise)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        out = np.zeros((n, len(self.parent)), dtype=np.int64)
        root = self.order[0]
        out[:, root] = rng.choice(len(self.root_marginal), size=n, p=np.asarray(self.root_marginal))
        for j in self.order[1:]:
            cond = np.asarray(self.conditionals[j])
            cdf = np.cumsum(cond, axis=1)
            cdf[:, -1] = 1.0
            u = rng.random(n)[:, None]
            out[:, j] = (u > cdf[out[:, self.parent[j]]]).sum(axis=1)
        return out


def _exponential(scores: np.ndarray, epsilon: float, rng: np.random.Generator | None) -> int:
    """Exponential mechanism via Gumbel-max, utility sensitivity 1."""
    g = (rng or np.random.default_rng(secrets.randbits(128))).gumbel(size=scores.shape)
    return int(np.argmax(epsilon * scores / 2.0 + g))


def noise_l1(sigma: float, cells: int) -> float:
    """Expected L1 norm of Gaussian noise of scale σ on ``cells`` counts: √(2/π)·σ·cells."""
    return math.sqrt(2.0 / math.pi) * sigma * cells


def independence_l1(p: np.ndarray, q: np.ndarray, n: float, sp: np.ndarray | None = None,
                    sq: np.ndarray | None = None) -> float:
    """Expected L1 distance of ``n`` rows' counts of two *independent* columns from n·p⊗q, where ``p``
    and ``q`` are the rows' own marginals, released with noise of scale ``sp``, ``sq`` (in rows, per code;
    None: exact). Per cell E|X − nπ| ≈ √(2/π)·√(nπ(1−p_x)(1−q_y) + (sp_x·q_y)² + (p_x·sq_y)²): the spread
    of counts given their margins (the multinomial's normal approximation), plus what each marginal's
    noise moves the product by.

    >>> round(independence_l1(np.full(16, 1 / 16), np.full(16, 1 / 16), 935.0), 1)
    366.0
    >>> round(independence_l1(np.full(16, 1 / 16), np.full(16, 1 / 16), 935.0, np.full(16, 20.0), np.zeros(16)), 1)
    446.2
    """
    p = p / max(float(p.sum()), 1e-12)
    q = q / max(float(q.sum()), 1e-12)
    var = max(n, 1.0) * np.outer(p * (1.0 - p), q * (1.0 - q))
    if sp is not None:
        var = var + np.outer(sp, q) ** 2
    if sq is not None:
        var = var + np.outer(p, sq) ** 2
    return float(math.sqrt(2.0 / math.pi) * np.sqrt(var).sum())


def code_noise(column: NumericProfile | CategoricalProfile) -> np.ndarray:
    """The noise scale, in rows, of each code of a profiled column's DP marginal (order of ``marginal()``),
    from the column's public noise scales: a category's own count σ; ``OTHER`` (what the k released codes
    leave of n̂) σ·√k; a numeric bin of c fine cells c·σ² from its cells, combined with its own
    count when it has one (inverse variance, as :func:`dp_synth.profile._combine_bins`).

    >>> from dp_synth.profile import CategoricalProfile, Kind
    >>> column = CategoricalProfile("c", Kind.CATEGORICAL, ("a", "b", "__other__"), (50., 40., 10.), 0.0, 2.0)
    >>> noise = code_noise(column)
    >>> [round(float(v), 2) for v in noise]
    [2.0, 2.0, 3.46]
    """
    if isinstance(column, NumericProfile):
        cells = np.diff(np.asarray(column.bin_starts)).astype(float)
        var = cells * column.sigma ** 2
        if column.bin_sigma > 0:
            var = 1.0 / (1.0 / np.maximum(var, 1e-12) + 1.0 / column.bin_sigma ** 2)
        codes = np.sqrt(var)
    else:
        codes = np.full(len(column.categories), column.sigma)
        if column.categories and column.categories[-1] == OTHER:
            codes[-1] = column.sigma * math.sqrt(len(column.categories))
    return np.concatenate([[column.sigma], codes]) if column.has_null else codes


def edge_scores(tables: Mapping[tuple[int, int], np.ndarray], marginals: list[np.ndarray], n_noisy: float,
                pairs: list[tuple[int, int]], noise: list[np.ndarray] | None = None) -> np.ndarray:
    """Each pair's score for the tree's selection: the L1 distance of its true counts from n̂·p⊗q (the DP
    1-way marginals), less :func:`independence_l1` — what sampling alone puts between independent
    columns and their product. Uncorrected, a pair of many cells outscores real dependence on few rows:
    on seattle_weather's 935 training rows two independent 16-bin columns score ≈ 390 in expectation,
    twice what a binary pair agreeing on 70 % of rows scores (tests/unit/test_pairs.py). ``noise``: each
    column's :func:`code_noise`; the subtracted term then also holds what the DP marginals' own noise puts
    there, which otherwise lifts every pair of a noisily measured column: on ≈ 1,500 training rows of Adult
    at ε = 1 the tree became a star, 8 of its 14 edges on age (docs/benchmarks.md, stop 35). The subtracted
    term is a function of n̂, the DP marginals and noise scales (public), so the sensitivity stays 1."""
    noise = noise or [None] * len(marginals)
    return np.array([np.abs(tables[(i, j)] - n_noisy * np.outer(marginals[i], marginals[j])).sum()
                     - independence_l1(marginals[i], marginals[j], n_noisy, noise[i], noise[j]) for i, j in pairs])


def all_pairs(d: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(d) for j in range(i + 1, d)]


def measure_tree(tables: Mapping[tuple[int, int], np.ndarray], cards: list[int], marginals: list[np.ndarray],
                 n_noisy: float, rho_select: float, rho_measure: float, counter: NoisyCounter,
                 rng: np.random.Generator | None, noise: list[np.ndarray] | None = None) -> TreePrior:
    """``tables``: the exact code tables of every pair (i < j), e.g. from
    :meth:`dp_synth.counts.Counts.pair_tables`; only noisy releases of them leave this function."""
    d = len(cards)
    if d < 2:
        return TreePrior((0,), (-1,), tuple(marginals[0].tolist()), (None,))
    rounds = d - 1
    # exponential mechanism with ε is ε²/8-zCDP (bounded range; Cesar & Rogers 2021)
    eps_round = math.sqrt(8 * rho_select / rounds)
    pairs = all_pairs(d)
    score = edge_scores(tables, marginals, n_noisy, pairs, noise)
    comp = list(range(d))

    def find(x):
        while comp[x] != x:
            comp[x] = comp[comp[x]]
            x = comp[x]
        return x

    edges = []
    for _ in range(rounds):
        ok = np.array([find(i) != find(j) for i, j in pairs])
        s = np.where(ok, score, -np.inf)
        k = _exponential(s, eps_round, rng)
        i, j = pairs[k]
        comp[find(i)] = find(j)
        edges.append((i, j))
    counter.measurements.append(Measurement("profile", "exponential", f"tree selection ({rounds} edges)",
                                            eps_round, steps=rounds))
    rho_edge = rho_measure / rounds
    released, raw, sigma = {}, {}, 0.0
    for i, j in edges:
        true = tables[(i, j)]
        noisy, sigma = counter.counts(true.ravel(), rho_edge, f"2-way marginal of columns {i}×{j}")
        raw[(i, j)] = noisy = noisy.reshape(true.shape)
        threshold = table_threshold(n_noisy, noisy.size, sigma)
        released[(i, j)] = np.where(noisy > threshold * sigma, noisy, 0.0)
    pooled: tuple = ()
    if noise is not None:  # post-processing: every table is a further measurement of its two columns' marginals;
        marginals = pooled_marginals(marginals, noise, n_noisy, raw, sigma)  # the root and shrinkage use them too
        pooled = tuple(tuple(v.tolist()) for v in pooled_noise(noise, raw, sigma))
    return replace(_to_network(edges, released, marginals, d), noise=pooled)


def _margins(raw: Mapping[tuple[int, ...], np.ndarray], sigma: float | Mapping[tuple[int, ...], float]):
    """(column, margin, noise variance per code of that margin) of every axis of every table in ``raw``."""
    for cols, t in raw.items():
        s = sigma[cols] if isinstance(sigma, Mapping) else sigma
        for axis, c in enumerate(cols):
            others = tuple(a for a in range(t.ndim) if a != axis)
            yield c, t.sum(axis=others), s ** 2 * (t.size // t.shape[axis])


def pooled_marginals(marginals: list[np.ndarray], noise: list[np.ndarray], n_noisy: float,
                     raw: Mapping[tuple[int, ...], np.ndarray],
                     sigma: float | Mapping[tuple[int, ...], float]) -> list[np.ndarray]:
    """Each column's 1-way marginal as the inverse-variance mean, code by code, of its DP marginal
    (n̂·p, noise ``noise[c]``) and the margins of the released tables that hold it (``raw``: 2- or 3-way,
    before any threshold, noise ``sigma`` per cell — one for all, or per table — so σ²·k over a margin
    summed across k cells). Post-processing of DP releases and public noise scales. A code the profile gave
    no mass keeps none (its column's codes and the decision not to release them stand). Seattle at ε = 1:
    the codes' 1-way TVD 0.067 → 0.034.

    >>> p = pooled_marginals([np.array([.5, .5]), np.array([1., 0.])], [np.array([10., 10.]), np.array([5., 5.])],
    ...                      100.0, {(0, 1): np.array([[30., 0.], [70., 0.]])}, 10.0)
    >>> [round(float(v), 3) for v in p[0]], [round(float(v), 3) for v in p[1]]
    ([0.433, 0.567], [1.0, 0.0])
    """
    est = [n_noisy * np.asarray(m, float) for m in marginals]
    num = [e / np.maximum(s, 1e-9) ** 2 for e, s in zip(est, noise)]
    for c, margin, var in _margins(raw, sigma):
        num[c] = num[c] + margin / var
    pooled = [np.where(e > 0, np.maximum(a * v ** 2, 1e-3 * e), 0.0)  # Σ x/var × the pooled variance
              for e, a, v in zip(est, num, pooled_noise(noise, raw, sigma))]
    return [p / max(float(p.sum()), 1e-12) for p in pooled]


def pooled_noise(noise: list[np.ndarray], raw: Mapping[tuple[int, ...], np.ndarray],
                 sigma: float | Mapping[tuple[int, ...], float]) -> list[np.ndarray]:
    """The noise scale per code (rows) of :func:`pooled_marginals`' estimate: 1/√(Σ 1/variance). Public
    (noise scales and table shapes only), so later releases can be pooled in turn: pooling in two steps
    with it equals pooling everything at once.

    >>> noise = pooled_noise([np.array([10., 10.]), np.array([10., 10.])], {(0, 1): np.zeros((2, 2))}, 10.0)
    >>> [round(float(v), 2) for v in noise[0]]     # σ 10, and a margin of 2 cells at σ 10: 1/√(1/100 + 1/200)
    [8.16, 8.16]
    """
    den = [1.0 / np.maximum(np.asarray(s, float), 1e-9) ** 2 for s in noise]
    for c, _, var in _margins(raw, sigma):
        den[c] = den[c] + 1.0 / var
    return [1.0 / np.sqrt(d) for d in den]


def reweighted(profile: TableProfile, marginals: Sequence[Sequence[float]]) -> TableProfile:
    """``profile`` with each column's code masses set to ``marginals`` (× n̂): a category's mass, a numeric
    bin's cells scaled together (their shape within the bin kept), the NULL mass. Codes are unchanged."""
    cols = []
    for col, m in zip(profile.columns, marginals):
        m = np.asarray(m, float) * profile.n_noisy
        null, m = (float(m[0]), m[1:]) if col.has_null else (col.null_mass, m)
        if isinstance(col, NumericProfile):
            mass = np.asarray(col.cell_mass, float)
            starts = list(col.bin_starts)
            have = np.add.reduceat(mass, starts[:-1])
            scale = np.where(have > 0, m / np.where(have > 0, have, 1.0), 0.0)
            mass = mass * np.repeat(scale, np.diff(starts))
            cols.append(replace(col, cell_mass=tuple(mass.tolist()), null_mass=null))
        else:
            cols.append(replace(col, mass=tuple(m.tolist()), null_mass=null))
    return replace(profile, columns=tuple(cols))


def table_threshold(n_noisy: float, cells: int, sigma: float) -> float:
    """Noise multiple under which a cell of a released 2-way table is taken as empty: TABLE_THRESHOLD when
    the table is sparse — its average cell holds fewer rows than σ (n̂ < cells·σ) — else 0 (only negative
    counts are). There most cells hold no row, and clipping the noise at 0 leaves ≈ 0.4σ of spurious mass
    in each: airports' state × longitude (63 × 9 cells, 2,160 rows, σ = 11) gave each state's conditional
    ≈ 40 % noise. Where the average cell holds more than σ, most cells hold rows and a threshold cuts the
    joint's tails: on Adult at ε = 0.5 (σ ≈ 57) TSTR 0.888 → 0.879, on seattle_weather at ε = 0.5 2-way
    0.470 → 0.547 (docs/benchmarks.md, stop 33). Post-processing: n̂, the cell count and σ are public.

    >>> table_threshold(2160.0, 63 * 9, 11.0), table_threshold(20_800.0, 16 * 16, 57.0)
    (2.0, 0.0)
    """
    return TABLE_THRESHOLD if n_noisy < cells * sigma else 0.0


def _to_network(edges, tables, marginals, d) -> TreePrior:
    adj: dict[int, list[int]] = {k: [] for k in range(d)}
    for i, j in edges:
        adj[i].append(j)
        adj[j].append(i)
    root = max(range(d), key=lambda k: len(adj[k]))
    order, parent, seen = [root], [-1] * d, {root}
    for x in order:  # breadth-first: parents before children
        for y in sorted(adj[x]):
            if y not in seen:
                seen.add(y)
                parent[y] = x
                order.append(y)
    conds: list = [None] * d
    for y in order[1:]:
        x = parent[y]
        t = tables[(x, y)] if (x, y) in tables else tables[(y, x)].T  # rows: parent code
        # shrink noisy rows towards the DP 1-way marginal of the child: sparse rows are mostly noise
        prior = np.clip(marginals[y], 1e-9, None)
        t = t + 20.0 * prior[None, :]
        conds[y] = tuple(tuple(r) for r in (t / t.sum(axis=1, keepdims=True)).tolist())
    return TreePrior(tuple(order), tuple(parent), tuple(np.asarray(marginals[root]).tolist()), tuple(conds),
                     tuple(tuple(np.asarray(m, float).tolist()) for m in marginals))
