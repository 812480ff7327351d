"""How faithfully a twin keeps one column's distribution, for shapes warehouse tables have: log-distributed
amounts (positive, negative, integer cents), zero-inflated amounts beside few categories (so rows repeat),
and a normal column as control. Each table goes through `dp_synth.synthesize` into DuckDB with the CLI's
defaults (ε = 1, holdout included); the column's KS statistic between the twin and the table, and for the
zero-inflated one the share of zeros.

    python benchmarks/column_shapes.py                 # the defaults
    python benchmarks/column_shapes.py --cells linear  # fine cells of equal width only (before stop 42)

Prints a markdown table (mean over --seeds runs).
"""
from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa


def tables(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    zero = np.exp(rng.normal(5, 2, n))
    zero[rng.random(n) < 0.6] = 0.0
    return {"log-uniform 1 … 4.9e8": np.exp(rng.uniform(0, 20, n)),
            "lognormal(8, 2)": np.exp(rng.normal(8, 2, n)),
            "lognormal(7, 1.5), integer cents": np.round(np.exp(rng.normal(7, 1.5, n))).astype(np.int64),
            "−lognormal(8, 2)": -np.exp(rng.normal(8, 2, n)),
            "60 % zeros, else lognormal(5, 2)": zero,
            "normal(50, 10)": rng.normal(50, 10, n)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", nargs="*", type=int, default=[1000, 5000, 30000])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--cells", choices=["default", "linear"], default="default")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import dp_synth
    from scipy.stats import ks_2samp

    if args.cells == "linear":
        import dp_synth.cells as cells

        equal = cells.cell_edges
        cells.cell_edges = lambda c, bounds, budget, octaves: equal(c, bounds, budget, None)
    print(f"cells: {args.cells}; ε = 1, δ and holdout as the CLI's defaults; mean of {args.seeds} runs\n")
    print("| column | rows | KS twin vs table | zeros: table / twin |")
    print("|---|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "shapes.duckdb")
        for n in args.rows:
            rng = np.random.default_rng(n)
            for t, (name, x) in enumerate(tables(n, rng).items()):
                k = rng.integers(0, 3, n)
                with duckdb.connect(db) as con:
                    con.register("src", pa.table({"x": x, "k": k}))
                    con.execute(f"CREATE OR REPLACE TABLE main.t{t} AS SELECT * FROM src")
                ks, zeros = [], []
                for seed in range(args.seeds):
                    dp_synth.synthesize(db, f"main.t{t}", 1.0, seed=seed, target=f"main.t{t}_twin{seed}")
                    with duckdb.connect(db) as con:
                        twin = np.asarray(con.execute(f"SELECT x FROM main.t{t}_twin{seed}").fetchnumpy()["x"], float)
                    ks.append(ks_2samp(np.asarray(x, float), twin).statistic)
                    zeros.append(float(np.mean(twin == 0)))
                z = f"{np.mean(x == 0):.3f} / {np.mean(zeros):.3f}" if np.any(x == 0) else ""
                print(f"| {name} | {n:,} | {np.mean(ks):.3f} | {z} |", flush=True)


if __name__ == "__main__":
    main()
