"""GX metric providers: each computes one :mod:`dp_synth.evaluate` measure from the pair batch.

A metric reads the whole batch (twin + training rows + holdout rows, see :mod:`.pair`), splits it
back into its parts and hands them to the evaluation functions, so what a suite checks is
exactly what the benchmark and the governance report measure. Importing this module registers
the metrics with GX.
"""

from __future__ import annotations

from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.table_metric_provider import TableMetricProvider

from .. import evaluate as ev
from ..evaluate.summary import attack_risk, ml_efficacy, need_holdout, real_rows
from .pair import parts_of

__all__ = ["METRICS", "PROVIDERS"]


def _parts(execution_engine, metric_domain_kwargs):
    df, _, _ = execution_engine.get_compute_domain(metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE)
    return parts_of(df)


def _copy_rates(syn, train, hold) -> dict[str, float]:
    return {"twin": ev.exact_copy_rate(syn, train),
            "holdout_baseline": ev.exact_copy_rate(hold, train) if hold is not None else 0.0}


# metric name → (compute(twin, train, holdout, **value kwargs), value keys). Each becomes one GX
# TableMetricProvider; every one reads the same pair batch.
_COMPUTE = {
    "dp_synth.marginal_tvd": (lambda syn, train, hold, k: ev.mean_marginal_tvd(real_rows(train, hold), syn, k=int(k),
                                                                              max_marginals=300), ("k",)),
    "dp_synth.column_fidelity": (lambda syn, train, hold: ev.column_fidelity(real_rows(train, hold), syn), ()),
    "dp_synth.association_difference": (lambda syn, train, hold: ev.association_difference(real_rows(train, hold), syn), ()),
    "dp_synth.ml_efficacy": (ml_efficacy, ("target", "positive")),
    "dp_synth.copy_rates": (_copy_rates, ()),
    "dp_synth.dcr_share": (lambda syn, train, hold: ev.dcr_share(syn, train, need_holdout(hold, "the DCR share")), ()),
    "dp_synth.attack_risk": (attack_risk, ("attack", "secret")),
}


def _provider(name: str, compute, value_keys: tuple[str, ...]) -> type[TableMetricProvider]:
    @metric_value(engine=PandasExecutionEngine)
    def _pandas(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics, runtime_configuration):
        syn, train, hold = _parts(execution_engine, metric_domain_kwargs)
        return compute(syn, train, hold, **{k: metric_value_kwargs.get(k) for k in value_keys})

    class_name = "".join(w.title() for w in name.split(".")[-1].split("_")) + "Metric"
    return type(class_name, (TableMetricProvider,), {"metric_name": name, "value_keys": value_keys,
                                                     "_pandas": _pandas, "__module__": __name__})


PROVIDERS = {name: _provider(name, fn, keys) for name, (fn, keys) in _COMPUTE.items()}
METRICS = tuple(PROVIDERS)
