"""Marginal fidelity: total-variation distance of k-way marginals.

Both tables are discretized with bins taken from the *real* data (numeric columns in up to
16 quantile bins, NULL its own value) so the measure is the same one the benchmark reports.

>>> import polars as pl
>>> real = pl.DataFrame({"a": [1, 2, 3, 4] * 25, "b": ["x", "y"] * 50})
>>> round(mean_marginal_tvd(real, real, k=2), 6)
0.0
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl

__all__ = ["discretize", "marginal_tvd", "mean_marginal_tvd", "tstr_auc", "tstr_r2", "column_fidelity",
           "association_matrix", "association_difference", "matrices_difference", "correlation_difference"]

_NUMERIC = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64,
            pl.Float32, pl.Float64, pl.Date, pl.Datetime, pl.Decimal, pl.Time)


def _as_float(s: pl.Series) -> pl.Series:
    if s.dtype == pl.Date:
        return s.cast(pl.Int32).cast(pl.Float64)
    if isinstance(s.dtype, pl.Datetime):
        return s.dt.epoch("us").cast(pl.Float64)
    if s.dtype == pl.Time:
        return s.cast(pl.Int64).cast(pl.Float64)
    return s.cast(pl.Float64)


def discretize(real: pl.DataFrame, synth: pl.DataFrame, bins: int = 16) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Integer codes for both tables over the columns they share, bins from ``real``."""
    cols = [c for c in real.columns if c in synth.columns]
    r_out = np.empty((real.height, len(cols)), dtype=np.int64)
    s_out = np.empty((synth.height, len(cols)), dtype=np.int64)
    for j, c in enumerate(cols):
        r, s = real[c], synth[c]
        if r.dtype.base_type() in _NUMERIC or isinstance(r.dtype, (pl.Datetime, pl.Decimal)):
            rv, sv = _as_float(r).to_numpy(), _as_float(s).to_numpy()
            edges = np.unique(np.nanquantile(rv, np.linspace(0, 1, bins + 1)[1:-1])) if np.isfinite(rv).any() else []
            r_out[:, j] = np.where(np.isnan(rv), 0, np.searchsorted(edges, rv, side="right") + 1)
            s_out[:, j] = np.where(np.isnan(sv), 0, np.searchsorted(edges, sv, side="right") + 1)
        else:
            rs, ss = r.cast(pl.Utf8), s.cast(pl.Utf8)
            vocab = {v: i + 1 for i, v in enumerate(sorted(set(rs.drop_nulls().to_list()) |
                                                           set(ss.drop_nulls().to_list())))}
            r_out[:, j] = rs.replace_strict(vocab, default=0, return_dtype=pl.Int64).to_numpy()
            s_out[:, j] = ss.replace_strict(vocab, default=0, return_dtype=pl.Int64).to_numpy()
    return r_out, s_out, cols


def marginal_tvd(r: np.ndarray, s: np.ndarray, idx: tuple[int, ...]) -> float:
    """TVD between the empirical distributions of columns ``idx`` of two code matrices."""
    key_r = np.zeros(len(r), dtype=np.int64)
    key_s = np.zeros(len(s), dtype=np.int64)
    for j in idx:  # mixed-radix key of the joint cell
        radix = int(max(r[:, j].max(initial=0), s[:, j].max(initial=0))) + 1
        key_r, key_s = key_r * radix + r[:, j], key_s * radix + s[:, j]
    _, inv = np.unique(np.concatenate([key_r, key_s]), return_inverse=True)
    k = int(inv.max()) + 1
    p = np.bincount(inv[: len(r)], minlength=k) / max(len(r), 1)
    q = np.bincount(inv[len(r):], minlength=k) / max(len(s), 1)
    return 0.5 * float(np.abs(p - q).sum())


def mean_marginal_tvd(real: pl.DataFrame, synth: pl.DataFrame, k: int = 1, bins: int = 16,
                      max_marginals: int | None = None, seed: int = 0) -> float:
    """Mean TVD over all (or ``max_marginals`` random) k-way marginals."""
    r, s, cols = discretize(real, synth, bins)
    combos = list(itertools.combinations(range(len(cols)), k))
    if max_marginals is not None and len(combos) > max_marginals:
        pick = np.random.default_rng(seed).choice(len(combos), max_marginals, replace=False)
        combos = [combos[i] for i in pick]
    return float(np.mean([marginal_tvd(r, s, c) for c in combos])) if combos else 0.0


MAX_LEVELS = 255  # categories HistGradientBoosting accepts per feature


def _design(train: pl.DataFrame, test: pl.DataFrame, target: str) -> tuple[list[str], list[bool], callable]:
    """Feature columns, which are categorical, and a frame → matrix function shared by both tables
    (categoricals ordinal-coded over both tables' values, so unseen labels get one code; beyond
    MAX_LEVELS − 1 levels — gradient boosting takes at most 255 — the rarest share one code)."""
    feats = [c for c in test.columns if c != target and c in train.columns]
    cats = [_is_categorical(test[c]) for c in feats]
    vocab = {}
    for c, cat in zip(feats, cats):
        if cat:
            counts = pl.concat([train[c].cast(pl.Utf8), test[c].cast(pl.Utf8)]).drop_nulls().value_counts(sort=True)
            levels = sorted(counts[c].to_list()[:MAX_LEVELS - 1])
            vocab[c] = {v: float(i) for i, v in enumerate(levels)}

    def matrix(df: pl.DataFrame) -> np.ndarray:
        cols = [df[c].cast(pl.Utf8).replace_strict(vocab[c], default=float(len(vocab[c])), return_dtype=pl.Float64)
                .to_numpy() if c in vocab else _as_float(df[c]).to_numpy() for c in feats]
        return np.column_stack([c.astype(float) for c in cols]) if cols else np.zeros((df.height, 0))

    return feats, cats, matrix


def tstr_auc(train: pl.DataFrame, test: pl.DataFrame, target: str, positive: str) -> float:
    """Train on ``train`` (e.g. the twin), test on real ``test``: ROC AUC for ``target == positive``
    with gradient boosting; 0.5 when ``train`` holds one class only, NaN when ``test`` does."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    _, cats, matrix = _design(train, test, target)
    label = lambda df: (df[target].cast(pl.Utf8) == str(positive)).fill_null(False).to_numpy().astype(int)  # noqa: E731
    ytr, yte = label(train), label(test)
    if len(set(yte)) < 2:  # AUC is undefined on real rows of one class
        return float("nan")
    if len(set(ytr)) < 2:  # a model trained on one class scores every row alike: chance, not undefined (a twin
        return 0.5         # without the class — seattle_weather's `rain` under the release threshold at ε = 0.5)
    clf = HistGradientBoostingClassifier(categorical_features=cats, random_state=0)
    return float(roc_auc_score(yte, clf.fit(matrix(train), ytr).predict_proba(matrix(test))[:, 1]))


def tstr_r2(train: pl.DataFrame, test: pl.DataFrame, target: str) -> float:
    """Train on ``train``, test on real ``test``: R² of a gradient-boosting regressor for a numeric target."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import r2_score

    _, cats, matrix = _design(train, test, target)
    tr, te = train.filter(train[target].is_not_null()), test.filter(test[target].is_not_null())
    if tr.height < 2 or te.height < 2:
        return float("nan")
    reg = HistGradientBoostingRegressor(categorical_features=cats, random_state=0)
    y = lambda df: _as_float(df[target]).to_numpy()  # noqa: E731
    return float(r2_score(y(te), reg.fit(matrix(tr), y(tr)).predict(matrix(te))))


def _is_categorical(s: pl.Series) -> bool:
    return s.dtype in (pl.Utf8, pl.Boolean, pl.Categorical)


def column_fidelity(real: pl.DataFrame, synth: pl.DataFrame) -> dict[str, dict[str, float | str]]:
    """Per column: TVD for categoricals (NULL a value), Kolmogorov-Smirnov statistic for numbers."""
    from scipy.stats import ks_2samp

    out: dict[str, dict[str, float | str]] = {}
    r_codes, s_codes, cols = discretize(real, synth)
    for j, c in enumerate(cols):
        if _is_categorical(real[c]):
            out[c] = {"metric": "tvd", "value": marginal_tvd(r_codes, s_codes, (j,))}
        else:
            a, b = _as_float(real[c]).drop_nulls().to_numpy(), _as_float(synth[c]).drop_nulls().to_numpy()
            # a column NULL throughout on both sides matches; NULL on one side only is as far as it gets
            ks = float(ks_2samp(a, b).statistic) if len(a) and len(b) else float(len(a) + len(b) > 0)
            out[c] = {"metric": "ks", "value": ks}
    return out


def _cramers_v(x: np.ndarray, y: np.ndarray) -> float:
    table = np.zeros((x.max() + 1, y.max() + 1))
    np.add.at(table, (x, y), 1)
    table = table[table.sum(1) > 0][:, table.sum(0) > 0]
    if min(table.shape) < 2:
        return 0.0
    n = table.sum()
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = ((table - expected) ** 2 / expected).sum()
    return float(np.sqrt(chi2 / (n * (min(table.shape) - 1))))


def association_matrix(df: pl.DataFrame, ref: pl.DataFrame | None = None) -> tuple[list[str], np.ndarray]:
    """Pearson r between numeric columns, Cramér's V between the rest (numbers binned as in
    :func:`discretize`, with bins from ``ref``)."""
    ref = df if ref is None else ref
    _, codes, cols = discretize(ref, df)  # df's own codes, on bins taken from ref
    m = np.eye(len(cols))
    for i in range(len(cols)):
        for j in range(i + 1, len(cols)):
            a, b = df[cols[i]], df[cols[j]]
            if not _is_categorical(a) and not _is_categorical(b):
                x, y = _as_float(a).to_numpy(), _as_float(b).to_numpy()
                ok = ~(np.isnan(x) | np.isnan(y))
                v = float(np.corrcoef(x[ok], y[ok])[0, 1]) if ok.sum() > 2 and x[ok].std() > 0 and y[ok].std() > 0 else 0.0
            else:
                v = _cramers_v(codes[:, i], codes[:, j])
            m[i, j] = m[j, i] = v
    return cols, m


def association_difference(real: pl.DataFrame, synth: pl.DataFrame) -> dict[str, float | list[str]]:
    """Mean and largest absolute difference between the association matrices, and the pair
    with the largest one (a twin that keeps weak pairs but loses one strong pair shows in ``max``)."""
    cols, a = association_matrix(real)
    _, b = association_matrix(synth, real)
    return matrices_difference(cols, a, b)


def matrices_difference(cols: list[str], a: np.ndarray, b: np.ndarray) -> dict[str, float | list[str]]:
    """:func:`association_difference` of two matrices already computed (for callers that draw them)."""
    if len(cols) < 2:
        return {"mean": 0.0, "max": 0.0, "worst_pair": []}
    d = np.abs(a - b)
    np.fill_diagonal(d, -1.0)
    i, j = np.unravel_index(int(np.argmax(d)), d.shape)
    off = ~np.eye(len(a), dtype=bool)
    return {"mean": float(d[off].mean()), "max": float(d[i, j]), "worst_pair": [cols[i], cols[j]]}


def correlation_difference(real: pl.DataFrame, synth: pl.DataFrame) -> float:
    """Mean absolute difference between the two association matrices (off-diagonal)."""
    return float(association_difference(real, synth)["mean"])
