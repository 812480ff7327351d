"""Notices read off the released profile: a column that looks like a row number is named; the columns
that merely hold integers are not."""
import numpy as np
import polars as pl

import dp_synth
from helpers import FAST


def test_an_integer_column_of_row_numbers_is_named_and_a_key_numbers_the_twins_rows():
    """5,000 event ids (0 … 4,999, shuffled) are named as a row number; user ids (500 values, 10 rows each),
    ages and wide amounts are not. Declared a key, the id is unique in the twin and the notice goes."""
    rng = np.random.default_rng(0)
    n = 5000
    df = pl.DataFrame({"event_id": rng.permutation(n), "user_id": rng.integers(0, 500, n),
                       "age": rng.integers(18, 90, n), "cents": rng.lognormal(8, 1.5, n).astype(np.int64)})
    said = lambda m: [t for t in m.notices if "looks like a row number" in t]  # noqa: E731
    m = dp_synth.fit(df, epsilon=1.0, seed=0, config=FAST, defer_notices=True)
    assert len(said(m)) == 1 and "column 'event_id'" in said(m)[0] and "'role': 'key'" in said(m)[0], m.notices
    assert m.sample(n, seed=1)["event_id"].n_unique() < 0.9 * n  # what the notice warns of
    keyed = dp_synth.fit(df, epsilon=1.0, seed=0, config=FAST, defer_notices=True,
                         spec={"columns": {"event_id": {"role": "key"}}})
    assert said(keyed) == [] and keyed.sample(n, seed=1)["event_id"].n_unique() == n
