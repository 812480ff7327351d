import numpy as np
import polars as pl
import pytest

import dp_synth
from dp_synth import InputError
from dp_synth.holdout import HoldoutPlan, split
from helpers import FAST


def test_plan_defaults_and_rederivation():
    assert HoldoutPlan.choose(999, None, 1).share == 0.0
    plan = HoldoutPlan.choose(5000, None, 1)
    assert plan.share == 0.2 and 0.17 < plan.mask().mean() < 0.23
    assert np.array_equal(plan.mask(), HoldoutPlan(0.2, 1, 5000).mask())
    with pytest.raises(ValueError):
        HoldoutPlan.choose(5000, 1.5, 1)


def test_holdout_rows_are_never_trained_on():
    n, seed = 3000, 4
    held = HoldoutPlan(0.2, seed + 7, n).mask()  # the plan fit() derives from seed
    df = pl.DataFrame({"tag": np.where(held, "held", "train"), "x": np.arange(n) % 13})
    model = dp_synth.fit(df, epsilon=20.0, seed=seed, spec={"tag": {"categories": ["held", "train"]}},
                         config=FAST)
    plan = model.metadata["holdout"]
    assert (plan["share"], plan["seed"], plan["n_rows"]) == (0.2, seed + 7, n)
    tags = model.sample(4000)["tag"]
    assert (tags == "held").mean() < 0.02  # ~20 % if holdout rows had been learned
    train, hold = split(df.to_arrow(), plan["share"], plan["seed"])
    assert set(hold["tag"].to_pylist()) == {"held"} and "held" not in set(train["tag"].to_pylist())


def test_bad_holdout_share():
    with pytest.raises(InputError, match="holdout share"):
        dp_synth.fit(pl.DataFrame({"x": list(range(2000))}), epsilon=1.0, holdout=0.95)
