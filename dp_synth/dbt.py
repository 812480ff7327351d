"""Helpers called from dbt Python models (dbt-duckdb runs them in dbt's own process).

A twin is one small model file::

    import dp_synth.dbt

    def model(dbt, session):
        dbt.config(materialized="table")
        return dp_synth.dbt.synthesize(dbt, session, source=dbt.ref("customers"),
                                       settings=dbt.config.get("meta"))

with ``meta: {dp_synth: {epsilon: 1.0, spec: {...}, budget_cap: 3.0}}`` in the model's YAML
config (keyword arguments override it) and the post-hook ``{{ dp_synth.commit_spend(this) }}``.

The helper checks the budget cap against the ledger, fits, and stages the spend in
``dp_synth_ledger_pending``; the post-hook moves it into ``dp_synth_ledger`` inside the
transaction in which dbt renames the new twin into place, so both commit or neither does.
An unchanged source with unchanged settings returns the existing twin and stages nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path
from typing import Any, Mapping

import duckdb
import pyarrow as pa

from . import __version__
from .errors import InputError
from .fit import check_epsilon, check_seed, check_validation_settings, fit
from .io.catalog import identity, resolve
from .io.engine_checks import check_source_schema
from .io.duckdb import database_file, model_file, relation_exists, table_fingerprint
from .io.ledger import Ledger, check_cap_value, settings_hash
from .io.relation import Relation, _split, quote_ident
from .spec import load_spec_overrides
from .training import TrainingConfig

__all__ = ["synthesize", "PENDING_TABLE"]

PENDING_TABLE = "dp_synth_ledger_pending"
_SETTINGS = {"epsilon", "delta", "spec", "budget_cap", "seed", "rows", "min_rows", "ledger_schema", "training",
             "model_dir", "validate"}
_NOT_HASHED = {"budget_cap", "model_dir", "validate"}  # change nothing in the twin: no retraining for them


def _settings(meta: Mapping[str, Any] | None, kwargs: Mapping[str, Any], model: str) -> dict[str, Any]:
    meta = dict(meta or {})
    base = dict(meta.get("dp_synth", meta) or {})
    merged = {**base, **{k: v for k, v in kwargs.items() if v is not None}}
    unknown = sorted(set(merged) - _SETTINGS)
    if unknown:
        raise InputError(f"dbt model {model!r}: unknown dp_synth settings {unknown}; allowed: {sorted(_SETTINGS)}")
    if merged.get("epsilon") is None:
        raise InputError(f"dbt model {model!r}: epsilon is missing. Set it in the model's YAML "
                         "(config: meta: dp_synth: epsilon: 1.0) or pass epsilon= to dp_synth.dbt.synthesize")
    return merged


def _this(dbt) -> tuple[str, str]:
    this = dbt.this
    return str(getattr(this, "schema")), str(getattr(this, "identifier"))


def _source_relation(source: duckdb.DuckDBPyRelation, model: str) -> Relation:
    """dbt-duckdb's ref()/source() is ``select * from "db"."schema"."name"``: recover schema.name."""
    m = re.match(r"(?is)^\s*select\s+\*\s+from\s+(.+?)\s*;?\s*$", source.sql_query())
    parts = _split(m.group(1)) if m else []
    if len(parts) < 2:
        raise InputError(f"dbt model {model!r}: cannot tell which table the source is; pass "
                         "source=dbt.ref('name') directly, or source_name='schema.table'")
    return Relation(parts[-2], parts[-1])


def synthesize(dbt, session: duckdb.DuckDBPyConnection, source: duckdb.DuckDBPyRelation, *,
               source_name: str | None = None, settings: Mapping[str, Any] | None = None,
               epsilon: float | None = None, delta: float | None = None, spec: Mapping | None = None,
               budget_cap: float | None = None, seed: int | None = None, rows: int | None = None,
               invocation_id: str | None = None) -> pa.Table | duckdb.DuckDBPyRelation:
    """Fit a DP generator on ``source`` and return the twin's rows for dbt to materialize."""
    schema, identifier = _this(dbt)
    model = identifier
    cfg = _settings(settings, {"epsilon": epsilon, "delta": delta, "spec": spec, "budget_cap": budget_cap,
                               "seed": seed, "rows": rows}, model)
    eps = check_epsilon(cfg["epsilon"], f"dbt model {model!r}: ")
    declared = check_validation_settings(cfg.get("validate"), f"dbt model {model!r}: ")
    if not isinstance(source, duckdb.DuckDBPyRelation):
        raise InputError(f"dbt model {model!r}: source must be dbt.ref(...) or dbt.source(...) of a table")
    src_rel = Relation.parse(source_name) if source_name else _source_relation(source, model)
    found = resolve(session, src_rel)
    kind = found.kind if found else None
    if kind is None:
        raise InputError(f"dbt model {model!r}: source {str(src_rel)!r} does not exist; build it first")
    if kind == "VIEW":
        raise InputError(f"dbt model {model!r}: source {str(src_rel)!r} is a view. Materialize it as a table "
                         "(config: materialized: table) so the twin and its fingerprint refer to fixed data")
    src_rel = found.relation
    src_name = str(src_rel)
    where = f"dbt model {model!r}: "
    seed = check_seed(cfg.get("seed"), where)
    try:
        cap = check_cap_value(cfg.get("budget_cap"))
    except Exception as e:
        raise InputError(f"{where}{e}") from None
    training_cfg = cfg.get("training", {}) or {}
    if not isinstance(training_cfg, Mapping):
        raise InputError(f"{where}training must be a mapping of DP-SGD settings, got {training_cfg!r}")
    try:
        training = TrainingConfig(**training_cfg)
    except TypeError:
        allowed = sorted(TrainingConfig.__dataclass_fields__)
        raise InputError(f"{where}unknown training settings {sorted(set(training_cfg) - set(allowed))}; "
                         f"allowed: {allowed}") from None
    ledger = Ledger(session, cfg.get("ledger_schema", "main"))
    twin = Relation(schema, identifier)
    print_fp = table_fingerprint(session, src_rel)  # order-independent: a rebuilt table in another order is unchanged
    run_settings = settings_hash(**{k: cfg.get(k) for k in _SETTINGS - _NOT_HASHED}, twin=str(twin))
    _clear_pending(session, ledger.schema, model)
    latest = ledger.latest_for_twin(identity(twin))  # only the newest run of this twin may be reused
    if latest is not None and (latest["source_fingerprint"], latest["settings_hash"]) == (print_fp, run_settings) \
            and relation_exists(session, twin):
        return session.sql(f"SELECT * FROM {twin.sql}")  # unchanged: no new spend

    overrides = check_source_schema(session, src_rel, load_spec_overrides(cfg.get("spec")),
                                    f"{src_name} (dbt model {model})")
    ledger.check_cap(src_name, identity(src_rel), print_fp, eps, 0.0, cap)
    data = source.to_arrow_table()
    kwargs = {"min_rows": int(cfg["min_rows"])} if cfg.get("min_rows") is not None else {}
    model_obj = fit(data, eps, cfg.get("delta"), overrides, seed, defer_notices=True,
                    config=training, table_name=f"{src_name} (dbt model {model})", **kwargs)
    model_obj.metadata["validation"] = declared
    twin_rows = pa.Table.from_batches(list(model_obj.sample_batches(cfg.get("rows"))))
    run_id = uuid.uuid4().hex
    # the model file lets `dp-synth validate` re-derive the holdout; if dbt fails this run, the next
    # run deletes the file together with the staged row (_clear_pending)
    path = model_file(database_file(session) or ":memory:", cfg.get("model_dir"), src_rel, run_id)
    if path is not None:
        model_obj.save(path)
    _stage(session, ledger.schema, {
        "run_id": run_id, "created_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
        "source": src_name, "source_schema": src_rel.schema, "source_table": src_rel.name,
        "twin_schema": twin.schema, "twin_table": twin.name, "source_fingerprint": print_fp,
        "columns_learned": model_obj.metadata["learned_columns"], "twin": str(twin),
        "twin_rows": twin_rows.num_rows, "mechanisms": model_obj.privacy.mechanisms,
        "epsilon": model_obj.privacy.epsilon, "delta": model_obj.privacy.delta,
        "epsilon_profile": model_obj.privacy.parts.get("profile"),
        "epsilon_training": model_obj.privacy.parts.get("training"), "budget_cap": cap,
        "privacy": model_obj.privacy.to_json(), "settings_hash": run_settings, "package_version": __version__,
        "model_path": str(path) if path else None, "invoked_by": "dbt", "holdout_key": model_obj.holdout_key, "dbt_invocation_id": invocation_id, "dbt_model": model})
    import warnings

    for text in model_obj.notices:
        warnings.warn(text, UserWarning, stacklevel=2)
    return twin_rows


def _pending_sql(schema: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(PENDING_TABLE)}"


def _clear_pending(con, schema: str, model: str) -> None:
    """A staged row from a run that failed before its post-hook is not a spend: drop it, and the
    model file that run saved (no ledger row will ever point at it)."""
    if relation_exists(con, Relation(schema, PENDING_TABLE)):
        stale = con.execute(f"SELECT model_path FROM {_pending_sql(schema)} WHERE dbt_model = ?", [model]).fetchall()
        con.execute(f"DELETE FROM {_pending_sql(schema)} WHERE dbt_model = ?", [model])
        for (path,) in stale:
            if path:
                Path(path).unlink(missing_ok=True)


def _stage(con, schema: str, row: dict[str, Any]) -> None:
    ledger = Ledger(con, schema)
    ledger.ensure(PENDING_TABLE)
    ledger.append(row, PENDING_TABLE)
