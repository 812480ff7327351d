"""Discrete Gaussian noise on count vectors (diffprivlib's exact sampler) and its exact tail.

>>> t = discrete_gaussian_threshold(2.0, 1e-6)
>>> discrete_gaussian_tail(t, 2.0) <= 1e-6 < discrete_gaussian_tail(t - 1, 2.0)
True
"""

from __future__ import annotations

import math

import numpy as np
from diffprivlib.mechanisms import GaussianDiscrete
from scipy.stats import norm

from .accountant import Measurement

__all__ = ["NoisyCounter", "sigma_of", "discrete_gaussian_tail", "discrete_gaussian_threshold"]


def sigma_of(rho: float) -> float:
    """Scale of the Gaussian noise on sensitivity-1 counts that is ρ-zCDP: σ = 1/√(2ρ)."""
    return 1.0 / math.sqrt(2.0 * rho)


class NoisyCounter:
    """Discrete Gaussian noise from diffprivlib, with σ set from a zCDP share."""

    def __init__(self, rng: np.random.RandomState | None):
        self._rng = rng
        self.measurements: list[Measurement] = []

    def counts(self, true_counts: np.ndarray, rho: float, target: str, delta_extra: float = 0.0):
        sigma = sigma_of(rho)
        mech = GaussianDiscrete(epsilon=1.0, delta=0.5, sensitivity=1, random_state=self._rng)
        mech._scale = sigma  # noise fixed by ρ; accounted exactly by its RDP curve, not (ε, δ)
        noisy = np.array([mech.randomise(int(c)) for c in np.asarray(true_counts)], dtype=float)
        self.measurements.append(Measurement("profile", "discrete_gaussian", target, sigma,
                                             delta_extra=delta_extra))
        return noisy, sigma


def discrete_gaussian_tail(t: int, sigma: float) -> float:
    """P(Z ≥ t) for the discrete Gaussian on ℤ with scale σ (the noise diffprivlib draws), exactly
    (up to float rounding): Σ_{k≥t} e^{−k²/2σ²} / Σ_k e^{−k²/2σ²}."""
    span = int(math.ceil(40 * sigma)) + 40
    k = np.arange(-span, span + 1, dtype=float)
    w = np.exp(-(k * k) / (2 * sigma * sigma))
    return float(w[k >= t].sum() / w.sum())


def discrete_gaussian_threshold(sigma: float, delta: float) -> int:
    """Smallest integer t with P(Z ≥ t) ≤ δ for discrete Gaussian noise Z of scale σ.

    A category held by one row has noisy count 1 + Z; releasing it only when the noisy count is
    ≥ 1 + t bounds the chance its one row is revealed by δ (Gaussian stability histogram, with the
    tail of the noise actually used rather than the continuous one, which understates it)."""
    if delta <= 0:
        raise ValueError("delta must be > 0")
    t = max(0, int(math.floor(sigma * float(norm.isf(delta)))) - 2)
    while discrete_gaussian_tail(t, sigma) > delta:
        t += 1
    return t
