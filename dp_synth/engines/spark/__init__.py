"""The Apache Spark engine: a SparkSession (yours, dbt-spark's/dbt-databricks', or a local one).

Import-light: ``pyspark`` is imported only when a session is used or started, so the registry can
name this engine on machines without it. ``SparkEngine.open(folder)`` starts a local session
(:func:`.session.local_session`) whose warehouse is that folder.
"""

from __future__ import annotations

import hashlib
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import pyarrow as pa

from ...errors import InputError
from ...io.relation import Relation, fresh_name
from ..base import VALIDATION_COLUMNS, VALIDATIONS_TABLE, Engine, Keyed, Resolved
from . import names
from .dialect import SparkDialect
from .session import local_session, require_spark

__all__ = ["SparkEngine", "local_session"]

BROADCAST_HASHES = 1_000_000  # shared row hashes sent to every executor (8 MB of longs) instead of shuffled


class SparkEngine(Engine):
    name = "spark"
    default_schema = "default"
    describe_db = "a SparkSession or a warehouse folder for a local Spark session"
    dialect = SparkDialect()
    # a query with many 256-cell CASE searches makes a generated method > 64 KB: Spark then logs an ERROR
    # with a long trace and runs it interpreted; three histograms per query stay below that
    grouped_per_query = 8
    keyed_rule = ("a row is held out iff Spark's xxhash64(key, columns…, occurrence) + 2^63 < share·2^64 (occurrence: "
                  "row_number() over the rows equal in every column; maps hashed and compared by their "
                  "sorted entries; key: the ledger row's holdout_key); re-deriving it needs a Spark with the same hash")

    def __init__(self, spark: Any, owned: bool, warehouse: str | None = None):
        super().__init__(spark, owned)
        self.spark = spark
        self._warehouse = warehouse

    @classmethod
    def accepts(cls, db: Any) -> bool:
        return isinstance(db, (str, Path)) or type(db).__module__.split(".")[0] == "pyspark"

    @classmethod
    def open(cls, db: Any, master: str = "local[2]", conf: Mapping[str, str] | None = None,
             **options: Any) -> "SparkEngine":
        if isinstance(db, (str, Path)):
            return cls(local_session(db, master, conf), True, str(Path(db).resolve()))
        require_spark()
        if type(db).__name__ != "SparkSession":
            raise InputError(f"the Spark engine needs a SparkSession, got a {type(db).__name__}")
        return cls(db, False)

    def close(self) -> None:
        if self.owned:
            self.spark.stop()

    @property
    def location(self) -> str | None:
        if self._warehouse:
            return self._warehouse
        wh = self.spark.conf.get("spark.sql.warehouse.dir", None)
        if wh and wh.startswith("file:"):
            wh = wh[len("file:"):]
        return wh if wh and "://" not in wh else None

    def default_model_dir(self) -> Path | None:
        loc = self.location
        return None if not loc else Path(loc).resolve() / ".dp_synth" / "models"

    def versions(self) -> dict[str, str]:
        return {"spark": self.spark.version}

    # -- names and schemas
    def resolve(self, rel: Relation) -> Resolved | None:
        return names.resolve(self.spark, rel)

    def canonical(self, rel: Relation) -> Relation:
        return names.canonical(self.spark, rel)

    def relation_of(self, obj: Any) -> Relation | None:
        """A DataFrame that is ``spark.table(name)`` (what dbt-spark's ``ref()`` returns): its table."""
        if type(obj).__name__ != "DataFrame":
            return None
        try:
            plan = obj._jdf.queryExecution().analyzed()
            ident = plan.collectLeaves().head().catalogTable().get().identifier()
            if plan.collectLeaves().size() != 1 or plan.getClass().getSimpleName() not in (
                    "SubqueryAlias", "LogicalRelation", "HiveTableRelation"):
                return None
            return Relation(ident.database().get(), ident.table())
        except Exception:  # noqa: BLE001 - not a plain table scan (a query, a temp view, Connect)
            return None

    def list_relations(self, schema: str | None = None) -> list[Resolved]:
        return names.list_relations(self.spark, schema)

    def struct(self, rel: Relation):
        return self.spark.table(names.qualified(rel)).schema

    def _frame(self, rel: Relation):
        """The relation with the columns dp-synth cannot learn (nested, binary: the spec must ignore
        them) replaced by NULL strings."""
        from pyspark.sql import functions as F

        df = self.spark.table(names.qualified(rel))
        skip = set(self._unlearnable(df.schema))
        return df.select([F.lit(None).cast("string").alias(c) if c in skip else F.col(names.quote(c))
                          for c in df.columns]) if skip else df

    @staticmethod
    def _unlearnable(struct) -> list[str]:
        from .types import UNSUPPORTED

        return [f.name for f in struct.fields if type(f.dataType).__name__ in UNSUPPORTED]

    def arrow_schema(self, rel: Relation) -> pa.Schema:
        return self._frame(rel).limit(0).toArrow().schema

    def column_types(self, rel: Relation) -> dict[str, str]:
        return {f.name: f.dataType.simpleString() for f in self.struct(rel).fields}

    def check_source_schema(self, rel: Relation, overrides: Mapping[str, Mapping], table: str) -> dict[str, dict]:
        from .types import check_source_schema

        return check_source_schema(self, rel, overrides, table)

    # -- reads, computed by Spark
    def count(self, rel: Relation) -> int:
        return int(self.spark.table(names.qualified(rel)).count())

    @staticmethod
    def _comparable(df) -> list:
        """The frame's columns as hashable, comparable values: a map by its sorted entries (its hash
        depends on its entries' order, and maps cannot be grouped by)."""
        from pyspark.sql import functions as F

        def one(f):
            c = F.col(names.quote(f.name))
            return F.to_json(F.array_sort(F.map_entries(c))) if type(f.dataType).__name__ == "MapType" else c

        return [one(f) for f in df.schema.fields]

    def _row_hash(self, df, key: str | None = None):
        from pyspark.sql import functions as F

        cols = self._comparable(df)
        return F.xxhash64(F.lit(key), *cols) if key is not None else F.xxhash64(*cols)

    def fingerprint(self, rel: Relation) -> str:
        from pyspark.sql import functions as F

        df = self.spark.table(names.qualified(rel))
        h = self._row_hash(df)
        n, s, x = df.agg(F.count(F.lit(1)), F.coalesce(F.sum(h.cast("decimal(38,0)")), F.lit(0)),
                         F.coalesce(F.bit_xor(h), F.lit(0))).collect()[0]
        cols = [(f.name, f.dataType.simpleString()) for f in df.schema.fields]
        return hashlib.sha256(repr((cols, int(n), int(s), int(x))).encode()).hexdigest()

    def _shared(self, df):
        """The unkeyed row hashes (column ``h``) that more than one row of ``df`` has."""
        from pyspark.sql import functions as F

        h = fresh_name(df.columns, "__dp_synth_hash")
        return df.select(self._row_hash(df).alias(h)).groupBy(h).count().where(F.col("count") > 1).select(h), h

    def _kept(self, rel: Relation, where: Sequence[Keyed], repeats: Any = None):
        """The relation's rows that every filter keeps: keyed 64-bit xxhash vs rate·2⁶⁴ (Spark's hash
        is signed: shifted by 2⁶³), hashed over the frame it filters."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        df = self._frame(rel)
        hashed = [k for k in where if 0.0 < k.rate < 1.0]
        if any((k.rate >= 1.0) != k.inside for k in where if k not in hashed):
            return df.limit(0)
        if not hashed:
            return df
        # each row with its occurrence among identical rows (DuckDB's scan.scoped says why): 1 for a row
        # whose unkeyed hash no other row has, else its number among the rows equal in every column (by
        # the values, not the hash). Only rows sharing a hash are shuffled for the window, not the table:
        # on 10⁷ rows (local[2]) a window over every row took the measurements from 116 s to 321 s
        shared, h = repeats if repeats is not None else self._shared(df)
        occ = fresh_name(df.columns, "__dp_synth_occurrence")
        hashed_df = df.withColumn(h, self._row_hash(df))
        single = hashed_df.join(shared, on=h, how="left_anti").withColumn(occ, F.lit(1).cast("int"))
        same = Window.partitionBy(*self._comparable(df)).orderBy(F.lit(1))
        multi = hashed_df.join(shared, on=h, how="left_semi").withColumn(occ, F.row_number().over(same))
        numbered = single.unionByName(multi).drop(h)
        for k in hashed:
            below = self._row_hash(numbered, k.key) < int(k.rate * 2**64) - 2**63
            numbered = numbered.where(below if k.inside else ~below)
        return numbered.drop(occ)

    def read(self, rel: Relation, where: Sequence[Keyed] = (), repeats: Any = None,
             columns: Sequence[str] | None = None) -> pa.Table:
        kept = self._kept(rel, where, repeats)
        return (kept if columns is None else kept.select([names.quote(c) for c in columns])).toArrow()

    @contextmanager
    def repeated(self, rel: Relation) -> Iterator[Any]:
        """The shared hashes, computed once and kept (they are few: 196,441 of 10⁷ Adult-like rows), broadcast
        to the joins when there are at most BROADCAST_HASHES."""
        from pyspark.sql import functions as F

        shared, h = self._shared(self._frame(rel))
        shared = shared.persist()
        try:
            n = shared.count()  # computed here, once
            yield (F.broadcast(shared) if n <= BROADCAST_HASHES else shared), h
        finally:
            shared.unpersist()

    @contextmanager
    def scope(self, rel: Relation, where: Sequence[Keyed] = (), repeats: Any = None) -> Iterator[tuple[str, list]]:
        view = f"__dp_synth_scope_{uuid.uuid4().hex}"  # session-local, dropped after the query
        self._kept(rel, where, repeats).createOrReplaceTempView(view)
        try:
            yield f"SELECT * FROM {names.quote(view)}", []
        finally:
            self.spark.catalog.dropTempView(view)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        rows = self.spark.sql(sql, args=list(params)) if params else self.spark.sql(sql)
        return [tuple(r) for r in rows.collect()]

    # -- writes
    def write_twin(self, run: Any, model: Any, row: dict[str, Any]) -> int:
        from .publish import write_twin

        return write_twin(self, run, model, row)

    def drop_staging(self, run_id: str, twin: str | None = None, committed: bool = False) -> None:
        from .publish import RUN_PROPERTY, staging

        if twin:
            rel = Relation.parse(twin, self.default_schema)
            self.spark.sql(f"DROP TABLE IF EXISTS {names.qualified(staging(rel, run_id))}")
            found = self.resolve(rel)
            if found is not None and not committed:  # published, then killed before its ledger row
                props = {r.key: r.value for r in self.spark.sql(
                    f"SHOW TBLPROPERTIES {names.qualified(found.relation)}").collect()}
                if props.get(RUN_PROPERTY) == run_id:
                    self.spark.sql(f"DROP TABLE {names.qualified(found.relation)}")

    def ledger(self, schema: str | None = None):
        from .ledger import SparkLedger

        return SparkLedger(self.spark, schema or self.default_schema)

    def create_table(self, rel: Relation, data: pa.Table, replace: bool = False) -> None:
        self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {names.quote(rel.schema)}")
        df = self.spark.createDataFrame(data.to_pandas())
        df.write.mode("overwrite" if replace else "errorifexists").format("parquet").saveAsTable(names.qualified(rel))

    def record_validation(self, schema: str, row: dict[str, Any]) -> None:
        rel = Relation(schema, VALIDATIONS_TABLE)
        self.spark.sql(f"CREATE TABLE IF NOT EXISTS {names.qualified(rel)} (validated_at TIMESTAMP_NTZ, twin STRING, "
                       "source STRING, suite STRING, success BOOLEAN, summary STRING, data_docs STRING) USING parquet")
        struct = self.spark.table(names.qualified(rel)).schema
        self.spark.createDataFrame([tuple(row[k] for k in VALIDATION_COLUMNS)], struct).write.insertInto(
            names.qualified(rel))

    def validation_rows(self, schema: str) -> list[dict[str, Any]]:
        rel = Relation(schema, VALIDATIONS_TABLE)
        if self.resolve(rel) is None:
            return []
        rows = [r.asDict() for r in self.spark.table(names.qualified(rel)).collect()]
        return sorted(rows, key=lambda r: r["validated_at"])
