"""dp_synth.dbt.publish (what the dp_twin materialization calls) without dbt: a DuckDB session."""

import duckdb
import pytest

from dp_synth import BudgetExceededError, InputError
from dp_synth.dbt import publish, resolve_settings, synthesize
from helpers import mixed_table

FAST = {"epochs": 1, "batch_size": 64, "pretrain_rows": 2000}


@pytest.fixture
def session(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.register("src", mixed_table())
    con.execute("CREATE TABLE people AS SELECT * FROM src")
    con.execute("CREATE VIEW people_v AS SELECT * FROM people")
    con.execute("CREATE TABLE tiny AS SELECT * FROM people LIMIT 20")
    yield con
    con.close()


def ref(con, name):
    return con.sql(f'select * from "w"."main"."{name}"')  # what dbt-duckdb's ref() returns


def run(con, name="people", meta=None, identifier="people", **kw):
    return publish(con, ref(con, name), schema="main_synthetic", identifier=identifier, model=f"{identifier}_twin",
                   meta=meta if meta is not None else {"dp_synth": {"epsilon": 1.0, "seed": 0, "training": FAST,
                                                                    "spec": {"id": {"role": "key"}}}}, **kw)


def test_twin_and_ledger_row_written_together(session):
    res = run(session, invocation_id="inv-1")
    row = session.execute("SELECT source, twin, dbt_model, dbt_invocation_id, invoked_by FROM main.dp_synth_ledger").fetchall()
    assert row == [("main.people", "main_synthetic.people", "people_twin", "inv-1", "dbt")]
    assert session.execute("SELECT count(*) FROM main_synthetic.people").fetchall()[0][0] == res.rows
    again = run(session, invocation_id="inv-2")  # unchanged: reused, nothing charged
    assert again.reused and session.execute("SELECT count(*) FROM main.dp_synth_ledger").fetchall()[0][0] == 1


@pytest.mark.parametrize("name, meta, message", [
    ("people", {}, "epsilon is missing"),
    ("people", {"dp_synth": {"epsilon": -1}}, "epsilon must be a finite number"),
    ("people", {"dp_synth": {"epsilon": 1, "colour": "red"}}, "unknown dp_synth settings"),
    ("people", {"dp_synth": {"epsilon": 1.0, "validate": {"goal": "x"}}}, r"unknown validation settings \['goal'\]"),
    ("people_v", {"dp_synth": {"epsilon": 1}}, "is a view"),
    ("tiny", {"dp_synth": {"epsilon": 1}}, "fewer than about 100 rows"),
])
def test_bad_input_names_model_and_writes_nothing(session, name, meta, message):
    with pytest.raises(InputError, match=message) as err:
        run(session, name, meta)
    assert "people_twin" in str(err.value)
    assert session.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main_synthetic'").fetchall()[0][0] == 0


def test_flat_keys_survive_a_shallow_meta_merge():
    """dbt merges meta shallowly: a folder's +meta {dp_synth: …} block is replaced by the model's own.
    Flat dp_synth_<key> entries survive, and the model's block is deep-merged over them."""
    meta = {"dp_synth_budget_cap": 3.0, "dp_synth_training": {"epochs": 2, "hidden": 32},
            "dp_synth": {"epsilon": 1.0, "training": {"epochs": 5}}}
    cfg = resolve_settings(meta, "m")
    assert cfg == {"budget_cap": 3.0, "epsilon": 1.0, "training": {"epochs": 5, "hidden": 32}}


def test_cap_of_one_twin_limits_every_twin_of_the_source(session):
    run(session, meta={"dp_synth": {"epsilon": 1.0, "seed": 0, "training": FAST, "budget_cap": 1.5}})
    with pytest.raises(BudgetExceededError, match="strictest declared"):
        run(session, identifier="people_b", meta={"dp_synth": {"epsilon": 1.0, "seed": 1, "training": FAST}})


def test_caps_declared_upstream_or_by_var_apply(session):
    with pytest.raises(BudgetExceededError, match="budget cap ε=0.5"):
        run(session, upstream_caps={"model.p.people": 0.5})
    with pytest.raises(BudgetExceededError, match="budget cap ε=0.7"):
        run(session, var_caps={"main.PEOPLE": 0.7})


def test_old_helper_explains_the_materialization():
    with pytest.raises(InputError, match="materialized='dp_twin'"):
        synthesize(None, None, None)
