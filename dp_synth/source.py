"""What :func:`dp_synth.fit` learns from: a table's schema, exact counts of its training rows, and
the bounded set of rows DP-SGD reads.

:class:`ArrowSource` holds rows in memory (the Python API: a DuckDB relation, Arrow, polars);
:class:`dp_synth.engines.aggregates.EngineSource` leaves them in the warehouse: counts are engine
aggregate queries, and only a keyed-hash sample of at most about :data:`TRAIN_SAMPLE_ROWS` rows is
read for DP-SGD. The holdout (a keyed hash of the row, :mod:`dp_synth.holdout`) is excluded from
both: nothing the twin learns comes from a held-out row.

>>> import pyarrow as pa
>>> src = ArrowSource(pa.table({"x": list(range(100))}))
>>> plan = HoldoutPlan(0.2, "00" * 32)
>>> src.count_all(), src.counts(plan).rows() == src.training_rows(plan, 80.0).rows.num_rows
(100, True)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

import pyarrow as pa

from .counts import Counts, FrameCounts
from .holdout import RULE, HoldoutPlan, polars_frame, split

__all__ = ["TrainingSource", "ArrowSource", "TrainingRows", "TRAIN_SAMPLE_ROWS"]

TRAIN_SAMPLE_ROWS = 250_000  # DP-SGD reads at most about this many rows (by the DP count): cost flat in n


@dataclass(frozen=True)
class TrainingRows:
    """The rows DP-SGD reads: all training rows (``rate`` 1), or those whose keyed hash under
    ``key`` falls below ``rate`` (a function of the row: a neighbour changes at most one of them)."""

    rows: pa.Table
    rate: float = 1.0
    key: str | None = None


class TrainingSource(ABC):
    """A table as fit sees it."""

    holdout_rule: str = RULE
    holdout_by: str = "polars"

    @property
    @abstractmethod
    def schema(self) -> pa.Schema:
        """The table's columns."""

    @abstractmethod
    def count_all(self) -> int:
        """Every row, held out or not (released only with noise)."""

    @abstractmethod
    def counts(self, plan: HoldoutPlan) -> Counts:
        """Exact counts over the rows not held out under ``plan``."""

    @abstractmethod
    def training_rows(self, plan: HoldoutPlan, n_noisy: float, key: str | None = None,
                      columns: Sequence[str] | None = None) -> TrainingRows:
        """The rows DP-SGD reads; ``n_noisy`` is the DP count of the training rows, ``key`` a
        sampling key to use (tests: reproducible), else a fresh random one; ``columns``: only these
        (what the model learns: a column declared ignore, key or PII never leaves the source)."""


class ArrowSource(TrainingSource):
    """Rows in memory; DP-SGD reads all training rows."""

    def __init__(self, table: pa.Table):
        self.table = table
        self._split: tuple[HoldoutPlan, pa.Table] | None = None

    @property
    def schema(self) -> pa.Schema:
        return self.table.schema

    def count_all(self) -> int:
        return self.table.num_rows

    def _train(self, plan: HoldoutPlan) -> pa.Table:
        if self._split is None or self._split[0] != plan:
            self._split = (plan, split(self.table, plan.share, plan.key)[0])
        return self._split[1]

    def counts(self, plan: HoldoutPlan) -> Counts:
        return FrameCounts(polars_frame(self._train(plan)))

    def training_rows(self, plan: HoldoutPlan, n_noisy: float, key: str | None = None,
                      columns: Sequence[str] | None = None) -> TrainingRows:
        rows = self._train(plan)
        return TrainingRows(rows if columns is None else rows.select(list(columns)))
