"""Shared test data builders."""
import datetime as dt
import decimal
import itertools
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


def awkward_numbers_table(n: int = 600, seed: int = 0, times: bool = False) -> pa.Table:
    """Values on cell edges: zeros, exact powers of two, negatives, tiny and huge magnitudes, NULLs,
    dates, timestamps, booleans and strings that need escaping (quotes, backslashes, unicode); ``times``:
    also times of day (DuckDB's TIME), midnight and the day's last microsecond among them."""
    rng = np.random.default_rng(seed)
    pow2 = [2.0 ** k * s for k in range(-25, 70, 3) for s in (1, -1)]
    floats = rng.choice(pow2 + [0.0, 0.1, 0.5, 1.5, 3.0, 1e-300, 1e300, None], n).tolist()
    ints = rng.choice([0, 1, 2, 3, 7, 8, 16, -1, -8, 100, 2**40, None], n).tolist()
    words = ["a", "b'c", "d\\e", "ø ü", "x\"y", "", None, "true", "__other__"]
    return pa.table({
        "f": pa.array(floats, pa.float64()),
        "i": pa.array(ints, pa.int64()),
        "small": pa.array(rng.integers(-3, 5, n), pa.int32()),
        "d": pa.array([None if rng.random() < 0.1 else dt.date(1990, 1, 1) + dt.timedelta(days=int(x))
                       for x in rng.integers(0, 20000, n)]),
        "ts": pa.array([dt.datetime(2024, 1, 1) + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 10**8, n)],
                       pa.timestamp("us")),
        "b": pa.array([None if rng.random() < 0.1 else bool(rng.random() < 0.3) for _ in range(n)]),
        "s": pa.array(rng.choice(words, n).tolist(), pa.string()),
    } | ({"tm": pa.array([None if rng.random() < 0.1 else (dt.time(0) if x % 97 == 0 else dt.time(23, 59, 59, 999_999)
                           if x % 89 == 0 else dt.time(x // 3600 % 24, x // 60 % 60, x % 60))
                          for x in rng.integers(0, 86_400, n).tolist()], pa.time64("us"))} if times else {}))


def assert_engine_counts_match_memory(engine, rel, where=()):
    """Every count the DP measurements ask for is the same from the engine's queries as from the rows
    in memory (the in-memory path is the reference semantics)."""
    from dp_synth.counts import Equal, Fine, FrameCounts, Hist, NonFinite, Pow2, TimeOfDay, Values
    from dp_synth.encoding import Encoder
    from dp_synth.marginals import all_pairs
    from dp_synth.profile import measure_profile
    from dp_synth.spec import Kind, TableSpec

    table = engine.read(rel, where)
    frame = FrameCounts(pl.from_arrow(table))
    eng = engine.counts(rel, where)
    assert eng.rows() == frame.rows() == table.num_rows
    kinds = {"f": Kind.FLOAT, "i": Kind.INTEGER, "small": Kind.INTEGER, "d": Kind.DATE, "ts": Kind.TIMESTAMP}
    kinds |= {"tm": Kind.TIME} if "tm" in table.column_names else {}
    binnings = [Pow2(62), Pow2(128), Equal(-3.0, 2.0**41, 32), Equal(0.5, 1.5, 7), Equal(0.0, 86_399_999_999.0, 48),
                Fine(-8.0, 64.0, (-8.0, 0.0, 0.0, 0.1, 3.0), (0.0, 0.0, 0.1, 3.0, 64.0)),
                Fine(-3.0, 4.0, tuple(float(v) for v in range(-3, 5)), tuple(float(v) for v in range(-3, 5)))]
    requests = [Hist(c, k, b, nulls) for c, k in kinds.items() for b in binnings for nulls in (False, True)]
    requests += [Values("s"), Values("b"), NonFinite("f", Kind.FLOAT)]
    requests += [Hist("ts", Kind.TIMESTAMP, TimeOfDay(cells), nulls) for cells in (48, 7) for nulls in (False, True)]
    eng.prefetch(requests)  # one scan for all of them
    for r in requests:
        got, want = eng.get(r), frame.get(r)
        if isinstance(got, tuple):
            assert got == want, r
        else:
            assert np.array_equal(got, want), (r, got, want)
    assert eng.distinct("s") == frame.distinct("s") and eng.distinct("b") == frame.distinct("b")
    # the tree's 2-way code tables, under a profile measured from the same rows
    spec = TableSpec.from_arrow(table.schema, {"s": {"role": "learn"}}, table="awkward")
    _, profile, _ = measure_profile(frame.df, spec, 5.0, 1e-6, np.random.RandomState(0))
    encoder = Encoder(spec, profile)
    d = len(encoder.cardinalities)
    pairs = all_pairs(d) + list(itertools.combinations(range(d), 3))  # and the triples of the adaptive selection
    assert d >= 3
    mine, ref = eng.pair_tables(encoder, pairs), frame.pair_tables(encoder, pairs)
    assert set(mine) == set(ref) == set(pairs)
    for p in pairs:
        assert np.array_equal(mine[p], ref[p]), p


def spy_on(monkeypatch, module, *names) -> dict:
    """Wrap each function ``names`` of ``module`` (e.g. ``dp_synth.fit``'s ``measure_tree``) so the dict
    returned holds what its last call returned, under its name."""
    seen = {}

    def wrap(name, real):
        def spy(*args, **kwargs):
            seen[name] = out = real(*args, **kwargs)
            return out
        return spy

    for name in names:
        monkeypatch.setattr(module, name, wrap(name, getattr(module, name)))
    return seen
