"""The evaluation pair: a twin, the real rows it was trained on, and the real rows it never saw.

Everything a suite checks is computed from one pandas batch holding all three parts, tagged in
the column :data:`PART` (GX validates one batch, and it cannot read DuckDB over SQL).
The holdout is re-derived from the plan recorded in the twin's model file, and only while the
source still has the fingerprint it had at training time; otherwise no control exists and the
risk suite says so instead of comparing against rows the model did see.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from ..artifact import read_artifact
from ..engines import Engine
from ..engines.base import Keyed
from ..errors import ArtifactError, InputError
from ..holdout import RULE, polars_frame, split
from ..io.relation import Relation

__all__ = ["PART", "EvaluationPair", "canonical_order", "load_pair", "parts_of", "ledger_twins"]

PART = "__dp_synth_part"  # "twin" | "train" | "holdout"


@dataclass(frozen=True)
class EvaluationPair:
    twin: Relation
    source: Relation
    columns: list[str]                 # compared columns: learned ones (keys and PII excluded)
    synthetic: pl.DataFrame
    train: pl.DataFrame
    holdout: pl.DataFrame | None
    holdout_note: str                  # where the holdout came from, or why there is none
    ledger_rows: list[dict[str, Any]] = field(default_factory=list)  # every spend on the source
    declared: dict[str, str] = field(default_factory=dict)  # target/positive/secret kept in the model file

    @property
    def twin_ledger_row(self) -> dict[str, Any] | None:
        rows = [r for r in self.ledger_rows if r["twin"] == str(self.twin)]
        return rows[-1] if rows else None

    def spend(self) -> tuple[float, float | None]:
        """(ε spent on the source so far, its latest declared cap or None)."""
        spent = sum(float(r["epsilon"] or 0) for r in self.ledger_rows)
        caps = [r["budget_cap"] for r in self.ledger_rows if r.get("budget_cap") is not None]
        return spent, (float(caps[-1]) if caps else None)

    def to_batch(self):
        """One pandas frame (Arrow-backed dtypes, so types survive the round trip) of all parts."""
        import pandas as pd

        frames = [self.synthetic.with_columns(pl.lit("twin").alias(PART)),
                  self.train.with_columns(pl.lit("train").alias(PART))]
        if self.holdout is not None:
            frames.append(self.holdout.with_columns(pl.lit("holdout").alias(PART)))
        return pl.concat(frames, how="vertical_relaxed").to_arrow().to_pandas(types_mapper=pd.ArrowDtype)


def parts_of(batch) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None]:
    """(twin, train, holdout or None) back out of a batch made by :meth:`EvaluationPair.to_batch`."""
    df = pl.from_pandas(batch)
    part = df[PART]
    pick = lambda name: df.filter(part == name).drop(PART)  # noqa: E731
    holdout = pick("holdout")
    return pick("twin"), pick("train"), holdout if holdout.height else None


def _check_schemas(eng: Engine, twin: Relation, source: Relation) -> None:
    t, s = eng.column_types(twin), eng.column_types(source)
    missing, extra = [c for c in s if c not in t], [c for c in t if c not in s]
    if missing or extra:
        raise InputError(f"twin {str(twin)!r} does not match source {str(source)!r}: columns missing from the "
                         f"twin {missing}, columns only in the twin {extra}. Rebuild the twin, or name the right "
                         "--source")
    retyped = [f"{c} ({s[c]} vs {t[c]})" for c in s if s[c] != t[c]]
    if retyped:
        raise InputError(f"twin {str(twin)!r} and source {str(source)!r} disagree on column types: {retyped}")


def _model_document(ledger_row: dict | None) -> tuple[dict | None, str]:
    if ledger_row is None or not ledger_row.get("model_path"):
        return None, "no model file recorded for this twin, so no holdout can be re-derived"
    path = Path(ledger_row["model_path"])
    try:
        return read_artifact(path)[0], ""
    except (ArtifactError, OSError) as e:
        return None, f"model file {str(path)!r} unreadable ({e}); no holdout"


def _holdout(table: pa.Table, ledger_row: dict | None, document: dict | None, why_not: str,
             source_fingerprint: str) -> tuple[pa.Table, pa.Table | None, str]:
    if document is None:
        return table, None, why_not
    plan = document.get("metadata", {}).get("holdout") or {}
    if not plan.get("share"):
        return table, None, "the model was trained on every source row (holdout share 0)"
    if source_fingerprint != ledger_row.get("source_fingerprint"):
        return table, None, "the source changed since the twin was trained; its holdout cannot be re-derived"
    if not ledger_row.get("holdout_key"):
        return table, None, "the ledger row holds no holdout key (a twin from an older version); no holdout"
    trained_with = (document.get("metadata", {}).get("versions") or {}).get("polars")
    if trained_with and trained_with != pl.__version__:  # the keyed row hash is stable within a polars version
        return table, None, (f"the twin was trained with polars {trained_with} and this is polars {pl.__version__}: "
                             "the holdout's row hash may differ, so it is not re-derived")
    if plan.get("rule") not in (None, RULE):
        return table, None, _other_rule(plan)
    train, hold = split(table, plan["share"], ledger_row["holdout_key"])
    return train, hold, f"re-derived with the run's key from the ledger (share {plan['share']})"


def _other_rule(plan: dict) -> str:
    return (f"the twin's holdout was drawn by another rule than this version's ({plan.get('rule')!r}), so it is "
            "not re-derived; rebuild the twin to measure its risk")


def _engine_holdout(eng: Engine, rel: Relation, sample: tuple, row: dict, document: dict, plan: dict,
                    source_fingerprint: str, columns: list[str]) -> tuple[pa.Table, pa.Table | None, str]:
    """The rows DP-SGD read and every held-out row, by the engine's keyed filters (what the run used); only
    ``columns`` (what the twin learned) are read."""
    if source_fingerprint != row.get("source_fingerprint"):
        return (eng.read(rel, sample, columns=columns), None,
                "the source changed since the twin was trained; its holdout cannot be re-derived")
    trained = {k: v for k, v in ((document.get("metadata") or {}).get("versions") or {}).items() if k in ("duckdb", "spark")}
    now = eng.versions()
    if any(now.get(k) not in (None, v) for k, v in trained.items()):
        return eng.read(rel, sample, columns=columns), None, (
            f"the twin was trained with {trained} and this is {now}: the engine's row hash may differ, so the "
            "holdout is not re-derived")
    if plan.get("rule") not in (None, eng.keyed_rule):
        return eng.read(rel, sample, columns=columns), None, _other_rule(plan)
    share, key = float(plan["share"]), row["holdout_key"]
    with eng.repeated(rel) as repeats:
        train = eng.read(rel, (*sample, Keyed(key, share, inside=False)), repeats, columns)
        hold = eng.read(rel, (Keyed(key, share),), repeats, columns)
    return train, hold, f"re-derived in the engine with the run's key from the ledger (share {share:g})"


def ledger_twins(eng: Engine, ledger_schema: str | None = None) -> list[str]:
    """Every twin the ledger knows, in the order first built."""
    return list(dict.fromkeys(r["twin"] for r in eng.ledger(ledger_schema).rows()))


def canonical_order(df: pl.DataFrame) -> pl.DataFrame:
    """The rows sorted by every column: an engine returns them in scan order, which changes between runs
    (parallel scans, rebuilt tables), and the risk measures draw their targets by position — the same twin's
    lowest attack risk was 0.184 in one run of the suite and above 0.2 in others."""
    return df.sort(df.columns, nulls_last=True) if df.width and df.height else df


def load_pair(eng: Engine, twin: str, source: str | None = None,
              ledger_schema: str | None = None) -> EvaluationPair:
    """Read a twin and its source through the engine; every bad input is an :class:`InputError`."""
    twin_rel = eng.canonical(Relation.parse(twin, eng.default_schema))
    if eng.resolve(twin_rel) is None:
        raise InputError(f"twin table {str(twin_rel)!r} not found in the database. Check the name "
                         "(schema.table, e.g. main_synthetic.customers)")
    spends = eng.ledger(ledger_schema).rows()  # read once: the twin's runs and its source's
    twin_rows = [r for r in spends if r["twin"] == str(twin_rel)]
    if source is None:
        if not twin_rows:
            raise InputError(f"table {str(twin_rel)!r} has no row in the privacy ledger, so its source is unknown. "
                             "Pass --source SCHEMA.TABLE")
        source = twin_rows[-1]["source"]
    source_rel = eng.canonical(Relation.parse(source, eng.default_schema))
    if source_rel == twin_rel:
        raise InputError(f"--source {str(source_rel)!r} is the twin itself; name the real table")
    if eng.resolve(source_rel) is None:
        raise InputError(f"source table {str(source_rel)!r} not found in the database")
    _check_schemas(eng, twin_rel, source_rel)
    latest = twin_rows[-1] if twin_rows and twin_rows[-1]["source"] == str(source_rel) else None
    learned = json.loads(latest["columns_learned"]) if latest and latest.get("columns_learned") else None
    # only what the twin learned is compared: other columns (ignored, keys, PII) are never read from the twin
    twin_columns = [c for c in eng.arrow_schema(twin_rel).names if learned is None or c in learned]
    synthetic = polars_frame(eng.read(twin_rel, columns=twin_columns))
    columns = list(synthetic.columns)
    sample = (Keyed(latest["sample_key"], float(latest["sample_rate"])),) \
        if latest is not None and latest.get("sample_key") else ()
    if synthetic.height == 0:
        raise InputError(f"twin {str(twin_rel)!r} is empty: there is nothing to validate. Rebuild it")
    document, why_not = _model_document(latest)
    plan = (document or {}).get("metadata", {}).get("holdout") or {}
    if plan.get("by") == "engine" and plan.get("share") and latest and latest.get("holdout_key"):
        train, hold, note = _engine_holdout(eng, source_rel, sample, latest, document, plan,
                                            eng.fingerprint(source_rel), columns)
    else:
        real = eng.read(source_rel, sample)  # a twin that learned from a keyed sample: the same rows
        train, hold, note = _holdout(real, latest, document, why_not, eng.fingerprint(source_rel))
    if train.num_rows == 0 and (hold is None or hold.num_rows == 0):
        raise InputError(f"source {str(source_rel)!r} is empty: there is nothing to compare the twin with")
    if hold is not None and hold.num_rows == 0:  # risk measures against no rows would be undefined, not passed
        hold, note = None, f"{note}, but it holds no row"
    declared = dict((document or {}).get("metadata", {}).get("validation") or {})
    pick = lambda t: canonical_order(polars_frame(t.select(columns)))  # noqa: E731
    return EvaluationPair(twin_rel, source_rel, columns, canonical_order(synthetic.select(columns)), pick(train),
                          pick(hold) if hold is not None else None, note,
                          [r for r in spends if r["source"] == str(source_rel)], declared)
