"""GX metric providers: each computes one :mod:`dp_synth.evaluate` measure from the pair batch.

A metric reads the whole batch (twin + training rows + holdout rows, see :mod:`.pair`), splits it
back into its parts and hands them to the evaluation functions, so what a suite checks is
exactly what the benchmark and the governance report measure. Importing this module registers
the metrics with GX.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.table_metric_provider import TableMetricProvider

from .. import evaluate as ev
from .pair import parts_of

__all__ = ["METRICS", "ml_efficacy", "attack_risk"]


def _parts(execution_engine, metric_domain_kwargs):
    df, _, _ = execution_engine.get_compute_domain(metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE)
    return parts_of(df)


def _real(train: pl.DataFrame, holdout: pl.DataFrame | None) -> pl.DataFrame:
    return train if holdout is None else pl.concat([train, holdout], how="vertical_relaxed")


def _need_holdout(holdout: pl.DataFrame | None, what: str) -> pl.DataFrame:
    if holdout is None:
        raise ValueError(f"{what} needs real rows the generator never saw (a holdout); this twin has none")
    return holdout


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def ml_efficacy(synthetic: pl.DataFrame, train: pl.DataFrame, holdout: pl.DataFrame | None, target: str,
                positive: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Train-on-synthetic vs train-on-real, both tested on real rows the generator never saw.

    Classification (categorical target): ROC AUC for ``target == positive`` (default: the rarer
    real class); ratio = (AUC_tstr − 0.5)/(AUC_trtr − 0.5), i.e. the share of the real model's
    skill above chance that the twin keeps. Numeric target: R², ratio = R²_tstr / R²_trtr.
    Without a holdout the real rows are split 70/30 (seeded) for both models.
    """
    if target not in train.columns:
        raise ValueError(f"target column {target!r} is not among the compared columns {train.columns}")
    if holdout is None:
        mask = np.random.default_rng(seed).random(train.height) < 0.3
        train, holdout = train.filter(pl.Series(~mask)), train.filter(pl.Series(mask))
    if train[target].dtype.is_numeric():
        tstr, trtr, metric = ev.tstr_r2(synthetic, holdout, target), ev.tstr_r2(train, holdout, target), "r2"
        ratio = tstr / trtr if trtr > 0 else float("nan")
    else:
        if positive is None:
            counts = train[target].cast(pl.Utf8).drop_nulls().value_counts(sort=True)
            positive = counts[target][-1]
        tstr, trtr, metric = (ev.tstr_auc(synthetic, holdout, target, positive),
                              ev.tstr_auc(train, holdout, target, positive), "auc")
        ratio = (tstr - 0.5) / (trtr - 0.5) if trtr > 0.5 else float("nan")
    return {"target": target, "positive": positive, "metric": metric, "synthetic": _finite(tstr),
            "real": _finite(trtr), "ratio": _finite(ratio)}


def attack_risk(synthetic: pl.DataFrame, train: pl.DataFrame, holdout: pl.DataFrame | None, attack: str,
                secret: str | None = None, seed: int = 0) -> dict[str, Any]:
    """One Anonymeter-style attack (Giomi et al. 2023) against training rows, holdout as control."""
    control = _need_holdout(holdout, f"the {attack} attack")
    cols = list(train.columns)
    if attack == "inference":
        secret = secret or cols[-1]
        if secret not in cols:
            raise ValueError(f"secret column {secret!r} is not among the compared columns {cols}")
        r = ev.inference_attack(synthetic, train, control, secret, seed=seed)
    elif attack == "linkability":
        half = max(1, len(cols) // 2)
        r = ev.linkability_attack(synthetic, train, control, cols[:half], cols[half:] or cols[:1], seed=seed)
    elif attack == "singling_out":
        r = ev.singling_out_attack(synthetic, train, control, seed=seed)
    else:
        raise ValueError(f"unknown attack {attack!r}: use inference, linkability or singling_out")
    return {"attack": r.attack, "risk": _finite(r.risk), "ci_low": _finite(r.risk_low), "ci_high": _finite(r.risk_high),
            "attack_rate": _finite(r.rate), "control_rate": _finite(r.control_rate), "targets": r.n_targets}


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
        return ev.dcr_share(syn, train, _need_holdout(hold, "the DCR share"))


class AttackRisk(TableMetricProvider):
    metric_name = "dp_synth.attack_risk"
    value_keys = ("attack", "secret")

    @metric_value(engine=PandasExecutionEngine)
    def _pandas(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics, runtime_configuration):
        syn, train, hold = _parts(execution_engine, metric_domain_kwargs)
        return attack_risk(syn, train, hold, metric_value_kwargs["attack"], metric_value_kwargs.get("secret"))


METRICS = tuple(c.metric_name for c in (MarginalTVD, ColumnFidelity, AssociationDifference, MLEfficacy, CopyRates,
                                        DCRShare, AttackRisk))
