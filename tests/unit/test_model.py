"""fit → sample → save/load on a small mixed table (keys, NULLs, dates, decimals, PII)."""

import warnings

import pyarrow as pa
import pytest
from safetensors.torch import save_file
import torch

import dp_synth
from dp_synth import ArtifactError, InputError, SynthModel
from helpers import FAST, mixed_table


@pytest.fixture(scope="module")
def model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dp_synth.fit(mixed_table(), epsilon=2.0, seed=0, spec={"id": {"role": "key"}}, config=FAST,
                            table_name="people")


def test_twin_has_source_columns_types_and_order(model):
    twin = model.sample(300)
    assert twin.columns == mixed_table().column_names
    arrow = pa.Table.from_batches(list(model.sample_batches(300, batch_size=128)))
    assert arrow.schema.types == mixed_table().schema.types and arrow.num_rows == 300
    assert twin.height == 300


def test_streamed_batches_are_the_same_rows_ahead_or_not(model):
    """The write path draws ahead in a thread and keeps string categories as dictionaries: same rows."""
    threads = torch.get_num_threads()
    plain = pa.Table.from_batches(list(model.sample_batches(700, batch_size=128, seed=3)))
    fast = pa.Table.from_batches(list(model.sample_batches(700, batch_size=128, seed=3, ahead=True,
                                                           dictionary=True)))
    assert fast.num_rows == 700
    assert any(pa.types.is_dictionary(t) for t in fast.schema.types)
    decoded = pa.table([c.cast(t) for c, t in zip(fast.columns, plain.schema.types)], names=plain.column_names)
    assert decoded.equals(plain)
    assert torch.get_num_threads() == threads  # the drawing thread's setting is undone


def test_a_consumer_that_stops_early_stops_the_drawing_thread(model):
    import threading

    threads = torch.get_num_threads()
    batches = model.sample_batches(10_000, batch_size=100, seed=1, ahead=True)
    next(batches)
    batches.close()
    assert not [t for t in threading.enumerate() if t.name == "dp-synth-prefetch" and t.is_alive()]
    assert torch.get_num_threads() == threads


def test_prefetch_hands_errors_to_the_caller_at_that_item():
    from dp_synth.models.prefetch import ordered_map

    def item(i):
        if i == 3:
            raise RuntimeError("disk full")
        return i

    it = ordered_map(item, 10, workers=2)
    assert [next(it) for _ in range(3)] == [0, 1, 2]  # items before the failing one, in order
    with pytest.raises(RuntimeError, match="disk full"):
        next(it)


def test_prefetch_keeps_order_and_stays_within_depth():
    import threading
    import time

    from dp_synth.models.prefetch import ordered_map

    started, lock = [], threading.Lock()

    def item(i):
        with lock:
            started.append(i)
        time.sleep(0.001 * ((7 * i) % 5))  # finish out of order
        return i

    out = []
    for x in ordered_map(item, 40, workers=3, depth=4):
        time.sleep(0.003)  # a slow caller: unbounded threads would run far ahead
        with lock:
            assert max(started) <= len(out) + 4  # item len(out) taken: at most depth more started
        out.append(x)
    assert out == list(range(40))


def test_keys_fresh_and_pii_not_from_data(model):
    twin = model.sample(500)
    assert twin["id"].n_unique() == 500
    real_names = set(mixed_table()["name"].to_pylist())
    assert model.spec.column("name").role is dp_synth.Role.PII  # detected: nearly unique strings
    assert not real_names & set(twin["name"].to_list())
    assert all(v.startswith("name_") for v in twin["name"].to_list())


def test_learned_values_stay_in_dp_domain(model):
    twin = model.sample(2000)
    cities = set(twin["city"].drop_nulls().to_list())
    assert cities <= {"Oslo", "Lima", "Pune", "Kyiv", "__other__"}
    assert 0 < twin["city"].null_count() < 2000 * 0.3  # NULL rate ≈ 10%
    real = mixed_table()
    assert twin["joined"].min() >= pa.compute.min(real["joined"]).as_py().replace(year=2016)
    assert twin["age"].min() >= 0 and twin["age"].max() <= 128


def test_privacy_statement_meets_target(model):
    st = model.privacy
    assert st.epsilon <= 2.0 and st.epsilon > 1.99
    assert set(st.parts) == {"profile", "training"}
    assert st.delta == pytest.approx(1e-4)  # 400 rows → 1/(10·1000)
    assert st.mechanisms == ["discrete_gaussian", "dp_sgd", "exponential"]


def test_training_epsilon_recomputed_from_opacus_history(model):
    from opacus.accountants import RDPAccountant

    acc = RDPAccountant()
    acc.history = [tuple(h) for h in model.metadata["accountant_history"]]
    assert sum(h[2] for h in acc.history) == model.metadata["steps"]
    assert model.privacy.parts["training"] == pytest.approx(acc.get_epsilon(model.privacy.delta), rel=0.02)


def test_seed_reproducible(model):
    a, b = model.sample(200, seed=3), model.sample(200, seed=3)
    assert a.equals(b)
    again = dp_synth.fit(mixed_table(), epsilon=2.0, seed=0, spec={"id": {"role": "key"}}, config=FAST,
                         table_name="people")
    assert again.sample(100, seed=1).equals(model.sample(100, seed=1))


def test_save_load_round_trip(model, tmp_path):
    path = model.save(tmp_path / "m.safetensors")
    loaded = SynthModel.load(path)
    assert loaded.sample(150, seed=9).equals(model.sample(150, seed=9))
    assert loaded.privacy == model.privacy


def test_tampered_foreign_and_garbage_files_refused(model, tmp_path):
    path = model.save(tmp_path / "m.safetensors")
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF  # flip a weight byte
    bad = tmp_path / "tampered.safetensors"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match="integrity"):
        SynthModel.load(bad)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, str(foreign))
    with pytest.raises(ArtifactError, match="not a dp-synth model"):
        SynthModel.load(foreign)
    junk = tmp_path / "junk.pkl"
    import pickle

    junk.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ArtifactError, match="not a dp-synth model"):
        SynthModel.load(junk)


@pytest.mark.parametrize("eps", [0, -1, float("nan"), float("inf"), 1000, "abc", None])
def test_bad_epsilon(eps):
    with pytest.raises(InputError, match="epsilon"):
        dp_synth.fit(mixed_table(), epsilon=eps)


@pytest.mark.parametrize("delta", [1 / 100, 0.5, 0, -1e-6, float("nan")])
def test_bad_delta(delta):
    with pytest.raises(InputError, match="delta"):
        dp_synth.fit(mixed_table(), epsilon=1.0, delta=delta)


@pytest.mark.parametrize("n, message", [(0, "is empty"), (1, "fewer than about 100 rows"), (50, "fewer than about 100 rows")])
def test_too_small_tables(n, message):
    with pytest.raises(InputError, match=message):
        dp_synth.fit(mixed_table(400).slice(0, n), epsilon=1.0, table_name="tiny")


@pytest.mark.parametrize("typ", [pa.string(), pa.int64(), pa.float64()])
def test_all_null_column_needs_no_spec(typ):
    """A dead column is not refused (that would be a decision on exact data): its DP NULL rate is ≈ 1."""
    t = pa.table({"x": pa.array([i % 9 for i in range(3000)]), "gone": pa.nulls(3000, typ)})
    m = dp_synth.fit(t, epsilon=1.0, config=FAST, seed=0)
    assert m.sample(2000)["gone"].null_count() >= 1900
    m = dp_synth.fit(t, epsilon=1.0, spec={"gone": {"role": "ignore"}}, config=FAST, seed=0)
    assert m.sample(10)["gone"].null_count() == 10


def test_nested_columns_error_or_ignored():
    t = pa.table({"x": pa.array(range(300)), "tags": pa.array([[1, 2]] * 300)})
    with pytest.raises(InputError, match="'tags'.*cannot be learned"):
        dp_synth.fit(t, epsilon=1.0)
    m = dp_synth.fit(t, epsilon=1.0, spec={"tags": {"role": "ignore"}}, config=FAST, seed=0)
    assert m.sample(5).columns == ["x", "tags"]


def test_accepts_duckdb_relation_and_polars():
    import duckdb

    con = duckdb.connect()
    rel = con.sql("SELECT range % 9 AS a, (range % 3)::VARCHAR AS b FROM range(500)")
    m1 = dp_synth.fit(rel, epsilon=1.0, config=FAST, seed=0)
    m2 = dp_synth.fit(rel.pl(), epsilon=1.0, config=FAST, seed=0)
    assert m1.sample(50, seed=0).equals(m2.sample(50, seed=0))
    with pytest.raises(InputError, match="unsupported data"):
        dp_synth.fit([1, 2, 3], epsilon=1.0)


def test_a_column_whose_dp_bounds_collapse_to_one_value_is_named_in_a_notice():
    """12 of 3,000 rows hold 1,900, the rest 0: at ε = 1 the DP bounds find only 0, so the twin's column is
    constant — the run says so, naming the column; declared (public) bounds get no such notice."""
    import numpy as np
    import polars as pl

    n = 3000
    df = pl.DataFrame({"loss": np.where(np.arange(n) < 12, 1900, 0),
                       "age": np.random.default_rng(0).integers(18, 80, n)})
    said = lambda m: [t for t in m.notices if "DP bounds hold one value" in t]  # noqa: E731
    m = dp_synth.fit(df, epsilon=1.0, seed=0, config=FAST, defer_notices=True)
    assert len(said(m)) == 1 and "column 'loss'" in said(m)[0] and "ε=1" in said(m)[0]
    assert set(m.sample(500, seed=1)["loss"].drop_nulls().unique().to_list()) <= {0, 1}
    public = dp_synth.fit(df, epsilon=1.0, seed=0, config=FAST, defer_notices=True,
                          spec={"columns": {"loss": {"bounds": [0, 2000]}}})
    assert said(public) == []


def test_a_column_whose_rare_values_are_pooled_is_named_in_a_notice():
    """3,000 rows: 2,400 of 3 common codes, 600 spread over 300 codes of 2 rows each. At ε = 1 the rare
    codes are not released and the twin writes them as "__other__" (≈ 20 % of rows): the run says so,
    naming the column and the share; a column of common values only, or with its categories declared
    (public), gets no such notice."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(0)
    codes = [f"c{i % 3}" for i in range(2400)] + [f"r{i // 2}" for i in range(600)]
    df = pl.DataFrame({"code": codes, "plain": rng.choice(["a", "b"], 3000).tolist(),
                       "age": rng.integers(18, 80, 3000)})
    said = lambda m: [t for t in m.notices if "too rare to release" in t]  # noqa: E731
    m = dp_synth.fit(df, epsilon=1.0, seed=0, config=FAST, defer_notices=True)
    assert len(said(m)) == 1 and "column 'code'" in said(m)[0] and "'__other__'" in said(m)[0], m.notices
    share = int(said(m)[0].split("about ")[1].split(" %")[0])
    assert 12 <= share <= 28, said(m)  # 20 % of rows, by noisy counts
    twin = m.sample(3000, seed=1)
    assert 0.1 < (twin["code"] == "__other__").mean() < 0.3  # what the notice describes
    public = dp_synth.fit(df, epsilon=1.0, seed=0, config=FAST, defer_notices=True,
                          spec={"columns": {"code": {"categories": sorted(set(codes))}}})
    assert said(public) == [] and "__other__" not in set(public.sample(3000, seed=1)["code"].to_list())


def test_bad_row_or_batch_counts_are_refused_by_name(model):
    with pytest.raises(InputError, match="cannot sample -1 rows"):
        list(model.sample_batches(-1))
    with pytest.raises(InputError, match="batch_size must be at least 1, got 0"):
        list(model.map_batches(len, 10, batch_size=0))
