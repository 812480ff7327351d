"""The DP measurements as DuckDB aggregate queries: the same counts as the in-memory reference, and
the run path measures in the engine (only counts come back; DP-SGD reads a bounded keyed sample)."""
import duckdb
import numpy as np
import pytest

import dp_synth
from dp_synth.counts import Fine, Pow2, TimeOfDay
from dp_synth.engines import open_engine
from dp_synth.engines.aggregates import cell_sql, number
from dp_synth.engines.base import Keyed
from dp_synth.io.relation import Relation
from helpers import FAST, adult_sample, assert_engine_counts_match_memory, awkward_numbers_table


@pytest.fixture()
def engine():
    con = duckdb.connect()
    eng = open_engine(con)
    eng.create_table(Relation("main", "awkward"), awkward_numbers_table(times=True))
    yield eng
    con.close()


def test_engine_counts_equal_memory_counts(engine):
    assert_engine_counts_match_memory(engine, Relation("main", "awkward"))


def test_engine_counts_respect_the_keyed_scope(engine):
    rel = Relation("main", "awkward")
    outside = (Keyed("k" * 64, 0.3, inside=False),)
    inside = (Keyed("k" * 64, 0.3),)
    assert engine.counts(rel, outside).rows() + engine.counts(rel, inside).rows() == 600
    assert 100 < engine.counts(rel, inside).rows() < 260
    assert_engine_counts_match_memory(engine, rel, outside)


def test_literals_are_exact_and_cells_are_searched_not_scanned():
    con = duckdb.connect()
    for x in (0.1, -2.0**-20, 1e300, 123456789.123456789, 5e-324):
        assert con.execute(f"SELECT {number(x)} = ?", [x]).fetchall()[0][0]
    sql = cell_sql("v", Fine(0.0, 1.0, tuple(np.linspace(0, 1, 257)[:-1]), tuple(np.linspace(0, 1, 257)[1:])))
    assert sql.count("WHEN") == 255  # a binary search: depth log2(256) per row, one comparison per node
    for x in (-1.0, 0.0, 0.3, 0.5, 1.0, 7.0):
        assert con.execute(f"SELECT {cell_sql(number(x), Pow2(62))}").fetchall()[0][0] == Pow2(62).index(np.array([x]))[0]


def test_synthesize_measures_in_the_engine_and_reads_only_the_sample(tmp_path, monkeypatch):
    import dp_synth.source as source
    from dp_synth.engines.duckdb import DuckDBEngine

    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.register("t", adult_sample(4000, seed=2).to_arrow())
        con.execute("CREATE TABLE adult AS SELECT * FROM t")
    monkeypatch.setattr(source, "TRAIN_SAMPLE_ROWS", 1000)
    reads, queries = [], []
    real_read, real_query = DuckDBEngine.read, DuckDBEngine.query
    monkeypatch.setattr(DuckDBEngine, "read", lambda self, rel, where=(), repeats=None, columns=None: reads.append(
        (str(rel), where, columns)) or real_read(self, rel, where, repeats, columns))
    monkeypatch.setattr(DuckDBEngine, "query", lambda self, sql, params=(): queries.append(sql) or real_query(
        self, sql, params))
    res = dp_synth.synthesize(str(path), "adult", 2.0, config=FAST, seed=1)
    row = res.ledger_row
    source_reads = [w for r, w, _ in reads if r == "main.adult"]
    assert len(source_reads) == 1  # only DP-SGD's rows come back, and only once
    assert [c for r, _, c in reads if r == "main.adult"] == [res.model.metadata["learned_columns"]]
    (sample, not_held) = source_reads[0]
    assert sample == Keyed(row["sample_key"], row["sample_rate"]) and sample.inside
    assert not_held == Keyed(row["holdout_key"], 0.2, inside=False)
    assert any("GROUPING SETS" in q for q in queries) and len(queries) <= 8  # a few scans, whatever the width
    assert abs(res.rows - 4000) < 400  # the twin has the whole table's (DP) size
    assert set(res.seconds) == {"measure", "read", "fit", "write"} and res.seconds["measure"] > 0
    learned_from = row["sample_rate"] * 0.8 * 4000
    assert abs(res.model.metadata["sample_rate"] * learned_from - FAST.batch_size) < 0.2 * FAST.batch_size


def test_a_column_named_like_the_row_does_not_replace_the_row_in_hashes(engine):
    """DuckDB resolves ``hash(t)`` to a column ``t`` before the table alias ``t``: the fingerprint and the
    keyed filters must hash the whole row whatever the columns are called."""
    con = engine.con
    con.execute('CREATE TABLE main.cols AS SELECT 1 AS t, i AS "__dp_synth_row", i % 7 AS u FROM range(2000) r(i)')
    rel = Relation("main", "cols")
    before = engine.fingerprint(rel)
    con.execute("UPDATE main.cols SET u = u + 1 WHERE u = 3")
    assert engine.fingerprint(rel) != before  # a change outside column t is seen
    held = engine.counts(rel, (Keyed("k" * 64, 0.3),)).rows()
    assert 450 < held < 750  # ~30 % of rows, not all-or-nothing by the constant column t


def test_bin_search_equals_the_encoder_when_a_bin_edge_splits_at_the_zero_atom():
    import polars as pl

    from dp_synth.encoding import _encode_column
    from dp_synth.engines.aggregates import bin_sql
    from dp_synth.bounds import Octaves
    from dp_synth.cells import _by_octave, _cells
    from dp_synth.profile import NumericProfile
    from dp_synth.spec import Kind

    con = duckdb.connect()
    rng = np.random.default_rng(0)
    octaves = Octaves(20, tuple([0.0] * 21 + [50.0 * (b % 3) for b in range(1, 32)]), 1.0)  # cells by octave too
    cases = [(lo, hi, integral, *_cells(lo, hi, integral, 24))
             for lo, hi, integral in ((-5.0, 17.0, False), (0.0, 40.0, True), (-3.0, 90.0, True), (2.0, 9.0, True))]
    cases += [(lo, hi, integral, *_by_octave(lo, hi, integral, 24, octaves))
              for lo, hi, integral in ((0.0, 2048.0, False), (0.0, 2048.0, True), (3.0, 1000.0, True))]
    for lo, hi, integral, lows, highs in cases:
        for trial in range(6):
            cuts = sorted(set(rng.choice(np.arange(1, len(lows)), size=rng.integers(1, 8), replace=False).tolist()))
            col = NumericProfile("x", Kind.FLOAT if not integral else Kind.INTEGER, lo, hi, tuple(lows.tolist()),
                                 tuple(highs.tolist()), tuple([1.0] * len(lows)), tuple([0, *cuts, len(lows)]), 0.0)
            x = np.concatenate([lows, highs, [0.0, lo - 1, hi + 1], rng.uniform(lo - 2, hi + 2, 50)])
            x = np.round(x) if integral else x
            want = _encode_column(col, pl.Series("x", x))
            got = [con.execute(f"SELECT {bin_sql(number(v), col)}").fetchall()[0][0] for v in x.tolist()]
            assert got == want.tolist(), (lo, hi, cuts)


def test_pair_tables_are_measured_in_batches_of_grouping_sets_with_the_same_counts(engine, monkeypatch):
    """DuckDB keeps a hash table per grouping set: the 4,950 pairs of a 100-column table in one query ran
    out of the connection's 1 GB on 20,000 rows. Batches of PAIRS_PER_QUERY sets give the same tables."""
    import dp_synth.engines.aggregates as aggregates
    from dp_synth.engines.duckdb import DuckDBEngine

    queries = []
    real_query = DuckDBEngine.query
    monkeypatch.setattr(DuckDBEngine, "query", lambda self, sql, params=(): queries.append(sql) or real_query(
        self, sql, params))
    monkeypatch.setattr(aggregates, "PAIRS_PER_QUERY", 4)
    assert_engine_counts_match_memory(engine, Relation("main", "awkward"))
    batches = [q.split("GROUPING SETS", 1)[1].count("(c") for q in queries if "GROUPING SETS" in q]
    assert len(batches) > 2 and max(batches) == 4


@pytest.mark.parametrize("top", [62, 128])
def test_power_of_two_cells_in_sql_equal_the_reference_at_every_octave_edge(top):
    """The octave is a search over exact powers of two: each power, its float neighbours, and values
    beyond both ends (clamped to the first and last octave) land where ``Pow2.index`` puts them."""
    powers = 2.0 ** np.arange(-40, top + 8, dtype=float)
    x = np.concatenate([powers, np.nextafter(powers, 0), np.nextafter(powers, np.inf), 1.5 * powers, [0.0, 5e-324]])
    x = np.concatenate([x, -x, np.random.default_rng(0).standard_cauchy(2_000) * 1e6])
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT unnest(?::DOUBLE[]) AS v, generate_subscripts(?::DOUBLE[], 1) AS i",
                [x.tolist(), x.tolist()])
    got = np.array([r[0] for r in con.execute(f"SELECT {cell_sql('v', Pow2(top))} FROM t ORDER BY i").fetchall()])
    assert np.array_equal(got, Pow2(top).index(x))


def test_code_tables_counted_by_exploded_keys_equal_memory_counts(engine):
    """The way Spark counts the tree's tables (one flat key per table and row group, exploded), spelled in
    DuckDB here: the same pair and triple tables as the in-memory reference, and no GROUPING SETS."""
    queries = []

    class Exploding(type(engine.dialect)):
        def explode_keys(self, keys):
            return "unnest([" + ", ".join(f"{{'p': {n}, 'k': {k}}}" for n, k in enumerate(keys)) + "])"

    engine.dialect = Exploding()
    real_query = engine.query
    engine.query = lambda sql, params=(): queries.append(sql) or real_query(sql, params)
    assert_engine_counts_match_memory(engine, Relation("main", "awkward"))
    assert any("unnest([" in q for q in queries) and not any("GROUPING SETS (\n" in q or "sum(n) FROM j GROUP BY "
                                                             "GROUPING" in q for q in queries)


@pytest.mark.parametrize("cells", [48, 7])
def test_time_of_day_cells_in_sql_equal_the_reference(cells):
    """A timestamp's clock-time cell in SQL is ``TimeOfDay.index``'s: before and after 1970, at midnight, at
    the day's last microsecond, on every cell edge and a microsecond either side of it."""
    day = TimeOfDay.DAY
    edges = np.array([k * day / cells for k in range(cells + 1)])
    days = np.array([-40_000, -1, 0, 1, 19_723, 2_000_000]) * day
    x = (days[:, None] + np.concatenate([edges, edges - 1, edges + 1, [day - 1, 0.0]])[None, :]).ravel()
    x = np.concatenate([x, np.random.default_rng(0).integers(-2**62, 2**62, 500).astype(float)])
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (SELECT unnest(?::DOUBLE[]) AS v, unnest(range(?)) AS i)", [x.tolist(), len(x)])
    got = np.array([r[0] for r in con.execute(f"SELECT {cell_sql('v', TimeOfDay(cells))} FROM t ORDER BY i").fetchall()])
    want = TimeOfDay(cells).index(x)
    assert np.array_equal(got, want)
    assert set(want[: len(days) * (3 * len(edges) + 2)].tolist()) == set(range(cells))  # every cell reached
