"""DuckDB runtime: read a source table, build its twin atomically, record the spend.

Every check that needs no data runs first (names resolved through the catalog, ledger validated,
settings, spec against the column types, writability), then the twin and its ledger row are
written in one transaction that also re-checks the budget cap: a failed run leaves neither, and
charges no budget. The source is only ever read; a relation that is the source of any twin, or
that dp-synth did not write, is never dropped or replaced.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
import uuid
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import duckdb
import pyarrow as pa

from .. import __version__
from ..errors import InputError
from ..faults import kill_point
from ..fit import check_epsilon, check_seed, check_validation_settings, default_delta, fit
from ..model import SynthModel
from ..spec import load_spec_overrides
from ..training import TrainingConfig
from .catalog import canonical, check_not_ambiguous, identity, in_transaction, resolve
from .engine_checks import check_source_schema
from .ledger import Ledger, check_cap_value, settings_hash
from .model_files import RunLock, recover
from .relation import Relation
from .publish import drop_staging, write_twin
from .scan import TRAIN_SAMPLE_ROWS, read_training_rows, sample_filter, table_fingerprint

__all__ = ["SynthesisResult", "synthesize", "connect", "read_table", "relation_exists", "relation_kind",
           "model_file", "database_file", "table_fingerprint", "open_database", "MAX_TWIN_ROWS", "sample_filter",
           "read_training_rows", "TRAIN_SAMPLE_ROWS"]

MAX_TWIN_ROWS = 10**9        # absolute limit on --rows
MEMORY_LIMIT = "1GB"         # DuckDB buffer pool of connections dp-synth opens itself
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
    seconds: dict[str, float] | None = None   # wall seconds per phase: read, fit, write


def open_database(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file, turning the engine's I/O errors into messages that say what to do."""
    p = Path(path)
    if str(path) in (":memory:", ""):
        return duckdb.connect(":memory:")
    if p.is_dir():
        raise InputError(f"database {str(p)!r} is a directory; give the path of a .duckdb file")
    if read_only and not p.is_file():
        raise InputError(f"database file {str(p)!r} not found")
    try:
        con = duckdb.connect(str(p), read_only=read_only)
    except duckdb.IOException as e:
        text = str(e)
        if "lock" in text.lower():
            raise InputError(f"database {str(p)!r} is in use by another process (DuckDB allows one writer): "
                             "wait for it to finish, or close it, and run again") from None
        if "read-only" in text.lower() or "permission" in text.lower():
            raise InputError(f"database {str(p)!r} cannot be opened for writing ({text.splitlines()[0]}); "
                             "check the file's and its directory's permissions") from None
        raise InputError(f"{str(p)!r} cannot be opened as a DuckDB database ({text.splitlines()[0]})") from None
    except duckdb.Error as e:
        raise InputError(f"{str(p)!r} is not a DuckDB database this version can open "
                         f"({str(e).splitlines()[0]})") from None
    con.execute("SET arrow_large_buffer_size = true")  # strings > 2 GB per batch in total
    # our own connection: DuckDB's buffer pool may otherwise grow to most of RAM while a 10⁷-row twin
    # is written; it spills instead (measured in benchmarks/scale.py)
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    return con


def connect(db: Any) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """A connection and whether we own it (and must close it)."""
    if isinstance(db, duckdb.DuckDBPyConnection):
        return db, False
    if isinstance(db, (str, Path)):
        return open_database(db), True
    raise InputError(f"db must be a DuckDB file path or a duckdb connection, got a {type(db).__name__}. "
                     "(Spark sessions are not supported by this version: there is no Spark engine yet)")


def database_file(con) -> str | None:
    """Path of the connection's current database file (None in memory)."""
    rows = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    return rows[0][0] if rows and rows[0][0] else None


def relation_kind(con, rel: Relation) -> str | None:
    found = resolve(con, rel)
    return found.kind if found else None


def relation_exists(con, rel: Relation) -> bool:
    return resolve(con, rel) is not None


def read_table(con, rel: Relation, batch_rows: int = 1_000_000) -> pa.Table:
    """Scan the source as Arrow record batches (never through pandas)."""
    reader = con.sql(f"SELECT * FROM {rel.sql}").to_arrow_reader(batch_rows)
    return reader.read_all()


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
               model_dir: str | Path | None = None, ledger_schema: str = "main",
               config: TrainingConfig | None = None, min_rows: int | None = None, invoked_by: str = "python",
               extra: Mapping[str, Any] | None = None, validation: Mapping[str, str] | None = None,
               force_rows: bool = False,
               on_step: Callable[[int, int, float], None] | None = None) -> SynthesisResult:
    """Build the DP twin of ``table`` in the DuckDB database ``db`` (a path or a connection).

    ``validation`` = {target, positive, secret}: the twin's inputs for ``dp-synth validate``, kept
    in the model file. Default target: the same name in schema ``<schema>_synthetic``.
    ``budget_cap``/``delta_cap`` refuse a run that would take the source's total ε/δ (ledger, basic
    composition, counted inside the committing transaction) over the cap. An unchanged source
    with unchanged settings reuses the existing twin, if it is still what was written.
    A connection with an open transaction is refused: dp-synth commits its own work.
    """
    con, owned = connect(db)
    large = con.execute("SELECT current_setting('arrow_large_buffer_size')").fetchall()[0][0]
    try:
        con.execute("SET arrow_large_buffer_size = true")  # more than 2 GB of strings per column
        if in_transaction(con):
            raise InputError("the connection has an open transaction; dp-synth writes the twin and its ledger row "
                             "in a transaction of its own. COMMIT or ROLLBACK first (nothing was done)")
        run = _check(con, table, epsilon, delta, target, rows, spec, seed, budget_cap, delta_cap, ledger_schema,
                     config, validation, force_rows)
        return _synthesize(con, db, run, model_dir, min_rows, invoked_by, dict(extra or {}), on_step)
    finally:
        if owned:
            con.close()
        else:  # the caller's connection gets its setting back
            con.execute(f"SET arrow_large_buffer_size = {'true' if large else 'false'}")


def _check(con, table, epsilon, delta, target, rows, spec, seed, budget_cap, delta_cap, ledger_schema, config,
           validation, force_rows) -> _Run:
    source = Relation.parse(table)
    where = f"table {str(source)!r}: "
    eps = check_epsilon(epsilon, where)
    seed = check_seed(seed, where)
    declared = check_validation_settings(validation, where)
    cap, dcap = check_cap_value(budget_cap), check_cap_value(delta_cap, "delta_cap")
    check_not_ambiguous(con, source, "table")
    found = resolve(con, source)
    if found is None:
        raise InputError(f"table {str(source)!r} not found in the database. Check the name "
                         "(schema.table; quote names with dots or spaces)")
    if found.kind == "VIEW":
        raise InputError(f"{str(source)!r} is a view. Twins are built from tables, so that the twin, its "
                         "fingerprint and the budget cap refer to fixed data: CREATE TABLE … AS SELECT from "
                         "the view (and cap that table)")
    source = found.relation
    ledger = Ledger(con, ledger_schema)
    ledger.rows()  # validated first: a tampered ledger stops the run here, whatever else is wrong
    twin = Relation.parse(target) if target else source.synthetic_sibling()
    check_not_ambiguous(con, twin, "target")
    twin = canonical(con, twin)
    if identity(twin) == identity(source):
        raise InputError(f"target {str(twin)!r} is the source table itself; the source is never modified. "
                         "Choose another target")
    if ledger.is_source(identity(twin)):
        raise InputError(f"target {str(twin)!r} is the source of a twin in the ledger; it is never replaced. "
                         "Choose another target")
    if resolve(con, twin) is not None and not ledger.is_twin(identity(twin)):
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
    overrides = check_source_schema(con, source, overrides, str(source))
    _check_writable(con, twin, rows)
    return _Run(source, twin, eps, delta, rows, seed, overrides, cap, dcap, config, ledger, declared)


def _check_writable(con, twin: Relation, rows: int | None) -> None:
    ro = con.execute("SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    if ro and ro[0][0]:
        raise InputError("the database is open read-only; the twin and its ledger row cannot be written. "
                         "Open it for writing")
    path = database_file(con)
    if path:
        folder = Path(path).resolve().parent
        if not os.access(path, os.W_OK) or not os.access(folder, os.W_OK):
            raise InputError(f"database {path!r} or its directory is not writable; the twin, its ledger row "
                             "and its model file could not be written. Fix the permissions")
        if rows is not None:
            free = shutil.disk_usage(folder).free
            if rows * 64 > free:  # a generous lower estimate of DuckDB's bytes per row, 8 columns
                raise InputError(f"rows={rows:,} would not fit in the {free / 2**30:.1f} GiB free next to {path!r}")


def _synthesize(con, db, run: _Run, model_dir, min_rows, invoked_by, extra, on_step) -> SynthesisResult:
    source, twin, ledger = run.source, run.twin, run.ledger
    dbfile = database_file(con)
    folder = _model_dir(db, con, model_dir)
    recover(folder, str(dbfile), lambda schema, run_id: _committed(con, schema, run_id),
            lambda run_id: drop_staging(con, run_id))
    print_fp = table_fingerprint(con, source)
    settings = settings_hash(epsilon=run.epsilon, delta=run.delta, spec=run.spec, rows=run.rows,
                              seed=run.seed, config=run.config.to_json(), twin=str(twin))
    latest = ledger.latest_for_twin(identity(twin))
    if latest is not None and resolve(con, twin) is not None:
        if latest.get("twin_fingerprint") and latest["twin_fingerprint"] != table_fingerprint(con, twin):
            raise InputError(f"twin {str(twin)!r} was changed after dp-synth wrote it (its content no longer "
                             "matches the ledger's record); refusing to reuse or replace it. Inspect it, drop it, "
                             "and run again to rebuild")
        unchanged = (latest["source_fingerprint"], latest["settings_hash"]) == (print_fp, settings)
        if unchanged and identity(Relation(latest["source_schema"], latest["source_table"])) == identity(source):
            return SynthesisResult(source, twin, int(latest["twin_rows"]), None, latest, reused=True,
                                   model_path=latest["model_path"])
    if run.rows is not None:
        n_source = con.execute(f"SELECT count(*) FROM {source.sql}").fetchall()[0][0]
        if run.rows > ROWS_PER_SOURCE_ROW * max(n_source, 1):
            raise InputError(f"rows={run.rows:,} is more than {ROWS_PER_SOURCE_ROW}× the source's size; a twin "
                             "that large repeats the model, not the data. Ask for fewer rows (or force_rows=True)")
    ledger.check_cap(str(source), identity(source), print_fp, run.epsilon, 0.0, run.cap, None, identity(twin))

    kill_point("before_measure")
    clock = {"start": time.perf_counter()}
    data, prior, sample = read_training_rows(con, source, run.epsilon, run.seed)
    clock["read"] = time.perf_counter()

    def step(i: int, steps: int, eps: float) -> None:
        if i >= steps // 2:
            kill_point("during_training")
        if on_step is not None:
            on_step(i, steps, eps)

    kwargs = {"min_rows": min_rows} if min_rows is not None else {}
    delta = run.delta if run.delta is not None else default_delta(int(max(sample["n_noisy"], 10)))
    model = fit(data, run.epsilon, delta, run.spec, run.seed, config=run.config, table_name=str(source),
                on_step=step, defer_notices=True, prior_measurements=prior, **kwargs)
    del data
    clock["fit"] = time.perf_counter()
    model.metadata["validation"] = run.validation
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
        "sample_key": sample["key"], "sample_rate": sample["rate"], **extra}
    lock = RunLock(model_path, str(dbfile), ledger.schema, run_id) if model_path is not None else nullcontext()
    with lock:
        try:
            if model_path is not None:
                model.save(model_path)
                kill_point("after_model_save")
            ledger.ensure()
            if run.rows is None and sample["key"]:  # learned from a sample: the twin still has the table's (DP) size
                run = dataclasses.replace(run, rows=max(1, int(round(sample["n_noisy"]))))
            n = write_twin(con, run, model, row)
            kill_point("after_commit")
        except BaseException:
            if model_path is not None:
                Path(model_path).unlink(missing_ok=True)
            raise
    for text in model.notices:  # only now: a run that fails says nothing about the data
        warnings.warn(text, UserWarning, stacklevel=3)
    end = time.perf_counter()
    seconds = {"read": clock["read"] - clock["start"], "fit": clock["fit"] - clock["read"], "write": end - clock["fit"]}
    return SynthesisResult(source, twin, n, model, ledger.latest_for_twin(identity(twin)),
                           model_path=str(model_path) if model_path else None, seconds=seconds)


def _committed(con, schema: str, run_id: str) -> bool:
    ledger = Ledger(con, schema)
    return ledger.exists() and bool(con.execute(f"SELECT count(*) FROM {ledger.sql} WHERE run_id = ?",
                                                [run_id]).fetchall()[0][0])


def _model_dir(db, con, model_dir) -> Path | None:
    """Where model files go: ``model_dir``, else ``.dp_synth/models`` next to the database file."""
    if model_dir is not None:
        return Path(model_dir)
    path = db if isinstance(db, (str, Path)) else database_file(con)
    if path is None or str(path) in (":memory:", ""):
        return None
    return Path(path).resolve().parent / ".dp_synth" / "models"


def model_file(folder: Path | None, source: Relation, run_id: str) -> Path | None:
    """A run's model file in ``folder`` (None: an in-memory database keeps no model file)."""
    if folder is None:
        return None
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"{source.schema}.{source.name}")
    return Path(folder) / f"{safe}-{run_id[:12]}.safetensors"
