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
    from dp_synth.evaluate import dcr_share, exact_copy_rate, mean_marginal_tvd, tstr_auc

    warnings.simplefilter("ignore")
    train, hold = split(seed)
    t0 = time.perf_counter()
    model = dp_synth.fit(train, epsilon=eps, delta=delta, seed=seed, table_name="adult", holdout=0,
                         config=dp_synth.TrainingConfig(**config))
    fit_s = time.perf_counter() - t0
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM train LIMIT 0")
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
           "tvd3": mean_marginal_tvd(train, synth, 3), "tstr": tstr_auc(synth, hold, TARGET, ">50K"),
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
    from dp_synth.evaluate import exact_copy_rate, mean_marginal_tvd, tstr_auc

    base = {"eps": "real holdout", "tvd1": mean_marginal_tvd(train, hold, 1), "tvd2": mean_marginal_tvd(train, hold, 2),
            "tvd3": mean_marginal_tvd(train, hold, 3), "tstr": tstr_auc(train, hold, TARGET, ">50K"),
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
