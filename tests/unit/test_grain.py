"""A declared grain (spec ``grain``, public like bounds): the twin's values are rounded to multiples of it,
inside the column's range; bad declarations are refused naming the column."""
import datetime as dt

import numpy as np
import polars as pl
import pytest

import dp_synth
from dp_synth import InputError, TableSpec
from helpers import FAST


def _table(n: int = 3000) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.DataFrame({
        "temp": np.round(rng.normal(15, 6, n), 1),
        "at": [dt.datetime(2024, 1, 1) + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * 365, n)],
        "cents": rng.integers(0, 100_000, n),
        "noise": rng.normal(0, 1, n),
    })


def test_declared_grains_round_the_twin_and_survive_save_and_load(tmp_path):
    spec = {"columns": {"temp": {"grain": 0.1}, "at": {"grain": "hour"}, "cents": {"grain": 500}}}
    m = dp_synth.fit(_table(), epsilon=1.0, seed=0, config=FAST, spec=spec)
    m.save(tmp_path / "m.safetensors")
    for model in (m, dp_synth.SynthModel.load(tmp_path / "m.safetensors")):
        twin = model.sample(4000, seed=1)
        temp = twin["temp"].to_numpy()
        assert np.array_equal(temp, np.round(temp, 1)) and twin["temp"].n_unique() > 50
        assert ((twin["at"].dt.minute() == 0) & (twin["at"].dt.second() == 0)
                & (twin["at"].dt.microsecond() == 0)).all()
        assert (twin["cents"] % 500 == 0).all()
        assert twin["noise"].round(4).n_unique() > 3000  # no grain declared: every digit
    assert m.privacy.epsilon <= 1.0 + 1e-9 and not any("grain" in x.target for x in m.privacy.measurements)


@pytest.mark.parametrize("column, grain, says", [
    ("temp", -0.1, "positive number"), ("temp", "tenth", "positive number"), ("cents", 2.5, "whole number"),
    ("at", 3600, "one of ['millisecond'"), ("at", ["hour"], "one of ['millisecond'"), ("temp", [0.1], "positive"),
    ("day", 1, "applies to numbers and timestamps"),
])
def test_a_bad_grain_is_refused_naming_the_column(column, grain, says):
    df = _table(10).with_columns(pl.lit(dt.date(2024, 1, 1)).alias("day"))
    with pytest.raises(InputError, match=rf"column '{column}'.*{says}".replace("[", r"\[")):
        TableSpec.from_arrow(df.to_arrow().schema, {column: {"grain": grain}}, table="t")
