"""Custom GX expectations on a twin/real pair (GX Core 1.x).

Defining a class registers it with GX under its snake_case name; :func:`register` imports this
module and returns those names, and must run before any suite is loaded: GX silently drops an
expectation type it does not know (see :mod:`.suites`, which checks the loaded count).
Thresholds are fields, so suites can set them or take them from ``{"$PARAMETER": ...}``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional, Tuple, Union

from great_expectations.core.suite_parameters import SuiteParameterDict
from great_expectations.expectations.expectation import BatchExpectation
from great_expectations.render import LegacyRendererType, RenderedStringTemplateContent
from great_expectations.render.renderer.renderer import renderer

from ..evaluate.summary import risk_verdict
from . import metrics as _registered_metrics  # noqa: F401  (registers the metrics these expectations use)

__all__ = ["EXPECTATIONS", "register"]

Number = Union[float, SuiteParameterDict]


class _Described(BatchExpectation):
    """Data Docs show ``summary`` filled with the expectation's keywords instead of a raw call."""

    summary: ClassVar[str] = ""

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(cls, configuration=None, result=None, runtime_configuration=None, **kwargs):
        values = {k: v for k, v in ((configuration.kwargs if configuration else {}) or {}).items()}
        text = cls.summary.format_map(_Defaults(values))
        return [RenderedStringTemplateContent(content_block_type="string_template",
                                              string_template={"template": text, "params": {}, "styling": {}})]


class _Defaults(dict):
    """GX drops keywords equal to their defaults from the stored configuration: name those defaults."""

    _DEFAULTS = {"k": "2", "positive": "the rarest class of the twin", "secret": "the target, else the last column"}

    def __missing__(self, key: str) -> str:
        return self._DEFAULTS.get(key, f"<{key}>")


class _PairExpectation(_Described):
    """One metric, one verdict; ``observed_value`` is what the Data Docs and the summary show."""

    metric: ClassVar[str] = ""

    def _verdict(self, value: Any) -> tuple[bool, Any]:
        raise NotImplementedError

    def _validate(self, metrics: dict, runtime_configuration: Optional[dict] = None, execution_engine=None):
        ok, observed = self._verdict(metrics[self.metric])
        return {"success": bool(ok), "result": {"observed_value": observed}}


class ExpectTwinMarginalsToMatchSource(_PairExpectation):
    """Mean total-variation distance of the k-way marginals (numbers in 16 real-quantile bins) is at most ``max_tvd``."""

    summary: ClassVar[str] = "mean total-variation distance of the twin's {k}-way marginals to the source's is at most {max_tvd}"

    k: int = 2
    max_tvd: Number
    metric = "dp_synth.marginal_tvd"
    metric_dependencies: ClassVar[Tuple[str, ...]] = (metric,)
    success_keys: ClassVar[Tuple[str, ...]] = ("k", "max_tvd")

    def _verdict(self, value: float) -> tuple[bool, Any]:
        return value <= self.max_tvd, round(value, 6)


class ExpectTwinColumnsToMatchSource(_PairExpectation):
    """Every column: TVD (categorical) at most ``max_tvd``, Kolmogorov–Smirnov statistic (numeric) at most ``max_ks``."""

    summary: ClassVar[str] = "every column: TVD at most {max_tvd} (categorical), Kolmogorov-Smirnov at most {max_ks} (numeric)"

    max_tvd: Number
    max_ks: Number
    metric = "dp_synth.column_fidelity"
    metric_dependencies: ClassVar[Tuple[str, ...]] = (metric,)
    success_keys: ClassVar[Tuple[str, ...]] = ("max_tvd", "max_ks")

    def _verdict(self, value: dict) -> tuple[bool, Any]:
        bound = {"tvd": self.max_tvd, "ks": self.max_ks}
        failing = sorted(c for c, m in value.items() if m["value"] > bound[m["metric"]])
        worst = max(value, key=lambda c: value[c]["value"] / bound[value[c]["metric"]])
        return not failing, {"failing_columns": failing, "worst_column": worst,
                             "worst": {k: round(v, 6) if isinstance(v, float) else v for k, v in value[worst].items()},
                             "columns": {c: round(m["value"], 6) for c, m in value.items()}}


class ExpectTwinAssociationsToMatchSource(_PairExpectation):
    """Association matrices (Pearson r / Cramér's V) differ by at most ``max_mean_difference`` on average
    and ``max_pair_difference`` for any one pair of columns."""

    summary: ClassVar[str] = "association matrices differ by at most {max_mean_difference} on average and {max_pair_difference} for any pair"

    max_mean_difference: Number
    max_pair_difference: Number
    metric = "dp_synth.association_difference"
    metric_dependencies: ClassVar[Tuple[str, ...]] = (metric,)
    success_keys: ClassVar[Tuple[str, ...]] = ("max_mean_difference", "max_pair_difference")

    def _verdict(self, value: dict) -> tuple[bool, Any]:
        ok = value["mean"] <= self.max_mean_difference and value["max"] <= self.max_pair_difference
        return ok, {**value, "mean": round(value["mean"], 6), "max": round(value["max"], 6)}


class ExpectTwinMlEfficacyToBeAtLeast(_PairExpectation):
    """A model trained on the twin keeps at least ``min_ratio`` of a real-trained model's skill on real unseen rows."""

    summary: ClassVar[str] = "a model trained on the twin keeps at least {min_ratio} of a real-trained model's skill predicting {target} (positive class: {positive})"

    target: Union[str, SuiteParameterDict]
    positive: Optional[Union[str, SuiteParameterDict]] = None
    min_ratio: Number
    metric = "dp_synth.ml_efficacy"
    metric_dependencies: ClassVar[Tuple[str, ...]] = (metric,)
    success_keys: ClassVar[Tuple[str, ...]] = ("target", "positive", "min_ratio")

    def _verdict(self, value: dict) -> tuple[bool, Any]:
        if not value["real_has_skill"]:  # the real data holds no signal for this target: nothing to lose
            return True, {**value, "note": "a model trained on real rows has no skill on this target; not applicable"}
        return value["ratio"] is not None and value["ratio"] >= self.min_ratio, value


class ExpectTwinCopyRateToMatchHoldout(_PairExpectation):
    """Share of twin rows identical to a training row exceeds the holdout's own share by at most ``max_excess``.

    Real data repeats itself (the holdout copies training rows too); only copies beyond that are leaks."""

    summary: ClassVar[str] = "share of twin rows copying a training row exceeds the holdout's own share by at most {max_excess}"

    max_excess: Number
    metric = "dp_synth.copy_rates"
    metric_dependencies: ClassVar[Tuple[str, ...]] = (metric,)
    success_keys: ClassVar[Tuple[str, ...]] = ("max_excess",)

    def _verdict(self, value: dict) -> tuple[bool, Any]:
        return value["twin"] <= value["holdout_baseline"] + self.max_excess, {k: round(v, 6) for k, v in value.items()}


class ExpectTwinDcrShareToBeBetween(_PairExpectation):
    """Share of twin rows closer to a training row than to a holdout row lies in [``min_value``, ``max_value``]."""

    summary: ClassVar[str] = "share of twin rows closer to a training row than to a holdout row is between {min_value} and {max_value}"

    min_value: Number
    max_value: Number
    metric = "dp_synth.dcr_share"
    metric_dependencies: ClassVar[Tuple[str, ...]] = (metric,)
    success_keys: ClassVar[Tuple[str, ...]] = ("min_value", "max_value")

    def _verdict(self, value: float) -> tuple[bool, Any]:
        return self.min_value <= value <= self.max_value, round(value, 6)


class ExpectTwinAttackRiskToBeBelow(_PairExpectation):
    """Anonymeter-style risk (attack − control)/(1 − control) of ``attack`` is not above ``max_risk``.

    Judged by the risk's 95 % interval: fails when all of it lies above ``max_risk`` (the twin
    shows excess risk); passes otherwise, and the result says ``below`` (all of it under the
    limit) or ``inconclusive`` (the interval straddles it: more holdout rows would tell)."""

    summary: ClassVar[str] = ("{attack} attack risk (attack - control)/(1 - control) is not above {max_risk} "
                              "at 95 % confidence (secret: {secret})")

    attack: str
    secret: Optional[Union[str, SuiteParameterDict]] = None
    max_risk: Number
    metric = "dp_synth.attack_risk"
    metric_dependencies: ClassVar[Tuple[str, ...]] = (metric,)
    success_keys: ClassVar[Tuple[str, ...]] = ("attack", "secret", "max_risk")

    def _verdict(self, value: dict) -> tuple[bool, Any]:
        verdict = risk_verdict(value, self.max_risk)
        return verdict != "above", {**value, "verdict": verdict}


class ExpectTwinPrivacySpendWithinCap(_Described):
    """Total ε charged to the source in the ledger is at most its cap (no cap declared: passes, and says so).

    The figures come from the ledger as suite parameters, not from the batch."""

    summary: ClassVar[str] = "total epsilon charged to the source ({epsilon_spent}) is within its cap ({epsilon_cap}; -1 = none declared)"

    epsilon_spent: Number
    epsilon_cap: Number  # < 0: no cap declared
    metric_dependencies: ClassVar[Tuple[str, ...]] = ("table.row_count",)
    success_keys: ClassVar[Tuple[str, ...]] = ("epsilon_spent", "epsilon_cap")

    def _validate(self, metrics: dict, runtime_configuration: Optional[dict] = None, execution_engine=None):
        capped = self.epsilon_cap >= 0
        ok = not capped or self.epsilon_spent <= self.epsilon_cap + 1e-12
        return {"success": ok, "result": {"observed_value": {
            "epsilon_spent": self.epsilon_spent, "epsilon_cap": self.epsilon_cap if capped else None}}}


EXPECTATIONS = ("expect_twin_marginals_to_match_source", "expect_twin_columns_to_match_source",
                "expect_twin_associations_to_match_source", "expect_twin_ml_efficacy_to_be_at_least",
                "expect_twin_copy_rate_to_match_holdout", "expect_twin_dcr_share_to_be_between",
                "expect_twin_attack_risk_to_be_below", "expect_twin_privacy_spend_within_cap")


def register() -> tuple[str, ...]:
    """Make sure GX knows every dp-synth expectation type; returns their names."""
    from great_expectations.expectations.registry import get_expectation_impl

    for name in EXPECTATIONS:
        get_expectation_impl(name)  # raises if a class failed to register
    return EXPECTATIONS
