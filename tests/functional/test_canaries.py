"""Canary test: unique real values never reach any output a default run writes.

Rows with canaries go into a real table: a category held by 2 rows, another held by 1 row, and a
number far outside the column's range. Then synthesize, validate (both suites, the canary column as
ML target), report, and the dbt integration project are run with default options, and every file
they write, every table they write, and everything they print is searched for the canaries.
Only an explicit opt-in (the report's ``--real-statistics``) may show a real value.
"""
import contextlib
import io
import re
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

import dp_synth
from helpers import adult_sample

CANARIES = ["Zqxcanarytwo", "Zqxcanaryone", "8765432"]
pytestmark = pytest.mark.slow


def _with_canaries(n: int = 4000) -> pl.DataFrame:
    df = adult_sample(n, seed=7)
    df = df.with_row_index("_i").with_columns(
        native_country=pl.when(pl.col("_i") < 2).then(pl.lit(CANARIES[0])).otherwise(pl.col("native_country")),
        occupation=pl.when(pl.col("_i") == 2).then(pl.lit(CANARIES[1])).otherwise(pl.col("occupation")),
        capital_gain=pl.when(pl.col("_i") == 3).then(pl.lit(int(CANARIES[2]))).otherwise(pl.col("capital_gain")),
    ).drop("_i")
    return df


def _hits(blob: bytes) -> list[str]:
    """Canaries found in ``blob``. The number counts as a number — not inside a longer run of digits, with
    or without thousands separators: k/3240 = 0.0918209876543209… (any denominator divisible by 81 repeats
    …987654320…) put "8765432" inside a twin's share in about 1 run of 80."""
    words = [c for c in CANARIES[:2] if c.encode() in blob or c.lower().encode() in blob.lower()]
    number = CANARIES[2]
    forms = (number, f"{int(number):,}", f"{int(number):_}")
    hit = any(re.search(rb"(?<![0-9.])" + re.escape(f.encode()) + rb"(?![0-9])", blob) for f in forms)
    return words + ([number] if hit else [])


def _scan_files(root: Path, skip: set[Path]) -> dict[str, list[str]]:
    found = {}
    for p in root.rglob("*"):
        if p.is_file() and p not in skip and p.suffix != ".duckdb" and ".wal" not in p.name:
            h = _hits(p.read_bytes())
            if h:
                found[str(p)] = h
    return found


def _scan_tables(db: Path, real: set[str]) -> dict[str, list[str]]:
    found = {}
    with duckdb.connect(str(db)) as con:  # the config dbt-duckdb keeps open in-process
        for s, t in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall():
            if f"{s}.{t}" in real:
                continue
            text = repr(con.execute(f'SELECT * FROM "{s}"."{t}"').fetchall()).encode()
            h = _hits(text)
            if h:
                found[f"{s}.{t}"] = h
    return found


def test_the_canary_search_finds_the_number_but_not_digits_inside_other_numbers():
    assert _hits(b'{"max": 8765432}') == [CANARIES[2]] and _hits(b"max 8,765,432.0") == [CANARIES[2]]
    assert _hits(b"[0.09182098765432099, 18765432]") == []
    assert _hits(b"... Zqxcanaryone ...") == [CANARIES[1]]


def test_no_canary_in_any_output_of_a_default_run(tmp_path):
    from dp_synth.report import build_report
    from dp_synth.validate import validate

    db = tmp_path / "c.duckdb"
    df = _with_canaries()
    with duckdb.connect(str(db)) as con:
        con.register("t", df.to_arrow())
        con.execute("CREATE TABLE main.people AS SELECT * FROM t")
        con.unregister("t")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        res = dp_synth.synthesize(str(db), "main.people", 1.0, config=dp_synth.TrainingConfig(epochs=2))
        for target in ("native_country", "occupation"):
            validate(str(db), str(res.twin), target=target, secret=target, out=tmp_path / f"v_{target}")
        build_report(db, tmp_path / "report.html", tmp_path / "report.json")
    assert _hits(out.getvalue().encode() + err.getvalue().encode()) == []
    assert _scan_tables(db, {"main.people"}) == {}
    assert _scan_files(tmp_path, skip=set()) == {}
    # the opt-in really can show real values (so the search above could find them)
    real = build_report(db, tmp_path / "real.html", None, real_statistics=True)
    assert real["twins"][0]["source_rows"] == df.height and "Exact real statistics included" in (tmp_path / "real.html").read_text()
    default = build_report(db, None, None)
    assert default["twins"][0]["source_rows"] != df.height or default["twins"][0]["source_rows_dp"]


def test_no_canary_in_the_dbt_projects_outputs(tmp_path, monkeypatch):
    dbt_main = pytest.importorskip("dbt.cli.main")
    src = Path(__file__).resolve().parents[2] / "dbt_package"
    pkg = tmp_path / "dbt_package"
    shutil.copytree(src, pkg, ignore=shutil.ignore_patterns("dbt_packages", "target", "logs", "*.duckdb"))
    project = pkg / "integration_tests"
    seed = project / "seeds" / "adult_sample.csv"
    base = pl.read_csv(seed)
    rows = base.with_row_index("_i").with_columns(
        native_country=pl.when(pl.col("_i") < 2).then(pl.lit(CANARIES[0])).otherwise(pl.col("native_country")),
        occupation=pl.when(pl.col("_i") == 2).then(pl.lit(CANARIES[1])).otherwise(pl.col("occupation"))).drop("_i")
    rows.write_csv(seed)
    db = tmp_path / "it.duckdb"
    monkeypatch.setenv("DP_SYNTH_IT_DB", str(db))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    argv = ["--project-dir", str(project), "--profiles-dir", str(project)]
    assert dbt_main.dbtRunner().invoke(["deps", *argv]).success
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        dbt_main.dbtRunner().invoke(["build", *argv])
    assert _hits(out.getvalue().encode()) == []
    assert _scan_tables(db, {"main.adult_sample", "main.customers"}) == {}
    # everything dbt and dp-synth wrote: model files, logs, compiled SQL, run results (not the seed CSVs)
    found = {k: v for k, v in _scan_files(tmp_path, set()).items() if not k.startswith(str(pkg))}
    assert found == {}
