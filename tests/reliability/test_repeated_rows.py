"""Tables of many identical rows. The holdout and the training sample hash each row with its occurrence
among identical rows, so every group of identical rows is split like any other rows; before, a group was
held out or trained on whole (2,000 rows of 3 distinct values: twins of 2,525 rows, or of 1 row when the
holdout took the only distinct row). Also: the twin's size, an empty holdout, a holdout leaving too few rows."""
import duckdb
import pyarrow as pa
import pytest

import dp_synth
from dp_synth import InputError
from dp_synth.engines import open_engine
from dp_synth.engines.base import Keyed
from dp_synth.holdout import split
from dp_synth.io.relation import Relation
from dp_synth.report import build_report
from dp_synth.validate import pair as pair_module
from dp_synth.validate.pair import load_pair
from conftest import CFG, snapshot

pytestmark = pytest.mark.reliability


@pytest.fixture
def repeated(tmp_path):
    """2,000 rows: three distinct ones (`rep3`), or one (`same`)."""
    path = tmp_path / "rep.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE main.rep3 AS SELECT i % 3 AS x, 'v' || (i % 3) AS y FROM range(2000) t(i)")
        con.execute("CREATE TABLE main.same AS SELECT 7 AS x, 'v' AS y FROM range(2000) t(i)")
        con.execute("CREATE TABLE main.shuffled AS SELECT * FROM main.rep3 ORDER BY random()")
    return path


def _held_per_value(table: pa.Table) -> dict:
    xs = table.column("x").to_pylist()
    return {v: xs.count(v) for v in sorted(set(xs))}


def test_every_group_of_identical_rows_is_split_by_the_share_in_the_engine_and_in_memory(repeated):
    """≈ 20 % of each group of ≈ 667 identical rows is held out (a binomial spread of ≈ 10 rows), and
    the same rows whatever order the table is stored in; the in-memory split does the same."""
    with duckdb.connect(str(repeated)) as con:
        eng = open_engine(con)
        for key in ("a" * 64, "b" * 64):
            held = eng.read(Relation("main", "rep3"), (Keyed(key, 0.2),))
            kept = eng.read(Relation("main", "rep3"), (Keyed(key, 0.2, inside=False),))
            assert held.num_rows + kept.num_rows == 2000
            assert all(90 <= n <= 180 for n in _held_per_value(held).values()), _held_per_value(held)
            again = eng.read(Relation("main", "shuffled"), (Keyed(key, 0.2),))
            assert _held_per_value(again) == _held_per_value(held)
            assert held.column_names == ["x", "y"]
        table = eng.read(Relation("main", "rep3"))
    _, hold = split(table, 0.2, "c" * 64)
    assert all(90 <= n <= 180 for n in _held_per_value(hold).values()), _held_per_value(hold)


def test_repeats_found_once_keep_the_same_rows_as_every_scan_numbering_them(repeated):
    """The fit finds the rows that share a hash once (a temp table) and numbers only those; every keyed
    filter keeps exactly the rows it keeps with the window over the whole table — on unique rows, groups
    of identical rows and NULLs — and the temp table is gone after."""
    with duckdb.connect(str(repeated)) as con:
        con.execute("CREATE TABLE main.mixed AS SELECT i AS x, 'u' AS y FROM range(3000) t(i) UNION ALL "
                    "SELECT i % 5, CASE WHEN i % 2 = 0 THEN NULL ELSE 'v' END FROM range(1000) t(i) UNION ALL "
                    "SELECT NULL, NULL FROM range(40)")
        eng, rel = open_engine(con), Relation("main", "mixed")
        rows = lambda t: sorted(map(str, t.to_pylist()))  # noqa: E731
        with eng.repeated(rel) as repeats:
            assert con.execute(f'SELECT count(*) FROM temp."{repeats}"').fetchall()[0][0] == 11  # 5 × 2 + NULLs
            for where in ((Keyed("a" * 64, 0.2),), (Keyed("a" * 64, 0.2, inside=False), Keyed("s", 0.5))):
                once, each = eng.read(rel, where, repeats), eng.read(rel, where)
                assert rows(once) == rows(each) and 0 < once.num_rows < 4040
                assert once.column_names == ["x", "y"]
                with eng.scope(rel, where, repeats) as (sql, params):
                    assert con.execute(f"SELECT count(*) FROM ({sql})", params).fetchall()[0][0] == once.num_rows
        assert not con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchall()[0][0]


def test_the_twin_of_repeated_rows_keeps_the_tables_size_and_shares(repeated):
    """One distinct row, or three: the twin has ≈ 2,000 rows (the whole table's DP count, σ ≈ 16 rows at
    ε = 1) and, for three values in equal thirds, about a third of each."""
    for table, seed in (("same", 0), ("same", 4), ("rep3", 3)):
        result = dp_synth.synthesize(str(repeated), f"main.{table}", 1.0, seed=seed, config=CFG,
                                     target=f"main.{table}_twin{seed}")
        assert abs(result.rows - 2000) < 100, (table, seed, result.rows)
        with duckdb.connect(str(repeated)) as con:
            pair = load_pair(open_engine(con), f"main.{table}_twin{seed}")
            shares = dict(con.execute(f'SELECT x, count(*) / {result.rows} FROM main."{table}_twin{seed}" '
                                      "GROUP BY x").fetchall())
        assert pair.holdout is not None and 330 <= pair.holdout.height <= 470
        if table == "rep3":
            assert all(abs(shares.get(v, 0.0) - 1 / 3) < 0.1 for v in (0, 1, 2)), shares


def test_an_empty_holdout_leaves_the_risk_measures_out_instead_of_failing(repeated, monkeypatch):
    """A holdout that holds no row (the rule re-derived on a source with no row in it) is no control:
    validation and the report say so and leave the risk measures out, instead of failing them on
    undefined values or crashing on an empty nearest-neighbour fit."""
    dp_synth.synthesize(str(repeated), "main.rep3", 1.0, seed=3, config=CFG)
    real = pair_module._engine_holdout

    def empty(*args, **kwargs):
        train, hold, note = real(*args, **kwargs)
        return train, hold.slice(0, 0), note

    monkeypatch.setattr(pair_module, "_engine_holdout", empty)
    with duckdb.connect(str(repeated)) as con:
        pair = load_pair(open_engine(con), "main_synthetic.rep3")
    assert pair.holdout is None and pair.holdout_note.endswith("but it holds no row")
    report = build_report(str(repeated), None, None)
    twin = next(t for t in report["twins"] if t["twin"] == "main_synthetic.rep3")
    assert twin["measures"]["risk"]["unavailable"].endswith("but it holds no row")


def test_a_holdout_that_leaves_too_few_training_rows_is_refused(repeated):
    """The library's ``holdout=`` share near its limit leaves ≈ 220 of 2,000 rows: under ``min_rows`` by
    the DP count, the run stops with an error naming the table and what to do, having written nothing."""
    before = snapshot(repeated)
    with duckdb.connect(str(repeated)) as con:
        table = con.execute("SELECT * FROM main.rep3").to_arrow_table()
    with pytest.raises(InputError, match=r"'rep3'.*holdout \(share 0\.89\) leaves about .* fewer than 500"):
        dp_synth.fit(table, 1.0, seed=0, config=CFG, holdout=0.89, min_rows=500, table_name="rep3")
    assert dp_synth.fit(table, 1.0, seed=0, config=CFG, holdout=0.5, min_rows=500).default_rows > 1900
    assert snapshot(repeated) == before


def test_a_twin_whose_holdout_rule_is_not_this_versions_gets_no_re_derived_holdout(repeated, monkeypatch):
    """Twins built before the occurrence was hashed record the old rule in their model file: their holdout
    is not re-derived under the new one (it would be other rows, and the risk measures would count
    training rows as unseen); validation says why instead."""
    dp_synth.synthesize(str(repeated), "main.rep3", 1.0, seed=3, config=CFG)
    with duckdb.connect(str(repeated)) as con:
        eng = open_engine(con)
        assert load_pair(eng, "main_synthetic.rep3").holdout is not None
        monkeypatch.setattr(type(eng), "keyed_rule", "a row is held out iff DuckDB's hash(row, key) < share·2^64")
        pair = load_pair(eng, "main_synthetic.rep3")
    assert pair.holdout is None and "another rule than this version's" in pair.holdout_note
