"""DuckDB runtime: read a source table, build its twin atomically, record the spend.

The twin and its ledger row are written in one transaction: a failed run leaves neither,
and charges no budget. The source is only ever read.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import duckdb
import pyarrow as pa

from .. import __version__
from ..errors import InputError
from ..fit import check_epsilon, check_validation_settings, fingerprint, fit
from ..model import SynthModel
from ..spec import load_spec_overrides
from ..training import TrainingConfig
from .ledger import Ledger, settings_hash
from .relation import Relation, quote_ident

__all__ = ["SynthesisResult", "synthesize", "connect", "read_table", "relation_exists", "model_file", "database_file"]


@dataclass
class SynthesisResult:
    source: Relation
    twin: Relation
    rows: int
    model: SynthModel | None
    ledger_row: dict[str, Any]
    reused: bool = False
    model_path: str | None = None


def connect(db: str | Path | duckdb.DuckDBPyConnection) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """A connection and whether we own it (and must close it)."""
    if isinstance(db, duckdb.DuckDBPyConnection):
        return db, False
    return duckdb.connect(str(db)), True


def database_file(con) -> str | None:
    """Path of the connection's current database file (None in memory)."""
    rows = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    return rows[0][0] if rows and rows[0][0] else None


def relation_kind(con, rel: Relation) -> str | None:
    rows = con.execute("SELECT table_type FROM information_schema.tables WHERE table_schema = ? "
                       "AND table_name = ?", [rel.schema, rel.name]).fetchall()
    return rows[0][0] if rows else None


def relation_exists(con, rel: Relation) -> bool:
    return relation_kind(con, rel) is not None


def read_table(con, rel: Relation, batch_rows: int = 1_000_000) -> pa.Table:
    """Scan the source as Arrow record batches (never through pandas)."""
    reader = con.sql(f"SELECT * FROM {rel.sql}").to_arrow_reader(batch_rows)
    return reader.read_all()


def synthesize(db: str | Path | duckdb.DuckDBPyConnection, table: str, epsilon: float,
               delta: float | None = None, *, target: str | None = None, rows: int | None = None,
               spec: Mapping | str | None = None, seed: int | None = None,
               budget_cap: float | None = None, model_dir: str | Path | None = None,
               ledger_schema: str = "main", config: TrainingConfig | None = None,
               min_rows: int | None = None, invoked_by: str = "python",
               extra: Mapping[str, Any] | None = None, validation: Mapping[str, str] | None = None,
               on_step: Callable[[int, int, float], None] | None = None) -> SynthesisResult:
    """Build the DP twin of ``table`` in the DuckDB database ``db``.

    ``validation`` = {target, positive, secret}: the twin's inputs for ``dp-synth validate``, kept
    in the model file. Default target: the same name in schema ``<schema>_synthetic``. ``budget_cap`` refuses a
    run that would take the source's total ε (ledger, basic composition) over the cap,
    before any work. An unchanged source with unchanged settings reuses the existing twin.
    """
    con, owned = connect(db)
    try:
        return _synthesize(con, db, table, epsilon, delta, target, rows, spec, seed, budget_cap, model_dir,
                           ledger_schema, config, min_rows, invoked_by, dict(extra or {}), validation, on_step)
    finally:
        if owned:
            con.close()


def _synthesize(con, db, table, epsilon, delta, target, rows, spec, seed, budget_cap, model_dir,
                ledger_schema, config, min_rows, invoked_by, extra, validation, on_step) -> SynthesisResult:
    source = Relation.parse(table)
    eps = check_epsilon(epsilon, f"table {str(source)!r}: ")
    declared = check_validation_settings(validation, f"table {str(source)!r}: ")
    if not relation_exists(con, source):
        raise InputError(f"table {str(source)!r} not found in the database. Check the name "
                         "(schema.table; quote names with dots or spaces)")
    twin = Relation.parse(target) if target else source.synthetic_sibling()
    if twin == source:
        raise InputError(f"target {str(twin)!r} is the source table itself; the source is never modified. "
                         "Choose another target")
    ledger = Ledger(con, ledger_schema)
    if relation_exists(con, twin) and not ledger.is_twin(str(twin)):
        raise InputError(f"target {str(twin)!r} already exists and was not created by dp-synth; "
                         "refusing to overwrite it. Drop it or choose another target")
    if rows is not None and (not isinstance(rows, int) or rows < 1):
        raise InputError(f"rows must be a positive whole number, got {rows!r}")

    data = read_table(con, source)
    print_fp = fingerprint(data)
    config = config or TrainingConfig()
    settings = settings_hash(epsilon=eps, delta=delta, spec=load_spec_overrides(spec), rows=rows,
                              seed=seed, config=config.to_json(), twin=str(twin))
    previous = ledger.find_reusable(str(source), print_fp, settings, str(twin))
    if previous is not None and relation_exists(con, twin):
        return SynthesisResult(source, twin, int(previous["twin_rows"]), None, previous, reused=True,
                               model_path=previous["model_path"])

    ledger.check_cap(str(source), eps, budget_cap)

    kwargs = {"min_rows": min_rows} if min_rows is not None else {}
    model = fit(data, eps, delta, spec, seed, config=config, table_name=str(source), on_step=on_step,
                source_fingerprint=print_fp, **kwargs)
    del data
    model.metadata["validation"] = declared
    run_id = uuid.uuid4().hex
    model_path = model_file(db, model_dir, source, run_id)
    if model_path is not None:
        model.save(model_path)
    try:
        n = _write_twin(con, source, twin, model, rows, ledger, {
            "run_id": run_id, "created_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), "source": str(source),
            "source_schema": source.schema, "source_table": source.name, "twin_schema": twin.schema,
            "twin_table": twin.name, "source_fingerprint": print_fp, "columns_learned": model.metadata["learned_columns"],
            "twin": str(twin), "mechanisms": model.privacy.mechanisms, "epsilon": model.privacy.epsilon,
            "delta": model.privacy.delta, "epsilon_profile": model.privacy.parts.get("profile"),
            "epsilon_training": model.privacy.parts.get("training"), "budget_cap": budget_cap,
            "privacy": model.privacy.to_json(), "settings_hash": settings, "package_version": __version__,
            "model_path": str(model_path) if model_path else None, "invoked_by": invoked_by, **extra})
    except BaseException:
        if model_path is not None:
            Path(model_path).unlink(missing_ok=True)
        raise
    return SynthesisResult(source, twin, n, model, ledger.rows(str(source))[-1],
                           model_path=str(model_path) if model_path else None)


def model_file(db, model_dir, source: Relation, run_id: str) -> Path | None:
    """Where a run's model file goes: ``model_dir``, else ``.dp_synth/models`` next to the database file."""
    if model_dir is None:
        if not isinstance(db, (str, Path)) or str(db) in (":memory:", ""):
            return None
        model_dir = Path(db).resolve().parent / ".dp_synth" / "models"
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"{source.schema}.{source.name}")
    return Path(model_dir) / f"{safe}-{run_id[:12]}.safetensors"


def _write_twin(con, source: Relation, twin: Relation, model: SynthModel, rows: int | None,
                ledger: Ledger, row: dict[str, Any]) -> int:
    tmp = Relation(twin.schema, f"__dp_synth_tmp_{row['run_id'][:12]}")
    view = f"__dp_synth_batch_{row['run_id'][:12]}"
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(twin.schema)}")
        # the source's own column types, names and order; no rows
        con.execute(f"CREATE TABLE {tmp.sql} AS SELECT * FROM {source.sql} LIMIT 0")
        n = 0
        for batch in model.sample_batches(rows):
            con.register(view, pa.Table.from_batches([batch]))
            con.execute(f"INSERT INTO {tmp.sql} SELECT * FROM {quote_ident(view)}")
            con.unregister(view)
            n += batch.num_rows
        con.execute(f"DROP TABLE IF EXISTS {twin.sql}")
        con.execute(f"ALTER TABLE {tmp.sql} RENAME TO {quote_ident(twin.name)}")
        ledger.ensure()
        ledger.append({**row, "twin_rows": n})
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return n
