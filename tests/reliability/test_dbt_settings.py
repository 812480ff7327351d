"""Bad dbt settings: a clear error naming the model, before any training."""
import duckdb
import pytest

from dp_synth import DPSynthError
from dp_synth.dbt import publish
from conftest import small_table

pytestmark = pytest.mark.reliability


@pytest.fixture
def session():
    con = duckdb.connect()
    con.register("src", small_table())
    con.execute("CREATE TABLE people AS SELECT * FROM src")
    return con


@pytest.mark.parametrize("settings, message", [
    ({"epsilon": float("nan")}, "finite number"),
    ({"epsilon": "lots"}, "must be a number"),
    ({"epsilon": 1, "budget_cap": "lots"}, "budget_cap must be a number"),
    ({"epsilon": 1, "budget_cap": float("nan")}, "budget_cap must be a finite"),
    ({"epsilon": 1, "seed": "abc"}, "seed must be a whole number"),
    ({"epsilon": 1, "training": {"epochz": 1}}, r"unknown training settings \['epochz'\]"),
    ({"epsilon": 1, "training": "fast"}, "training must be a mapping"),
    ({"epsilon": 1, "spec": {"city": {"bounds": [0, 1]}}}, "bounds apply to numbers"),
])
def test_bad_meta_is_a_clear_error(session, monkeypatch, settings, message):
    import importlib

    monkeypatch.setattr(importlib.import_module("dp_synth.runtime"), "fit",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained on bad settings")))
    with pytest.raises(DPSynthError, match=message) as err:
        publish(session, session.sql('select * from "memory"."main"."people"'), schema="main_synthetic",
                identifier="people", model="people_twin", meta={"dp_synth": settings})
    assert "people_twin" in str(err.value)


def test_alias_with_a_quote_works(session):
    res = publish(session, session.sql('select * from "memory"."main"."people"'), schema="main_synthetic",
                  identifier='peo"ple', model="people_twin",
                  meta={"dp_synth": {"epsilon": 1.0, "seed": 1, "training": {"epochs": 1, "pretrain_rows": 1000}}})
    assert session.execute('SELECT count(*) FROM "main_synthetic"."peo""ple"').fetchall()[0][0] == res.rows > 0
