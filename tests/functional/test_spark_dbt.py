"""The Python the package's spark/databricks `dp_twin` materialization submits, run for real.

dbt-spark/dbt-databricks submit Python models to a Databricks cluster (no submission method runs on
a local session; docs/dbt.md), so the macro is rendered here with Jinja and the resulting code is
executed against a local SparkSession, with a stand-in for the adapter's `dbtObj` preamble.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pyspark", reason="the Spark engine's tests need pip install 'dp-synth[spark]'")
jinja2 = pytest.importorskip("jinja2")

from dp_synth.io.relation import Relation  # noqa: E402
from helpers import ROOT, adult_sample  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.slow]

MODEL = '''
def model(dbt, session):
    dbt.config(materialized="dp_twin")
    return dbt.ref("adult_dbt_src")
'''


class _Config(dict):
    def get(self, key, default=None):
        return super().get(key, default)


class _Ns:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def _render(meta: dict, caps: dict) -> str:
    text = (ROOT / "dbt_package" / "macros" / "utils" / "dp_twin_python.sql").read_text()
    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    rel = _Ns(schema="default_synthetic", identifier="adult_dbt_twin")
    package = _Ns(ledger_schema=lambda: "default", declared_caps=lambda m: caps)  # the dp_synth namespace
    module = env.from_string(text).make_module({
        "tojson": json.dumps, "config": _Config(meta=meta), "model": _Ns(name="adult_dbt_twin"),
        "invocation_id": "inv-spark", "var": lambda k, d=None: d, "dp_synth": package})
    package.dp_twin_publish_call = module.dp_twin_publish_call  # the package's own macro, as dbt resolves it
    return str(module.spark__dp_twin_python(rel))


def test_rendered_spark_materialization_publishes_twin_and_ledger_row(spark_engine):
    spark = spark_engine.spark
    spark_engine.create_table(Relation("default", "adult_dbt_src"), adult_sample(2000, seed=4).to_arrow(), replace=True)
    meta = {"dp_synth": {"epsilon": 1.5, "training": {"epochs": 1, "hidden": 16, "embed_dim": 4, "batch_size": 64,
                                                     "pretrain_rows": 2000, "pretrain_epochs": 2}}}
    code = _render(meta, {"model.jaffle.adult_dbt_src": 3.0})

    class dbtObj:  # what dbt-spark's preamble defines: ref() loads a table through spark.table
        def __init__(self, load_df_function):
            self.load = load_df_function

        def ref(self, name):
            return self.load(f"default.{name}")

        def config(self, **kw):
            return None

    ns = {"spark": spark, "dbtObj": dbtObj}
    exec(compile(MODEL + "\n" + code, "adult_dbt_twin.py", "exec"), ns)  # noqa: S102 - our own rendered macro
    rows = [r for r in spark_engine.ledger().rows() if r["twin"] == "default_synthetic.adult_dbt_twin"]
    assert len(rows) == 1 and rows[0]["dbt_model"] == "adult_dbt_twin" and rows[0]["budget_cap"] == 3.0
    assert rows[0]["dbt_invocation_id"] == "inv-spark"
    assert spark.table("default_synthetic.adult_dbt_twin").schema == spark.table("default.adult_dbt_src").schema
    exec(compile(MODEL + "\n" + code, "adult_dbt_twin.py", "exec"), dict(ns))  # a rebuild charges nothing new
    assert len([r for r in spark_engine.ledger().rows() if r["twin"] == "default_synthetic.adult_dbt_twin"]) == 1
    assert Path(rows[0]["model_path"]).is_file()


@pytest.mark.parametrize("name", ["it's", "a\\'; select 1; --", "back\\slash"])
def test_spark_string_literal_macro_round_trips_in_spark_sql(spark_engine, name):
    text = (ROOT / "dbt_package" / "macros" / "utils" / "generic_tests.sql").read_text()
    text = text.replace("{% test ", "{% macro test_").replace("{% endtest %}", "{% endmacro %}")
    out = []
    jinja2.Environment(extensions=["jinja2.ext.do"]).from_string(text).make_module(
        {"return": lambda x: out.append(x) or ""}).spark__string_literal(name)
    assert spark_engine.spark.sql(f"select {out[0]} as v").collect()[0]["v"] == name
