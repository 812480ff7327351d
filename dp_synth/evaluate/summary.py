"""Headline figures of a twin as plain dicts: what the GX suites check and the governance report shows.

>>> import polars as pl
>>> real = pl.DataFrame({"a": [1, 2, 3, 4] * 50, "y": ["p", "q", "q", "q"] * 50})
>>> ml_efficacy(real, real, None, "y")["metric"]
'auc'
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from .attacks import inference_attack, linkability_attack, singling_out_attack, verdict
from .utility import tstr_auc, tstr_r2

__all__ = ["ml_efficacy", "attack_risk", "risk_verdict", "RISK_LIMIT", "need_holdout", "real_rows", "ATTACKS", "NO_SKILL"]

ATTACKS = ("singling_out", "linkability", "inference")
# below these a model trained on the real rows has no skill worth keeping, and the ratio is undefined
NO_SKILL = {"auc": 0.55, "r2": 0.05}


def real_rows(train: pl.DataFrame, holdout: pl.DataFrame | None) -> pl.DataFrame:
    """All real rows: training rows plus the holdout, if any."""
    return train if holdout is None else pl.concat([train, holdout], how="vertical_relaxed")


def need_holdout(holdout: pl.DataFrame | None, what: str) -> pl.DataFrame:
    if holdout is None:
        raise ValueError(f"{what} needs real rows the generator never saw (a holdout); this twin has none")
    return holdout


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def ml_efficacy(synthetic: pl.DataFrame, train: pl.DataFrame, holdout: pl.DataFrame | None, target: str,
                positive: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Train-on-synthetic vs train-on-real, both tested on real rows the generator never saw.

    Classification (categorical target): ROC AUC for ``target == positive`` (default: the rarest
    class of the twin, i.e. a DP-released category — a real-only rare value never appears); ratio = (AUC_tstr − 0.5)/(AUC_trtr − 0.5), i.e. the share of the real model's
    skill above chance that the twin keeps. Numeric target: R², ratio = R²_tstr / R²_trtr.
    Without a holdout the real rows are split 70/30 (seeded) for both models. When the real model
    itself has no skill (AUC ≤ 0.55, R² ≤ 0.05) there is nothing to keep: ratio is None and
    ``real_has_skill`` False.
    """
    if target not in train.columns:
        raise ValueError(f"target column {target!r} is not among the compared columns {train.columns}")
    if holdout is None:
        mask = np.random.default_rng(seed).random(train.height) < 0.3
        train, holdout = train.filter(pl.Series(~mask)), train.filter(pl.Series(mask))
    if train[target].dtype.is_numeric():
        tstr, trtr, metric = tstr_r2(synthetic, holdout, target), tstr_r2(train, holdout, target), "r2"
        ratio = tstr / trtr if trtr > NO_SKILL["r2"] else float("nan")
    else:
        if positive is None:  # the rarest *released* class: read off the twin, never off the real rows
            counts = synthetic[target].cast(pl.Utf8).drop_nulls().value_counts(sort=True)
            counts = counts.filter(pl.col(target) != "__other__")
            if counts.height == 0:
                raise ValueError(f"target {target!r}: the twin holds no released class to score; pass positive=")
            positive = counts[target][-1]
        tstr, trtr, metric = (tstr_auc(synthetic, holdout, target, positive),
                              tstr_auc(train, holdout, target, positive), "auc")
        ratio = (tstr - 0.5) / (trtr - 0.5) if trtr > NO_SKILL["auc"] else float("nan")
    return {"target": target, "positive": positive, "metric": metric, "synthetic": _finite(tstr),
            "real": _finite(trtr), "ratio": _finite(ratio),
            "real_has_skill": bool(math.isfinite(trtr) and trtr > NO_SKILL[metric])}


def attack_risk(synthetic: pl.DataFrame, train: pl.DataFrame, holdout: pl.DataFrame | None, attack: str,
                secret: str | None = None, seed: int = 0) -> dict[str, Any]:
    """One Anonymeter-style attack (Giomi et al. 2023) against training rows, holdout as control."""
    control = need_holdout(holdout, f"the {attack} attack")
    cols = list(train.columns)
    if attack == "inference":
        secret = secret or cols[-1]
        if secret not in cols:
            raise ValueError(f"secret column {secret!r} is not among the compared columns {cols}")
        r = inference_attack(synthetic, train, control, secret, seed=seed)
    elif attack == "linkability":
        half = max(1, len(cols) // 2)
        r = linkability_attack(synthetic, train, control, cols[:half], cols[half:] or cols[:1], seed=seed)
    elif attack == "singling_out":
        r = singling_out_attack(synthetic, train, control, seed=seed)
    else:
        raise ValueError(f"unknown attack {attack!r}: use inference, linkability or singling_out")
    return {"attack": r.attack, "risk": _finite(r.risk), "ci_low": _finite(r.risk_low), "ci_high": _finite(r.risk_high),
            "attack_rate": _finite(r.rate), "control_rate": _finite(r.control_rate), "targets": r.n_targets}


RISK_LIMIT = 0.1  # the attacks' max_risk in expectations/risk.json; the report judges against it too


def risk_verdict(result: dict[str, Any], max_risk: float) -> str:
    """Where an :func:`attack_risk` result's 95 % interval lies against ``max_risk``: ``above``,
    ``below`` or ``inconclusive`` (:func:`.attacks.verdict`).

    >>> risk_verdict({"risk": 0.14, "ci_low": 0.0, "ci_high": 0.37}, 0.1)
    'inconclusive'
    """
    return verdict(result.get("ci_low"), result.get("ci_high"), max_risk)
