"""Measurements, their composition, and the calibration of noise to a target (ε, δ).

>>> m = Measurement(part="profile", mechanism="discrete_gaussian", target="n", sigma=10.0)
>>> round(compose([m], delta=1e-6), 3) > 0
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from .rdp import ORDERS, gaussian_rdp, rdp_to_epsilon, subsampled_gaussian_rdp

__all__ = ["Measurement", "PrivacyStatement", "compose", "calibrate_profile_rho", "calibrate_sgd_sigma"]

ACCOUNTANT = ("RDP composition of all measurements (Mironov 2017; Opacus RDP accountant), "
              "converted to (ε, δ) with Balle et al. 2020; δ also covers category thresholding")


@dataclass(frozen=True)
class Measurement:
    """One data-dependent release.

    ``mechanism`` is ``discrete_gaussian`` (one noisy count vector of sensitivity 1) or
    ``dp_sgd`` (``steps`` Poisson-subsampled Gaussian steps). ``delta_extra`` is δ paid
    outside RDP, e.g. the chance that thresholding releases a category held by one person.
    """

    part: str
    mechanism: str
    target: str
    sigma: float
    sample_rate: float = 1.0
    steps: int = 1
    delta_extra: float = 0.0

    def rdp(self, orders=ORDERS) -> np.ndarray:
        if self.mechanism == "dp_sgd":
            return subsampled_gaussian_rdp(self.sample_rate, self.sigma, self.steps, orders)
        if self.mechanism == "discrete_gaussian":
            return gaussian_rdp(self.sigma, 1.0, orders) * self.steps
        if self.mechanism == "exponential":  # here sigma holds ε per round: ε²/8-zCDP each
            return np.asarray(orders, dtype=float) * self.sigma**2 / 8.0 * self.steps
        raise ValueError(f"unknown mechanism {self.mechanism!r}")


def compose(measurements: Iterable[Measurement], delta: float) -> float:
    """ε of all measurements together at total δ (0 if there are none)."""
    ms = list(measurements)
    if not ms:
        return 0.0
    delta_rdp = delta - sum(m.delta_extra for m in ms)
    if delta_rdp <= 0:
        return float("inf")
    return rdp_to_epsilon(sum(m.rdp() for m in ms), delta_rdp)


def calibrate_profile_rho(epsilon: float, delta: float, share: float) -> float:
    """zCDP ρ for the profile: ``share`` of the ρ whose Gaussian curve alone meets (ε, δ)."""
    lo, hi = 1e-12, 1e6
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        eps = rdp_to_epsilon(np.asarray(ORDERS) * mid, delta)
        lo, hi = (mid, hi) if eps <= epsilon else (lo, mid)
    return share * lo


def calibrate_sgd_sigma(fixed: Sequence[Measurement], sample_rate: float, steps: int,
                        epsilon: float, delta: float) -> float:
    """Smallest noise multiplier so that ``fixed`` plus DP-SGD stays within (ε, δ)."""
    def eps_at(sigma: float) -> float:
        sgd = Measurement("training", "dp_sgd", "generator", sigma, sample_rate, steps)
        return compose([*fixed, sgd], delta)

    if compose(fixed, delta) >= epsilon:
        raise ValueError("profile already uses the whole budget")
    lo, hi = 0.05, 1.0
    while eps_at(hi) > epsilon:
        lo, hi = hi, hi * 2
        if hi > 1e4:
            raise ValueError("cannot reach the target ε with DP-SGD; raise ε or lower steps")
    while hi - lo > 1e-4 * hi:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if eps_at(mid) <= epsilon else (mid, hi)
    return hi


@dataclass(frozen=True)
class PrivacyStatement:
    """What a synthetic table costs: total (ε, δ), its parts, and every measurement.

    Parts are each part's ε on its own at the same δ; the total composes them in RDP,
    which is tighter than adding the parts.
    """

    epsilon: float
    delta: float
    parts: dict[str, float]
    measurements: tuple[Measurement, ...] = field(repr=False)
    accountant: str = ACCOUNTANT

    @classmethod
    def of(cls, measurements: Sequence[Measurement], delta: float) -> "PrivacyStatement":
        parts = {p: compose([m for m in measurements if m.part == p], delta)
                 for p in dict.fromkeys(m.part for m in measurements)}
        return cls(epsilon=compose(measurements, delta), delta=delta, parts=parts,
                   measurements=tuple(measurements))

    @property
    def mechanisms(self) -> list[str]:
        return sorted({m.mechanism for m in self.measurements})

    def to_json(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, "delta": self.delta, "parts": self.parts,
                "mechanisms": self.mechanisms, "accountant": self.accountant,
                "measurements": [asdict(m) for m in self.measurements]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "PrivacyStatement":
        return cls(epsilon=d["epsilon"], delta=d["delta"], parts=dict(d["parts"]),
                   measurements=tuple(Measurement(**m) for m in d["measurements"]),
                   accountant=d.get("accountant", ACCOUNTANT))

    def __str__(self) -> str:
        parts = ", ".join(f"{k} ε={v:.3f}" for k, v in self.parts.items())
        return f"(ε={self.epsilon:.3f}, δ={self.delta:.1e})-DP [{parts}; composed in RDP]"
