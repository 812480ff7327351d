"""Where the noise costs quality: seeded library fits with **one stage's noise shrunk** (a diagnostic, NOT a
DP run — nothing it fits leaves memory), paired with the defaults on the same splits and seeds.

Stages (the budget split of :func:`dp_synth.fit`): ``profile`` (bounds, 1-way histograms, NULL rates),
``tree`` (the spanning tree's 2-way marginals), ``extra`` (the adaptive extra marginals), ``sgd`` (DP-SGD's
Gaussian noise). A shrunk stage draws its noise at 1/``--factor`` of the scale its budget gives, while every
σ the run records — and so every later decision, thresholds and DP-SGD's calibration included — stays the
nominal one: the row shows what that stage's noise alone costs at the defaults' budget split.

    python benchmarks/noise_ablation.py --tables adult --eps 1 --splits 6
    python benchmarks/noise_ablation.py --tables seattle_weather --eps 1 --splits 20 --stages sgd profile

Prints per stage the 2-way TVD and TSTR AUC means and their paired differences from the defaults
(mean ± standard error, wins out of splits). docs/benchmarks.md, stop 39, has the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # noqa: E402

STAGES = ("profile", "tree", "extra", "sgd")


def stage_of(target: str) -> str:
    """The budget stage a :class:`~dp_synth.privacy.noise.NoisyCounter` release belongs to, by its label.

    >>> stage_of("2-way marginal of columns 0×3"), stage_of("2-way marginal of columns 1×2 (adaptive)")
    ('tree', 'extra')
    >>> stage_of("age: histogram (32 cells + NULL)")
    'profile'
    """
    return "extra" if "(adaptive)" in target else "tree" if "-way marginal" in target else "profile"


@contextlib.contextmanager
def shrunk_noise(stage: str, factor: float = 10.0):
    """Within the block, ``stage``'s noise is drawn at 1/``factor`` of its scale; the σ recorded (and
    returned to the caller) stays the nominal one. Restores everything on exit."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {STAGES}")
    from dp_synth.privacy import noise

    fit_module = importlib.import_module("dp_synth.fit")  # the module: ``dp_synth.fit`` is also the function
    counts, train_dp = noise.NoisyCounter.counts, fit_module.train_dp

    def shrunk_counts(self, true_counts, rho, target, delta_extra=0.0):
        if stage_of(target) != stage:
            return counts(self, true_counts, rho, target, delta_extra)
        noisy, _ = counts(self, true_counts, rho * factor ** 2, target, delta_extra)
        sigma = noise.sigma_of(rho)
        self.measurements[-1] = dataclasses.replace(self.measurements[-1], sigma=sigma)
        return noisy, sigma

    def shrunk_train_dp(*args, **kwargs):
        return train_dp(*args, **{**kwargs, "noise_multiplier": kwargs["noise_multiplier"] / factor})

    if stage == "sgd":
        fit_module.train_dp = shrunk_train_dp
    else:
        noise.NoisyCounter.counts = shrunk_counts
    try:
        yield
    finally:
        noise.NoisyCounter.counts, fit_module.train_dp = counts, train_dp


def run(table: str, eps: float, seeds: list[int], stage: str | None, factor: float) -> list[tuple[float, float]]:
    import dp_synth

    load, target, positive, spec = quality.TABLES[table]
    df, out = load(), []
    for seed in seeds:
        train, test = quality.split(df, seed)
        with shrunk_noise(stage, factor) if stage else contextlib.nullcontext():
            model = dp_synth.fit(train, eps, 1e-5, spec=spec, seed=seed)
        twin = model.sample()
        cols = [c for c in twin.columns if c in train.columns]
        s = quality.scores(table, train.select(cols), test.select(cols), twin.select(cols), target, positive)
        out.append((s[2], s["tstr"]))
        print(f"  {table} ε={eps:g} split {seed} {stage or 'defaults'}: 2-way {s[2]:.4f} TSTR {s['tstr']:.4f}",
              file=sys.stderr, flush=True)
    return out


def paired(base: list[float], other: list[float]) -> str:
    """Mean paired difference ± its standard error, over the splits where both arms are defined (a TSTR is
    NaN when the real test rows hold one class), and how many of them the other arm wins.

    >>> paired([0.90, 0.91, float("nan")], [0.92, 0.90, 0.95])
    '+0.0050 ± 0.0150 (1/2 higher, 1 NaN skipped)'
    """
    d = np.array(other, dtype=float) - np.array(base, dtype=float)
    kept = d[~np.isnan(d)]
    if kept.size == 0:
        return "– (no split defined in both)"
    se = kept.std(ddof=1) / np.sqrt(kept.size) if kept.size > 1 else float("nan")
    skipped = f", {d.size - kept.size} NaN skipped" if kept.size < d.size else ""
    return f"{kept.mean():+.4f} ± {se:.4f} ({int((kept > 0).sum())}/{kept.size} higher{skipped})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", nargs="*", default=["adult", "seattle_weather"])
    ap.add_argument("--eps", type=float, default=1.0)
    ap.add_argument("--splits", type=int, default=6)
    ap.add_argument("--stages", nargs="*", default=list(STAGES), choices=STAGES)
    ap.add_argument("--factor", type=float, default=10.0, help="the shrunk stage's noise scale is divided by this")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    seeds = list(range(max(1, args.splits)))  # as quality.py: fewer than 1 runs one split
    print("| table | ε | splits | noise shrunk | 2-way TVD | TSTR AUC | 2-way vs defaults | TSTR vs defaults |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    for table in args.tables:
        base = run(table, args.eps, seeds, None, args.factor)
        b2, bt = [r[0] for r in base], [r[1] for r in base]
        print(f"| {table} | {args.eps:g} | {len(seeds)} | none (defaults) | {np.mean(b2):.4f} | {np.nanmean(bt):.4f} "
              "| | |", flush=True)
        for stage in args.stages:
            rs = run(table, args.eps, seeds, stage, args.factor)
            s2, st = [r[0] for r in rs], [r[1] for r in rs]
            print(f"| {table} | {args.eps:g} | {len(seeds)} | {stage} ÷ {args.factor:g} | {np.mean(s2):.4f} | "
                  f"{np.nanmean(st):.4f} | {paired(b2, s2)} | {paired(bt, st)} |", flush=True)


if __name__ == "__main__":
    main()
