"""dp_synth.dbt.synthesize without dbt: a stand-in `dbt` object and a DuckDB session."""

from types import SimpleNamespace

import duckdb
import pytest

from dp_synth import InputError
from dp_synth.dbt import PENDING_TABLE, synthesize
from helpers import mixed_table

DBT = SimpleNamespace(this=SimpleNamespace(schema="main_synthetic", identifier="people"))


@pytest.fixture
def session():
    con = duckdb.connect()
    con.register("src", mixed_table())
    con.execute("CREATE TABLE people AS SELECT * FROM src")
    con.execute("CREATE VIEW people_v AS SELECT * FROM people")
    con.execute("CREATE TABLE tiny AS SELECT * FROM people LIMIT 20")
    return con


def ref(con, name):
    return con.sql(f'select * from "memory"."main"."{name}"')  # what dbt-duckdb's ref() returns


def test_stages_spend_and_returns_twin(session):
    out = synthesize(DBT, session, ref(session, "people"), settings={"dp_synth": {
        "epsilon": 1.0, "seed": 0, "spec": {"id": {"role": "key"}}, "training": {"epochs": 1, "batch_size": 64, "pretrain_rows": 2000}}})
    assert out.column_names == mixed_table().column_names
    staged = session.execute(f"SELECT source, twin, dbt_model, epsilon FROM {PENDING_TABLE}").fetchall()
    assert staged[0][:3] == ("main.people", "main_synthetic.people", "people") and staged[0][3] <= 1.0


@pytest.mark.parametrize("name, settings, message", [
    ("people", {}, "epsilon is missing"),
    ("people", {"epsilon": -1}, "epsilon must be a finite number"),
    ("people", {"epsilon": 1, "colour": "red"}, "unknown dp_synth settings"),
    ("people_v", {"epsilon": 1}, "is a view"),
    ("tiny", {"epsilon": 1}, "fewer than about 100 rows"),
])
def test_bad_input_names_model_and_fix(session, name, settings, message):
    with pytest.raises(InputError, match=message):
        synthesize(DBT, session, ref(session, name), settings={"dp_synth": settings})
    assert not session.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                               [PENDING_TABLE]).fetchall()[0][0]


def test_model_file_saved_and_a_failed_runs_file_removed_by_the_next_run(tmp_path):
    """The dbt run saves its model file (validate re-derives the holdout from it); when the run
    fails before its post-hook, the next run discards the staged row *and* that file."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.register("src", mixed_table())
    con.execute("CREATE TABLE people AS SELECT * FROM src")
    settings = {"dp_synth": {"epsilon": 1.0, "spec": {"id": {"role": "key"}},
                             "training": {"epochs": 1, "batch_size": 64, "pretrain_rows": 2000}}}
    synthesize(DBT, con, con.sql('select * from "w"."main"."people"'), settings=settings)
    first = con.execute(f"SELECT model_path FROM {PENDING_TABLE}").fetchall()[0][0]
    assert first.startswith(str(tmp_path / ".dp_synth" / "models")) and (tmp_path / first).is_file()
    # no post-hook ran (as when dbt fails): the next run starts over
    synthesize(DBT, con, con.sql('select * from "w"."main"."people"'), settings=settings)
    paths = [r[0] for r in con.execute(f"SELECT model_path FROM {PENDING_TABLE}").fetchall()]
    assert len(paths) == 1 and paths[0] != first
    assert not (tmp_path / first).exists() and (tmp_path / paths[0]).is_file()


def test_unknown_validation_input_is_refused_before_training(session):
    with pytest.raises(InputError, match=r"dbt model 'people': unknown validation settings \['goal'\]"):
        synthesize(DBT, session, ref(session, "people"), settings={"dp_synth": {"epsilon": 1.0, "validate": {"goal": "x"}}})
    assert session.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                           [PENDING_TABLE]).fetchall()[0][0] == 0
