"""Scale benchmark: Adult-like tables of 10⁵, 10⁶ (and 10⁷) rows on DuckDB, and on local Spark
(``local[2]``), through the CLI with its defaults (holdout included), one fresh process per size.

The table is made here from the bundled Adult data: rows repeated with jitter (age ±2, hours ±3,
fnlwgt ×(1 ± 10 %), capital amounts ×(1 ± 5 %)), so rows are not copies. For each size: wall seconds per
phase (measure = the engine's aggregate queries of every DP measurement, read = the keyed-hash sample
DP-SGD reads, fit = the rest of fitting: noise, tree, pretraining, DP-SGD; write = generate + insert + ledger), peak RSS of the CLI process, twin rows/s into DuckDB, and the twin's mean 2-way TVD and TSTR AUC
(income) against the real table (100,000-row samples, the benchmarks/quality.py yardstick).

    python benchmarks/scale.py                  # 10⁵ and 10⁶
    python benchmarks/scale.py --sizes 1e5 1e6 1e7 --spark-sizes 1e7

Peak RSS is the largest sum over the CLI's process tree (on Spark: driver Python, JVM and Python
workers), polled every 0.2 s.
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


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(d.name))
            rss[int(d.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def run_cli(db: Path, *extra: str, table: str = "main.adult") -> dict:
    cmd = [sys.executable, "-m", "dp_synth.cli", "synthesize", "--db", str(db), "--table", table,
           "--epsilon", str(EPS), *extra]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, text=True)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.2)
        wall = time.perf_counter() - t0
        fo.seek(0), fe.seek(0)
        out, err = fo.read(), fe.read()
    if proc.returncode != 0:
        raise RuntimeError(f"CLI failed: {out}\n{err}")
    phases = dict((k, float(v)) for k, v in re.findall(r"(measure|read|fit|write) ([0-9.]+) s", out))
    rows = int(re.search(r"\(([0-9]+) rows\)", out).group(1))
    return {"wall": wall, "rss_gb": peak / 2**30, "rows": rows, **phases}


def quality(db: Path) -> tuple[float, float]:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        real = con.sql("SELECT * FROM main.adult USING SAMPLE 100000 ROWS (reservoir, 1)").pl()
        twin = con.sql("SELECT * FROM main_synthetic.adult USING SAMPLE 100000 ROWS (reservoir, 2)").pl()
    return _scores(real, twin)


def _scores(real, twin) -> tuple[float, float]:
    from dp_synth.evaluate import mean_marginal_tvd, tstr_auc

    test = real.sample(min(20000, real.height), seed=3)
    return (mean_marginal_tvd(real, twin, k=2, max_marginals=200),
            tstr_auc(twin.sample(min(50000, twin.height), seed=4), test, "income", ">50K"))


SPARK_LOAD = """
import sys
from dp_synth.engines.spark import SparkEngine
eng = SparkEngine.open(sys.argv[1])
eng.spark.sql("CREATE TABLE default.adult USING parquet AS SELECT * FROM parquet.`" + sys.argv[2] + "`")
eng.close()
"""


def spark_quality(warehouse: Path, n: int) -> tuple[float, float]:
    """Scored on keyed samples of ~100,000 rows of the real table and of the twin, read through Spark."""
    import polars as pl

    from dp_synth.engines.base import Keyed
    from dp_synth.engines.spark import SparkEngine
    from dp_synth.io.relation import Relation

    with SparkEngine.open(warehouse) as eng:
        rate = min(1.0, 100_000 / n)
        real = pl.from_arrow(eng.read(Relation("default", "adult"), (Keyed("real", rate),)))
        twin = pl.from_arrow(eng.read(Relation("default_synthetic", "adult"), (Keyed("twin", rate),)))
    return _scores(real, twin)


def spark_run(n: int, d: Path) -> tuple[dict, float, float]:
    db, pq, wh = d / "scale.duckdb", d / "adult.parquet", d / "warehouse"
    make_table(db, n)
    import duckdb

    with duckdb.connect(str(db)) as con:
        con.execute(f"COPY main.adult TO '{pq}' (FORMAT parquet)")
    db.unlink()
    subprocess.run([sys.executable, "-c", SPARK_LOAD, str(wh), str(pq)], check=True, capture_output=True)
    r = run_cli(wh, "--engine", "spark", table="default.adult")
    return (r, *spark_quality(wh, n))


def _line(engine: str, n: int, r: dict, tvd: float, auc: float) -> str:
    return (f"| {engine} | {n:,} | {r.get('measure', float('nan')):.1f} | {r.get('read', float('nan')):.1f} | {r.get('fit', float('nan')):.1f} | "
            f"{r.get('write', float('nan')):.1f} | {r['wall']:.1f} | {r['rss_gb']:.2f} | "
            f"{r['rows'] / max(r.get('write', 1e-9), 1e-9):,.0f} | {tvd:.3f} | {auc:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="*", type=float, default=[1e5, 1e6])
    ap.add_argument("--spark-sizes", nargs="*", type=float, default=[])
    args = ap.parse_args()
    print("| engine | rows | measure s | read s | fit s | write s | wall s | peak RSS GB | twin rows/s | 2-way TVD | TSTR AUC |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in (int(x) for x in args.sizes):
        with tempfile.TemporaryDirectory() as d:
            db = Path(d) / "scale.duckdb"
            make_table(db, n)
            r = run_cli(db)
            print(_line("duckdb", n, r, *quality(db)), flush=True)
    for n in (int(x) for x in args.spark_sizes):
        with tempfile.TemporaryDirectory() as d:
            print(_line("spark local[2]", n, *spark_run(n, Path(d))), flush=True)


if __name__ == "__main__":
    main()
