"""The Spark engine on a real local session (local[2], loopback only): twins, ledger, reuse, validate,
report, the dbt helper, column types, bad input and killed runs.

One SparkSession per process (Spark allows one); runs that must die or start afresh run in
subprocesses on a warehouse of their own (its Derby metastore admits one process at a time).
"""

from __future__ import annotations

from collections import Counter
import datetime as dt
import decimal
import json
import os
import subprocess
import sys
import textwrap

import pyarrow as pa
import pytest

pytest.importorskip("pyspark", reason="the Spark engine's tests need pip install 'dp-synth[spark]'")

import dp_synth  # noqa: E402
from dp_synth import InputError  # noqa: E402
from dp_synth.engines.base import Keyed  # noqa: E402
from dp_synth.io.relation import Relation  # noqa: E402
from helpers import FAST, adult_sample, assert_engine_counts_match_memory, awkward_numbers_table, mixed_table  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def engine(spark_engine):
    return spark_engine


@pytest.fixture(scope="module")
def adult(engine):
    engine.create_table(Relation("default", "adult"), adult_sample(3000, seed=1).to_arrow(), replace=True)
    return "default.adult"


def _ledger(engine):
    return engine.ledger().rows()


def test_twin_same_schema_ledger_row_and_reuse(engine, adult):
    res = dp_synth.synthesize(engine, adult, 2.0, config=FAST, seed=3)
    assert str(res.twin) == "default_synthetic.adult"
    spark = engine.spark
    assert spark.table("default_synthetic.adult").schema == spark.table("default.adult").schema
    assert abs(spark.table("default_synthetic.adult").count() - 3000) < 300
    rows = [r for r in _ledger(engine) if r["twin"] == "default_synthetic.adult"]
    assert len(rows) == 1 and rows[0]["epsilon"] <= 2.0 + 1e-9 and rows[0]["twin_rows"] == res.rows
    assert rows[0]["twin_fingerprint"] == engine.fingerprint(Relation("default_synthetic", "adult"))
    assert not [t for t in spark.catalog.listTables("default_synthetic") if t.name.startswith("__dp_synth")]
    again = dp_synth.synthesize(engine, adult, 2.0, config=FAST, seed=3)
    assert again.reused and len([r for r in _ledger(engine) if r["twin"] == "default_synthetic.adult"]) == 1


def test_measurements_are_spark_queries_with_the_memory_counts(engine):
    rel = Relation("default", "awkward")
    engine.create_table(rel, awkward_numbers_table(), replace=True)
    assert_engine_counts_match_memory(engine, rel)
    assert_engine_counts_match_memory(engine, rel, (Keyed("k" * 64, 0.3, inside=False),))


def test_fingerprint_is_order_independent(engine, adult):
    engine.spark.table(adult).orderBy("age", ascending=False).repartition(3).write.mode("overwrite") \
        .saveAsTable("default.adult_shuffled")
    assert engine.fingerprint(Relation("default", "adult")) == engine.fingerprint(Relation("default", "adult_shuffled"))
    keyed = lambda rel: sorted(map(str, engine.read(rel, (Keyed("k3y", 0.3),)).to_pylist()))  # noqa: E731
    a, b = keyed(Relation("default", "adult")), keyed(Relation("default", "adult_shuffled"))
    assert a == b and 600 < len(a) < 1200  # the same keyed sample in any scan order, about 30 %


def test_identical_rows_are_split_by_the_share_in_any_scan_order(engine):
    """Each row is hashed with its occurrence among identical rows: ≈ 30 % of each of three groups of
    ≈ 667 identical rows is kept, the same rows from a shuffled copy, and the occurrence column is gone."""
    rows = pa.table({"x": [i % 3 for i in range(2000)], "y": [f"v{i % 3}" for i in range(2000)]})
    engine.create_table(Relation("default", "rep3"), rows, replace=True)
    engine.spark.table("default.rep3").orderBy("x", ascending=False).repartition(3).write.mode("overwrite") \
        .saveAsTable("default.rep3_shuffled")
    per_value = lambda rel: Counter(engine.read(rel, (Keyed("k3y", 0.3),)).column("x").to_pylist())  # noqa: E731
    a, b = per_value(Relation("default", "rep3")), per_value(Relation("default", "rep3_shuffled"))
    assert a == b and sorted(a) == [0, 1, 2] and all(150 <= n <= 250 for n in a.values()), a
    kept = engine.read(Relation("default", "rep3"), (Keyed("k3y", 0.3, inside=False), Keyed("s", 0.5)))
    assert kept.column_names == ["x", "y"] and 500 < kept.num_rows < 900


def test_repeats_found_once_keep_the_same_rows(engine):
    """The shared hashes found once for a fit (``repeated``) keep exactly the rows each filter keeps
    when it finds them itself."""
    rows = pa.table({"x": [i for i in range(600)] + [i % 4 for i in range(400)] + [None] * 20,
                     "y": ["u"] * 600 + [None if i % 2 else "v" for i in range(400)] + [None] * 20})
    rel = Relation("default", "mixed")
    engine.create_table(rel, rows, replace=True)
    as_set = lambda t: sorted(map(str, t.to_pylist()))  # noqa: E731
    with engine.repeated(rel) as repeats:
        assert repeats[0].count() == 5  # x = 0 … 3 (y follows x) and the NULL rows
        for where in ((Keyed("k3y", 0.3),), (Keyed("k3y", 0.3, inside=False), Keyed("s", 0.5))):
            once = engine.read(rel, where, repeats)
            assert as_set(once) == as_set(engine.read(rel, where)) and 0 < once.num_rows < 1020


def test_sampled_training_is_rederived_by_validate(engine, adult, monkeypatch, tmp_path):
    import dp_synth.source as source

    monkeypatch.setattr(source, "TRAIN_SAMPLE_ROWS", 1500)  # force the keyed-sample path on a small table
    res = dp_synth.synthesize(engine, adult, 2.0, target="default_synthetic.adult_sampled", config=FAST,
                             seed=4)  # seeded: the size and rate bounds below are statistical
    row = res.ledger_row
    assert row["sample_key"] and 0.3 < row["sample_rate"] < 0.8
    assert abs(res.rows - 3000) < 300  # a sampled twin keeps the table's (DP) size
    from dp_synth.validate import validate

    result = validate(engine, "default_synthetic.adult_sampled", suite="utility", out=tmp_path, target="income")
    rel = Relation("default", "adult")
    held = Keyed(row["holdout_key"], 0.2)  # 3,000 rows: 20 % held out, by Spark's keyed hash
    assert result.rows["train"] == len(engine.read(rel, (Keyed(row["sample_key"], row["sample_rate"]),
                                                         Keyed(held.key, held.rate, inside=False))))
    assert result.rows["holdout"] == len(engine.read(rel, (held,))) > 400
    assert engine.validation_rows("default")[-1]["twin"] == "default_synthetic.adult_sampled"


def test_report_on_spark(engine, adult, tmp_path):
    from dp_synth.report import build_report

    dp_synth.synthesize(engine, adult, 2.0, config=FAST, seed=3)
    report = build_report(engine, tmp_path / "r.html")
    twins = {t["twin"] for t in report["overview"]["twins"]}
    assert "default_synthetic.adult" in twins
    assert (tmp_path / "r.html").stat().st_size > 10_000


def test_types_spark_has(engine):
    """Decimals of high precision and timestamp_ntz are learned and written back with their types;
    arrays, maps and structs are refused naming the column, unless ignored (then NULL)."""
    spark = engine.spark
    t = mixed_table(500).drop_columns(["name"])
    df = spark.createDataFrame(t.to_pandas()).selectExpr(
        "*", "CAST(balance AS DECIMAL(38, 10)) AS wide", "CAST(seen_at AS TIMESTAMP_NTZ) AS local_time",
        "array(age, age) AS tags", "map('k', city) AS attrs", "named_struct('a', age) AS nested")
    df.write.mode("overwrite").saveAsTable("default.typed")
    for col in ("tags", "attrs", "nested"):
        spec = {"columns": {c: {"role": "ignore"} for c in ("tags", "attrs", "nested") if c != col}}
        with pytest.raises(InputError, match=f"column '{col}' has Spark type"):
            dp_synth.synthesize(engine, "default.typed", 2.0, spec=spec, config=FAST)
    assert engine.resolve(Relation("default_synthetic", "typed")) is None
    spec = {"columns": {"id": {"role": "key"}, **{c: {"role": "ignore"} for c in ("tags", "attrs", "nested")}}}
    dp_synth.synthesize(engine, "default.typed", 2.0, spec=spec, config=FAST, seed=1)
    twin = spark.table("default_synthetic.typed")
    assert twin.schema == spark.table("default.typed").schema
    got = twin.select("wide", "local_time", "tags").collect()
    assert all(r["tags"] is None for r in got)
    assert any(isinstance(r["wide"], decimal.Decimal) for r in got)
    assert any(isinstance(r["local_time"], dt.datetime) for r in got)


def test_bad_input_is_clear_and_writes_nothing(engine, adult):
    before = len(_ledger(engine))
    with pytest.raises(InputError, match="not found"):
        dp_synth.synthesize(engine, "default.no_such_table", 1.0, config=FAST)
    engine.spark.sql("CREATE OR REPLACE VIEW default.adult_view AS SELECT * FROM default.adult")
    with pytest.raises(InputError, match="is a view"):
        dp_synth.synthesize(engine, "default.adult_view", 1.0, config=FAST)
    with pytest.raises(InputError, match="is the source table itself"):
        dp_synth.synthesize(engine, adult, 1.0, target="DEFAULT.Adult", config=FAST)
    engine.spark.sql("CREATE TABLE IF NOT EXISTS default.precious (x INT) USING parquet")
    with pytest.raises(InputError, match="not created by dp-synth"):
        dp_synth.synthesize(engine, adult, 1.0, target="default.PRECIOUS", config=FAST)
    assert len(_ledger(engine)) == before


def test_missing_pyspark_or_java_is_one_line(monkeypatch):
    import importlib.util

    from dp_synth.engines.spark.session import require_spark

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda m, *a: None if m == "pyspark" else real(m, *a))
    with pytest.raises(InputError, match=r"pip install 'dp-synth\[spark\]'"):
        require_spark()
    monkeypatch.undo()
    monkeypatch.setenv("JAVA_HOME", "/nonexistent")
    with pytest.raises(InputError, match="openjdk-17-jre-headless"):
        require_spark()


def test_dbt_helper_with_session_and_dataframe(engine, adult):
    from dp_synth.dbt import publish

    res = publish(engine.spark, engine.spark.table(adult), schema="default_synthetic", identifier="adult_dbt",
                  meta={"dp_synth": {"epsilon": 1.5, "training": {"epochs": 1, "hidden": 16, "embed_dim": 4,
                                                                 "batch_size": 64, "pretrain_rows": 2000,
                                                                 "pretrain_epochs": 2}}},
                  model="adult_dbt", invocation_id="inv-1")
    assert str(res.twin) == "default_synthetic.adult_dbt" and res.ledger_row["dbt_model"] == "adult_dbt"
    with pytest.raises(InputError, match="dbt.ref"):
        publish(engine.spark, engine.spark.table(adult).where("age > 30"), schema="default_synthetic",
                identifier="x", meta={"dp_synth": {"epsilon": 1.0}}, model="x")


SCRIPT = textwrap.dedent("""
    import json, sys
    import polars as pl
    import dp_synth
    from dp_synth.engines.spark import SparkEngine
    from dp_synth.io.relation import Relation
    from helpers import FAST
    eng = SparkEngine.open(sys.argv[1])
    def state():
        tables = {db: sorted(t.name for t in eng.spark.catalog.listTables(db)) for db in ("default", "default_synthetic")
                  if db in [d.name for d in eng.spark.catalog.listDatabases()]}
        rows = eng.ledger().rows()
        return {"tables": tables, "ledger": len(rows), "twin_has_row": any(r["twin"] == "default_synthetic.t" for r in rows)}
    if sys.argv[2] == "load":  # then a run that the test's DP_SYNTH_KILL_AT kills
        eng.create_table(Relation("default", "t"), pl.read_parquet(sys.argv[3]).to_arrow())
        dp_synth.synthesize(eng, "default.t", 2.0, config=FAST)
    else:  # what the killed run left, then a run that must clean it up
        print("BEFORE " + json.dumps(state()))
        dp_synth.synthesize(eng, "default.t", 2.0, config=FAST)
    print("STATE " + json.dumps(state()))
""")


def _spark_process(tmp_path, *args, kill_at=None):
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(__file__)), "DP_SYNTH_KILL_AT": kill_at or ""}
    script = tmp_path / "spark_run.py"
    script.write_text(SCRIPT)
    p = subprocess.run([sys.executable, str(script), *map(str, args)], env=env, capture_output=True, text=True,
                       timeout=600)
    states = {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1]) for line in p.stdout.splitlines()
              if line.startswith(("STATE ", "BEFORE "))}
    return p.returncode, states, p.stderr[-2000:]


def test_killed_runs_are_cleaned_up_by_the_next(tmp_path):
    """Killed while staging (a temp table left), then the next run killed after publishing but before its
    ledger row (a twin with no spend recorded): each following run removes what the dead one left."""
    wh, data = tmp_path / "wh", tmp_path / "t.parquet"
    adult_sample(1500, seed=2).write_parquet(data)
    code, states, err = _spark_process(tmp_path, wh, "load", data, kill_at="during_insert")
    assert code == 137 and not states, err
    code, states, err = _spark_process(tmp_path, wh, "rerun", kill_at="after_rename")
    assert code == 137, err
    (leftover,) = states["BEFORE"]["tables"]["default_synthetic"]
    assert leftover.startswith("__dp_synth_tmp_") and states["BEFORE"]["ledger"] == 0
    code, states, err = _spark_process(tmp_path, wh, "rerun")
    assert code == 0, err
    # the second run had published `t` and died before its ledger row: charged nothing, twin unrecorded
    assert states["BEFORE"]["tables"]["default_synthetic"] == ["t"] and states["BEFORE"]["ledger"] == 0
    after = states["STATE"]
    assert after["tables"]["default_synthetic"] == ["t"] and after["ledger"] == 1  # cleaned up, one spend
    assert after["twin_has_row"]


def test_duckdb_path_never_imports_pyspark():
    """The DuckDB path never imports pyspark (the registry imports engines lazily)."""
    code = ("import sys, dp_synth, duckdb; c = duckdb.connect(); c.execute('CREATE TABLE t AS SELECT range % 7 AS x "
            "FROM range(300)'); dp_synth.synthesize(c, 't', 1.0, config=dp_synth.TrainingConfig(epochs=1, hidden=8, "
            "embed_dim=4, pretrain_rows=300, pretrain_epochs=1)); print('pyspark' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr[-1000:]
