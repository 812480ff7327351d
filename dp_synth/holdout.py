"""Holdout: a seeded share of the real rows kept out of training, so risk has a control.

The split is re-derivable, not stored: row i (in the source's scan order) is held out when
``default_rng(seed).random(n)[i] < share``. The model records ``share``, ``seed`` and ``n``;
:func:`split` with the same inputs gives the same rows back (checked against the fingerprint of
the source by callers).

>>> import pyarrow as pa
>>> t = pa.table({"x": list(range(10))})
>>> train, hold = split(t, 0.3, seed=1)
>>> train.num_rows + hold.num_rows
10
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

__all__ = ["HoldoutPlan", "split", "AUTO_MIN_ROWS", "AUTO_SHARE"]

AUTO_MIN_ROWS = 1000  # below this the training set cannot spare rows
AUTO_SHARE = 0.2


@dataclass(frozen=True)
class HoldoutPlan:
    share: float
    seed: int
    n_rows: int

    @classmethod
    def choose(cls, n_rows: int, share: float | None, seed: int | None) -> "HoldoutPlan":
        if share is None:
            share = AUTO_SHARE if n_rows >= AUTO_MIN_ROWS else 0.0
        if not 0.0 <= float(share) < 0.9:
            raise ValueError(f"holdout share must be in [0, 0.9), got {share!r}")
        seed = seed if seed is not None else secrets.randbits(62)
        return cls(float(share), int(seed), int(n_rows))

    def mask(self) -> np.ndarray:
        return np.random.default_rng(self.seed).random(self.n_rows) < self.share

    def to_json(self) -> dict:
        return asdict(self) | {"rule": "row i of the source scan is held out iff "
                                        "numpy.random.default_rng(seed).random(n_rows)[i] < share"}


def split(table: pa.Table, share: float, seed: int) -> tuple[pa.Table, pa.Table]:
    """(training rows, holdout rows) of ``table`` under the plan (share, seed)."""
    mask = HoldoutPlan(share, seed, table.num_rows).mask()
    return table.filter(pa.array(~mask)), table.filter(pa.array(mask))
