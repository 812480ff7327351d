import numpy as np
import polars as pl
import pytest

import dp_synth
from dp_synth import InputError
from dp_synth.holdout import HoldoutPlan, new_key, split
from helpers import FAST


def test_plan_defaults_and_key():
    assert HoldoutPlan.choose(999, None).share == 0.0
    plan = HoldoutPlan.choose(5000, None)
    assert plan.share == 0.2 and len(plan.key) == 64 and plan.key != HoldoutPlan.choose(5000, None).key
    assert "key" not in plan.to_json() and "seed" not in plan.to_json()  # the model file never holds the key
    with pytest.raises(ValueError):
        HoldoutPlan.choose(5000, 1.5)


def test_split_is_order_independent_and_one_added_row_moves_no_other():
    df = pl.DataFrame({"x": np.arange(5000), "y": np.arange(5000) % 7})
    key = new_key()
    train, hold = split(df.to_arrow(), 0.2, key)
    assert 0.17 < hold.num_rows / 5000 < 0.23
    shuffled = df.sample(fraction=1.0, shuffle=True, seed=3).to_arrow()
    assert sorted(split(shuffled, 0.2, key)[1]["x"].to_pylist()) == sorted(hold["x"].to_pylist())
    grown = pl.concat([df, pl.DataFrame({"x": [10**6], "y": [1]})]).to_arrow()
    held_grown = set(split(grown, 0.2, key)[1]["x"].to_pylist()) - {10**6}
    assert held_grown == set(hold["x"].to_pylist())
    assert set(split(df.to_arrow(), 0.2, new_key())[1]["x"].to_pylist()) != set(hold["x"].to_pylist())


def test_holdout_rows_are_never_trained_on(monkeypatch):
    import importlib

    fit_module = importlib.import_module("dp_synth.fit")
    source_module = importlib.import_module("dp_synth.source")

    n = 3000
    df = pl.DataFrame({"x": np.arange(n) % 13, "i": np.arange(n)})
    seen = {}
    real_split = source_module.split

    def recording_split(table, share, key):
        seen["train"], seen["hold"] = real_split(table, share, key)
        return seen["train"], seen["hold"]

    monkeypatch.setattr(source_module, "split", recording_split)
    encoded = []
    real_encode = fit_module.Encoder.encode
    monkeypatch.setattr(fit_module.Encoder, "encode", lambda self, d: encoded.append(d.height) or real_encode(self, d))
    model = dp_synth.fit(df, epsilon=20.0, seed=4, config=FAST)
    plan = model.metadata["holdout"]
    assert plan["share"] == 0.2 and set(plan) == {"share", "rule", "by"} and plan["by"] == "polars"
    train, hold = split(df.to_arrow(), plan["share"], model.holdout_key)  # re-derived from the key alone
    assert sorted(hold["i"].to_pylist()) == sorted(seen["hold"]["i"].to_pylist())
    assert not set(train["i"].to_pylist()) & set(hold["i"].to_pylist())
    assert encoded and set(encoded) == {train.num_rows}  # tree counts and DP-SGD saw the training rows only


def test_bad_holdout_share():
    with pytest.raises(InputError, match="holdout share"):
        dp_synth.fit(pl.DataFrame({"x": list(range(2000))}), epsilon=1.0, holdout=0.95)


def test_validate_does_not_rederive_a_holdout_across_polars_versions():
    import pyarrow as pa

    from dp_synth.validate.pair import _holdout

    t = pa.table({"x": list(range(2000))})
    doc = {"metadata": {"holdout": {"share": 0.2}, "versions": {"polars": "0.0.1"}}}
    row = {"source_fingerprint": "f", "holdout_key": "ab" * 32}
    train, hold, note = _holdout(t, row, doc, "", "f")
    assert hold is None and "polars 0.0.1" in note
    doc["metadata"]["versions"]["polars"] = pl.__version__
    train, hold, note = _holdout(t, row, doc, "", "f")
    assert hold is not None and train.num_rows + hold.num_rows == 2000
