"""GX validation of twins in DuckDB: a real DP twin passes, a copied twin fails the risk suite,
a twin of independently shuffled columns fails the utility suite, bad input is a clear error."""
import json
import shutil

import duckdb
import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

pytest.importorskip("great_expectations")

import dp_synth  # noqa: E402
from dp_synth.cli import app  # noqa: E402
from dp_synth.artifact import read_artifact  # noqa: E402
from dp_synth.errors import InputError  # noqa: E402
from dp_synth.engines import open_engine  # noqa: E402
from dp_synth.engines.base import Keyed  # noqa: E402
from dp_synth.io.relation import Relation  # noqa: E402
from dp_synth.engines.duckdb.ledger import DuckDBLedger as Ledger  # noqa: E402
from dp_synth.validate import validate  # noqa: E402
from dp_synth.validate.suites import load_suite  # noqa: E402
from helpers import FAST, adult_sample, duckdb_with, mixed_table  # noqa: E402

TWIN = "main_synthetic.adult"


@pytest.fixture(scope="module")
def adult_db(tmp_path_factory):
    """5,000 Adult rows and their DP twin at ε=3 (20 % holdout re-derivable from the model file)."""
    path = duckdb_with(tmp_path_factory.mktemp("v") / "adult.duckdb", adult=adult_sample(5000, seed=3).to_arrow())
    dp_synth.synthesize(str(path), "main.adult", epsilon=3.0, seed=5, budget_cap=10,
                        config=dp_synth.TrainingConfig(epochs=8))
    return path


def _copy(adult_db, tmp_path, sql: str):
    path = tmp_path / "copy.duckdb"
    shutil.copy(adult_db, path)
    with duckdb.connect(str(path)) as con:
        con.execute(sql)
    return path


def _copy_training_rows(adult_db, tmp_path):
    """A 'twin' that is the very rows the generator was trained on (holdout rows left out)."""
    path = _copy(adult_db, tmp_path, f"DELETE FROM {TWIN}")
    with duckdb.connect(str(path)) as con:
        row = Ledger(con).rows("main.adult")[-1]
        plan = read_artifact(row["model_path"])[0]["metadata"]["holdout"]
        assert "seed" not in plan and "key" not in plan  # the key lives in the ledger only
        assert plan["by"] == "engine"  # the CLI's holdout is DuckDB's keyed row hash
        train = open_engine(con).read(Relation("main", "adult"), (Keyed(row["holdout_key"], plan["share"], inside=False),))
        con.register("train_rows", train)
        con.execute(f"INSERT INTO {TWIN} SELECT * FROM train_rows")
    return path


def _failed(result, suite):
    return {e["type"] for e in result.suites[suite]["expectations"] if not e["success"]}


@pytest.mark.slow
def test_dp_twin_passes_both_suites_and_leaves_docs_summary_and_record(adult_db, tmp_path):
    result = validate(str(adult_db), TWIN, target="income", out=tmp_path / "out")
    assert result.success, result.failures
    assert set(result.suites) == {"utility", "risk"}
    assert result.suites["utility"]["evaluated"] == 6 and result.suites["risk"]["evaluated"] == 6
    assert result.rows["holdout"] > 800 and "re-derived" in result.holdout
    verdicts = {e["observed_value"]["verdict"] for e in result.suites["risk"]["expectations"]
                if e["type"] == "expect_twin_attack_risk_to_be_below"}
    assert verdicts <= {"below", "inconclusive"}, verdicts
    summary = json.loads((tmp_path / "out" / "main_synthetic.adult.json").read_text())
    assert summary["success"] is True and summary["source"] == "main.adult"
    docs = (tmp_path / "out" / "data_docs" / "index.html")
    pages = "".join(p.read_text() for p in (tmp_path / "out" / "data_docs").rglob("*.html"))
    assert docs.is_file() and "dp_synth_risk" in pages
    # each expectation rendered as a sentence with its thresholds, not as a raw call
    assert "closer to a training row than to a holdout row is between 0.4 and 0.6" in pages
    assert "2-way marginals to the source&#39;s is at most 0.15" in pages or "2-way marginals to the source's is at most 0.15" in pages
    with duckdb.connect(str(adult_db), read_only=True) as con:
        rows = con.execute("SELECT suite, success FROM main.dp_synth_validations WHERE twin = ? ORDER BY suite",
                           [TWIN]).fetchall()
    assert rows[-2:] == [("risk", True), ("utility", True)]


@pytest.mark.slow
def test_twin_of_copied_real_rows_fails_risk_suite(adult_db, tmp_path):
    db = _copy_training_rows(adult_db, tmp_path)
    result = validate(str(db), TWIN, suite="risk", target="income", out=tmp_path / "out")
    assert not result.success
    failed = _failed(result, "risk")
    assert {"expect_twin_copy_rate_to_match_holdout", "expect_twin_attack_risk_to_be_below"} <= failed
    dcr = next(e["observed_value"] for e in result.suites["risk"]["expectations"]
               if e["type"] == "expect_twin_dcr_share_to_be_between")
    assert dcr > 0.55  # closer to training rows than to unseen ones
    attacks = [e["observed_value"] for e in result.suites["risk"]["expectations"]
               if e["type"] == "expect_twin_attack_risk_to_be_below"]
    assert min(a["risk"] for a in attacks) > 0.2  # every attack beats its control by far (bound 0.1)
    assert "above" in {a["verdict"] for a in attacks}  # and at least one is judged above it


def test_the_pair_is_read_in_one_order_whatever_the_scan_order(adult_db, tmp_path):
    """The risk measures draw target rows by position: the rows come sorted, not in scan order, so the
    same twin and source give the same frames (and verdicts) when the tables are stored in another order
    (the source's fingerprint does not depend on it, so the holdout is re-derived as before)."""
    from dp_synth.validate.pair import load_pair

    path = _copy(adult_db, tmp_path, "CREATE OR REPLACE TABLE main.adult AS SELECT * FROM main.adult ORDER BY random()")
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE OR REPLACE TABLE {TWIN} AS SELECT * FROM {TWIN} ORDER BY random()")
    with duckdb.connect(str(adult_db), read_only=True) as a, duckdb.connect(str(path), read_only=True) as b:
        p, q = load_pair(open_engine(a), TWIN), load_pair(open_engine(b), TWIN)
        assert b.sql("SELECT count(*) FROM main.adult").fetchall() == a.sql("SELECT count(*) FROM main.adult").fetchall()
    assert p.holdout is not None and p.holdout.height > 500
    assert p.train.equals(q.train) and p.holdout.equals(q.holdout) and p.synthetic.equals(q.synthetic)


@pytest.mark.slow
def test_twin_of_independently_shuffled_columns_fails_utility_suite(adult_db, tmp_path):
    with duckdb.connect(str(adult_db)) as con:
        real = con.sql("SELECT * FROM main.adult").pl()
    rng = np.random.default_rng(0)
    shuffled = real.select([pl.Series(c, real[c].to_numpy(allow_copy=True)[rng.permutation(real.height)],
                                      dtype=real[c].dtype) for c in real.columns])
    db = duckdb_with(tmp_path / "s.duckdb", adult=real.to_arrow(), shuffled=shuffled.to_arrow())
    result = validate(str(db), "main.shuffled", source="main.adult", suite="utility", target="income",
                      out=tmp_path / "out")
    assert not result.success
    assert {"expect_twin_associations_to_match_source", "expect_twin_ml_efficacy_to_be_at_least"} <= _failed(
        result, "utility")
    one_way = next(e for e in result.suites["utility"]["expectations"] if e["kwargs"].get("k") == 1)
    assert one_way["success"]  # each column alone is perfect: only the joint structure is gone


@pytest.mark.slow
def test_spend_over_cap_fails_risk_suite(adult_db, tmp_path):
    db = _copy(adult_db, tmp_path, "UPDATE main.dp_synth_ledger SET budget_cap = 1.0")
    result = validate(str(db), TWIN, suite="risk", out=tmp_path / "out")
    assert _failed(result, "risk") == {"expect_twin_privacy_spend_within_cap"}


@pytest.mark.slow
def test_cli_exit_codes(adult_db, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", "--db", str(adult_db), "--table", TWIN, "--suite", "utility",
                             "--out", str(tmp_path / "o")])
    assert ok.exit_code == 0, ok.output
    assert "utility suite passed: 5/5" in ok.output and "skipped expect_twin_ml_efficacy" in ok.output
    risk = runner.invoke(app, ["validate", "--db", str(adult_db), "--table", TWIN, "--suite", "risk", "--secret",
                               "sex", "--out", str(tmp_path / "r")])
    assert risk.exit_code == 0, risk.output
    checks = json.loads((tmp_path / "r" / f"{TWIN}.json").read_text())["suites"]["risk"]["expectations"]
    unsure = [e["observed_value"]["attack"] for e in checks if e["type"] == "expect_twin_attack_risk_to_be_below"
              and e["observed_value"]["verdict"] == "inconclusive"]
    # sex: a control rate near 0.7 on a 1,000-row holdout leaves a wide interval (this seeded twin: also
    # relationship and marital status; race was inconclusive for the twin before stop 32's budget split)
    assert unsure
    assert risk.output.count("passed as inconclusive") == len(unsure)  # each said once, nothing said when sure
    assert all(f"? {a} attack" in risk.output for a in unsure)
    db = _copy_training_rows(adult_db, tmp_path)
    bad = runner.invoke(app, ["validate", "--db", str(db), "--table", TWIN, "--suite", "risk", "--out", str(tmp_path / "o")])
    assert bad.exit_code == 1 and "risk suite FAILED" in bad.output
    missing = runner.invoke(app, ["validate", "--db", str(db), "--table", "main_synthetic.nope"])
    assert missing.exit_code == 2 and "not found" in missing.output


@pytest.mark.slow
@pytest.mark.parametrize("sql, table, kwargs, message", [
    ("", "main_synthetic.nope", {}, "twin table 'main_synthetic.nope' not found"),
    ("CREATE TABLE main.thin AS SELECT age, income FROM main.adult", "main.thin", {"source": "main.adult"},
     "columns missing from the twin"),
    ("CREATE TABLE main.empty AS SELECT * FROM main.adult LIMIT 0", "main.empty", {"source": "main.adult"},
     "is empty"),
    ("CREATE TABLE main.orphan AS SELECT * FROM main.adult", "main.orphan", {}, "Pass --source"),
    ("CREATE TABLE main.nosplit AS SELECT * FROM main.adult", "main.nosplit", {"source": "main.adult"},
     "risk suite needs real rows"),
    ("", TWIN, {"target": "salary"}, "target column 'salary'"),
    ("", TWIN, {"suite": "speed"}, "unknown suite 'speed'"),
])
def test_bad_input_is_a_clear_error(adult_db, tmp_path, sql, table, kwargs, message):
    db = _copy(adult_db, tmp_path, sql or "SELECT 1")
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        validate(str(db), table, out=tmp_path / "out", **kwargs)


def test_every_packaged_expectation_loads(tmp_path):
    for name in ("utility", "risk"):
        raw = json.loads((__import__("pathlib").Path(dp_synth.__file__).parent / "suites" / f"{name}.json").read_text())
        loaded = load_suite(name, {"target": "t", "secret": "s", "epsilon_spent": 1.0, "epsilon_cap": 2.0})
        assert len(loaded.suite.expectations) == len(raw["expectations"]) and not loaded.skipped


def test_suite_with_unknown_expectation_type_is_refused(tmp_path):
    (tmp_path / "utility.json").write_text(json.dumps({"name": "u", "expectations": [
        {"type": "expect_twin_marginals_to_match_source", "kwargs": {"k": 1, "max_tvd": 0.1}},
        {"type": "expect_twin_to_be_magical", "kwargs": {}}]}))
    with pytest.raises(InputError, match=r"loaded 1 of 2 .*expect_twin_to_be_magical"):
        load_suite("utility", {}, tmp_path)


def test_unset_target_skips_ml_efficacy_and_says_why():
    loaded = load_suite("utility", {"target": None, "positive": None})
    assert [s["type"] for s in loaded.skipped] == ["expect_twin_ml_efficacy_to_be_at_least"]
    assert "target" in loaded.skipped[0]["reason"] and len(loaded.suite.expectations) == 5


def test_every_column_type_is_measured_and_keys_and_pii_are_left_out(tmp_path):
    """Keys, PII names, dates, timestamps, booleans, decimals and NULLs go through the batch round
    trip and every metric; a target with no signal in the real data does not blame the twin."""
    db = duckdb_with(tmp_path / "m.duckdb", people=mixed_table(1500))
    dp_synth.synthesize(str(db), "main.people", epsilon=3.0, seed=0, config=FAST,
                        spec={"columns": {"id": {"role": "key"}, "name": {"role": "pii"}}})
    result = validate(str(db), "main_synthetic.people", target="active", secret="city", out=tmp_path / "o")
    outcomes = [e for s in result.suites.values() for e in s["expectations"]]
    assert len(outcomes) == 12 and all(e["error"] is None for e in outcomes)
    columns = next(e["observed_value"]["columns"] for e in outcomes if e["type"] == "expect_twin_columns_to_match_source")
    assert set(columns) == {"age", "city", "income", "joined", "seen_at", "active", "balance"}  # no id, no name
    ml = next(e for e in outcomes if e["type"] == "expect_twin_ml_efficacy_to_be_at_least")
    assert ml["success"] and not ml["observed_value"]["real_has_skill"]  # 'active' is independent noise
    assert "not applicable" in ml["observed_value"]["note"]


def test_inputs_declared_at_build_time_are_used_and_bad_ones_refused_before_training(tmp_path):
    db = duckdb_with(tmp_path / "d.duckdb", people=mixed_table(1200))
    with pytest.raises(InputError, match=r"unknown validation settings \['colour'\]"):
        dp_synth.synthesize(str(db), "main.people", epsilon=2.0, seed=0, config=FAST, validation={"colour": "red"})
    with duckdb.connect(str(db)) as con:  # refused before any work: no twin, no ledger
        assert con.execute("SELECT count(*) FROM information_schema.tables").fetchall()[0][0] == 1
    dp_synth.synthesize(str(db), "main.people", epsilon=2.0, seed=0, config=FAST,
                        spec={"columns": {"id": {"role": "key"}, "name": {"role": "pii"}}},
                        validation={"target": "city", "secret": "income"})
    result = validate(str(db), "main_synthetic.people", out=tmp_path / "o")
    assert result.parameters["target"] == "city" and result.parameters["secret"] == "income"
    assert not result.suites["utility"]["skipped"]  # ML efficacy ran on the declared target
    override = validate(str(db), "main_synthetic.people", suite="utility", target="active", out=tmp_path / "o")
    assert override.parameters["target"] == "active"  # the command line wins
