"""Everything the governance report says, gathered from the warehouse as plain JSON-ready dicts.

Sources of truth: the privacy ledger (what was spent, on what, when, under which cap), each
twin's model file (columns and roles, generator, training, versions, fingerprint, holdout plan),
the latest `dp-synth validate` run (``dp_synth_validations``), and the tables themselves for the
utility and risk figures (computed with :mod:`dp_synth.evaluate`, the same code the suites use).
A missing piece is reported as missing, never guessed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import polars as pl

from .. import __version__
from .. import evaluate as ev
from ..artifact import read_artifact
from ..errors import ArtifactError, DPSynthError
from ..evaluate.summary import ATTACKS, RISK_LIMIT, attack_risk, ml_efficacy, real_rows, risk_verdict
from ..evaluate.utility import _as_float
from ..engines import Engine
from ..counts import numeric_values
from ..spec import Kind
from ..io.ledger import json_list
from ..io.relation import Relation

__all__ = ["collect", "STATUS"]

STATUS = ("green", "amber", "red")
_TREATMENT = {"learn": "learned by the generator", "key": "not learned: regenerated as fresh unique keys",
              "pii": "not learned: PII, filled with values that do not come from the data",
              "ignore": "not learned: NULL in the twin"}


def _latest_validations(eng: Engine) -> dict[str, dict[str, Any]]:
    """twin → {suite: latest row} from dp_synth_validations (if any)."""
    out: dict[str, dict[str, Any]] = {}
    for r in eng.validation_rows(eng.default_schema):
        out.setdefault(r["twin"], {})[r["suite"]] = {"validated_at": str(r["validated_at"]), "success": bool(r["success"]),
                                                     "summary": json.loads(r["summary"]), "data_docs": r["data_docs"]}
    return out


def _model_card(row: dict) -> tuple[dict[str, Any], list[dict[str, Any]] | None, dict | None, dict | None]:
    """(model card, column table, holdout plan, DP profile) from the twin's model file."""
    path = row.get("model_path")
    if not path:
        return {"missing": "no model file was recorded for this run"}, None, None, None
    try:
        doc, _ = read_artifact(path)
    except ArtifactError as e:
        return {"missing": str(e), "model_path": path}, None, None, None
    meta = doc.get("metadata", {})
    cols = [{"name": c["name"], "kind": c["kind"], "role": c["role"],
             "treatment": _TREATMENT.get(c["role"], c["role"]) + (
                 "" if c.get("role_declared") or c["role"] != "pii" else " (detected: nearly every value unique)"),
             "public_domain": bool(c.get("bounds") or c.get("categories"))} for c in doc["spec"]["columns"]]
    card = {"model_path": path, "generator": meta.get("generator"), "training": meta.get("training"),
            "steps": meta.get("steps"), "sample_rate": meta.get("sample_rate"),
            "noise_multiplier": meta.get("noise_multiplier"), "trained": meta.get("trained"),
            "temperature": meta.get("temperature"), "created_at": meta.get("created_at"),
            "versions": meta.get("versions"), "data_fingerprint": row.get("source_fingerprint"),
            "holdout": meta.get("holdout")}
    return card, cols, meta.get("holdout"), doc.get("profile")


def _dp_distributions(profile: dict | None, twin: pl.DataFrame, top: int = 8) -> dict[str, Any]:
    """Per column, the real distribution *as released under DP* (the profile's noisy masses over
    released categories and DP bins) vs the twin's shares over the same cells. No exact real figure."""
    out: dict[str, Any] = {}
    for c in (profile or {}).get("columns", []):
        name = c["name"]
        if name not in twin.columns:
            continue
        t = twin[name]
        total = max(sum(max(m, 0.0) for m in c.get("mass", c.get("cell_mass", []))) + max(c["null_mass"], 0.0), 1e-12)
        if c["type"] == "CategoricalProfile":
            pairs = sorted(zip(c["categories"], c["mass"]), key=lambda kv: -kv[1])
            labels = [k for k, _ in pairs if k != "__other__"][:top]
            real = [max(dict(pairs)[k], 0.0) / total for k in labels]
            ts = t.cast(pl.Utf8).str.to_lowercase() if t.dtype == pl.Boolean else t.cast(pl.Utf8)
            twin_share = [float((ts == k).mean()) for k in labels]
            out[name] = {"type": "categorical", "labels": labels + ["(other)"], "real": real + [max(0.0, 1 - sum(real) - max(c["null_mass"], 0) / total)],
                         "twin": twin_share + [max(0.0, 1 - sum(twin_share) - float(t.is_null().mean()))], "dp": True}
        else:
            starts, lows, highs, mass = c["bin_starts"], c["lows"], c["highs"], c["cell_mass"]
            edges = [lows[a] for a in starts[:-1]] + [highs[starts[-1] - 1]]
            edges = list(np.maximum.accumulate(np.asarray(edges, dtype=float)))
            real = [max(sum(mass[a:b]), 0.0) / total for a, b in zip(starts[:-1], starts[1:])]
            tv = numeric_values(t.drop_nulls(), Kind(c["kind"])).to_numpy()  # the profile's own units
            hist = (np.histogram(np.clip(tv, edges[0], edges[-1]), np.unique(edges) if len(np.unique(edges)) > 1 else [edges[0], edges[0] + 1])[0]
                    / max(len(t), 1)).tolist()
            if len(hist) != len(real):
                continue
            out[name] = {"type": "numeric", "edges": edges, "real": real, "twin": hist,
                         "null_real": max(c["null_mass"], 0.0) / total, "null_twin": float(t.is_null().mean()), "dp": True}
    return out


def _distributions(real: pl.DataFrame, twin: pl.DataFrame, top: int = 8, bins: int = 20) -> dict[str, Any]:
    """Per column, real vs twin shares: top categories (+ other, NULL) or a histogram over the real range."""
    out = {}
    for c in real.columns:
        r, t = real[c], twin[c]
        if r.dtype in (pl.Utf8, pl.Boolean, pl.Categorical):
            rs, ts = r.cast(pl.Utf8).fill_null("NULL"), t.cast(pl.Utf8).fill_null("NULL")
            labels = rs.value_counts(sort=True)[c].head(top).to_list()
            share = lambda s: [float((s == v).mean()) for v in labels] + [float((~s.is_in(labels)).mean())]  # noqa: E731
            out[c] = {"type": "categorical", "labels": labels + ["(other)"], "real": share(rs), "twin": share(ts)}
        else:
            rv = _as_float(r).drop_nulls().to_numpy()
            tv = _as_float(t).drop_nulls().to_numpy()
            if len(rv) == 0:
                continue
            edges = np.linspace(rv.min(), rv.max() if rv.max() > rv.min() else rv.min() + 1, bins + 1)
            h = lambda v: (np.histogram(np.clip(v, edges[0], edges[-1]), edges)[0] / max(len(v), 1)).tolist()  # noqa: E731
            out[c] = {"type": "numeric", "edges": edges.tolist(), "real": h(rv), "twin": h(tv),
                      "null_real": float(r.is_null().mean()), "null_twin": float(t.is_null().mean())}
    return out


def _figures_and_measures(pair, validation: dict | None, profile: dict | None = None,
                          real_statistics: bool = False) -> tuple[dict, dict]:
    real = real_rows(pair.train, pair.holdout)
    cols, a_real = ev.association_matrix(real)
    _, a_twin = ev.association_matrix(pair.synthetic, real)
    params = ((validation or {}).get("utility") or (validation or {}).get("risk") or {}).get("summary", {})
    declared = {**pair.declared, **{k: v for k, v in (params.get("parameters") or {}).items() if v is not None}}
    target = declared.get("target")
    utility = {"marginal_tvd": {k: ev.mean_marginal_tvd(real, pair.synthetic, k=k, max_marginals=300) for k in (1, 2, 3)},
               "columns": ev.column_fidelity(real, pair.synthetic),
               "associations": ev.matrices_difference(cols, a_real, a_twin),
               "ml_efficacy": (ml_efficacy(pair.synthetic, pair.train, pair.holdout, target, declared.get("positive"))
                               if target else None)}
    figures = {"distributions": _distributions(real, pair.synthetic) if real_statistics
               else _dp_distributions(profile, pair.synthetic),
               "associations": {"columns": cols, "twin": a_twin.round(4).tolist(),
                                # the real table's matrix is not DP-released: shown only on request
                                **({"real": a_real.round(4).tolist()} if real_statistics else {})}}
    if pair.holdout is None:
        return {"utility": utility, "risk": {"unavailable": pair.holdout_note}}, figures
    d_tr, d_ho = ev.dcr_distances(pair.synthetic, pair.train, pair.holdout)
    edges = np.linspace(0, float(np.quantile(np.concatenate([d_tr, d_ho]), 0.99)) or 1.0, 31)
    figures["dcr"] = {"edges": edges.tolist(), "to_training": np.histogram(np.clip(d_tr, 0, edges[-1]), edges)[0].tolist(),
                      "to_holdout": np.histogram(np.clip(d_ho, 0, edges[-1]), edges)[0].tolist()}
    secret = declared.get("secret") or target
    risk = {"exact_copy_rate": ev.exact_copy_rate(pair.synthetic, pair.train),
            "holdout_copy_rate": ev.exact_copy_rate(pair.holdout, pair.train),
            "dcr_share": ev.share_closer_to_training(d_tr, d_ho),
            "attacks": [{**r, "verdict": risk_verdict(r, RISK_LIMIT)}
                        for r in (attack_risk(pair.synthetic, pair.train, pair.holdout, a, secret) for a in ATTACKS)]}
    return {"utility": utility, "risk": risk}, figures


def _status(twin: dict) -> tuple[str, list[str]]:
    red, amber = [], []
    if not twin["exists"]:
        red.append("the twin table no longer exists")
    budget = twin["budget"]
    if budget["cap"] is not None and budget["spent"] > budget["cap"] + 1e-12:
        red.append(f"ε spent {budget['spent']:.3g} exceeds the cap {budget['cap']:.3g}")
    if budget["cap"] is None:
        amber.append("no budget cap declared for the source")
    v = twin["validation"]
    if v is None:
        amber.append("not validated: run dp-synth validate")
    else:
        red += [f"{s} suite failed" for s, r in v["suites"].items() if not r["success"]]
        if v["stale"]:
            amber.append("validated before the latest training run")
        missing = [s for s in ("utility", "risk") if s not in v["suites"]]
        amber += [f"{s} suite never run" for s in missing]
    if "missing" in twin["model_card"]:
        amber.append("model file missing: " + twin["model_card"]["missing"])
    return ("red" if red else "amber" if amber else "green"), red + amber


def _twin_section(eng: Engine, twin_name: str, runs: list[dict], source_runs: list[dict], validations: dict,
                  real_statistics: bool = False, ledger_schema: str = "main") -> dict:
    from ..validate.pair import load_pair

    latest = runs[-1]
    rel = Relation.parse(twin_name)
    source = Relation.parse(latest["source"])
    caps = [r["budget_cap"] for r in source_runs if r.get("budget_cap") is not None]
    spent = sum(float(r["epsilon"] or 0) for r in source_runs)
    cap = float(caps[-1]) if caps else None
    twin_exists, source_exists = eng.resolve(rel) is not None, eng.resolve(source) is not None
    card, columns, holdout, profile = _model_card(latest)
    privacy = json.loads(latest["privacy"]) if latest.get("privacy") else {}
    v = validations.get(twin_name)
    validation = None
    if v:
        at = max(r["validated_at"] for r in v.values())
        validation = {"validated_at": at, "suites": {s: {"success": r["success"], "validated_at": r["validated_at"],
                                                         "failures": [f"{e['type']} {e['kwargs']}: {e['observed_value']}"
                                                                      for e in r["summary"].get("expectations", [])
                                                                      if not e["success"]]}
                                                     for s, r in v.items()},
                      "data_docs": next(iter(v.values()))["data_docs"],
                      "stale": at < str(latest["created_at"])}
    section = {
        "twin": twin_name, "source": str(source), "exists": twin_exists,
        "source_exists": source_exists, "created_at": str(latest["created_at"]),
        "rows": eng.count(rel) if twin_exists else None,
        "source_rows": (eng.count(source) if real_statistics else _dp_rows(profile, holdout)) if source_exists else None,
        "source_rows_dp": not real_statistics,
        "columns": columns or [{"name": c, "kind": None, "role": "learn", "treatment": _TREATMENT["learn"],
                                "public_domain": False} for c in json.loads(latest.get("columns_learned") or "[]")],
        "privacy": {"epsilon": latest["epsilon"], "delta": latest["delta"], "parts": privacy.get("parts"),
                    "mechanisms": privacy.get("mechanisms"), "accountant": privacy.get("accountant"),
                    "measurements": privacy.get("measurements")},
        "budget": {"spent": spent, "delta_spent": sum(float(r["delta"] or 0) for r in source_runs), "cap": cap,
                   "remaining": None if cap is None else cap - spent},
        "ledger": [{k: (str(r[k]) if k == "created_at" else r[k]) for k in
                    ("run_id", "created_at", "twin", "epsilon", "delta", "budget_cap", "invoked_by", "dbt_model",
                     "twin_rows", "package_version")} for r in source_runs],
        "model_card": card, "validation": validation, "measures": None, "figures": None,
        "notes": [str(n) for n in json_list(latest.get("notes"))],  # what the run said when it built the twin
    }
    if section["exists"] and section["source_exists"]:
        try:
            pair = load_pair(eng, twin_name, str(source), ledger_schema=ledger_schema)
            section["measures"], section["figures"] = _figures_and_measures(pair, v, profile, real_statistics)
            section["measures"]["holdout"] = pair.holdout_note
        except DPSynthError as e:
            section["measures"] = {"unavailable": str(e)}
    section["status"], section["reasons"] = _status(section)
    return section


def _orphans(eng: Engine, known: set[str]) -> list[str]:
    """Base tables in a *_synthetic schema with no ledger row (views a user built on twins are fine)."""
    rels = sorted((r.relation.schema, r.relation.name) for r in eng.list_relations() if r.kind == "BASE TABLE")
    return [str(Relation(s, t)) for s, t in rels if s.endswith("_synthetic") and str(Relation(s, t)) not in known
            and not t.startswith("__dp_synth")]


def _dp_rows(profile: dict | None, holdout: dict | None) -> int | None:
    """The source's size as the model knows it: DP count of training rows over the public holdout share."""
    if not profile:
        return None
    share = float((holdout or {}).get("share") or 0.0)
    return int(round(float(profile["n_noisy"]) / (1.0 - share)))


def collect(eng: Engine, database: str = "", real_statistics: bool = False,
            ledger_schema: str | None = None) -> dict[str, Any]:
    """The whole report as a JSON-ready dict (the ``--json`` output).

    By default real data appears only as released under DP (distributions from the model's DP
    profile, the DP row count); ``real_statistics=True`` adds exact real shares and row counts."""
    ledger = eng.ledger(ledger_schema)
    ledger_schema = ledger.schema
    rows = ledger.rows()
    validations = _latest_validations(eng)
    by_twin: dict[str, list[dict]] = {}
    for r in rows:
        by_twin.setdefault(r["twin"], []).append(r)
    twins = [_twin_section(eng, t, runs, [r for r in rows if r["source"] == runs[-1]["source"]], validations,
                           real_statistics, ledger_schema) for t, runs in sorted(by_twin.items())]
    sources: dict[str, dict] = {}
    for t in twins:
        sources[t["source"]] = {"source": t["source"], **t["budget"], "runs": len(t["ledger"])}
    unledgered = _orphans(eng, set(by_twin))
    orphans = unledgered + [t for t in validations if t not in by_twin and t not in unledgered]
    notes = []
    if not ledger.exists():
        notes.append(f"This database has no privacy ledger ({ledger_schema}.dp_synth_ledger): dp-synth has not built any "
                     "twin here (pass --ledger-schema if it lives elsewhere).")
    elif not rows:
        notes.append("The privacy ledger is empty: no twin has been built, or every run failed and was rolled back.")
    notes += [f"{o}: a synthetic-schema table with no ledger row — its privacy spend is unknown; it was not built "
              "by dp-synth, or its ledger row was removed. Treat it as real data until explained." for o in orphans]
    return {
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "database": database,
        "dp_synth_version": __version__, "real_statistics": real_statistics,
        "overview": {"twins": [{k: t[k] for k in ("twin", "source", "status", "reasons", "created_at")} |
                               {"epsilon": t["privacy"]["epsilon"]} for t in twins],
                     "sources": list(sources.values()), "orphans": orphans, "notes": notes},
        "twins": twins,
    }
