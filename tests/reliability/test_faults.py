"""Kills at named points and concurrent writers: source intact, twin and ledger consistent, caps held."""
import os
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

import dp_synth
from dp_synth import BudgetExceededError
from dp_synth.faults import POINTS
from conftest import CFG, snapshot

pytestmark = pytest.mark.reliability

RUN = """
import sys, dp_synth
from dp_synth import TrainingConfig
cfg = TrainingConfig(epochs=1, batch_size=64, hidden=16, embed_dim=4, pretrain_rows=2000, pretrain_epochs=2)
res = dp_synth.synthesize(sys.argv[1], "main.s3k", 1.0, seed=int(sys.argv[2]), config=cfg)
print("reused" if res.reused else "wrote", res.ledger_row["run_id"])
"""


def _run(db, seed, kill_at=None):
    env = {**os.environ, "DP_SYNTH_KILL_AT": kill_at or ""}
    return subprocess.run([sys.executable, "-c", RUN, str(db), str(seed)], capture_output=True, text=True,
                          env=env, timeout=300)


def _state(db):
    with duckdb.connect(str(db)) as con:
        ledger = con.execute("SELECT twin, model_path, run_id FROM main.dp_synth_ledger").fetchall() \
            if con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'dp_synth_ledger'").fetchall()[0][0] else []
        twin = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main_synthetic' "
                           "AND table_name NOT LIKE '__dp_synth_tmp%'").fetchall()[0][0]
        temps = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '__dp_synth_tmp%'").fetchall()[0][0]
    models = db.parent / ".dp_synth" / "models"
    files = sorted(p.name for p in models.iterdir()) if models.is_dir() else []
    return ledger, twin, temps, files


@pytest.mark.parametrize("point", POINTS)
def test_kill_at_each_point_then_rerun(db, point):
    source_before = snapshot(db)["main.s3k"]
    killed = _run(db, 1, kill_at=point)
    assert killed.returncode == 137, killed.stderr[-2000:]
    ledger, twin, temps, files = _state(db)
    assert snapshot(db)["main.s3k"] == source_before
    assert twin == len(ledger) and len(ledger) <= 1  # twin and ledger row together, or neither
    assert temps == (1 if point in ("during_insert", "after_rename", "after_ledger_append") else 0)  # staged, never a twin
    rerun = _run(db, 1)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    ledger, twin, temps, files = _state(db)
    assert len(ledger) == 1 and twin == 1 and temps == 0  # charged exactly once in all
    assert rerun.stdout.startswith("reused" if point == "after_commit" else "wrote")
    # exactly the model file the ledger points at; no orphan, no lock left
    assert files == [Path(ledger[0][1]).name]
    assert snapshot(db)["main.s3k"] == source_before


def _together(worker, n: int) -> None:
    """Run worker(0..n-1) in n threads at once and wait for all."""
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_threads_against_one_file_never_exceed_the_cap(db):
    results, errors = [], []

    def worker(i):
        try:
            with duckdb.connect(str(db)) as con:
                results.append(dp_synth.synthesize(con, "main.s3k", 1.0, seed=i, config=CFG, budget_cap=1.5,
                                                   target=f"main.twin{i}"))
        except BudgetExceededError as e:
            errors.append(e)
        except Exception as e:  # noqa: BLE001 - anything else is a failure of the test
            errors.append(e)

    _together(worker, 3)
    assert len(results) == 1, [repr(e) for e in errors]
    assert all(isinstance(e, BudgetExceededError) for e in errors), [repr(e) for e in errors]
    with duckdb.connect(str(db)) as con:
        spent = con.execute("SELECT sum(epsilon), count(*) FROM main.dp_synth_ledger").fetchall()[0]
        twins = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'twin%'").fetchall()[0][0]
    assert spent[0] <= 1.5 and spent[1] == 1 == twins


def test_threads_creating_the_ledger_at_once_all_succeed(tmp_path):
    from conftest import small_table

    path = tmp_path / "c.duckdb"
    with duckdb.connect(str(path)) as con:
        for i in range(3):
            con.register("t", small_table(seed=i))
            con.execute(f"CREATE TABLE main.t{i} AS SELECT * FROM t")
            con.unregister("t")
    errors = []

    def worker(i):
        try:
            with duckdb.connect(str(path)) as con:
                dp_synth.synthesize(con, f"main.t{i}", 1.0, seed=i, config=CFG)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    _together(worker, 3)
    assert errors == []
    with duckdb.connect(str(path)) as con:
        assert con.execute("SELECT count(*) FROM main.dp_synth_ledger").fetchall()[0][0] == 3
