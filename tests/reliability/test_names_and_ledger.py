"""Never destroy a table: names resolved through the catalog, the ledger validated, transactions ours."""
import math

import duckdb
import pytest

import dp_synth
from dp_synth import BudgetExceededError, InputError
from dp_synth.io.ledger import LedgerError
from conftest import CFG, snapshot

pytestmark = pytest.mark.reliability


@pytest.mark.parametrize("target", ["MAIN.S3K", "main.S3k", '"MAIN"."S3K"', "s3k", '"Main"."s3K"'])
def test_case_variant_target_never_replaces_the_source(db, target):
    before = snapshot(db)
    with pytest.raises(InputError, match="source table itself"):
        dp_synth.synthesize(str(db), "main.s3k", 1.0, target=target, config=CFG)
    assert snapshot(db) == before


def test_default_run_never_drops_a_user_table_spelt_differently(db):
    with duckdb.connect(str(db)) as con:
        con.execute('CREATE SCHEMA "Main_Synthetic"; CREATE TABLE "Main_Synthetic"."S3K" AS SELECT 42 AS mine')
    before = snapshot(db)
    with pytest.raises(InputError, match="not created by dp-synth"):
        dp_synth.synthesize(str(db), "main.s3k", 1.0, config=CFG)
    assert snapshot(db) == before


def test_source_of_another_twin_is_never_a_target(db):
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE main.other AS SELECT * FROM main.s3k")
    dp_synth.synthesize(str(db), "main.other", 1.0, seed=1, config=CFG, target="main.other_twin")
    # a user who now twins other_twin into... main.other (a source) is refused
    with pytest.raises(InputError, match="source"):
        dp_synth.synthesize(str(db), "main.s3k", 1.0, seed=1, config=CFG, target="MAIN.OTHER")


def test_callers_open_transaction_is_refused_and_kept(db):
    con = duckdb.connect(str(db))
    con.execute("BEGIN")
    con.execute("CREATE TABLE main.mine AS SELECT 1 AS x")
    with pytest.raises(InputError, match="open transaction"):
        dp_synth.synthesize(con, "main.s3k", 1.0, config=CFG)
    con.execute("COMMIT")
    assert con.execute("SELECT x FROM main.mine").fetchall() == [(1,)]
    con.close()


@pytest.mark.parametrize("edit", ["twin", "negative", "null", "nan"])
def test_hand_edited_ledger_grants_nothing(db, edit):
    dp_synth.synthesize(str(db), "main.s3k", 0.5, seed=1, config=CFG, budget_cap=1.0)
    with duckdb.connect(str(db)) as con:
        if edit == "twin":
            con.execute("UPDATE main.dp_synth_ledger SET twin = 'main.s3k', twin_schema = 'main', twin_table = 's3k'")
        else:
            value = {"negative": "-100", "null": "NULL", "nan": "'nan'::DOUBLE"}[edit]
            con.execute(f"UPDATE main.dp_synth_ledger SET epsilon = {value}")
    before = snapshot(db)
    with pytest.raises(LedgerError, match="ledger row run_id=.* is invalid"):
        dp_synth.synthesize(str(db), "main.s3k", 0.9, seed=2, config=CFG, budget_cap=1.0,
                            target="main.s3k" if edit == "twin" else None)
    assert snapshot(db) == before


@pytest.mark.parametrize("cap", [math.nan, math.inf, -1.0, "lots"])
def test_bad_caps_are_refused(db, cap):
    with pytest.raises(BudgetExceededError, match="budget_cap must be"):
        dp_synth.synthesize(str(db), "main.s3k", 1.0, config=CFG, budget_cap=cap)


def test_delta_is_capped(db):
    dp_synth.synthesize(str(db), "main.s3k", 0.5, delta=1e-5, seed=1, config=CFG, target="main.t1")
    with pytest.raises(BudgetExceededError, match="δ cap"):
        dp_synth.synthesize(str(db), "main.s3k", 0.5, delta=1e-5, seed=2, config=CFG, target="main.t2",
                            delta_cap=1.5e-5)


def test_views_are_refused_and_copies_share_the_cap(db):
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE VIEW main.v AS SELECT * FROM main.s3k")
        con.execute("CREATE TABLE main.copy AS SELECT * FROM main.s3k ORDER BY random()")
    with pytest.raises(InputError, match="is a view"):
        dp_synth.synthesize(str(db), "main.v", 1.0, config=CFG)
    dp_synth.synthesize(str(db), "main.s3k", 1.0, seed=1, config=CFG, budget_cap=1.5)
    with pytest.raises(BudgetExceededError, match="already spent"):  # same content: same budget
        dp_synth.synthesize(str(db), "main.copy", 1.0, seed=1, config=CFG, budget_cap=1.5)


def test_attached_database_name_is_refused_before_training(db, tmp_path):
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    con = duckdb.connect(str(db))
    con.execute(f"ATTACH '{other}' AS side")
    with pytest.raises(InputError, match="attached database"):
        dp_synth.synthesize(con, "main.s3k", 1.0, target="side.t", config=CFG)
    con.close()


def test_twin_replaced_by_real_rows_is_not_reused(db):
    dp_synth.synthesize(str(db), "main.s3k", 1.0, seed=1, config=CFG)
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM main_synthetic.s3k; INSERT INTO main_synthetic.s3k SELECT * FROM main.s3k")
    with pytest.raises(InputError, match="changed after dp-synth wrote it"):
        dp_synth.synthesize(str(db), "main.s3k", 1.0, seed=1, config=CFG)


def test_unchanged_rebuild_in_another_row_order_is_reused(db):
    first = dp_synth.synthesize(str(db), "main.s3k", 1.0, seed=1, config=CFG)
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE main.tmp AS SELECT * FROM main.s3k ORDER BY random(); DROP TABLE main.s3k; "
                    "ALTER TABLE main.tmp RENAME TO s3k")
    again = dp_synth.synthesize(str(db), "main.s3k", 1.0, seed=1, config=CFG)
    assert again.reused and again.ledger_row["run_id"] == first.ledger_row["run_id"]


def test_reuse_only_from_the_latest_run(db):
    a = dp_synth.synthesize(str(db), "main.s3k", 1.0, seed=1, config=CFG)
    b = dp_synth.synthesize(str(db), "main.s3k", 0.5, seed=1, config=CFG)
    c = dp_synth.synthesize(str(db), "main.s3k", 1.0, seed=1, config=CFG)
    assert not b.reused and not c.reused and c.ledger_row["run_id"] not in (a.ledger_row["run_id"],)
    with duckdb.connect(str(db)) as con:
        assert con.execute("SELECT count(*) FROM main.dp_synth_ledger").fetchall()[0][0] == 3
