"""Extra 2-way marginals beyond the tree, chosen adaptively (AIM-style), and a pretraining sample
reweighted to agree with them.

A spanning tree holds d − 1 of the d(d−1)/2 pairs. After it, ``k`` more pairs are picked one at a
time by the exponential mechanism — score: the L1 distance between the pair's true counts and the
counts the current synthetic sample implies (scaled to the DP row count; sensitivity 1), less the L1
error the pair's own measurement noise would leave (√(2/π)·σ·cells: AIM's penalty, public), i.e. the
worst-approximated pair that its measurement can still improve — and each is measured with discrete
Gaussian noise. The tree's sample is then reweighted by iterative proportional fitting to the
measured tables and resampled: all of it post-processing of DP releases, so the pretraining rows
cost nothing more.
"""

from __future__ import annotations

import math

import numpy as np

from .marginals import _exponential, noise_l1
from .privacy import Measurement
from .privacy.noise import NoisyCounter, sigma_of

__all__ = ["measure_extra_pairs", "reweight"]


def _weighted_counts(sample: np.ndarray, w: np.ndarray, i: int, j: int, ki: int, kj: int) -> np.ndarray:
    return np.bincount(sample[:, i] * kj + sample[:, j], weights=w, minlength=ki * kj).reshape(ki, kj)


def reweight(sample: np.ndarray, tables: dict[tuple[int, int], np.ndarray], cards: list[int],
             iterations: int = 8, marginals: list[np.ndarray] | None = None) -> np.ndarray:
    """Row weights (summing to 1) under which ``sample``'s pair tables match the measured ones (IPF);
    the DP 1-way ``marginals`` are fitted too, at the start of every sweep."""
    w = np.full(len(sample), 1.0 / len(sample))
    targets = {p: np.clip(t, 0, None) / max(np.clip(t, 0, None).sum(), 1e-12) for p, t in tables.items()}
    for _ in range(iterations):
        if marginals is not None:
            for c, p in enumerate(marginals):
                cur = np.bincount(sample[:, c], weights=w, minlength=len(p))
                target = np.clip(np.asarray(p, float), 0, None) / max(np.clip(p, 0, None).sum(), 1e-12)
                w = w * np.where(cur > 0, target / np.where(cur > 0, cur, 1.0), 1.0)[sample[:, c]]
                w = w / w.sum()
        for (i, j), target in targets.items():
            cur = _weighted_counts(sample, w, i, j, cards[i], cards[j])
            ratio = np.where(cur > 0, target / np.where(cur > 0, cur, 1.0), 1.0)
            w = w * ratio[sample[:, i], sample[:, j]]
            w = w / w.sum()
    return w


def measure_extra_pairs(tables: dict, cards: list[int], sample: np.ndarray, tree_edges: set,
                        n_noisy: float, k: int, rho_select: float, rho_measure: float,
                        counter: NoisyCounter, rng: np.random.Generator | None,
                        max_cells: int = 4096, marginals: list[np.ndarray] | None = None) -> tuple[dict, np.ndarray]:
    """Pick and measure up to ``k`` pairs not in the tree; returns (noisy tables, weights for ``sample``)."""
    d = len(cards)
    pairs = [(i, j) for i in range(d) for j in range(i + 1, d)
             if (i, j) not in tree_edges and (j, i) not in tree_edges and cards[i] * cards[j] <= max_cells]
    k = min(k, len(pairs))
    if k == 0:
        return {}, np.full(len(sample), 1.0 / len(sample))
    eps_round = math.sqrt(8 * rho_select / k)  # exponential mechanism with ε is ε²/8-zCDP
    rho_pair = rho_measure / k
    # AIM's penalty: the L1 error the pair's own measurement noise will leave (public: σ and the cell
    # count), so that a large table whose noisy release would tell little is not picked for its size
    penalty = {p: noise_l1(sigma_of(rho_pair), tables[p].size) for p in pairs}
    true = {p: tables[p] for p in pairs}
    tables: dict = {}
    w = np.full(len(sample), 1.0 / len(sample))
    for _ in range(k):
        left = [p for p in pairs if p not in tables]
        scores = np.array([np.abs(true[p] - n_noisy * _weighted_counts(sample, w, *p, cards[p[0]], cards[p[1]])).sum()
                           - penalty[p] for p in left])
        p = left[_exponential(scores, eps_round, rng)]
        noisy, _ = counter.counts(true[p].ravel(), rho_pair, f"2-way marginal of columns {p[0]}×{p[1]} (adaptive)")
        tables[p] = np.clip(noisy.reshape(true[p].shape), 0, None)
        w = reweight(sample, tables, cards, marginals=marginals)
    counter.measurements.append(Measurement("profile", "exponential", f"adaptive pair selection ({k} pairs)",
                                            eps_round, steps=k))
    return tables, w
