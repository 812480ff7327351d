"""dbt integration: what the ``dp_twin`` materialization runs (dbt-duckdb runs Python models in
dbt's own process).

A twin is one small Python model::

    def model(dbt, session):
        dbt.config(materialized="dp_twin")
        return dbt.ref("customers")

with ``meta: {dp_synth: {epsilon: 1.0, spec: {...}, budget_cap: 3.0}}`` in its YAML. The
materialization (``dbt_package/macros/materializations/dp_twin.sql``) calls :func:`publish`, which
runs the same code path as the CLI and the Python API (:func:`dp_synth.runtime.synthesize`): checks,
reuse of an unchanged twin, training, then the twin *and* its ledger row in one transaction that
re-checks the caps. No post-hook can be forgotten; no spend can be lost or counted twice.

Settings, lowest to highest priority: flat ``dp_synth_<key>`` entries of ``meta`` (these survive
dbt's shallow merge of folder-level ``+meta``), then the model's ``meta: dp_synth: {...}`` block
(deep-merged over the flat keys). Caps: the strictest of the model's ``budget_cap``, the caps declared
on upstream models/sources (their ``meta``), the var ``dp_synth_budget_caps`` keyed by relation, and
every cap recorded in the ledger for the source.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

from .engines import open_engine
from .errors import InputError
from .fit import check_validation_settings
from .io.ledger import check_cap_value
from .io.relation import Relation
from .runtime import SynthesisResult
from .runtime import synthesize as _synthesize
from .training import TrainingConfig

__all__ = ["publish", "resolve_settings", "synthesize", "SETTINGS"]

SETTINGS = {"epsilon", "delta", "spec", "budget_cap", "delta_cap", "seed", "rows", "min_rows", "training",
            "model_dir", "validate"}


def _deep_merge(base: dict, top: Mapping) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def resolve_settings(meta: Mapping[str, Any] | None, model: str) -> dict[str, Any]:
    """One model's dp_synth settings from its merged ``meta`` (flat keys, then the ``dp_synth`` block)."""
    meta = dict(meta or {})
    flat = {k[len("dp_synth_"):]: v for k, v in meta.items() if k.startswith("dp_synth_")}
    block = meta.get("dp_synth") or {}
    if not isinstance(block, Mapping):
        raise InputError(f"dbt model {model!r}: meta dp_synth must be a mapping of settings, got {block!r}")
    merged = _deep_merge(flat, block)
    unknown = sorted(set(merged) - SETTINGS)
    if unknown:
        raise InputError(f"dbt model {model!r}: unknown dp_synth settings {unknown}; allowed: {sorted(SETTINGS)}")
    if merged.get("epsilon") is None:
        raise InputError(f"dbt model {model!r}: epsilon is missing. Set it in the model's YAML "
                         "(config: meta: dp_synth: epsilon: 1.0)")
    training = merged.get("training") or {}
    if not isinstance(training, Mapping):
        raise InputError(f"dbt model {model!r}: training must be a mapping of DP-SGD settings, got {training!r}")
    allowed = set(TrainingConfig.__dataclass_fields__)
    if set(training) - allowed:
        raise InputError(f"dbt model {model!r}: unknown training settings {sorted(set(training) - allowed)}; "
                         f"allowed: {sorted(allowed)}")
    return merged


def _source_relation(engine, source: Any, model: str) -> Relation:
    """The table ``dbt.ref()``/``dbt.source()`` stands for, as the engine tells it."""
    if isinstance(source, str):
        return Relation.parse(source, engine.default_schema)
    rel = engine.relation_of(source)
    if rel is None:
        raise InputError(f"dbt model {model!r}: the model must return dbt.ref('…') or dbt.source('…', '…') of "
                         f"the table to twin itself (not a query on it), got a {type(source).__name__}")
    return rel


def _strictest(own: Any, upstream: Mapping[str, Any] | None, var_caps: Mapping[str, Any] | None,
               source: Relation, model: str, what: str) -> float | None:
    caps = []
    for where, value in [("the model", own), *((f"upstream {k}", v) for k, v in (upstream or {}).items()),
                         *((f"var dp_synth_budget_caps[{k!r}]", v) for k, v in (var_caps or {}).items()
                           if Relation.parse(k).schema.casefold() == source.schema.casefold()
                           and Relation.parse(k).name.casefold() == source.name.casefold())]:
        if value is None:
            continue
        try:
            caps.append(check_cap_value(value, what))
        except Exception as e:  # noqa: BLE001 - re-raised with the model and where it was declared
            raise InputError(f"dbt model {model!r}, {what} of {where}: {e}") from None
    return min(caps) if caps else None


class _Progress:
    """A line in dbt's log every ~15 s of training: steps, ε so far, ETA."""

    def __init__(self, model: str, every: float = 15.0):
        self.model, self.every, self.t0, self.last = model, every, time.monotonic(), time.monotonic()

    def __call__(self, step: int, steps: int, eps: float) -> None:
        now = time.monotonic()
        if now - self.last >= self.every or step == steps and now - self.t0 > self.every:
            self.last = now
            eta = (now - self.t0) / max(step, 1) * (steps - step)
            print(f"dp_synth {self.model}: DP-SGD step {step}/{steps}, ε so far {eps:.3f}, ETA {eta:.0f} s", flush=True)


def publish(con: Any, source: Any, *, schema: str, identifier: str,
            meta: Mapping[str, Any] | None, model: str, invocation_id: str | None = None,
            ledger_schema: str = "main", upstream_caps: Mapping[str, Any] | None = None,
            var_caps: Mapping[str, Any] | None = None) -> SynthesisResult:
    """Build (or reuse) the twin ``schema.identifier`` of ``source`` with its ledger row, atomically.

    ``con``: what the dbt adapter's Python model gets as its session — dbt-duckdb's connection
    (possibly wrapped), or the SparkSession of dbt-spark/dbt-databricks; ``source``: ``dbt.ref(…)``
    (a DuckDB relation or a Spark DataFrame)."""
    cfg = resolve_settings(meta, model)
    check_validation_settings(cfg.get("validate"), f"dbt model {model!r}: ")
    engine = open_engine(con)
    src = _source_relation(engine, source, model)
    cap = _strictest(cfg.get("budget_cap"), upstream_caps, var_caps, src, model, "budget_cap")
    dcap = _strictest(cfg.get("delta_cap"), None, None, src, model, "delta_cap")
    try:
        config = TrainingConfig(**(cfg.get("training") or {}))
    except (TypeError, ValueError) as e:
        raise InputError(f"dbt model {model!r}: training settings: {e}") from None
    try:
        return _synthesize(engine, str(src), cfg["epsilon"], cfg.get("delta"), target=str(Relation(schema, identifier)),
                           rows=cfg.get("rows"), spec=cfg.get("spec"), seed=cfg.get("seed"), budget_cap=cap,
                           delta_cap=dcap, model_dir=cfg.get("model_dir"), ledger_schema=ledger_schema, config=config,
                           min_rows=cfg.get("min_rows"), invoked_by="dbt", validation=cfg.get("validate"),
                           extra={"dbt_invocation_id": invocation_id, "dbt_model": model}, on_step=_Progress(model))
    except InputError as e:
        raise InputError(f"dbt model {model!r}: {e}") from None


def synthesize(*args, **kwargs):
    """The helper of dp-synth ≤ 0.1 (``materialized='table'`` + a ``commit_spend`` post-hook).

    Removed: that pattern could publish a twin with no ledger row. Use ``materialized='dp_twin'``.
    """
    raise InputError("dp_synth.dbt.synthesize with materialized='table' and the commit_spend post-hook is "
                     "replaced by the dp_twin materialization, which writes the twin and its ledger row "
                     "together: in the model, dbt.config(materialized='dp_twin') and return dbt.ref('<source>'); "
                     "remove the post_hook. See dbt_package/README.md")
