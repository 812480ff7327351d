"""GX metric providers: each computes one :mod:`dp_synth.evaluate` measure from the pair batch.

A metric reads the whole batch (twin + training rows + holdout rows, see :mod:`.pair`), splits it
back into its parts and hands them to the evaluation functions, so what a suite checks is
exactly what the benchmark and the governance report measure. Importing this module registers
the metrics with GX.
"""

from __future__ import annotations

import polars as pl
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.table_metric_provider import TableMetricProvider

from .. import evaluate as ev
from ..evaluate.summary import attack_risk, ml_efficacy, need_holdout
from .pair import parts_of

__all__ = ["METRICS"]


def _parts(execution_engine, metric_domain_kwargs):
    df, _, _ = execution_engine.get_compute_domain(metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE)
    return parts_of(df)


def _real(train: pl.DataFrame, holdout: pl.DataFrame | None) -> pl.DataFrame:
    return train if holdout is None else pl.concat([train, holdout], how="vertical_relaxed")


class MarginalTVD(TableMetricProvider):
    metric_name = "dp_synth.marginal_tvd"
    value_keys = ("k",)

    @metric_value(engine=PandasExecutionEngine)
    def _pandas(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics, runtime_configuration):
        syn, train, hold = _parts(execution_engine, metric_domain_kwargs)
        return ev.mean_marginal_tvd(_real(train, hold), syn, k=int(metric_value_kwargs["k"]), max_marginals=300)


class ColumnFidelity(TableMetricProvider):
    metric_name = "dp_synth.column_fidelity"

    @metric_value(engine=PandasExecutionEngine)
    def _pandas(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics, runtime_configuration):
        syn, train, hold = _parts(execution_engine, metric_domain_kwargs)
        return ev.column_fidelity(_real(train, hold), syn)


class AssociationDifference(TableMetricProvider):
    metric_name = "dp_synth.association_difference"

    @metric_value(engine=PandasExecutionEngine)
    def _pandas(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics, runtime_configuration):
        syn, train, hold = _parts(execution_engine, metric_domain_kwargs)
        return ev.association_difference(_real(train, hold), syn)


class MLEfficacy(TableMetricProvider):
    metric_name = "dp_synth.ml_efficacy"
    value_keys = ("target", "positive")

    @metric_value(engine=PandasExecutionEngine)
    def _pandas(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics, runtime_configuration):
        syn, train, hold = _parts(execution_engine, metric_domain_kwargs)
        return ml_efficacy(syn, train, hold, metric_value_kwargs["target"], metric_value_kwargs.get("positive"))


class CopyRates(TableMetricProvider):
    metric_name = "dp_synth.copy_rates"

    @metric_value(engine=PandasExecutionEngine)
    def _pandas(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics, runtime_configuration):
        syn, train, hold = _parts(execution_engine, metric_domain_kwargs)
        return {"twin": ev.exact_copy_rate(syn, train),
                "holdout_baseline": ev.exact_copy_rate(hold, train) if hold is not None else 0.0}


class DCRShare(TableMetricProvider):
    metric_name = "dp_synth.dcr_share"

    @metric_value(engine=PandasExecutionEngine)
    def _pandas(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics, runtime_configuration):
        syn, train, hold = _parts(execution_engine, metric_domain_kwargs)
        return ev.dcr_share(syn, train, need_holdout(hold, "the DCR share"))


class AttackRisk(TableMetricProvider):
    metric_name = "dp_synth.attack_risk"
    value_keys = ("attack", "secret")

    @metric_value(engine=PandasExecutionEngine)
    def _pandas(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics, runtime_configuration):
        syn, train, hold = _parts(execution_engine, metric_domain_kwargs)
        return attack_risk(syn, train, hold, metric_value_kwargs["attack"], metric_value_kwargs.get("secret"))


METRICS = tuple(c.metric_name for c in (MarginalTVD, ColumnFidelity, AssociationDifference, MLEfficacy, CopyRates,
                                        DCRShare, AttackRisk))
