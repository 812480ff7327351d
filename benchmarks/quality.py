"""Quality benchmark through the path users run: ``dp-synth synthesize`` with its defaults (its own
holdout included), one CLI process per (table, ε), δ = 1e-5.

Each table is split once (seeded) 80/20: the 80 % becomes ``main.t`` in a fresh DuckDB file, the CLI
builds its twin there, and the twin is scored against the 80 % (marginals, DCR, copies) and the 20 %
(TSTR test set). Next to every figure, the real floor: the same metric for the 20 % real rows in
place of the twin (TVD: a real sample of that size; TSTR: train-on-real; copies: the real holdout's
own rate). Tables (all public, shipped with PyPI packages, no network):

- adult — UCI Adult (bundled with dp-synth; ../shared copy if present): 15 mixed columns; TSTR income = >50K
- airports — vega_datasets airports.csv (3,376 US airports): latitude/longitude with state and city,
  numeric joint structure with many-valued categories (state: US state codes, a public vocabulary —
  dp_synth/domains.py — so every code is a category); TSTR state = AK (Alaska: predictable from coordinates)
- seattle_weather — vega_datasets seattle-weather.csv (1,461 days): a date, four numbers, weather type;
  TSTR weather = rain
- adult_small — 2,500 rows of Adult (a fixed seeded sample, not a new table): the small-table path
  (≈ 1,600 training rows) with 15 columns, many of them small-range integers; TSTR income = >50K

    python benchmarks/quality.py                       # every table, ε ∈ {0.5, 1, 4}
    python benchmarks/quality.py --tables adult --eps 1
    python benchmarks/quality.py --tables seattle_weather --eps 1 --splits 20   # + a summary over 20 splits

With ``--splits K`` each (table, ε) runs on splits ``seed … seed + K − 1`` (a new 80/20 split and a new
CLI run each), and a second table gives each metric's mean, its standard error and its range, next to the
mean floor and issue 12's target for it: one split's figures move by ± 0.02–0.03 on the small tables
(docs/benchmarks.md, stop 37), so a target is judged on the mean.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data" / "adult.csv"


def _adult() -> pl.DataFrame:
    if SHARED.exists():
        return pl.read_csv(SHARED, null_values=[""])
    from dp_synth.demo import demo_data_path

    return pl.read_parquet(demo_data_path())


def _adult_small() -> pl.DataFrame:
    df = _adult()
    return df[np.random.default_rng(2500).permutation(df.height)[:2500]]


def _vega(name: str) -> Path:
    try:
        return Path(str(resources.files("vega_datasets") / "_data" / name))
    except ModuleNotFoundError:
        raise SystemExit("the airports and seattle_weather tables need: pip install vega_datasets") from None


def _airports() -> pl.DataFrame:
    return pl.read_csv(_vega("airports.csv")).drop("iata").rename({"name": "airport"})


def _seattle() -> pl.DataFrame:
    return pl.read_csv(_vega("seattle-weather.csv"), try_parse_dates=True)


# name → (loader, TSTR target, positive class, spec given to the CLI (public facts only))
TABLES = {
    "adult": (_adult, "income", ">50K", None),
    "airports": (_airports, "state", "AK", None),
    "seattle_weather": (_seattle, "weather", "rain", None),
    "adult_small": (_adult_small, "income", ">50K", None),
}


def split(df: pl.DataFrame, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    idx = np.random.default_rng(seed).permutation(df.height)
    cut = int(0.8 * df.height)
    return df[idx[:cut]], df[idx[cut:]]


def run_cli(train: pl.DataFrame, eps: float, delta: float, spec: dict | None,
            config: dict | None = None) -> tuple[pl.DataFrame, dict]:
    import duckdb
    import yaml

    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "q.duckdb"
        with duckdb.connect(str(db)) as con:
            con.register("src", train.to_arrow())
            con.execute("CREATE TABLE main.t AS SELECT * FROM src")
        cmd = [sys.executable, "-m", "dp_synth.cli", "synthesize", "--db", str(db), "--table", "main.t",
               "--epsilon", str(eps), "--delta", str(delta)]
        if spec:
            (Path(d) / "spec.yml").write_text(yaml.safe_dump(spec))
            cmd += ["--spec", str(Path(d) / "spec.yml")]
        if config:  # an experiment: the same runtime, other training settings (the CLI has no such flag)
            cmd = [sys.executable, "-c", EXPERIMENT, str(db), str(eps), str(delta), json.dumps(config)]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit(f"CLI failed (ε={eps}): {p.stdout}\n{p.stderr}")
        phases = {k: float(v) for k, v in re.findall(r"(read|fit|write) ([0-9.]+) s", p.stdout)}
        rows = int(re.search(r"\(([0-9]+) rows\)", p.stdout).group(1))
        with duckdb.connect(str(db), read_only=True) as con:
            twin = con.sql("SELECT * FROM main_synthetic.t").pl()
            learned = json.loads(con.sql("SELECT columns_learned FROM main.dp_synth_ledger").fetchall()[-1][0])
    # scored on the learned columns (keys and PII are regenerated, not learned: as `dp-synth validate` does)
    return twin.select(learned), {"wall": wall, "rows_per_s": rows / max(phases.get("write", 1e-9), 1e-9),
                                  "learned": learned, **phases}


EXPERIMENT = """
import json, sys, warnings
import dp_synth
from dp_synth.cli import _statement
warnings.simplefilter("ignore")
db, eps, delta, cfg = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4])
import dp_synth.fit as fit_module
import importlib
for key in [k for k in cfg if k.startswith("_")]:  # module constants: "_AUTO_SHARE" (fit), "_profile.NAME"
    module, _, name = key[1:].rpartition(".")
    setattr(importlib.import_module("dp_synth." + module) if module else fit_module, name, cfg.pop(key))
_statement(dp_synth.synthesize(db, "main.t", eps, delta, config=dp_synth.TrainingConfig(**cfg)))
"""


def scores(table: str, train: pl.DataFrame, test: pl.DataFrame, rows: pl.DataFrame, target: str,
           positive: str) -> dict:
    from dp_synth.evaluate import dcr_share, exact_copy_rate, mean_marginal_tvd, tstr_auc

    cols = [c for c in train.columns if c in rows.columns and rows[c].null_count() < rows.height]
    train, rows = train.select(cols), rows.select(cols)
    out = {k: mean_marginal_tvd(train, rows, k, max_marginals=300) for k in (1, 2, 3)}
    out["tstr"] = tstr_auc(rows, test.select(cols), target, positive)
    out["copies"] = exact_copy_rate(rows, train)
    out["dcr"] = dcr_share(rows, train, test.select(cols))
    return out


def _rate(timing: dict) -> str:
    return f"{timing['rows_per_s']:,.0f}" if timing.get("write", 0) >= 0.05 else "– (write < 0.05 s)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", nargs="*", default=list(TABLES))
    ap.add_argument("--eps", type=float, nargs="*", default=[0.5, 1.0, 4.0])
    ap.add_argument("--delta", type=float, default=1e-5)
    ap.add_argument("--seed", type=int, default=0, help="the (first) split")
    ap.add_argument("--splits", type=int, default=1, help="run splits seed … seed+K−1 and summarise them")
    ap.add_argument("--json", help="also write results here")
    ap.add_argument("--config", help="experiment: TrainingConfig overrides as JSON (runs the library, not the CLI)")
    args = ap.parse_args()
    config = json.loads(args.config) if args.config else None
    results = []
    hdr = ["table", "ε", "TVD 1-way", "TVD 2-way (floor)", "TVD 3-way (floor)", "TSTR AUC (train-on-real)",
           "DCR share", "copies (holdout's)", "fit s", "wall s", "sample rows/s"]
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr), flush=True)
    for name in args.tables:
        load, target, positive, spec = TABLES[name]
        df = load()
        for seed in range(args.seed, args.seed + max(1, args.splits)):
            train, test = split(df, seed)
            floors: dict = {}
            for eps in args.eps:
                twin, timing = run_cli(train, eps, args.delta, spec, config)
                s = scores(name, train.select(twin.columns), test.select(twin.columns), twin, target, positive)
                cols = tuple(twin.columns)
                if cols not in floors:  # the real 20 % in the twin's place, same columns; TSTR: train on real
                    tr, te = train.select(cols), test.select(cols)
                    floors[cols] = {**scores(name, tr, te, te, target, positive),
                                    "tstr": scores(name, tr, te, tr, target, positive)["tstr"]}
                results.append({"table": name, "eps": eps, "split": seed, "rows": train.height, **s, **timing,
                                "floor": floors[cols]})
                _row(f"{name} ({train.height:,} rows, split {seed})", eps, s, floors[cols], timing)
    if args.splits > 1:
        print()
        for line in summary(results):
            print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))


def _row(label: str, eps: float, s: dict, floor: dict, timing: dict) -> None:
    print(f"| {label} | {eps:g} | {s[1]:.3f} | {s[2]:.3f} ({floor[2]:.3f}) | "
          f"{s[3]:.3f} ({floor[3]:.3f}) | {s['tstr']:.3f} ({floor['tstr']:.3f}) | {s['dcr']:.3f} | "
          f"{s['copies']:.4f} ({floor['copies']:.4f}) | {timing.get('fit', float('nan')):.1f} | "
          f"{timing['wall']:.1f} | {_rate(timing)} |", flush=True)


# issue 12's targets, on the means: Adult's own figures; every other table relative to its real floor
ADULT_TARGETS = {0.5: (0.060, 0.88), 1.0: (0.045, 0.905)}


def targets(table: str, eps: float, floor_2way: float, floor_tstr: float) -> tuple[float, float] | None:
    """The (largest 2-way TVD, smallest TSTR AUC) issue 12 asks of ``table`` at ``eps``; None: no target.

    >>> targets("adult", 1.0, 0.03, 0.92), targets("airports", 1.0, 0.15, 1.0), targets("airports", 4.0, 0.1, 1)
    ((0.045, 0.905), (0.3, 0.95), None)
    """
    if table == "adult":
        return ADULT_TARGETS.get(float(eps))
    return (2 * floor_2way, floor_tstr - 0.05) if float(eps) == 1.0 else None


def _stat(xs: list[float], digits: int = 3) -> str:
    a = np.array([x for x in xs if x == x], dtype=float)  # NaN (undefined) runs are counted, not averaged
    if a.size == 0:
        return "–"
    se = a.std(ddof=1) / np.sqrt(a.size) if a.size > 1 else float("nan")
    skipped = f", {len(xs) - a.size} NaN" if a.size < len(xs) else ""
    return f"{a.mean():.{digits}f} ± {se:.{digits}f} [{a.min():.{digits}f}–{a.max():.{digits}f}{skipped}]"


def summary(results: list[dict]) -> list[str]:
    """A markdown table: per (table, ε), each metric's mean ± standard error [min–max] over the splits run,
    the mean floor, and whether the means meet issue 12's targets (:func:`targets`; on every table with a
    target also a DCR share within 0.47–0.53 and copies at most the holdout's own rate)."""
    hdr = ["table", "ε", "splits", "TVD 2-way (mean floor)", "TSTR AUC (mean train-on-real)", "DCR share",
           "copies (holdout's)", "target 2-way / TSTR", "met"]
    out = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    keys = list(dict.fromkeys((r["table"], r["eps"]) for r in results))
    for table, eps in keys:
        rs = [r for r in results if (r["table"], r["eps"]) == (table, eps)]
        col = lambda k, rows=rs: [float(r[k]) for r in rows]  # noqa: E731
        flo = lambda k, rows=rs: float(np.nanmean([float(r["floor"][k]) for r in rows]))  # noqa: E731
        two, tstr = float(np.mean(col(2))), float(np.nanmean(col("tstr")))
        goal = targets(table, eps, flo(2), flo("tstr"))
        dcr, copies = float(np.mean(col("dcr"))), float(np.mean(col("copies")))
        missed = [] if goal is None else [f"{k} by {v:.3f}" for k, v in (
            ("2-way", two - goal[0]), ("TSTR", goal[1] - tstr), ("DCR", abs(dcr - 0.5) - 0.03),
            ("copies", copies - flo("copies"))) if v > 0]
        met = "–" if goal is None else ("yes" if not missed else "missed: " + ", ".join(missed))
        out.append(f"| {table} | {eps:g} | {len(rs)} | {_stat(col(2))} ({flo(2):.3f}) | "
                   f"{_stat(col('tstr'))} ({flo('tstr'):.3f}) | {_stat(col('dcr'))} | "
                   f"{copies:.4f} ({flo('copies'):.4f}) | "
                   f"{'–' if goal is None else f'≤ {goal[0]:.3f} / ≥ {goal[1]:.3f}'} | {met} |")
    return out


if __name__ == "__main__":
    sys.exit(main())
