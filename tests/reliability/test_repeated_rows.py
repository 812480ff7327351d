"""Tables of few distinct rows: identical rows are held out together (a keyed hash of the row), so the
holdout's share of rows can be far from 20 %. The twin's size, the refusal when training is left with
nearly nothing, and the risk measures when the holdout is empty."""
import duckdb
import pytest

import dp_synth
from dp_synth import InputError
from dp_synth.engines import open_engine
from dp_synth.report import build_report
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
    return path


def _holdout_rows(path, twin):
    with duckdb.connect(str(path)) as con:
        pair = load_pair(open_engine(con), twin)
        return None if pair.holdout is None else pair.holdout.height, pair.holdout_note


def test_twin_size_is_the_tables_dp_count_whatever_the_holdout_took(repeated):
    """Scaling the training rows' count by 1 / (1 − 20 %) gave 2,500 rows when no group was held out and
    1,667 when one was; the whole table's DP count (σ ≈ 16 rows at ε = 1) gives ≈ 2,000 either way."""
    held = set()
    for seed in range(4):
        result = dp_synth.synthesize(str(repeated), "main.rep3", 1.0, seed=seed, config=CFG,
                                     target=f"main.rep3_twin{seed}")
        with duckdb.connect(str(repeated)) as con:
            rows = con.execute(f'SELECT count(*) FROM main."rep3_twin{seed}"').fetchone()[0]
        assert rows == result.rows and abs(rows - 2000) < 100, (seed, rows)
        held.add(_holdout_rows(repeated, f"main.rep3_twin{seed}")[0])
    assert len(held) > 1  # the seeds cover different holdouts (none, and one or more groups of ≈ 667 rows)


def test_an_empty_holdout_leaves_the_risk_measures_out_instead_of_failing(repeated):
    """Seed 3's holdout holds none of the three groups: validation and the report say there is no control
    (the risk suite is not run) instead of failing on an empty one or crashing."""
    dp_synth.synthesize(str(repeated), "main.rep3", 1.0, seed=3, config=CFG)
    rows, note = _holdout_rows(repeated, "main_synthetic.rep3")
    assert rows is None and "holds no row" in note and "few distinct rows" in note
    report = build_report(str(repeated), None, None)
    twin = next(t for t in report["twins"] if t["twin"] == "main_synthetic.rep3")
    assert "holds no row" in twin["measures"]["risk"]["unavailable"]


def test_a_holdout_that_takes_every_row_is_refused_before_anything_is_written(repeated):
    """One distinct row: a seed whose holdout takes it would train on no row. Before, the twin had 1 row
    and the run succeeded; now it is an error naming the table and the way out, with nothing written."""
    before = snapshot(repeated)
    with pytest.raises(InputError, match=r"main\.same.*holdout took nearly every row.*role': 'key'"):
        dp_synth.synthesize(str(repeated), "main.same", 1.0, seed=0, config=CFG)
    assert snapshot(repeated) == before
    # with a column telling the rows apart the same seed trains, and the twin has the table's size
    with duckdb.connect(str(repeated)) as con:
        con.execute("CREATE TABLE main.same_id AS SELECT row_number() OVER () AS id, * FROM main.same")
    result = dp_synth.synthesize(str(repeated), "main.same_id", 1.0, seed=0, config=CFG,
                                 spec={"columns": {"id": {"role": "key"}}})
    assert abs(result.rows - 2000) < 100
