"""Bad input: a clear error naming what is wrong, before any training, and nothing written."""
import os
import subprocess
import sys
import time

import duckdb
import pytest
from safetensors.torch import load_file, save_file

import dp_synth
from dp_synth import ArtifactError, InputError
from conftest import CFG, snapshot

pytestmark = pytest.mark.reliability


def _never_trains(monkeypatch):
    import importlib

    def boom(*a, **k):
        raise AssertionError("training started although the input was bad")

    monkeypatch.setattr(importlib.import_module("dp_synth.runtime"), "fit", boom)


@pytest.mark.parametrize("spec, message", [
    ({"city": {"bounds": [0, 1]}}, "bounds apply to numbers"),
    ({"age": {"categories": [1, 2]}}, "categories apply to string columns"),
    ({"city": {"kind": "integer"}}, "does not fit the column's type"),
    ({"city": {"kind": "boolean"}}, "does not fit the column's type"),
    ({"city": {"categories": [["a"], {"b": 1}]}}, "plain values"),
    ({"age": {"bounds": [0, float("inf")]}}, "finite"),
    ({"age": {"bounds": [-1e308, 1e308]}}, "exceed what type"),
    ({"age": {"bounds": "0-10"}}, "bounds must be"),
])
def test_spec_that_does_not_fit_the_type(db, monkeypatch, spec, message):
    _never_trains(monkeypatch)
    before = snapshot(db)
    with pytest.raises(InputError, match=message):
        dp_synth.synthesize(str(db), "main.s3k", 1.0, spec={"columns": spec}, config=CFG)
    assert snapshot(db) == before


def test_declared_categories_that_miss_the_data_are_an_error(db):
    before = snapshot(db)
    with pytest.raises(InputError, match="not among the declared categories"):
        dp_synth.synthesize(str(db), "main.s3k", 2.0, spec={"columns": {"city": {"categories": ["x", "y"]}}},
                            config=CFG)
    assert snapshot(db) == before


@pytest.mark.parametrize("kwargs, message", [
    ({"rows": 10_000_000_000}, "force_rows"),
    ({"rows": 0}, "positive whole number"),
    ({"seed": -1}, "seed must be between"),
    ({"seed": 2**70}, "seed must be between"),
    ({"seed": "abc"}, "seed must be a whole number"),
    ({"epsilon": 1e-4}, "below the smallest"),
    ({"epsilon": 1e-300}, "below the smallest"),
    ({"epsilon": float("nan")}, "finite number"),
])
def test_bad_settings_refused_before_training(db, monkeypatch, kwargs, message):
    _never_trains(monkeypatch)
    args = {"epsilon": 1.0, **kwargs}
    eps = args.pop("epsilon")
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=message):
        dp_synth.synthesize(str(db), "main.s3k", eps, config=CFG, **args)
    assert time.perf_counter() - t0 < 30  # refused, not hung (generous: no timing target)


def test_rows_far_beyond_the_source_size_refused(db, monkeypatch):
    _never_trains(monkeypatch)
    with pytest.raises(InputError, match="100× the source"):
        dp_synth.synthesize(str(db), "main.s3k", 1.0, rows=300 * 101, config=CFG)


def test_hugeint_values_keep_their_magnitude(tmp_path):
    path = tmp_path / "h.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE main.big AS SELECT (17 + (range % 70)) * 1e21::HUGEINT AS h, range % 3 AS g "
                    "FROM range(600)")
    dp_synth.synthesize(str(path), "main.big", 4.0, seed=1, config=CFG)
    with duckdb.connect(str(path)) as con:
        types = con.execute("SELECT data_type FROM duckdb_columns() WHERE table_name = 'big' AND column_name = 'h' ORDER BY schema_name").fetchall()
        lo, hi = con.execute("SELECT min(h)::DOUBLE, max(h)::DOUBLE FROM main_synthetic.big").fetchall()[0]
    assert types[0] == types[1] == ("HUGEINT",)
    assert lo > 1e21 and 5e21 < hi < 2**78  # within the DP power-of-two bounds, not clamped to int64 (9.2e18)


def test_too_wide_table_refused_before_any_work(tmp_path, monkeypatch):
    _never_trains(monkeypatch)
    path = tmp_path / "w.duckdb"
    cols = ", ".join(f"range % {i + 2} AS c{i}" for i in range(150))
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE TABLE main.wide AS SELECT {cols} FROM range(50)")
    with pytest.raises(InputError, match="at most 100"):
        dp_synth.synthesize(str(path), "main.wide", 1.0, config=CFG)


def test_uuid_becomes_a_key_and_json_is_refused_before_training(tmp_path, monkeypatch):
    path = tmp_path / "u.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE main.u AS SELECT uuid() AS id, range % 5 AS g, ('{\"a\": ' || range || '}')::JSON AS j "
                    "FROM range(300)")
    with pytest.raises(InputError, match="column 'j' has type JSON"):
        dp_synth.synthesize(str(path), "main.u", 1.0, config=CFG)
    res = dp_synth.synthesize(str(path), "main.u", 1.0, seed=1, config=CFG, spec={"columns": {"j": {"role": "ignore"}}})
    with duckdb.connect(str(path)) as con:
        n, distinct = con.execute(f"SELECT count(*), count(DISTINCT id) FROM {res.twin.sql}").fetchall()[0]
    assert n == distinct > 0


def test_an_ignored_interval_column_is_never_read_for_training_and_the_twin_validates(tmp_path, monkeypatch):
    """An INTERVAL column (which polars cannot import) declared ignore: the run read every column for DP-SGD
    and stopped with polars' traceback, and so did `validate`. Training now reads only the learned columns
    (an ignored, key or PII column never leaves the source), and validation reads only what the twin learned."""
    from dp_synth.engines.duckdb import DuckDBEngine
    from dp_synth.validate import validate

    path = tmp_path / "iv.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE main.iv AS SELECT range % 7 AS g, (range * 13) % 101 AS x, "
                    "to_seconds(range) AS waited, 'secret-' || range AS note FROM range(1200)")
    reads = []
    real_read = DuckDBEngine.read

    def spy(self, rel, where=(), repeats=None, columns=None):
        reads.append((rel.name, columns))
        return real_read(self, rel, where, repeats, columns)

    monkeypatch.setattr(DuckDBEngine, "read", spy)
    spec = {"columns": {"waited": {"role": "ignore"}, "note": {"role": "pii"}}}
    res = dp_synth.synthesize(str(path), "main.iv", 1.0, seed=1, config=CFG, spec=spec)
    assert ("iv", ["g", "x"]) in reads and all(cols is not None and "note" not in cols for _, cols in reads)
    with duckdb.connect(str(path)) as con:
        n, waited = con.execute(f"SELECT count(*), count(waited) FROM {res.twin.sql}").fetchall()[0]
        typ = con.execute(f"SELECT typeof(waited) FROM {res.twin.sql} LIMIT 1").fetchall()[0][0]
    assert n > 0 and waited == 0 and typ == "INTERVAL"
    reads.clear()
    result = validate(str(path), str(res.twin), suite="utility", out=tmp_path / "out")
    assert result.suites["utility"]["evaluated"] > 0
    assert reads and all(cols == ["g", "x"] for _, cols in reads), reads  # the twin's and the source's rows


def test_an_ignored_interval_column_in_memory_is_split_and_fitted():
    """The library path hashes whole rows for its holdout in polars: an interval column is hashed by its
    bytes (months, days, nanoseconds), not refused with polars' traceback; equal intervals hash alike."""
    from dp_synth.holdout import row_hashes

    t = duckdb.sql("SELECT range % 7 AS g, (range * 13) % 101 AS x, to_seconds(range % 50) AS waited "
                   "FROM range(1500)").to_arrow_table()
    m = dp_synth.fit(t, epsilon=2.0, seed=0, spec={"columns": {"waited": {"role": "ignore"}}}, config=CFG)
    assert sum(b.num_rows for b in m.sample_batches(50, seed=0)) == 50
    h = row_hashes(t, "00" * 32)
    other = row_hashes(t.set_column(2, "waited", duckdb.sql("SELECT to_seconds(range % 50 + 1) AS w "
                                                             "FROM range(1500)").to_arrow_table().column(0)), "00" * 32)
    assert len(set(h.tolist())) == 1500 and (h != other).all()


@pytest.mark.parametrize("make, message", [
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_bytes(b"not a database at all" * 100), "cannot be opened as a DuckDB|not a DuckDB"),
])
def test_bad_database_paths(tmp_path, make, message):
    p = tmp_path / "bad.duckdb"
    make(p)
    with pytest.raises(InputError, match=message):
        dp_synth.synthesize(str(p), "main.s3k", 1.0, config=CFG)


def test_non_path_db_object_is_refused_without_writing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    class SparkSession:  # what a Spark user might pass
        pass

    with pytest.raises(InputError, match="DuckDB file path, a duckdb connection or a SparkSession"):
        dp_synth.synthesize(SparkSession(), "db.t", 1.0)
    assert list(tmp_path.iterdir()) == []


def test_locked_database_is_a_clear_error(db):
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); time.sleep(60)", str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(InputError, match="in use by another process"):
            dp_synth.synthesize(str(db), "main.s3k", 1.0, config=CFG)
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_database_file(db, monkeypatch):
    os.chmod(db, 0o444)
    try:
        with pytest.raises(InputError, match="not writable|cannot be opened"):
            dp_synth.synthesize(str(db), "main.s3k", 1.0, config=CFG)
    finally:
        os.chmod(db, 0o644)


def test_read_only_connection_refused_before_training(db, monkeypatch):
    _never_trains(monkeypatch)
    con = duckdb.connect(str(db), read_only=True)
    with pytest.raises(InputError, match="read-only"):
        dp_synth.synthesize(con, "main.s3k", 1.0, config=CFG)
    con.close()


def _model(tmp_path):
    import polars as pl

    df = pl.DataFrame({"a": [i % 7 for i in range(400)], "b": ["x", "y"] * 200})
    path = tmp_path / "m.safetensors"
    dp_synth.fit(df, 2.0, seed=0, config=CFG).save(path)
    return path


def _forge(path, document, tensors=None):
    from dp_synth.artifact import write_artifact

    write_artifact(path, document, tensors if tensors is not None else load_file(str(path)))


def test_forged_deeply_nested_model_file_is_refused(tmp_path):
    path = _model(tmp_path)
    nested = {"x": None}
    for _ in range(100_000):
        nested = {"x": nested}
    doc = '{"a": ' + "[" * 200_000 + "]" * 200_000 + "}"
    from dp_synth.artifact import FORMAT, _digest

    tensors = load_file(str(path))
    save_file(tensors, str(path), metadata={"format": FORMAT, "document": doc, "sha256": _digest(doc, tensors)})
    with pytest.raises(ArtifactError, match="too deeply nested|too large"):
        dp_synth.SynthModel.load(path)


def test_forged_huge_hidden_size_refused_before_allocating(tmp_path):
    from dp_synth.artifact import read_artifact

    path = _model(tmp_path)
    doc, tensors = read_artifact(path)
    doc["generator"]["config"]["hidden"] = 2_000_000
    _forge(path, doc, tensors)
    t0 = time.perf_counter()
    with pytest.raises(ArtifactError, match="do not match its weights"):
        dp_synth.SynthModel.load(path)
    assert time.perf_counter() - t0 < 10


@pytest.mark.slow
def test_more_than_2gb_of_strings_in_one_column(tmp_path):
    """2,200 strings of 1 MB: beyond Arrow's 32-bit string offsets (an overflow before)."""
    path = tmp_path / "big.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE main.s AS SELECT range % 5 AS g, repeat(chr(65 + (range % 26)::INT), 1000000) "
                    "|| range::VARCHAR AS blob FROM range(2200)")
        con.execute("SET arrow_large_buffer_size = false")
        res = dp_synth.synthesize(con, "main.s", 1.0, seed=1, config=CFG)
        assert con.execute("SELECT current_setting('arrow_large_buffer_size')").fetchall()[0][0] is False
        assert con.execute(f"SELECT count(*) FROM {res.twin.sql}").fetchall()[0][0] == res.rows > 0


@pytest.mark.parametrize("make, spec, column", [
    ("CASE WHEN range % 50 = 0 THEN 'nan'::DOUBLE ELSE range / 7.0 END", {}, "holds NaN or infinite"),
    ("[range, range + 1]", {}, "cannot be learned"),
    ("('{\"a\": ' || range || '}')::JSON", {}, "has type JSON"),
    ("range::VARCHAR", {"x": {"kind": "integer"}}, "does not fit the column's type"),
])
def test_errors_that_suggest_a_cast_suggest_a_copy_not_a_view(tmp_path, make, spec, column):
    """Views are refused (a view has no fixed content to fingerprint and cap), so the errors that ask for
    a cast or a cleaned column point to a copy (CREATE TABLE … AS SELECT); before, they said "in a view"."""
    path = tmp_path / "v.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE TABLE main.t AS SELECT {make} AS x, range % 3 AS k FROM range(3000)")
        con.execute("CREATE VIEW main.v AS SELECT * FROM main.t")
    before = snapshot(path)
    with pytest.raises(InputError, match=column) as err:
        dp_synth.synthesize(str(path), "main.t", 1.0, spec={"columns": spec}, config=CFG)
    assert snapshot(path) == before
    assert "CREATE TABLE … AS SELECT" in str(err.value) and "views are refused" in str(err.value)
    with pytest.raises(InputError, match="is a view"):  # the advice of before
        dp_synth.synthesize(str(path), "main.v", 1.0, config=CFG)
