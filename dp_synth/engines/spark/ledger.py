"""The ledger stored as a Spark table. Spark has no multi-statement transactions: the twin is
published first and its ledger row appended last, both under :data:`PUBLISH_LOCK` (one driver
process) with the caps re-checked just before the append. Runs on *different* clusters writing one
ledger are not serialised (a table format with optimistic concurrency, e.g. Delta, would be needed;
docs/privacy.md)."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

from ...io.ledger import LEDGER_COLUMNS, LEDGER_TABLE, Ledger, encode_row
from ...io.relation import Relation
from .names import qualified, quote, resolve

__all__ = ["SparkLedger", "PUBLISH_LOCK", "spark_type"]

PUBLISH_LOCK = threading.RLock()
_TYPES = {"VARCHAR": "STRING", "TIMESTAMP": "TIMESTAMP_NTZ", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE"}


def spark_type(sql_type: str) -> str:
    return _TYPES[sql_type]


@dataclass(frozen=True)
class SparkLedger(Ledger):
    spark: Any
    schema: str = "default"

    def _rel(self, table: str = LEDGER_TABLE) -> Relation:
        return Relation(self.schema, table)

    def exists(self, table: str = LEDGER_TABLE) -> bool:
        return resolve(self.spark, self._rel(table)) is not None

    def ensure(self, table: str = LEDGER_TABLE) -> None:
        self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {quote(self.schema)}")
        cols = ", ".join(f"{quote(k)} {spark_type(v)}" for k, v in LEDGER_COLUMNS.items())
        self.spark.sql(f"CREATE TABLE IF NOT EXISTS {qualified(self._rel(table))} ({cols}) USING parquet")
        present = {f.name for f in self.spark.table(qualified(self._rel(table))).schema.fields}
        missing = [k for k in LEDGER_COLUMNS if k not in present]
        if missing:  # ledgers written by older versions gain the new columns
            added = ", ".join(f"{quote(k)} {spark_type(LEDGER_COLUMNS[k])}" for k in missing)
            self.spark.sql(f"ALTER TABLE {qualified(self._rel(table))} ADD COLUMNS ({added})")

    def _struct(self):
        from pyspark.sql.types import StructType

        return StructType.fromDDL(", ".join(f"{quote(k)} {spark_type(v)}" for k, v in LEDGER_COLUMNS.items()))

    def append(self, row: dict[str, Any], table: str = LEDGER_TABLE) -> None:
        values = encode_row(row)
        at = list(LEDGER_COLUMNS).index("created_at")
        if values[at] is None:
            values[at] = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        df = self.spark.createDataFrame([tuple(values)], self._struct())
        df.write.insertInto(qualified(self._rel(table)))

    def _fetch(self) -> list[dict[str, Any]]:
        rows = self.spark.table(qualified(self._rel())).collect()
        out = [r.asDict() for r in rows]
        return sorted(out, key=lambda r: (r.get("created_at") or dt.datetime.min, r.get("run_id") or ""))

    def lock(self) -> None:
        """Nothing to do here: the Spark publish holds :data:`PUBLISH_LOCK` for its whole length."""
