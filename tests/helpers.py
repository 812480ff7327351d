"""Shared test data builders."""
import datetime as dt
import decimal
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

import dp_synth

ROOT = Path(__file__).resolve().parents[1]
SHARED_ADULT = ROOT.parent / "shared" / "data" / "adult.csv"

# training for tests: few steps, small nets; behaviour, not quality, is under test
FAST = dp_synth.TrainingConfig(epochs=1, batch_size=64, hidden=16, embed_dim=4, pretrain_rows=2000, pretrain_epochs=2)


def mixed_table(n: int = 400, seed: int = 0) -> pa.Table:
    """Keys, NULLs, dates, timestamps, booleans, decimals and a name-like column."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, n)
    city = rng.choice(["Oslo", "Lima", "Pune", "Kyiv"], n, p=[0.4, 0.3, 0.2, 0.1])
    income = np.round(age * 1000 + rng.normal(0, 5000, n), 2)
    return pa.table({
        "id": pa.array(np.arange(1, n + 1), pa.int64()),
        "name": pa.array([f"Person {i:05d} {rng.integers(1e9)}" for i in range(n)]),
        "age": pa.array(age, pa.int32()),
        "city": pa.array([None if rng.random() < 0.1 else c for c in city], pa.string()),
        "income": pa.array(income, pa.float64()),
        "joined": pa.array([dt.date(2020, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 1000, n)]),
        "seen_at": pa.array([dt.datetime(2024, 1, 1) + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 10**7, n)],
                            pa.timestamp("us")),
        "active": pa.array(rng.random(n) < 0.7),
        "balance": pa.array([None if rng.random() < 0.05 else decimal.Decimal(f"{x:.2f}") for x in rng.normal(100, 30, n)],
                            pa.decimal128(10, 2)),
    })


def adult_sample(n: int = 2000, seed: int = 0) -> pl.DataFrame:
    if SHARED_ADULT.exists():
        df = pl.read_csv(SHARED_ADULT, null_values=[""])
    else:  # the copy shipped in the package
        from dp_synth.demo import demo_data_path

        df = pl.read_parquet(demo_data_path())
    return df.sample(n, seed=seed)


def duckdb_with(path, **tables) -> Path:
    """A DuckDB file at ``path`` holding each Arrow table under its keyword name (main schema)."""
    import duckdb

    with duckdb.connect(str(path)) as con:
        for name, table in tables.items():
            con.register("__t", table)
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM __t')
            con.unregister("__t")
    return Path(path)
