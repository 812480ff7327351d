"""The dbt package, driven through dbtRunner on dbt_package/integration_tests (dbt-duckdb)."""

from pathlib import Path

import duckdb
import pytest

dbt_main = pytest.importorskip("dbt.cli.main")

PROJECT = Path(__file__).resolve().parents[2] / "dbt_package" / "integration_tests"


@pytest.fixture
def dbt(tmp_path, monkeypatch):
    db = tmp_path / "it.duckdb"
    monkeypatch.setenv("DP_SYNTH_IT_DB", str(db))
    monkeypatch.delenv("DP_SYNTH_IT_EPSILON", raising=False)
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))  # keep the repo clean
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))

    def run(*args: str):
        argv = [*args, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)]
        return dbt_main.dbtRunner().invoke(argv)

    assert run("deps").success
    run.db = db
    return run


def ledger(db):
    with duckdb.connect(str(db)) as con:  # same config as dbt-duckdb keeps open in-process
        return con.execute("SELECT source, twin, epsilon, dbt_model, dbt_invocation_id, invoked_by "
                           "FROM main.dp_synth_ledger ORDER BY source").fetchall()


def table(db, name):
    with duckdb.connect(str(db)) as con:  # same config as dbt-duckdb keeps open in-process
        return con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()


@pytest.mark.slow
def test_build_twice_spends_once_and_tests_pass(dbt):
    res = dbt("build")
    assert res.success, [r.message for r in res.result if r.status not in ("success", "pass")]
    statuses = {r.node.name: r.status for r in res.result}
    assert all(s in ("success", "pass") for s in statuses.values())
    assert sum("dp_synth_" in n for n in statuses) == 8  # every generic test ran
    rows = ledger(dbt.db)
    assert [(r[0], r[1], r[3], r[5]) for r in rows] == [
        ("main.adult_sample", "main_synthetic.adult_sample", "adult_twin", "dbt"),
        ("main.customers", "main_synthetic.customers", "customers_twin", "dbt")]
    assert all(r[4] for r in rows) and rows[0][2] <= 3.0
    twin = table(dbt.db, "main_synthetic.customers")
    assert dbt("build").success
    assert ledger(dbt.db) == rows  # unchanged source and settings: no new spend
    assert table(dbt.db, "main_synthetic.customers") == twin


@pytest.mark.slow
def test_validate_after_build_finds_the_holdout_of_a_dbt_twin(dbt, tmp_path):
    """The documented step after `dbt build`: one command validates every twin with the inputs its
    model's meta declared; the dbt run saved the model file, so adult_sample's risk suite gets the
    20 % the generator never saw, while the 600-row customers twin (no holdout) gets utility only."""
    pytest.importorskip("great_expectations")
    from typer.testing import CliRunner

    from dp_synth.cli import app
    from dp_synth.validate import validate_all

    assert dbt("build").success
    results = validate_all(str(dbt.db), out=tmp_path / "v")
    adult, customers = results["main_synthetic.adult_sample"], results["main_synthetic.customers"]
    assert adult.source == "main.adult_sample" and "re-derived" in adult.holdout
    assert adult.rows["holdout"] + adult.rows["train"] == 1000 and 150 < adult.rows["holdout"] < 250
    assert adult.suites["risk"]["evaluated"] == 6 and adult.suites["utility"]["evaluated"] == 6
    assert adult.parameters["target"] == "income" and adult.parameters["positive"] == ">50K"  # from dbt meta
    assert set(customers.suites) == {"utility"} and "risk suite not run" in customers.notes[0]
    assert customers.parameters["target"] == "plan"
    assert (tmp_path / "v" / "data_docs" / "index.html").is_file()
    res = CliRunner().invoke(app, ["validate", "--db", str(dbt.db), "--out", str(tmp_path / "cli")])
    assert res.exit_code in (0, 1), res.output  # verdicts, not bad input
    assert "main_synthetic.adult_sample" in res.output and "main_synthetic.customers" in res.output
@pytest.mark.slow
def test_budget_cap_exceeded_fails_and_changes_nothing(dbt, monkeypatch):
    assert dbt("build").success
    before_ledger, before_twin = ledger(dbt.db), table(dbt.db, "main_synthetic.adult_sample")
    monkeypatch.setenv("DP_SYNTH_IT_EPSILON", "4.5")  # 3 spent + 4.5 > cap 5
    res = dbt("build", "--select", "adult_twin")
    assert not res.success
    msg = " ".join(str(r.message) for r in res.result)
    assert "budget cap ε=5" in msg and "already spent ε=3" in msg and "asks ε=4.5" in msg
    assert ledger(dbt.db) == before_ledger
    assert table(dbt.db, "main_synthetic.adult_sample") == before_twin


@pytest.mark.slow
def test_generic_tests_catch_copied_rows_and_bad_epsilon(dbt, monkeypatch):
    assert dbt("build").success
    with duckdb.connect(str(dbt.db)) as con:  # a "twin" that is the real data
        con.execute("CREATE OR REPLACE TABLE main_synthetic.customers AS SELECT * FROM main.customers")
    res = dbt("test", "--select", "customers_twin")
    failed = {r.node.name for r in res.result if r.status == "fail"}
    assert any("no_real_rows" in n for n in failed)
    monkeypatch.setenv("DP_SYNTH_IT_EPSILON", "lots")
    res = dbt("run", "--select", "adult_twin")
    assert not res.success and "epsilon must be a number" in " ".join(str(r.message) for r in res.result)
