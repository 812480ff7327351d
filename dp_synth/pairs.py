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

from .counts import by_column, code_table
from .marginals import _exponential, noise_l1
from .privacy import Measurement
from .privacy.noise import NoisyCounter, sigma_of

__all__ = ["measure_extra_pairs", "reweight", "affordable_cells", "NOISE_SHARE"]

# A marginal is measured only if the L1 error its own noise leaves (√(2/π)·σ·cells, AIM's penalty) stays
# under this share of the rows. seattle_weather (935 training rows at ε = 1): with eight pairs at σ = 36
# (their noise alone: an L1 error of 0.6–1.2× the rows each) TSTR was 0.73, with none 0.90 (docs/benchmarks.md)
NOISE_SHARE = 0.15


def reweight(sample: np.ndarray, tables: dict[tuple[int, int], np.ndarray], cards: list[int],
             iterations: int = 8, marginals: list[np.ndarray] | None = None) -> np.ndarray:
    """Row weights (summing to 1) under which ``sample``'s pair tables match the measured ones (IPF);
    the DP 1-way ``marginals`` are fitted too, at the start of every sweep."""
    sample = by_column(sample)
    w = np.full(len(sample), 1.0 / len(sample))
    targets = {p: np.clip(t, 0, None) / max(np.clip(t, 0, None).sum(), 1e-12) for p, t in tables.items()}
    for _ in range(iterations):
        if marginals is not None:
            for c, p in enumerate(marginals):
                cur = np.bincount(sample[:, c], weights=w, minlength=len(p))
                target = np.clip(np.asarray(p, float), 0, None) / max(np.clip(p, 0, None).sum(), 1e-12)
                w = w * np.where(cur > 0, target / np.where(cur > 0, cur, 1.0), 1.0)[sample[:, c]]
                w = w / w.sum()
        for cols, target in targets.items():
            cur = code_table(sample, cols, cards, w)
            ratio = np.where(cur > 0, target / np.where(cur > 0, cur, 1.0), 1.0)
            w = w * ratio[tuple(sample[:, c] for c in cols)]
            w = w / w.sum()
    return w


def affordable_cells(rho_pair: float, n_noisy: float, share: float = NOISE_SHARE) -> int:
    """The most cells a marginal measured with ``rho_pair`` may have for its noise to leave an expected
    L1 error (√(2/π)·σ·cells) under ``share``·n. Public inputs only (the DP row count, the budget), so
    capping the candidates by it costs no privacy.

    >>> affordable_cells(0.003 / 8, 945.0)     # seattle_weather at ε = 1 (σ = 36.5): its pairs have 20+
    4
    >>> affordable_cells(0.003 / 8, 20818.0)   # Adult: the pairs it picks have 12–112 cells
    107
    """
    return int(share * n_noisy / noise_l1(sigma_of(rho_pair), 1))


def measure_extra_pairs(tables: dict, cards: list[int], sample: np.ndarray, tree_edges: set,
                        n_noisy: float, k: int, rho_select: float, rho_measure: float,
                        counter: NoisyCounter, rng: np.random.Generator | None,
                        max_cells: int = 4096, marginals: list[np.ndarray] | None = None
                        ) -> tuple[dict, np.ndarray, float]:
    """Pick and measure up to ``k`` marginals not in the tree — the pairs, and the triples whose
    tables ``tables`` holds too — among those of at most :func:`affordable_cells` at ρ/k each (none on
    small tables); returns (noisy tables as released, unclipped; weights for ``sample``; the noise
    scale σ of every cell: the tables' margins are further measurements of the 1-way marginals,
    :func:`dp_synth.marginals.pooled_marginals`)."""
    uniform = np.full(len(sample), 1.0 / len(sample))
    if k <= 0:
        return {}, uniform, 0.0
    sample = by_column(sample)  # every round scores every candidate's table on it
    # each measurement gets ρ/k whether or not k are worth taking: what small tables leave unspent
    # (seattle_weather, airports: every candidate's noise would outweigh what it tells) goes to DP-SGD;
    # the exponential mechanism with ε is ε²/8-zCDP
    rho_pair, eps_round = rho_measure / k, math.sqrt(8 * rho_select / k)
    cap = min(max_cells, affordable_cells(rho_pair, n_noisy))
    pairs = [p for p in tables if tables[p].size <= cap
             and (len(p) == 3 or (p not in tree_edges and p[::-1] not in tree_edges))]
    k = min(k, len(pairs))
    if k == 0:
        return {}, uniform, 0.0
    # AIM's penalty: the L1 error the pair's own measurement noise will leave (public: σ and the cell
    # count), so that a large table whose noisy release would tell little is not picked for its size
    penalty = {p: noise_l1(sigma_of(rho_pair), tables[p].size) for p in pairs}
    true = {p: tables[p] for p in pairs}
    tables: dict = {}
    w, sigma = uniform, 0.0
    for _ in range(k):
        left = [p for p in pairs if p not in tables]
        scores = np.array([np.abs(true[p] - n_noisy * code_table(sample, p, cards, w)).sum()
                           - penalty[p] for p in left])
        p = left[_exponential(scores, eps_round, rng)]
        noisy, sigma = counter.counts(true[p].ravel(), rho_pair,
                                      f"{len(p)}-way marginal of columns {'×'.join(map(str, p))} (adaptive)")
        tables[p] = noisy.reshape(true[p].shape)  # reweight fits the table clipped at 0
        w = reweight(sample, tables, cards, marginals=marginals)
    counter.measurements.append(Measurement("profile", "exponential", f"adaptive pair selection ({k} pairs)",
                                            eps_round, steps=k))
    return tables, w, sigma
