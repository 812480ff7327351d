"""Quality/speed benchmark on UCI Adult (../shared/data/adult.csv), seeded 80/20 split.

Prints one table: mean TVD of 1/2/3-way marginals (numeric columns in 16 quantile bins of the
real data, NULL its own value), train-on-synthetic/test-on-real ROC AUC for ``income``
(gradient boosting) next to train-on-real, DCR share, exact-copy rate, fit seconds,
sampling rows/s into DuckDB and peak memory (RSS) of the run.

    python benchmarks/quality.py                  # ε ∈ {0.5, 1, 4}, δ = 1e-5
    python benchmarks/quality.py --eps 1 --config '{"epochs": 4}'
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "adult.csv"
TARGET = "income"


def split(seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    df = pl.read_csv(DATA, null_values=[""])
    idx = np.random.default_rng(seed).permutation(df.height)
    cut = int(0.8 * df.height)
    return df[idx[:cut]], df[idx[cut:]]


def _xy(df: pl.DataFrame, cats: list[str], vocab: dict[str, dict]) -> tuple[np.ndarray, np.ndarray]:
    cols = []
    for c in df.columns:
        if c == TARGET:
            continue
        if c in cats:
            cols.append(df[c].cast(pl.Utf8).replace_strict(vocab[c], default=-1, return_dtype=pl.Float64)
                        .to_numpy().astype(float))
        else:
            cols.append(df[c].cast(pl.Float64).to_numpy())
    y = (df[TARGET].cast(pl.Utf8) == ">50K").fill_null(False).to_numpy().astype(int)
    x = np.column_stack(cols)
    x[x == -1] = np.nan
    return x, y


def tstr_auc(train: pl.DataFrame, test: pl.DataFrame) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    cats = [c for c in test.columns if test[c].dtype == pl.Utf8 and c != TARGET]
    vocab = {c: {v: i for i, v in enumerate(sorted(set(test[c].drop_nulls().to_list())
                                                 | set(train[c].cast(pl.Utf8).drop_nulls().to_list())))}
             for c in cats}
    xtr, ytr = _xy(train, cats, vocab)
    xte, yte = _xy(test, cats, vocab)
    if len(set(ytr)) < 2:
        return float("nan")
    mask = [c in cats for c in test.columns if c != TARGET]
    clf = HistGradientBoostingClassifier(categorical_features=mask, random_state=0).fit(xtr, ytr)
    return float(roc_auc_score(yte, clf.predict_proba(xte)[:, 1]))


def _features(df: pl.DataFrame, ref: pl.DataFrame) -> np.ndarray:
    """Numeric scaled to [0,1] by the real range, categoricals one-hot / sqrt(2) (Gower-like)."""
    out = []
    for c in ref.columns:
        if ref[c].dtype == pl.Utf8:
            vals = sorted(set(ref[c].drop_nulls().to_list()))
            s = df[c].cast(pl.Utf8).fill_null("<NULL>")
            out += [(s == v).to_numpy().astype(float) / np.sqrt(2) for v in vals + ["<NULL>"]]
        else:
            lo, hi = ref[c].min(), ref[c].max()
            out.append(((df[c].cast(pl.Float64).fill_null(lo) - lo) / max(hi - lo, 1e-9)).to_numpy())
    return np.column_stack(out)


def dcr_share(synth: pl.DataFrame, train: pl.DataFrame, hold: pl.DataFrame, n: int = 5000) -> float:
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(0)
    tr = train[rng.choice(train.height, hold.height, replace=False)]
    sy = synth[rng.choice(synth.height, min(n, synth.height), replace=False)]
    f = lambda d: _features(d, train)  # noqa: E731
    d_tr = NearestNeighbors(n_neighbors=1).fit(f(tr)).kneighbors(f(sy))[0][:, 0]
    d_ho = NearestNeighbors(n_neighbors=1).fit(f(hold)).kneighbors(f(sy))[0][:, 0]
    return float(np.mean(d_tr < d_ho) + 0.5 * np.mean(d_tr == d_ho))


def exact_copy_rate(rows: pl.DataFrame, train: pl.DataFrame) -> float:
    cols = train.columns
    r = rows.select(cols).with_columns(pl.all().cast(pl.Utf8)).with_row_index("__i")
    t = train.select(cols).with_columns(pl.all().cast(pl.Utf8)).unique()
    hits = r.join(t, on=cols, how="inner", nulls_equal=True)["__i"].n_unique()
    return hits / max(rows.height, 1)


def run_one(eps: float, delta: float, config: dict, seed: int, q) -> None:
    try:
        q.put(_run_one(eps, delta, config, seed))
    except BaseException as e:  # report instead of leaving the parent waiting
        q.put({"eps": eps, "error": repr(e)})
        raise


def _run_one(eps: float, delta: float, config: dict, seed: int) -> dict:
    import duckdb
    import warnings

    import dp_synth
    from dp_synth.evaluate import mean_marginal_tvd

    warnings.simplefilter("ignore")
    train, hold = split(seed)
    t0 = time.perf_counter()
    model = dp_synth.fit(train, epsilon=eps, delta=delta, seed=seed, table_name="adult",
                         config=dp_synth.TrainingConfig(**config))
    fit_s = time.perf_counter() - t0
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM train LIMIT 0")
    t0 = time.perf_counter()
    n_rows = 0
    for b in model.sample_batches(200_000):
        con.register("b", b)
        con.execute("INSERT INTO t SELECT * FROM b")
        con.unregister("b")
        n_rows += b.num_rows
    rate = n_rows / (time.perf_counter() - t0)
    synth = con.sql("SELECT * FROM t").pl()[: train.height]
    res = {"eps": eps, "eps_reported": model.privacy.epsilon, "fit_s": fit_s, "rows_per_s": rate,
           "tvd1": mean_marginal_tvd(train, synth, 1), "tvd2": mean_marginal_tvd(train, synth, 2),
           "tvd3": mean_marginal_tvd(train, synth, 3), "tstr": tstr_auc(synth, hold),
           "dcr": dcr_share(synth, train, hold), "copies": exact_copy_rate(synth, train),
           "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eps", type=float, nargs="*", default=[0.5, 1.0, 4.0])
    ap.add_argument("--delta", type=float, default=1e-5)
    ap.add_argument("--config", default="{}", help="TrainingConfig overrides as JSON")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write results here")
    args = ap.parse_args()
    config = json.loads(args.config)
    train, hold = split(args.seed)
    from dp_synth.evaluate import mean_marginal_tvd

    base = {"eps": "real holdout", "tvd1": mean_marginal_tvd(train, hold, 1), "tvd2": mean_marginal_tvd(train, hold, 2),
            "tvd3": mean_marginal_tvd(train, hold, 3), "tstr": tstr_auc(train, hold),
            "dcr": float("nan"), "copies": exact_copy_rate(hold, train)}
    rows = [base]
    ctx = mp.get_context("spawn")
    for eps in args.eps:
        q = ctx.Queue()
        p = ctx.Process(target=run_one, args=(eps, args.delta, config, args.seed, q))
        p.start()
        res = q.get()
        p.join()
        if "error" in res:
            raise SystemExit(f"ε={eps}: {res['error']}")
        rows.append(res)
    hdr = ["ε", "TVD 1-way", "TVD 2-way", "TVD 3-way", "TSTR AUC", "DCR share", "exact copies",
           "fit s", "sample rows/s", "peak MB"]
    print(f"Adult, train {train.height} / holdout {hold.height}, δ={args.delta:g}, config {config or 'default'}")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for r in rows:
        f = lambda k, fmt: (fmt.format(r[k]) if isinstance(r.get(k), float) and r[k] == r[k] else "–")  # noqa: E731
        print(f"| {r['eps']} | {f('tvd1', '{:.3f}')} | {f('tvd2', '{:.3f}')} | {f('tvd3', '{:.3f}')} | "
              f"{f('tstr', '{:.3f}')} | {f('dcr', '{:.3f}')} | {f('copies', '{:.4f}')} | {f('fit_s', '{:.1f}')} | "
              f"{f('rows_per_s', '{:,.0f}')} | {f('peak_mb', '{:,.0f}')} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    sys.exit(main())
