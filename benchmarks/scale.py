"""Scale benchmark: Adult-like tables of 10⁵, 10⁶ (and 10⁷) rows on DuckDB, through the CLI with its
defaults (holdout included), one fresh process per size.

The table is made here from the bundled Adult data: rows repeated with jitter (age ±2, hours ±3,
fnlwgt ×(1 ± 10 %), capital amounts ×(1 ± 5 %)), so rows are not copies. For each size: wall seconds per
phase (read = count + keyed-hash sample scan, fit = profile + tree + DP-SGD, write = generate + insert +
ledger), peak RSS of the CLI process, twin rows/s into DuckDB, and the twin's mean 2-way TVD and TSTR AUC
(income) against the real table (100,000-row samples, the benchmarks/quality.py yardstick).

    python benchmarks/scale.py                  # 10⁵ and 10⁶
    python benchmarks/scale.py --sizes 1e5 1e6 1e7
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EPS = 1.0


def make_table(db: Path, n: int) -> None:
    import duckdb

    from dp_synth.demo import demo_data_path

    with duckdb.connect(str(db)) as con:
        con.execute(f"CREATE TABLE base AS SELECT * FROM read_parquet('{demo_data_path()}')")
        k = -(-n // con.execute("SELECT count(*) FROM base").fetchall()[0][0])
        j = lambda tag, m: f"((hash(r.range, b.fnlwgt, b.age, '{tag}') % {2 * m + 1})::INT - {m})"  # noqa: E731
        con.execute(f"""
            CREATE TABLE main.adult AS SELECT
              greatest(17, b.age + {j('a', 2)}) AS age, b.workclass,
              (b.fnlwgt * (1 + {j('f', 100)} / 1000.0))::INT AS fnlwgt, b.education, b.education_num,
              b.marital_status, b.occupation, b.relationship, b.race, b.sex,
              CASE WHEN b.capital_gain = 0 THEN 0 ELSE (b.capital_gain * (1 + {j('g', 50)} / 1000.0))::INT END AS capital_gain,
              CASE WHEN b.capital_loss = 0 THEN 0 ELSE (b.capital_loss * (1 + {j('l', 50)} / 1000.0))::INT END AS capital_loss,
              least(99, greatest(1, b.hours_per_week + {j('h', 3)})) AS hours_per_week, b.native_country, b.income
            FROM base b, range({k}) r LIMIT {n}""")
        con.execute("DROP TABLE base")


def run_cli(db: Path) -> dict:
    cmd = [sys.executable, "-m", "dp_synth.cli", "synthesize", "--db", str(db), "--table", "main.adult",
           "--epsilon", str(EPS)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out, err = proc.stdout.read(), proc.stderr.read()
    if status != 0:
        raise RuntimeError(f"CLI failed: {out}\n{err}")
    phases = dict((k, float(v)) for k, v in re.findall(r"(read|fit|write) ([0-9.]+) s", out))
    rows = int(re.search(r"\(([0-9]+) rows\)", out).group(1))
    return {"wall": wall, "rss_gb": usage.ru_maxrss / 2**20, "rows": rows, **phases}


def quality(db: Path) -> tuple[float, float]:
    import duckdb

    from dp_synth.evaluate import mean_marginal_tvd, tstr_auc

    with duckdb.connect(str(db), read_only=True) as con:
        real = con.sql("SELECT * FROM main.adult USING SAMPLE 100000 ROWS (reservoir, 1)").pl()
        twin = con.sql("SELECT * FROM main_synthetic.adult USING SAMPLE 100000 ROWS (reservoir, 2)").pl()
    test = real.sample(min(20000, real.height), seed=3)
    return (mean_marginal_tvd(real, twin, k=2, max_marginals=200),
            tstr_auc(twin.sample(min(50000, twin.height), seed=4), test, "income", ">50K"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e5, 1e6])
    args = ap.parse_args()
    print("| rows | read s | fit s | write s | wall s | peak RSS GB | twin rows/s | 2-way TVD | TSTR AUC |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in (int(x) for x in args.sizes):
        with tempfile.TemporaryDirectory() as d:
            db = Path(d) / "scale.duckdb"
            make_table(db, n)
            r = run_cli(db)
            tvd, auc = quality(db)
            print(f"| {n:,} | {r.get('read', float('nan')):.1f} | {r.get('fit', float('nan')):.1f} | "
                  f"{r.get('write', float('nan')):.1f} | {r['wall']:.1f} | {r['rss_gb']:.2f} | "
                  f"{r['rows'] / max(r.get('write', 1e-9), 1e-9):,.0f} | {tvd:.3f} | {auc:.3f} |", flush=True)


if __name__ == "__main__":
    main()
