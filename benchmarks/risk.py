"""How often the risk suite fails an honest twin: the demo's path, run after run.

Each run builds the bundled Adult table's twin through the CLI with its defaults (ε = 1, 20 % of
rows held out, a different seed per run) and runs ``dp-synth validate --suite risk`` on it, then
prints every attack's risk, its 95 % interval and the suite's verdict against max_risk 0.1. A
twin trained under DP at ε = 1 should not be judged above the limit; the point estimate alone
would be (it is noisy: σ ≈ 0.11 for the income inference, whose control rate is ≈ 0.75).

    python benchmarks/risk.py [--runs 5] [--epsilon 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CLI = [str(Path(sys.executable).with_name("dp-synth"))]  # the console script users run


def run(db: Path, seed: int, epsilon: float, out: Path) -> list[dict]:
    subprocess.run(CLI + ["synthesize", "--db", str(db), "--table", "main.adult", "--epsilon", str(epsilon),
                          "--seed", str(seed)], check=True, capture_output=True)
    done = subprocess.run(CLI + ["validate", "--db", str(db), "--table", "main_synthetic.adult", "--suite", "risk",
                                 "--target", "income", "--out", str(out)], capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr)
    summary = json.loads((out / "main_synthetic.adult.json").read_text())
    return [{"type": e["type"], **e["observed_value"], "success": e["success"]}
            for e in summary["suites"]["risk"]["expectations"] if e["type"] == "expect_twin_attack_risk_to_be_below"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--epsilon", type=float, default=1.0)
    args = ap.parse_args()
    from dp_synth.demo import load_demo_table

    print("| run | attack | risk | 95 % interval | point > 0.1 | verdict | targets |\n|---|---|---|---|---|---|---|")
    point_over = above = total = 0
    for seed in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "risk.duckdb"
            load_demo_table(str(db))
            for a in run(db, seed, args.epsilon, Path(tmp) / "out"):
                total += 1
                point_over += a["risk"] > 0.1
                above += a["verdict"] == "above"
                print(f"| {seed} | {a['attack']} | {a['risk']:.3f} | [{a['ci_low']:.3f}, {a['ci_high']:.3f}] | "
                      f"{'yes' if a['risk'] > 0.1 else 'no'} | {a['verdict']} | {a['targets']} |", flush=True)
    print(f"\n{total} attacks on {args.runs} twins at ε = {args.epsilon}: point estimate over 0.1 in {point_over}, "
          f"judged above 0.1 (the suite fails) in {above}")


if __name__ == "__main__":
    main()
