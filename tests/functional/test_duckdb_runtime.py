"""synthesize() on DuckDB files: atomic twin + ledger, budget caps, reuse, odd identifiers."""

import duckdb
import pytest

import dp_synth
from dp_synth import BudgetExceededError, InputError
from dp_synth.engines.duckdb.ledger import DuckDBLedger as Ledger
from helpers import FAST, duckdb_with, mixed_table


@pytest.fixture
def db(tmp_path):
    path = duckdb_with(tmp_path / "wh.duckdb", people=mixed_table())
    with duckdb.connect(str(path)) as con:
        con.execute('CREATE SCHEMA "Sales Data"')
        con.execute('CREATE TABLE "Sales Data"."cust.omers ""x"" é" AS SELECT * FROM main.people')
    return path


ODD = '"Sales Data"."cust.omers ""x"" é"'


def run(db, table=ODD, **kw):
    kw.setdefault("epsilon", 1.0)
    return dp_synth.synthesize(str(db), table, seed=0, config=FAST, spec={"id": {"role": "key"}}, **kw)


def tables(con):
    return sorted(con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall())


def test_twin_written_next_to_source_with_same_schema(db):
    res = run(db)
    assert str(res.twin) == '"Sales Data_synthetic"."cust.omers ""x"" é"'
    with duckdb.connect(str(db)) as con:
        src = con.execute(f"DESCRIBE {res.source.sql}").fetchall()
        twin = con.execute(f"DESCRIBE {res.twin.sql}").fetchall()
        assert [(r[0], r[1]) for r in twin] == [(r[0], r[1]) for r in src]
        n = con.execute(f"SELECT count(*) FROM {res.twin.sql}").fetchone()[0]
        assert n == res.rows and abs(n - 400) < 100  # DP row count
        row = Ledger(con).rows()[0]
    assert row["source"] == str(res.source) and row["twin"] == str(res.twin)
    assert row["epsilon"] <= 1.0 and row["delta"] > 0 and row["invoked_by"] == "python"
    assert row["model_path"] and dp_synth.SynthModel.load(row["model_path"]).privacy.epsilon == row["epsilon"]
    assert "name" not in row["columns_learned"] and "id" not in row["columns_learned"]


def test_source_never_modified(db):
    with duckdb.connect(str(db)) as con:
        before = con.execute(f"SELECT * FROM {ODD} ORDER BY id").fetchall()
    run(db)
    with duckdb.connect(str(db)) as con:
        assert con.execute(f"SELECT * FROM {ODD} ORDER BY id").fetchall() == before


def test_rows_and_target(db):
    res = run(db, table="people", rows=123, target='"other"."twin name"')
    with duckdb.connect(str(db)) as con:
        assert con.execute('SELECT count(*) FROM "other"."twin name"').fetchone()[0] == 123 == res.rows


def test_failed_write_leaves_nothing(db, monkeypatch):
    with duckdb.connect(str(db)) as con:
        before = tables(con)

    def boom(self, fn, n=None, batch_size=100_000, **how):
        yield from original(self, fn, 50, 50, **how)  # 50 rows inserted, then the write fails
        raise RuntimeError("disk full")

    original = dp_synth.SynthModel.map_batches
    monkeypatch.setattr(dp_synth.SynthModel, "map_batches", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        run(db)
    with duckdb.connect(str(db)) as con:
        # no twin, no temp table; the ledger may exist (created race-free before the write) but is empty
        assert [t for t in tables(con) if not t[1].startswith("dp_synth_ledger")] == before
        assert con.execute("SELECT count(*) FROM main.dp_synth_ledger").fetchone()[0] == 0
    assert not list((db.parent / ".dp_synth" / "models").glob("*"))


def test_budget_cap_refuses_before_training_and_charges_nothing(db):
    run(db, epsilon=1.0, budget_cap=1.5)
    with duckdb.connect(str(db)) as con:
        before = con.execute("SELECT * FROM main.dp_synth_ledger").fetchall()
        twin_before = con.execute('SELECT * FROM "Sales Data_synthetic"."cust.omers ""x"" é" ORDER BY id').fetchall()
    with pytest.raises(BudgetExceededError, match=r"budget cap ε=1.5.*already spent ε=1.*asks ε=0.8"):
        run(db, epsilon=0.8, budget_cap=1.5)
    with duckdb.connect(str(db)) as con:
        assert con.execute("SELECT * FROM main.dp_synth_ledger").fetchall() == before
        assert con.execute('SELECT * FROM "Sales Data_synthetic"."cust.omers ""x"" é" ORDER BY id').fetchall() == twin_before


def test_unchanged_rerun_reuses_and_spends_nothing(db):
    first = run(db)
    second = run(db)
    assert second.reused and not first.reused
    with duckdb.connect(str(db)) as con:
        assert len(Ledger(con).rows()) == 1
        con.execute(f"INSERT INTO {ODD} SELECT * FROM {ODD} LIMIT 1")  # data changed → new spend
    assert not run(db).reused


@pytest.mark.parametrize("table, message", [("missing", "not found"), ('"Sales Data"', "not found"),
                                            ("a.b.c", "cannot read table name")])
def test_bad_tables(db, table, message):
    with pytest.raises(InputError, match=message):
        run(db, table=table)


def test_refuses_to_overwrite_foreign_table_or_source(db):
    with pytest.raises(InputError, match="not created by dp-synth"):
        run(db, table="people", target=ODD)
    with pytest.raises(InputError, match="source table itself"):
        run(db, table="people", target="main.people")


def test_empty_and_invalid_epsilon_write_nothing(db):
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE main.empty AS SELECT * FROM main.people LIMIT 0")
        before = tables(con)
    with pytest.raises(InputError, match="is empty"):
        run(db, table="empty")
    with pytest.raises(InputError, match="epsilon"):
        run(db, table="people", epsilon=float("nan"))
    with duckdb.connect(str(db)) as con:
        assert tables(con) == before


def test_twin_written_in_batches_from_several_threads_holds_every_batch_once(db, monkeypatch):
    """Each drawing thread inserts its own batches through its own cursor: all of them land, once."""
    from dp_synth.engines.duckdb import publish

    monkeypatch.setattr(publish, "ROW_GROUP_ROWS", 97)
    res = run(db, rows=1_000)
    with duckdb.connect(str(db)) as con:
        ids = [r[0] for r in con.execute(f"SELECT id FROM {res.twin.sql} ORDER BY id").fetchall()]
        assert not [t for t in tables(con) if t[1].startswith("__dp_synth")]
    assert ids == list(range(1, 1_001)) and res.rows == 1_000  # fresh keys are numbered batch by batch


def test_twin_lands_in_the_callers_current_database(db, tmp_path):
    """The inserting cursors use the caller's catalog and schema, not the connection's default."""
    other = tmp_path / "side.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(f"ATTACH '{other}' AS side")
        con.execute("CREATE TABLE side.main.people AS SELECT * FROM main.people")
        con.execute("USE side")
        res = dp_synth.synthesize(con, "main.people", 1.0, seed=0, config=FAST, spec={"id": {"role": "key"}},
                                  rows=150)
        assert con.execute("SELECT count(*) FROM side.main_synthetic.people").fetchone()[0] == 150 == res.rows
        assert not con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'wh' "
                               "AND schema_name = 'main_synthetic'").fetchone()[0]


def test_a_batch_the_column_types_refuse_fails_the_run_cleanly(db, monkeypatch):
    """An insert that DuckDB refuses in a drawing thread: a named error, no twin, no staging, no spend."""
    import pyarrow as pa

    from dp_synth import model as model_module

    original = model_module._Batches.table

    def bad(self, i):
        t = original(self, i)
        if i == 1:  # the second batch: the first is already in the staging table
            t = t.set_column(t.column_names.index("age"), "age", pa.array(["x"] * t.num_rows))
        return t

    monkeypatch.setattr(model_module._Batches, "table", bad)
    from dp_synth.engines.duckdb import publish

    monkeypatch.setattr(publish, "ROW_GROUP_ROWS", 50)
    with duckdb.connect(str(db)) as con:
        before = tables(con)
    with pytest.raises(InputError, match=r"does not fit the source's column types.*nothing was written"):
        run(db)
    with duckdb.connect(str(db)) as con:
        assert [t for t in tables(con) if not t[1].startswith("dp_synth_ledger")] == before
        assert con.execute("SELECT count(*) FROM main.dp_synth_ledger").fetchone()[0] == 0
    assert not list((db.parent / ".dp_synth" / "models").glob("*"))
