"""Cross-check of dp-synth's attacks against the `anonymeter` package (Giomi et al. 2023).

anonymeter pins numpy<1.27, which the project's own pins exclude, so it runs in its own venv and
the two sides meet through Parquet files:

    python benchmarks/anonymeter_crosscheck.py export --db /tmp/dp_synth_bench.duckdb --dir /tmp/xcheck
    python3 -m venv /tmp/anon && /tmp/anon/bin/pip install anonymeter pyarrow
    /tmp/anon/bin/python benchmarks/anonymeter_crosscheck.py check --dir /tmp/xcheck

``export`` (project venv) writes twin / training / control rows of a twin (default: the ε=1
demo twin built by benchmarks/validation.py, plus a 'copied' twin = training rows) and
dp-synth's own risks; ``check`` (anonymeter venv) runs anonymeter's three evaluators on the same
files and prints both side by side. dp-synth's attacks read up to 5,000 targets per side
(``dp_synth.evaluate.attacks.TARGETS``): pass ``--n-attacks 5000`` to compare at equal size.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SECRET = "income"


def export(db: str, twin: str, out: Path) -> None:
    import duckdb

    from dp_synth.evaluate.summary import ATTACKS, attack_risk
    from dp_synth.validate.pair import load_pair

    out.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(db, read_only=True) as con:
        pair = load_pair(con, twin)
    pair.train.write_parquet(out / "train.parquet")
    pair.holdout.write_parquet(out / "control.parquet")
    ours = {}
    for name, syn in (("dp twin", pair.synthetic), ("copied training rows", pair.train)):
        tag = name.split()[0]
        syn.write_parquet(out / f"syn_{tag}.parquet")
        ours[tag] = {a: attack_risk(syn, pair.train, pair.holdout, a, SECRET) for a in ATTACKS}
    (out / "dp_synth.json").write_text(json.dumps({"columns": pair.columns, "risks": ours}, indent=2))
    print(f"wrote {out}")


def check(out: Path, n_attacks: int, equal_size: bool = False) -> None:
    import pandas as pd
    from anonymeter.evaluators import InferenceEvaluator, LinkabilityEvaluator, SinglingOutEvaluator

    ours = json.loads((out / "dp_synth.json").read_text())
    cols = ours["columns"]
    half = len(cols) // 2
    train, control = pd.read_parquet(out / "train.parquet"), pd.read_parquet(out / "control.parquet")
    if equal_size:  # as dp-synth does: training rows subsampled to the control's size
        train = train.sample(len(control), random_state=0)
    print("| twin | attack | dp-synth risk [95 % CI] | anonymeter risk [95 % CI] |\n|---|---|---|---|")
    for tag, risks in ours["risks"].items():
        syn = pd.read_parquet(out / f"syn_{tag}.parquet")
        evaluators = {
            "singling_out": SinglingOutEvaluator(ori=train, syn=syn, control=control, n_attacks=n_attacks, n_cols=3),
            "linkability": LinkabilityEvaluator(ori=train, syn=syn, control=control, n_attacks=n_attacks,
                                                aux_cols=(cols[:half], cols[half:]), n_neighbors=5),
            "inference": InferenceEvaluator(ori=train, syn=syn, control=control, n_attacks=n_attacks,
                                            aux_cols=[c for c in cols if c != SECRET], secret=SECRET),
        }
        for attack, ev in evaluators.items():
            ev = ev.evaluate(mode="multivariate") if attack == "singling_out" else ev.evaluate(n_jobs=2)
            r = ev.risk()
            mine = risks[attack]
            print(f"| {tag} | {attack} | {mine['risk']:.3f} [{mine['ci_low']:.3f}, {mine['ci_high']:.3f}] "
                  f"| {r.value:.3f} [{r.ci[0]:.3f}, {r.ci[1]:.3f}] |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["export", "check"])
    ap.add_argument("--db", default="/tmp/dp_synth_bench.duckdb")
    ap.add_argument("--twin", default="main_synthetic.adult")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/xcheck"))
    ap.add_argument("--n-attacks", type=int, default=500)
    ap.add_argument("--equal-size", action="store_true", help="anonymeter on training rows subsampled to control size")
    args = ap.parse_args()
    export(args.db, args.twin, args.dir) if args.mode == "export" else check(args.dir, args.n_attacks, args.equal_size)


if __name__ == "__main__":
    main()
