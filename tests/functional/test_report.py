"""Governance report: the demo database rendered in headless Chromium, bad input said plainly,
names escaped, traffic lights following the checks."""
import json
import re
import shutil
import subprocess

import duckdb
import pytest
from typer.testing import CliRunner

pytest.importorskip("matplotlib")
pytest.importorskip("great_expectations")

import dp_synth  # noqa: E402
from dp_synth.cli import app  # noqa: E402
from dp_synth.demo import load_demo_table  # noqa: E402
from dp_synth.report import build_report  # noqa: E402
from dp_synth.validate import validate  # noqa: E402
from helpers import FAST, duckdb_with, mixed_table  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """The demo database (bundled Adult, 32,561 rows), a quickly trained ε=1 twin, validated."""
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    with duckdb.connect(str(path)) as con:
        load_demo_table(con)
    dp_synth.synthesize(str(path), "main.adult", epsilon=1.0, seed=2, budget_cap=4.0,
                        config=dp_synth.TrainingConfig(epochs=1, pretrain_rows=10_000, pretrain_epochs=2))
    validate(str(path), "main_synthetic.adult", target="income", out=path.parent / "validation")
    return path


def _chromium(args, tmp_path):
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_demo_report_renders_in_headless_chromium(demo_db, tmp_path):
    if CHROMIUM is None:
        pytest.skip("Chromium not installed (Debian package 'chromium'; .ci/run installs it): browser check skipped")
    html_path, json_path = tmp_path / "report.html", tmp_path / "report.json"
    report = build_report(demo_db, html_path, json_path)
    twin = report["twins"][0]
    eps = twin["privacy"]["epsilon"]

    page = html_path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "report must not load anything external"
    assert "<script" not in page and page.count("data:image/png;base64,") == 5

    dom = _chromium(["--enable-logging=stderr", "--v=0", "--dump-dom", html_path.as_uri()], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln]
    assert console == [], console  # no console errors (nor any other console output)
    text = re.sub(r"<[^>]+>", " ", dom.stdout)
    for figure in ("main_synthetic.adult", "main.adult", f"{eps:.3f}", "Overview", "Budget per source",
                   "Model card", "Re-identification risk", "Validation (Great Expectations)"):
        assert figure in text, figure
    assert text.count("<img") == 0 and dom.stdout.count("<img") == 5  # images are in the rendered DOM

    shot = tmp_path / "report.png"
    _chromium(["--window-size=1280,2400", f"--screenshot={shot}", html_path.as_uri()], tmp_path)
    assert shot.is_file() and shot.stat().st_size > 50_000
    print(f"screenshot for humans: {shot}")

    doc = json.loads(json_path.read_text())
    assert doc["overview"]["sources"] == [{"source": "main.adult", "spent": pytest.approx(eps), "cap": 4.0,
                                           "delta_spent": pytest.approx(twin["privacy"]["delta"]),
                                           "remaining": pytest.approx(4.0 - eps), "runs": 1}]
    assert set(twin["validation"]["suites"]) == {"utility", "risk"}
    assert twin["measures"]["utility"]["ml_efficacy"]["target"] == "income"  # taken from the validation run
    assert [a["attack"] for a in twin["measures"]["risk"]["attacks"]][0] == "singling out"
    assert {a["verdict"] for a in twin["measures"]["risk"]["attacks"]} <= {"below", "inconclusive"}  # a DP twin
    assert "against 0.1" in text
    assert twin["model_card"]["steps"] > 0 and twin["model_card"]["versions"]["opacus"]
    # Adult is a large table: every weight trained, sampled as trained (a small table's model says 0.7)
    assert (twin["model_card"]["trained"], twin["model_card"]["temperature"]) == ("all", 1.0)
    assert "every weight" in text and "sampling temperature (post-processing)" in text


def test_database_without_twins_says_so(tmp_path):
    db = duckdb_with(tmp_path / "plain.duckdb", people=mixed_table(50))
    report = build_report(db, tmp_path / "r.html", tmp_path / "r.json")
    assert report["twins"] == [] and "no privacy ledger" in report["overview"]["notes"][0]
    page = (tmp_path / "r.html").read_text()
    assert "No synthetic twins are recorded in this database" in page and "no privacy ledger" in page


def test_synthetic_table_without_ledger_row_is_flagged(tmp_path):
    db = duckdb_with(tmp_path / "o.duckdb", people=mixed_table(50))
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE SCHEMA main_synthetic; CREATE TABLE main_synthetic.people AS SELECT * FROM main.people")
    report = build_report(db, tmp_path / "r.html")
    assert report["overview"]["orphans"] == ["main_synthetic.people"]
    assert "no ledger row" in (tmp_path / "r.html").read_text()


def test_names_are_escaped_and_status_follows_validation(tmp_path):
    db = duckdb_with(tmp_path / "x.duckdb", **{"<b>people</b>": mixed_table(300)})
    dp_synth.synthesize(str(db), 'main."<b>people</b>"', epsilon=2.0, seed=0, config=FAST, budget_cap=3,
                        validation={"target": "city"})
    report = build_report(db, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "<b>people</b>" not in page and "&lt;b&gt;people&lt;/b&gt;" in page
    twin = report["twins"][0]
    assert twin["status"] == "amber" and "not validated: run dp-synth validate" in twin["reasons"]
    assert "holdout share 0" in twin["measures"]["risk"]["unavailable"]  # 300 rows: trained on all, said so
    assert twin["measures"]["utility"]["ml_efficacy"]["target"] == "city"  # declared at build time

    with duckdb.connect(str(db)) as con:  # a failed risk validation turns the light red
        con.execute("CREATE TABLE main.dp_synth_validations (validated_at TIMESTAMP, twin VARCHAR, source VARCHAR, "
                    "suite VARCHAR, success BOOLEAN, summary VARCHAR, data_docs VARCHAR)")
        con.execute("INSERT INTO main.dp_synth_validations VALUES (now()::TIMESTAMP + INTERVAL 1 HOUR, ?, ?, 'risk', "
                    "false, ?, NULL)", [twin["twin"], twin["source"], json.dumps({"expectations": [
                        {"type": "expect_twin_dcr_share_to_be_between", "kwargs": {}, "success": False,
                         "observed_value": 0.9}]})])
    again = build_report(db, None)["twins"][0]
    assert again["status"] == "red" and "risk suite failed" in again["reasons"]

    with duckdb.connect(str(db)) as con:  # a twin dropped behind the ledger's back is reported, not a crash
        con.execute('DROP TABLE main_synthetic."<b>people</b>"')
    gone = build_report(db, tmp_path / "gone.html")["twins"][0]
    assert "the twin table no longer exists" in gone["reasons"] and gone["measures"] is None
    assert "no utility or risk figures" in (tmp_path / "gone.html").read_text()


def test_report_cli(tmp_path):
    db = duckdb_with(tmp_path / "plain.duckdb", people=mixed_table(50))
    runner = CliRunner()
    res = runner.invoke(app, ["report", "--db", str(db), "--out", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    flat = lambda r: " ".join(r.output.split())  # noqa: E731  (rich wraps lines at the path's length)
    assert "no privacy ledger" in flat(res) and (tmp_path / "r.json").is_file()
    missing = runner.invoke(app, ["report", "--db", str(tmp_path / "nope.duckdb")])
    assert missing.exit_code == 2 and "not found" in flat(missing)


def test_the_runs_notes_reach_the_report_escaped(tmp_path):
    """What a run said when it built the twin (here: a column whose rare values the twin writes as
    "__other__") is in the twin's section of the report, its column name escaped."""
    import polars as pl

    codes = [f"c{i % 3}" for i in range(2400)] + [f"r{i // 2}" for i in range(600)]
    people = pl.DataFrame({"<i>code</i>": codes, "age": [18 + i % 60 for i in range(3000)]})
    db = duckdb_with(tmp_path / "n.duckdb", people=people.to_arrow())
    dp_synth.synthesize(str(db), "main.people", epsilon=1.0, seed=0, config=FAST)
    report = build_report(db, tmp_path / "r.html")
    notes = report["twins"][0]["notes"]
    assert len(notes) == 1 and "column '<i>code</i>'" in notes[0] and "'__other__'" in notes[0], notes
    page = (tmp_path / "r.html").read_text()
    assert "The run's notes" in page
    assert "<i>code</i>" not in page and "&lt;i&gt;code&lt;/i&gt;" in page and "too rare to release" in page
