"""A timestamp whose fine cells span an hour or more keeps its clock time: a DP histogram of the time of day,
paid from the column's own budget, and the decoder draws each row's clock time from it."""
import datetime as dt

import numpy as np
import polars as pl
import pytest

import dp_synth
from dp_synth import TableSpec
from dp_synth import profile as profile_module
from dp_synth.profile import TIME_OF_DAY_CELLS, TableProfile, measure_profile


def _orders(n: int = 6000, seed: int = 0, days: int = 366) -> pl.DataFrame:
    """Orders on any day of a year, only between 9:00 and 17:00; a category that follows the hour."""
    rng = np.random.default_rng(seed)
    start = dt.datetime(2024, 1, 1)
    day = rng.integers(0, days, n)
    second = rng.integers(9 * 3600, 17 * 3600, n)
    ts = [start + dt.timedelta(days=int(d), seconds=int(s)) for d, s in zip(day, second)]
    return pl.DataFrame({"ordered_at": ts, "channel": np.where(second < 13 * 3600, "web", "app").tolist()})


def _outside_hours(ts: pl.Series) -> float:
    return float(((ts.dt.hour() < 9) | (ts.dt.hour() >= 17)).mean())


def _rho(measurements) -> float:
    return sum(1 / (2 * m.sigma ** 2) for m in measurements if m.mechanism == "discrete_gaussian")


def _profile(df: pl.DataFrame, rho: float = 0.05):
    spec = TableSpec.from_arrow(df.to_arrow().schema, {}, table="orders")
    return measure_profile(df, spec, rho, 1e-6, np.random.RandomState(0))


def test_clock_time_is_measured_from_the_columns_own_budget(monkeypatch):
    df = _orders()
    _, prof, ms = _profile(df)
    ts = prof.columns[0]
    assert len(ts.day_mass) == TIME_OF_DAY_CELLS
    mass = np.asarray(ts.day_mass)
    half_hours = np.arange(TIME_OF_DAY_CELLS) / 2
    assert mass[(half_hours < 9) | (half_hours >= 17)].sum() <= 0.03 * mass.sum()
    assert [m.target for m in ms if "time of day" in m.target] == [f"ordered_at: time of day ({TIME_OF_DAY_CELLS} cells)"]
    assert TableProfile.from_json(prof.to_json()).columns[0].day_mass == ts.day_mass  # kept in the model file
    # without it the profile spends exactly as much: the clock time takes a share of the column's budget
    monkeypatch.setattr(profile_module, "TIME_OF_DAY_MIN_WIDTH", float("inf"))
    _, off, ms_off = _profile(df)
    assert off.columns[0].day_mass == ()
    assert _rho(ms) == pytest.approx(_rho(ms_off), rel=1e-9)
    assert len(ms) == len(ms_off) + 1


def test_narrow_timestamps_need_no_clock_time():
    """A day of events: the fine cells are minutes wide and already hold the time of day."""
    _, prof, ms = _profile(_orders(days=1))
    assert prof.columns[0].day_mass == ()
    assert not any("time of day" in m.target for m in ms)


def test_twin_keeps_business_hours(monkeypatch):
    df = _orders(8000, seed=1)
    twin = dp_synth.fit(df, epsilon=1.0, delta=1e-6, seed=3, table_name="orders").sample(8000, seed=4)
    assert _outside_hours(df["ordered_at"]) == 0.0
    assert _outside_hours(twin["ordered_at"]) <= 0.03
    days = twin["ordered_at"].dt.date()
    assert days.min() >= dt.date(2023, 9, 1) and days.max() <= dt.date(2025, 4, 30)  # the days as before
    monkeypatch.setattr(profile_module, "TIME_OF_DAY_MIN_WIDTH", float("inf"))  # the old decoder: uniform in a cell
    before = dp_synth.fit(df, epsilon=1.0, delta=1e-6, seed=3, table_name="orders").sample(8000, seed=4)
    assert _outside_hours(before["ordered_at"]) >= 0.3
