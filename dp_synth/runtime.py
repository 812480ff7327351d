"""The runtime: read a source table, build its twin atomically, record the spend — in any engine.

Every check that needs no data runs first (names resolved through the engine's catalog, ledger
validated, settings, spec against the column types, writability), then the twin is staged apart
and published with its ledger row appended last, the caps re-checked under the ledger lock: a
failed run leaves neither, and charges no budget. The source is only ever read; a relation that
is the source of any twin, or that dp-synth did not write, is never dropped or replaced.
Everything that touches the warehouse goes through :class:`dp_synth.engines.Engine`.
"""

from __future__ import annotations

import time
import uuid
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from . import __version__
from .engines import Engine, identity, open_engine
from .engines.aggregates import EngineSource
from .errors import InputError
from .faults import kill_point
from .fit import check_epsilon, check_seed, check_validation_settings, fit
from .io.ledger import Ledger, check_cap_value, settings_hash
from .io.model_files import RunLock, recover
from .io.relation import Relation
from .model import SynthModel
from .source import TRAIN_SAMPLE_ROWS
from .spec import load_spec_overrides
from .training import TrainingConfig

__all__ = ["SynthesisResult", "synthesize", "model_file", "MAX_TWIN_ROWS",
           "TRAIN_SAMPLE_ROWS"]

MAX_TWIN_ROWS = 10**9        # absolute limit on --rows
ROWS_PER_SOURCE_ROW = 100    # --rows may be at most this many times the source's size unless forced


@dataclass
class SynthesisResult:
    source: Relation
    twin: Relation
    rows: int
    model: SynthModel | None
    ledger_row: dict[str, Any]
    reused: bool = False
    model_path: str | None = None
    seconds: dict[str, float] | None = None   # wall seconds per phase: measure, read, fit, write


@dataclass(frozen=True)
class _Run:
    """A run's settings once checked (everything that needs no data)."""

    source: Relation
    twin: Relation
    epsilon: float
    delta: float | None
    rows: int | None
    seed: int | None
    spec: dict
    cap: float | None
    delta_cap: float | None
    config: TrainingConfig
    ledger: Ledger
    validation: dict


def synthesize(db: Any, table: str, epsilon: float, delta: float | None = None, *,
               target: str | None = None, rows: int | None = None, spec: Mapping | str | None = None,
               seed: int | None = None, budget_cap: float | None = None, delta_cap: float | None = None,
               model_dir: str | Path | None = None, ledger_schema: str | None = None,
               config: TrainingConfig | None = None, min_rows: int | None = None, invoked_by: str = "python",
               extra: Mapping[str, Any] | None = None, validation: Mapping[str, str] | None = None,
               force_rows: bool = False, engine: str | None = None,
               on_step: Callable[[int, int, float], None] | None = None) -> SynthesisResult:
    """Build the DP twin of ``table`` in ``db``: a DuckDB file path or connection, a SparkSession,
    or an :class:`~dp_synth.engines.Engine` (``engine="spark"`` with a folder: a local Spark warehouse).

    ``validation`` = {target, positive, secret}: the twin's inputs for ``dp-synth validate``, kept
    in the model file. Default target: the same name in schema ``<schema>_synthetic``.
    ``budget_cap``/``delta_cap`` refuse a run that would take the source's total ε/δ (ledger, basic
    composition, counted under the ledger lock at publish time) over the cap. An unchanged source
    with unchanged settings reuses the existing twin, if it is still what was written.
    A DuckDB connection with an open transaction is refused: dp-synth commits its own work.
    """
    eng = open_engine(db, engine)
    try:
        folder = Path(model_dir) if model_dir is not None else eng.default_model_dir()
        # first: a dead run's half-published twin must not be mistaken for a table dp-synth did not write
        recover(folder, str(eng.location), lambda schema, run_id: eng.ledger(schema).has_run(run_id), eng.drop_staging)
        run = _check(eng, table, epsilon, delta, target, rows, spec, seed, budget_cap, delta_cap,
                     ledger_schema or eng.default_schema, config, validation, force_rows)
        return _synthesize(eng, run, folder, min_rows, invoked_by, dict(extra or {}), on_step)
    finally:
        if eng is not db:
            eng.close()


def _check(eng: Engine, table, epsilon, delta, target, rows, spec, seed, budget_cap, delta_cap, ledger_schema,
           config, validation, force_rows) -> _Run:
    source = Relation.parse(table, eng.default_schema)
    where = f"table {str(source)!r}: "
    eps = check_epsilon(epsilon, where)
    seed = check_seed(seed, where)
    declared = check_validation_settings(validation, where)
    cap, dcap = check_cap_value(budget_cap), check_cap_value(delta_cap, "delta_cap")
    eng.check_name(source, "table")
    found = eng.resolve(source)
    if found is None:
        raise InputError(f"table {str(source)!r} not found in the database. Check the name "
                         "(schema.table; quote names with dots or spaces)")
    if found.kind == "VIEW":
        raise InputError(f"{str(source)!r} is a view. Twins are built from tables, so that the twin, its "
                         "fingerprint and the budget cap refer to fixed data: CREATE TABLE … AS SELECT from "
                         "the view (and cap that table)")
    source = found.relation
    ledger = eng.ledger(ledger_schema)
    ledger.rows()  # validated first: a tampered ledger stops the run here, whatever else is wrong
    twin = Relation.parse(target, eng.default_schema) if target else source.synthetic_sibling()
    eng.check_name(twin, "target")
    twin = eng.canonical(twin)
    if identity(twin) == identity(source):
        raise InputError(f"target {str(twin)!r} is the source table itself; the source is never modified. "
                         "Choose another target")
    if ledger.is_source(identity(twin)):
        raise InputError(f"target {str(twin)!r} is the source of a twin in the ledger; it is never replaced. "
                         "Choose another target")
    if eng.resolve(twin) is not None and not ledger.is_twin(identity(twin)):
        raise InputError(f"target {str(twin)!r} already exists and was not created by dp-synth; "
                         "refusing to overwrite it. Drop it or choose another target")
    if rows is not None:
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise InputError(f"rows must be a positive whole number, got {rows!r}")
        if rows > MAX_TWIN_ROWS and not force_rows:
            raise InputError(f"rows={rows:,} is more than dp-synth writes without force_rows=True "
                             f"(limit {MAX_TWIN_ROWS:,})")
    overrides = load_spec_overrides(spec)
    config = config or TrainingConfig()
    overrides = eng.check_source_schema(source, overrides, str(source))
    eng.check_run(twin, rows)
    return _Run(source, twin, eps, delta, rows, seed, overrides, cap, dcap, config, ledger, declared)


def _synthesize(eng: Engine, run: _Run, folder: Path | None, min_rows, invoked_by, extra,
                on_step) -> SynthesisResult:
    source, twin, ledger = run.source, run.twin, run.ledger
    print_fp = eng.fingerprint(source)
    settings = settings_hash(epsilon=run.epsilon, delta=run.delta, spec=run.spec, rows=run.rows,
                              seed=run.seed, config=run.config.to_json(), twin=str(twin))
    latest = ledger.latest_for_twin(identity(twin))
    if latest is not None and eng.resolve(twin) is not None:
        if latest.get("twin_fingerprint") and latest["twin_fingerprint"] != eng.fingerprint(twin):
            raise InputError(f"twin {str(twin)!r} was changed after dp-synth wrote it (its content no longer "
                             "matches the ledger's record); refusing to reuse or replace it. Inspect it, drop it, "
                             "and run again to rebuild")
        unchanged = (latest["source_fingerprint"], latest["settings_hash"]) == (print_fp, settings)
        if unchanged and identity(Relation(latest["source_schema"], latest["source_table"])) == identity(source):
            return SynthesisResult(source, twin, int(latest["twin_rows"]), None, latest, reused=True,
                                   model_path=latest["model_path"])
    if run.rows is not None and run.rows > ROWS_PER_SOURCE_ROW * max(eng.count(source), 1):
        raise InputError(f"rows={run.rows:,} is more than {ROWS_PER_SOURCE_ROW}× the source's size; a twin "
                         "that large repeats the model, not the data. Ask for fewer rows (or force_rows=True)")
    ledger.check_cap(str(source), identity(source), print_fp, run.epsilon, 0.0, run.cap, None, identity(twin))

    kill_point("before_measure")
    clock = {"start": time.perf_counter()}

    def step(i: int, steps: int, eps: float) -> None:
        if i >= steps // 2:
            kill_point("during_training")
        if on_step is not None:
            on_step(i, steps, eps)

    kwargs = {"min_rows": min_rows} if min_rows is not None else {}
    with eng.repeated(source) as repeats:  # found once for every keyed scan of the fit
        data = EngineSource(eng, source, repeats=repeats)  # engine queries; DP-SGD reads a bounded keyed sample
        data.seconds["measure"] = time.perf_counter() - clock["start"]
        model = fit(data, run.epsilon, run.delta, run.spec, run.seed, config=run.config, table_name=str(source),
                    on_step=step, defer_notices=True, **kwargs)
    inside = data.seconds  # engine queries (every DP measurement) and the sample read, both within fit
    del data
    clock["fit"] = time.perf_counter()
    model.metadata["validation"] = run.validation
    model.metadata["versions"] = {**model.metadata.get("versions", {}), **eng.versions()}
    run_id = uuid.uuid4().hex
    model_path = model_file(folder, source, run_id)
    row = {
        "run_id": run_id, "source": str(source), "source_schema": source.schema, "source_table": source.name,
        "twin_schema": twin.schema, "twin_table": twin.name, "source_fingerprint": print_fp,
        "columns_learned": model.metadata["learned_columns"], "twin": str(twin),
        "mechanisms": model.privacy.mechanisms, "epsilon": model.privacy.epsilon, "delta": model.privacy.delta,
        "epsilon_profile": model.privacy.parts.get("profile"), "epsilon_training": model.privacy.parts.get("training"),
        "budget_cap": run.cap, "delta_cap": run.delta_cap, "privacy": model.privacy.to_json(),
        "settings_hash": settings, "package_version": __version__,
        "model_path": str(model_path) if model_path else None, "invoked_by": invoked_by,
        "holdout_key": model.holdout_key, "notes": list(model.notices),
        "sample_key": model.sample_key, "sample_rate": model.metadata["train_sample_rate"] if model.sample_key else None,
        **extra}
    lock = RunLock(model_path, str(eng.location), ledger.schema, run_id, str(twin)) \
        if model_path is not None else nullcontext()
    with lock:
        try:
            if model_path is not None:
                model.save(model_path)
                kill_point("after_model_save")
            ledger.ensure()
            n = eng.write_twin(run, model, row)
            kill_point("after_commit")
        except BaseException:
            if model_path is not None:
                Path(model_path).unlink(missing_ok=True)
            raise
    for text in model.notices:  # only now: a run that fails says nothing about the data
        warnings.warn(text, UserWarning, stacklevel=3)
    end = time.perf_counter()
    seconds = {"measure": inside.get("measure", 0.0), "read": inside.get("read", 0.0),
               "fit": clock["fit"] - clock["start"] - sum(inside.values()), "write": end - clock["fit"]}
    return SynthesisResult(source, twin, n, model, ledger.latest_for_twin(identity(twin)),
                           model_path=str(model_path) if model_path else None, seconds=seconds)


def model_file(folder: Path | None, source: Relation, run_id: str) -> Path | None:
    """A run's model file in ``folder`` (None: an in-memory database keeps no model file)."""
    if folder is None:
        return None
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"{source.schema}.{source.name}")
    return Path(folder) / f"{safe}-{run_id[:12]}.safetensors"
