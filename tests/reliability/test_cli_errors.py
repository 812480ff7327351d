"""The CLI: every bad input or busy database is one line on stderr and exit code 2, no traceback."""
import importlib.util
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from dp_synth.cli import app
from conftest import CFG

pytestmark = pytest.mark.reliability
runner = CliRunner()


def _clear(res):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    return " ".join(res.output.split())  # rich wraps long lines


@pytest.mark.parametrize("args, message", [
    (["--budget-cap", "nan"], "budget_cap must be a finite"),
    (["--seed", "-1"], "seed must be between"),
    (["--seed", str(2**70)], "seed must be between"),
    (["--epsilon", "1e-300"], "below the smallest"),
    (["--rows", "10000000000"], "force_rows"),
    (["--target", "MAIN.S3K"], "source table itself"),
])
def test_synthesize_bad_input(db, args, message):
    base = ["synthesize", "--db", str(db), "--table", "main.s3k", "--epsilon", "1"]
    res = runner.invoke(app, base + args)
    assert message in _clear(res)


@pytest.mark.parametrize("command", [["validate"], ["report", "--out"]])
def test_validate_and_report_on_a_locked_database(db, tmp_path, command):
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); time.sleep(60)", str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        args = [command[0], "--db", str(db)] + ([command[1], str(tmp_path / "r.html")] if len(command) > 1 else [])
        assert "in use by another process" in _clear(runner.invoke(app, args))
    finally:
        holder.kill()
        holder.wait()


def test_missing_extra_names_what_to_install(db, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "great_expectations" else real(name, *a))
    out = _clear(runner.invoke(app, ["validate", "--db", str(db)]))
    assert "pip install 'dp-synth[gx]'" in out
