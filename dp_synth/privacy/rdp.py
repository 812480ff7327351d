"""Rényi-DP curves and their conversion to (ε, δ).

Every mechanism dp-synth runs is a Gaussian (profile measurements, sensitivity 1 under
add/remove-one-row) or the subsampled Gaussian of DP-SGD. Both have exact RDP curves, so
composing them in RDP and converting once gives a tight total:

- Gaussian / discrete Gaussian, sensitivity Δ, noise σ: ε(α) = α Δ² / (2σ²)
  (Mironov 2017, Prop. 7; Canonne-Kamath-Steinke 2020 for the discrete Gaussian).
- Poisson-subsampled Gaussian (DP-SGD): Opacus' ``compute_rdp`` (Mironov et al. 2019).
- RDP → (ε, δ): Opacus' ``get_privacy_spent`` (Balle et al. 2020, Thm. 21).
"""

from __future__ import annotations

import numpy as np
from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

__all__ = ["ORDERS", "gaussian_rdp", "subsampled_gaussian_rdp", "rdp_to_epsilon"]

# Fractional orders (costly series in Opacus) on a 0.25 grid up to 11, then integers, then a
# sparse tail so large ε (little noise) is not cut off at α=63.
ORDERS: tuple[float, ...] = tuple([1 + x / 4.0 for x in range(1, 40)] + list(range(11, 64))
                                  + list(range(64, 257, 8)) + [384, 512, 1024])


def gaussian_rdp(sigma: float, sensitivity: float = 1.0, orders=ORDERS) -> np.ndarray:
    return np.asarray(orders, dtype=float) * sensitivity**2 / (2.0 * sigma**2)


def subsampled_gaussian_rdp(sample_rate: float, noise_multiplier: float, steps: int,
                            orders=ORDERS) -> np.ndarray:
    return np.asarray(compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier,
                                  steps=steps, orders=list(orders)), dtype=float)


def rdp_to_epsilon(rdp: np.ndarray, delta: float, orders=ORDERS) -> float:
    """Smallest ε over the orders such that the RDP curve implies (ε, δ)-DP."""
    if delta <= 0:
        return float("inf")
    eps, _ = get_privacy_spent(orders=list(orders), rdp=np.asarray(rdp, dtype=float), delta=delta)
    return float(eps)
