"""Run the suites on a twin in DuckDB: GX checkpoint → Data Docs (HTML) + JSON summary + a row per suite
in ``main.dp_synth_validations`` (what the governance report shows).

The measures are computed on real rows, so the summary and the Data Docs are *not* covered by
the twin's DP guarantee: keep them where the real table's readers are (docs/privacy.md).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..engines import Engine, open_engine
from ..engines.base import VALIDATIONS_TABLE
from .pair import EvaluationPair, load_pair
from .suites import SUITES, load_suite

__all__ = ["ValidationResult", "validate", "validate_all", "VALIDATIONS_TABLE"]



@dataclass
class ValidationResult:
    twin: str
    source: str
    success: bool
    suites: dict[str, dict[str, Any]]
    holdout: str
    rows: dict[str, int]
    parameters: dict[str, Any]
    validated_at: str
    seconds: float
    data_docs: str | None = None
    summary_path: str | None = None
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _context(docs_dir: Path):
    import great_expectations as gx

    # GX sets this one logger to INFO itself; its temp-dir notice is noise on the CLI
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # noqa: BLE001  cosmetic only
        pass
    context.add_data_docs_site(site_name="dp_synth", site_config={
        "class_name": "SiteBuilder", "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)}})
    return context


# No script runs in our Data Docs: GX renders table, column and value text that come from the
# warehouse, and a value like "<script>…" or "</style><script>…" must never execute in a reader's
# browser. The policy is the first element of <head>, so nothing injected later can precede it.
CSP = ("default-src 'none'; script-src 'none'; object-src 'none'; frame-src 'none'; child-src 'none'; "
       "base-uri 'none'; form-action 'none'; style-src 'self' 'unsafe-inline' https:; "
       "img-src 'self' data:; font-src 'self' data: https:")
_CSP_TAG = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'


def harden_data_docs(docs_dir: Path) -> list[Path]:
    """Put the no-script policy at the top of every Data Docs page (idempotent); returns the pages."""
    import re

    pages = sorted(Path(docs_dir).rglob("*.html")) if Path(docs_dir).is_dir() else []
    for page in pages:
        html = page.read_text(encoding="utf-8", errors="replace")
        if _CSP_TAG in html[:4096]:
            continue
        m = re.search(r"<head\b[^>]*>", html, flags=re.IGNORECASE)
        at = m.end() if m else 0
        body = html[:at] + _CSP_TAG + html[at:] if m else f"<head>{_CSP_TAG}</head>" + html
        page.write_text(body, encoding="utf-8")
    return pages


def _file_label(rel) -> str:
    """A file name for a relation: its name where that is a safe file name, else a sanitised name + hash."""
    import hashlib
    import re

    plain = f"{rel.schema}.{rel.name}"
    if re.fullmatch(r"[A-Za-z0-9_.-]{1,120}", plain):
        return plain
    return re.sub(r"[^A-Za-z0-9_.-]", "_", plain)[:60] + "-" + hashlib.sha1(plain.encode()).hexdigest()[:8]


def _outcome(r) -> dict[str, Any]:
    info = r.exception_info or {}
    error = info.get("exception_message") if info.get("raised_exception") else None
    cfg = r.expectation_config
    return {"type": cfg.type, "kwargs": {k: v for k, v in cfg.kwargs.items() if k != "batch_id"},
            "success": bool(r.success), "observed_value": (r.result or {}).get("observed_value"), "error": error}


def _parameters(pair: EvaluationPair, target, positive, secret) -> dict[str, Any]:
    spent, cap = pair.spend()
    return {"target": target, "positive": positive, "secret": secret or target,
            "epsilon_spent": round(spent, 6), "epsilon_cap": cap if cap is not None else -1.0}


def _record(eng: Engine, result: ValidationResult) -> None:
    now = dt.datetime.fromisoformat(result.validated_at).replace(tzinfo=None)
    for name, suite in result.suites.items():
        eng.record_validation(eng.default_schema, {
            "validated_at": now, "twin": result.twin, "source": result.source, "suite": name,
            "success": bool(suite["success"]), "data_docs": result.data_docs,
            "summary": json.dumps({**suite, "parameters": result.parameters, "holdout": result.holdout}, default=str)})


def validate(db, table: str, source: str | None = None, suite: str = "all", out: str | Path | None = None,
             target: str | None = None, positive: str | None = None, secret: str | None = None,
             suites_dir: str | Path | None = None, risk_only_with_holdout: bool = False,
             ledger_schema: str | None = None, engine: str | None = None) -> ValidationResult:
    """Validate twin ``table`` against its source with the utility and/or risk suite.

    ``out`` (default ``dp_synth_validation`` next to the database) receives ``data_docs/`` and
    ``<twin>.json``. ``target``/``positive`` declare the ML-efficacy task, ``secret`` the column
    the inference attack goes after (default: the target); unset, they come from the twin's model
    file (``validate:`` in dbt meta, ``validation=`` of :func:`dp_synth.synthesize`). Raises :class:`InputError` on bad
    input; a failed expectation is a result (``success`` False), not an exception.
    ``risk_only_with_holdout``: a twin without a holdout gets the other suites and a note instead
    of an error (used when validating every twin).
    """
    names = SUITES if suite == "all" else (suite,)
    if suite != "all" and suite not in SUITES:
        raise InputError(f"unknown suite {suite!r}: use utility, risk or all")
    start = time.perf_counter()
    eng = open_engine(db, engine)
    try:
        pair = load_pair(eng, table, source, ledger_schema=ledger_schema)
        target = target or pair.declared.get("target")
        positive = positive or pair.declared.get("positive")
        secret = secret or pair.declared.get("secret")
        notes = []
        if "risk" in names and pair.holdout is None and risk_only_with_holdout:
            names = tuple(n for n in names if n != "risk")
            notes.append(f"risk suite not run: no real rows the twin never saw ({pair.holdout_note})")
        if "risk" in names and pair.holdout is None:
            raise InputError(f"the risk suite needs real rows twin {str(pair.twin)!r} never saw, and there are none: "
                             f"{pair.holdout_note}. Rebuild the twin from a source of ≥ 1,000 rows (default 20 % "
                             "holdout), or run --suite utility")
        for col, what in ((target, "target"), (secret, "secret")):
            if col is not None and col not in pair.columns:
                raise InputError(f"{what} column {col!r} is not a learned column of {str(pair.twin)!r} "
                                 f"(learned: {pair.columns})")
        params = _parameters(pair, target, positive, secret)
        loaded = {n: load_suite(n, params, suites_dir) for n in names}
        out_dir = Path(out) if out else (Path(eng.location).resolve().parent if eng.location else Path.cwd()) / "dp_synth_validation"
        docs_dir = out_dir / "data_docs"
        outcomes = _run_checkpoint(pair, loaded, docs_dir)
        harden_data_docs(docs_dir)
        result = ValidationResult(
            twin=str(pair.twin), source=str(pair.source), success=all(o["success"] for o in outcomes.values()),
            suites=outcomes, holdout=pair.holdout_note,
            rows={"twin": pair.synthetic.height, "train": pair.train.height,
                  "holdout": pair.holdout.height if pair.holdout is not None else 0},
            parameters=params, validated_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            seconds=round(time.perf_counter() - start, 2), data_docs=str(docs_dir / "index.html"), notes=notes)
        result.failures = [f"{n}: {e['type']} {e['kwargs']} observed {e['observed_value']}" + (f" ({e['error']})" if e["error"] else "")
                           for n, o in outcomes.items() for e in o["expectations"] if not e["success"]]
        summary = out_dir / f"{_file_label(pair.twin)}.json"
        result.summary_path = str(summary)
        summary.write_text(json.dumps(result.to_json(), indent=2, default=str))
        _record(eng, result)
        return result
    finally:
        if eng is not db:
            eng.close()


def _run_checkpoint(pair: EvaluationPair, loaded: dict, docs_dir: Path) -> dict[str, dict[str, Any]]:
    import great_expectations as gx

    docs_dir.mkdir(parents=True, exist_ok=True)
    context = _context(docs_dir)
    # GX turns these names into file paths: a table name holding "/" or markup must not reach them raw
    label = _file_label(pair.twin)
    asset = context.data_sources.add_pandas("dp_synth").add_dataframe_asset(label)
    batch_definition = asset.add_batch_definition_whole_dataframe("pair")
    parameters: dict[str, Any] = {}
    definitions = []
    for name, item in loaded.items():
        suite = context.suites.add(item.suite)
        definitions.append(context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{name}:{label}", data=batch_definition, suite=suite)))
        parameters.update(item.parameters)
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name=f"dp_synth:{label}", validation_definitions=definitions,
        actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["dp_synth"])]))
    run = checkpoint.run(batch_parameters={"dataframe": pair.to_batch()}, expectation_parameters=parameters)
    by_suite = {item.suite.name: name for name, item in loaded.items()}
    outcomes = {}
    for vr in run.run_results.values():
        name = by_suite[vr.suite_name]
        item = loaded[name]
        expectations = [_outcome(r) for r in vr.results]
        outcomes[name] = {"success": bool(vr.success), "expectations": expectations, "skipped": item.skipped,
                          "evaluated": len(expectations)}
    return outcomes


def validate_all(db, suite: str = "all", out: str | Path | None = None,
                 suites_dir: str | Path | None = None, ledger_schema: str | None = None,
                 engine: str | None = None) -> dict[str, ValidationResult | str]:
    """Validate every twin in the ledger with its declared inputs (``suite="all"``: a twin without a
    holdout gets the utility suite and a note). A twin that cannot be validated maps to the reason."""
    eng = open_engine(db, engine)
    try:
        from .pair import ledger_twins

        twins = ledger_twins(eng, ledger_schema)
        results: dict[str, ValidationResult | str] = {}
        for twin in twins:
            try:
                results[twin] = validate(eng, twin, suite=suite, out=out, suites_dir=suites_dir,
                                         risk_only_with_holdout=suite == "all", ledger_schema=ledger_schema)
            except InputError as e:
                results[twin] = str(e)
        return results
    finally:
        if eng is not db:
            eng.close()
