"""Times of day (TIME columns: DuckDB's TIME, Arrow time32/time64, polars Time): learned as microseconds since
midnight over the day, whose range is the type's (public: no budget for bounds), written back as TIME."""
import datetime as dt

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import dp_synth
from dp_synth import InputError, TableSpec
from dp_synth.spec import DAY_US, Kind
from helpers import FAST


def _shifts(n: int = 4000, seed: int = 0) -> pl.DataFrame:
    """Clock-ins of two shifts: mornings around 08:30, afternoons around 14:00."""
    rng = np.random.default_rng(seed)
    am = rng.random(n) < 0.6
    minutes = np.where(am, rng.normal(8.5 * 60, 20, n), rng.normal(14 * 60, 30, n)).clip(0, 24 * 60 - 1)
    return pl.DataFrame({"shift": np.where(am, "am", "pm"),
                         "clock_in": [dt.time(int(m) // 60, int(m) % 60, int(m * 60) % 60) for m in minutes]})


def test_a_time_column_is_a_time_of_day_with_the_day_as_public_bounds():
    schema = pa.schema([("t", pa.time64("us")), ("s", pa.time32("s"))])
    spec = TableSpec.from_arrow(schema, {"s": {"bounds": ["08:00", "18:30:15"], "grain": "minute"}}, table="x")
    t, s = spec.columns
    assert t.kind is Kind.TIME and t.bounds == DAY_US and t.grain is None
    assert s.bounds == (8 * 3600e6, (18.5 * 3600 + 15) * 1e6) and s.grain == 60e6
    with pytest.raises(InputError, match=r"column 't'.*grain of a time is one of"):
        TableSpec.from_arrow(schema, {"t": {"grain": "day"}}, table="x")
    with pytest.raises(InputError, match=r"column 't'.*exceed what type"):
        TableSpec.from_arrow(schema, {"t": {"bounds": [-1, 100]}}, table="x")


def test_the_twin_keeps_the_shifts_clock_in_times_and_spends_nothing_on_their_bounds():
    real = _shifts()
    m = dp_synth.fit(real, epsilon=2.0, seed=0, config=FAST, holdout=0.0)
    assert not any("clock_in: bounds" in x.target for x in m.privacy.measurements)
    twin = m.sample(4000, seed=1)
    assert twin.schema["clock_in"] == pl.Time
    minutes = twin["clock_in"].cast(pl.Int64).to_numpy() / 60e9
    am = (twin["shift"] == "am").to_numpy()
    assert np.mean((minutes > 7 * 60) & (minutes < 16 * 60)) > 0.95
    assert abs(np.median(minutes[am]) - 8.5 * 60) < 30 and abs(np.median(minutes[~am]) - 14 * 60) < 45


def test_duckdb_time_columns_are_measured_in_the_engine_and_written_back_as_time(tmp_path):
    path = tmp_path / "t.duckdb"
    with duckdb.connect(str(path)) as con:
        con.register("v", _shifts(3000).to_arrow())
        con.execute("CREATE TABLE main.shifts AS SELECT shift, CAST(clock_in AS TIME) AS clock_in FROM v")
    res = dp_synth.synthesize(str(path), "main.shifts", 2.0, seed=1, config=FAST)
    with duckdb.connect(str(path), read_only=True) as con:
        typ, n, lo, hi, late = con.execute(
            f"SELECT any_value(typeof(clock_in)), count(*), min(clock_in), max(clock_in), "
            f"avg(CASE WHEN clock_in > TIME '16:00' THEN 1 ELSE 0 END) FROM {res.twin.sql}").fetchall()[0]
    assert typ == "TIME" and n > 2000 and dt.time(0) <= lo <= hi and late < 0.05
