"""Evaluation speed: `dp_synth.validate` on the Adult demo twin (32,561 real rows, ε = 1).

Builds the demo database once (``dp-synth demo``: bundled Adult, ~1 min), then times each
measure on its own and the whole GX run (both suites, Data Docs, summary) a few times.
Prints one table.

    python benchmarks/validation.py [--db /tmp/dp_synth_bench.duckdb] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import duckdb


def ensure_demo(db: Path) -> None:
    if db.exists():
        return
    from dp_synth.demo import load_demo_table
    from dp_synth.runtime import synthesize

    with duckdb.connect(str(db)) as con:
        load_demo_table(con)
    synthesize(str(db), "main.adult", epsilon=1.0, seed=0)


def timed(fn, repeat: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "dp_synth_bench.duckdb")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    ensure_demo(args.db)

    from dp_synth import evaluate as ev
    from dp_synth.validate import validate
    from dp_synth.evaluate.summary import attack_risk, ml_efficacy, real_rows
    from dp_synth.validate.pair import load_pair

    with duckdb.connect(str(args.db)) as con:
        pair = load_pair(con, "main_synthetic.adult")
    syn, train, hold = pair.synthetic, pair.train, pair.holdout
    real = real_rows(train, hold)
    steps = {
        "read pair from DuckDB (+ holdout re-derivation)": lambda: load_pair(duckdb.connect(str(args.db), read_only=True),
                                                                            "main_synthetic.adult"),
        "1/2/3-way marginal TVD": lambda: [ev.mean_marginal_tvd(real, syn, k=k, max_marginals=300) for k in (1, 2, 3)],
        "per-column TVD / KS": lambda: ev.column_fidelity(real, syn),
        "association matrices": lambda: ev.association_difference(real, syn),
        "ML efficacy (2 boosted models)": lambda: ml_efficacy(syn, train, hold, "income"),
        "exact copies + DCR share": lambda: (ev.exact_copy_rate(syn, train), ev.dcr_share(syn, train, hold)),
        "3 attacks": lambda: [attack_risk(syn, train, hold, a, "income") for a in ("singling_out", "linkability", "inference")],
        "whole `validate` (GX, both suites, Data Docs)": lambda: validate(str(args.db), "main_synthetic.adult",
                                                                          target="income", out=Path(tempfile.mkdtemp())),
    }
    print(f"twin {syn.height} rows, training {train.height}, holdout {hold.height}, {len(pair.columns)} columns; "
          f"median of {args.repeat}")
    print(f"| {'step':<48} | seconds |\n|{'-' * 50}|---------|")
    for name, fn in steps.items():
        seconds, value = timed(fn, args.repeat)
        print(f"| {name:<48} | {seconds:7.2f} |")
    print(f"validation success: {value.success}")


if __name__ == "__main__":
    main()
