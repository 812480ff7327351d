"""End to end on a 2,000-row sample of UCI Adult: DuckDB in, twin and ledger out, fidelity sane."""

import duckdb
import pytest

import dp_synth
from dp_synth.evaluate import mean_marginal_tvd
from helpers import adult_sample


@pytest.mark.slow
def test_adult_sample_twin(tmp_path):
    df = adult_sample(2000)
    db = tmp_path / "adult.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE adult AS SELECT * FROM df")
    res = dp_synth.synthesize(str(db), "adult", epsilon=1.0, seed=0)
    assert res.model.privacy.epsilon <= 1.0
    with duckdb.connect(str(db)) as con:
        twin = con.sql("SELECT * FROM main_synthetic.adult").pl()
    assert twin.columns == df.columns and twin.dtypes == df.dtypes
    tvd1 = mean_marginal_tvd(df, twin, 1)
    shuffled_income = twin.with_columns(twin["income"].shuffle(seed=1))
    assert tvd1 < 0.2  # 1-way marginals follow the data
    # and dependencies are learned: income breaks when shuffled independently of the rest
    assert mean_marginal_tvd(df, twin, 2) < mean_marginal_tvd(df, shuffled_income, 2) + 0.05
