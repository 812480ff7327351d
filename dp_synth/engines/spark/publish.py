"""Publishing a twin on Spark: rows generated in parallel, staged in a temp table, renamed, ledger last.

The model file's bytes are broadcast; ``spark.range(blocks)`` is mapped with ``mapInArrow`` so each
task generates whole blocks of rows and casts them to the source's schema. The staged table carries
``dp_synth.run_id`` in its TBLPROPERTIES; under :data:`PUBLISH_LOCK` the caps are re-checked, the old
twin dropped, the staged table renamed, and the ledger row appended last. A failure before the
append drops what this run published; a killed run's table is dropped by the next run
(:meth:`SparkEngine.drop_staging`), so no twin survives without its ledger row.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa

from ...errors import InputError
from ...faults import kill_point
from ...io.relation import Relation
from ..base import identity
from .ledger import PUBLISH_LOCK
from .names import qualified, quote, resolve

__all__ = ["write_twin", "staging", "BLOCK_ROWS", "RUN_PROPERTY"]

BLOCK_ROWS = 100_000          # rows one task generates per block
RUN_PROPERTY = "dp_synth.run_id"


def staging(twin: Relation, run_id: str) -> Relation:
    return Relation(twin.schema, f"__dp_synth_tmp_{run_id[:12]}")


def _conform(table: pa.Table, target: pa.Schema, n: int) -> pa.RecordBatch:
    """The generated block with the source's Arrow types, in the source's column order."""
    cols = []
    for f in target:
        col = table.column(f.name) if f.name in table.column_names else None
        if col is None or col.null_count == len(col) or pa.types.is_nested(f.type) or pa.types.is_binary(f.type):
            cols.append(pa.nulls(n, type=f.type))
        else:
            cols.append(col.cast(f.type, safe=True).combine_chunks())
    return pa.RecordBatch.from_arrays(cols, schema=target)


def _block_generator(model_bc, schema_bytes: bytes, n: int, seed: int | None):
    def generate(batches):
        import torch

        from ...model import SynthModel

        torch.set_num_threads(1)  # one core per task; Spark runs one task per core
        model = SynthModel.from_bytes(model_bc.value)
        target = pa.ipc.read_schema(pa.py_buffer(schema_bytes))
        for batch in batches:
            for block in batch.column(0).to_pylist():
                start = block * BLOCK_ROWS
                m = min(BLOCK_ROWS, n - start)
                if m > 0:
                    yield _conform(model.sample_block(start, m, seed), target, m)
    return generate


def _model_bytes(model, path: str | None) -> bytes:
    """The model file's bytes (safetensors tensors + a JSON document; nothing in it executes): what every
    task loads with :meth:`SynthModel.from_bytes`."""
    if path:
        return Path(path).read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        return Path(model.save(Path(tmp) / "model.safetensors")).read_bytes()


def _arrow_target(spark, struct) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(struct, timezone=spark.conf.get("spark.sql.session.timeZone"))


def write_twin(engine, run, model, row: dict[str, Any]) -> int:
    spark, source, twin, ledger = engine.spark, run.source, run.twin, run.ledger
    n = int(run.rows if run.rows is not None else model.default_rows)
    tmp = staging(twin, row["run_id"])
    struct = engine.struct(source)
    schema_bytes = _arrow_target(spark, struct).serialize().to_pybytes()
    model_bc = spark.sparkContext.broadcast(_model_bytes(model, row.get("model_path")))
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {quote(twin.schema)}")
    blocks = max(1, -(-n // BLOCK_ROWS))
    parts = max(1, min(blocks, spark.sparkContext.defaultParallelism * 2))
    try:
        frame = spark.range(0, blocks, numPartitions=parts).mapInArrow(
            _block_generator(model_bc, schema_bytes, n, model.seed), struct)
        try:
            frame.write.format("parquet").saveAsTable(qualified(tmp))
        except Exception as e:  # noqa: BLE001 - a task's cast error arrives wrapped by the JVM
            text = str(e)
            if "ArrowInvalid" in text or "cast" in text.lower():
                raise InputError(f"table {str(source)!r}: a generated value does not fit the source's column types "
                                 f"({text.splitlines()[0][:300]}); nothing was written or charged") from None
            raise
        spark.sql(f"ALTER TABLE {qualified(tmp)} SET TBLPROPERTIES ('{RUN_PROPERTY}' = '{row['run_id']}')")
        kill_point("during_insert")
        written = engine.count(tmp)
        fingerprint = engine.fingerprint(tmp)
        with PUBLISH_LOCK:
            full = {**row, "twin_rows": written, "twin_fingerprint": fingerprint,
                    "created_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)}
            ledger.check_cap(row["source"], identity(source), row.get("source_fingerprint"), float(row["epsilon"]),
                             float(row["delta"]), run.cap, run.delta_cap, identity(twin))
            old = resolve(spark, twin)
            if old is not None:
                spark.sql(f"DROP TABLE {qualified(old.relation)}")
            spark.sql(f"ALTER TABLE {qualified(tmp)} RENAME TO {qualified(twin)}")
            try:
                kill_point("after_rename")
                ledger.append(full)
                kill_point("after_ledger_append")
            except BaseException:
                spark.sql(f"DROP TABLE IF EXISTS {qualified(twin)}")  # never a twin without its ledger row
                raise
    except BaseException as e:
        try:
            spark.sql(f"DROP TABLE IF EXISTS {qualified(tmp)}")
        except Exception:  # noqa: BLE001 - the session died: the next run cleans up (run lock kept)
            e._dp_synth_unclean = True
        raise
    finally:
        model_bc.unpersist()
    return written
