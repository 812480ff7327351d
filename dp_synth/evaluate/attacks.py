"""Privacy attacks on a twin, after Giomi et al. 2023 ("A unified framework for quantifying
privacy risk in synthetic data", the Anonymeter method), implemented here (the `anonymeter`
package pins numpy<1.27, which this project cannot take).

Each attack runs against ``train`` rows (used to fit the twin) and, as a control, ``control``
rows (real rows never trained on). With success rates a (train) and c (control), the risk is
(a − c)/(1 − c): what the twin reveals about the people in it beyond what it reveals about
people like them. Rates come with 95 % Wilson intervals; the risk's 95 % interval is Newcombe's
hybrid score interval for the difference a − c (Newcombe 1998, method 10), divided by 1 − c.
A suite judges a twin by that interval, not by the point estimate: with a control rate near 0.75
the point estimate's standard error is ≈ 0.11 at 500 targets, so a twin that reveals nothing about
its people would exceed a 0.10 limit in about one run in five.

- inference: the attacker knows all columns but a secret one for a target and guesses the
  secret from the nearest twin row (Gower-like distance on the known columns);
- linkability: the attacker holds two halves of a target's columns and links them if the
  nearest twin rows found through each half coincide (among the k nearest);
- singling out: predicates built from twin rows (a conjunction of a few column conditions)
  that match exactly one row of the twin; success if they match exactly one target row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from .risk import features, vocabulary

__all__ = ["AttackResult", "TARGETS", "verdict", "inference_attack", "linkability_attack", "singling_out_attack"]

TARGETS = 5000  # per side, at most: 20 honest Adult twins at 500 / 2,000 / 5,000 → inconclusive 19 / 10 / 5


def _wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float, float]:
    if n == 0:
        return 0.0, 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def verdict(risk_low: float | None, risk_high: float | None, max_risk: float) -> str:
    """``above`` when the whole 95 % interval exceeds ``max_risk``, ``below`` when it lies under
    it, ``inconclusive`` otherwise (more targets, i.e. more holdout rows, would tell).

    >>> r = AttackResult.of("inference (x)", hits=900, control_hits=500, n=1000)
    >>> round(r.risk, 2), r.verdict(0.1)
    (0.8, 'above')
    >>> AttackResult.of("inference (x)", hits=1520, control_hits=1500, n=2000).verdict(0.1)
    'inconclusive'
    >>> verdict(0.0, 0.04, 0.1)
    'below'
    """
    if risk_low is not None and risk_low > max_risk:
        return "above"
    return "below" if risk_high is not None and risk_high <= max_risk else "inconclusive"


@dataclass(frozen=True)
class AttackResult:
    attack: str
    rate: float              # success rate against training rows
    control_rate: float      # success rate against control (never trained on) rows
    risk: float              # (rate − control)/(1 − control), clipped at 0
    risk_low: float
    risk_high: float
    n_targets: int

    def verdict(self, max_risk: float) -> str:
        """See :func:`verdict`."""
        return verdict(self.risk_low, self.risk_high, max_risk)

    @classmethod
    def of(cls, attack: str, hits: int, control_hits: int, n: int) -> "AttackResult":
        a, a_lo, a_hi = _wilson(hits, n)
        c, c_lo, c_hi = _wilson(control_hits, n)
        if c >= 1:
            return cls(attack, a, c, 0.0, 0.0, 0.0, n)
        d = a - c  # Newcombe's hybrid score interval for a difference of two proportions
        low = d - math.hypot(a - a_lo, c_hi - c)
        high = d + math.hypot(a_hi - a, c - c_lo)

        def norm(x: float) -> float:
            return min(1.0, max(0.0, x / (1 - c)))

        return cls(attack, a, c, norm(d), norm(low), norm(high), n)


def _nearest(synth: np.ndarray, queries: np.ndarray, k: int = 1) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=k).fit(synth).kneighbors(queries)[1]


def _targets(df: pl.DataFrame, n: int, rng: np.random.Generator) -> pl.DataFrame:
    return df[rng.choice(df.height, min(n, df.height), replace=False)]


def inference_attack(synth: pl.DataFrame, train: pl.DataFrame, control: pl.DataFrame, secret: str,
                     n_targets: int = TARGETS, seed: int = 0) -> AttackResult:
    rng = np.random.default_rng(seed)
    known = [c for c in train.columns if c != secret and c in synth.columns]
    ref = train.select(known)
    vocab = vocabulary(known, synth, train, control)  # an unseen category must not match every other one
    idx_s = features(synth.select(known), ref, vocab)

    def hits(targets: pl.DataFrame) -> int:
        nn = _nearest(idx_s, features(targets.select(known), ref, vocab))[:, 0]
        guess, truth = synth[secret].gather(nn), targets[secret]
        if train[secret].dtype.is_numeric():  # numbers: right within 5 % of the real range
            tol = 0.05 * float((train[secret].max() or 0) - (train[secret].min() or 0))
            ok = ((guess.cast(pl.Float64) - truth.cast(pl.Float64)).abs() <= tol).fill_null(False)
        else:
            ok = (guess.cast(pl.Utf8) == truth.cast(pl.Utf8)).fill_null(guess.is_null() & truth.is_null())
        return int(ok.sum())

    t, c = _targets(train, n_targets, rng), _targets(control, n_targets, rng)
    n = min(t.height, c.height)
    return AttackResult.of(f"inference ({secret})", hits(t[:n]), hits(c[:n]), n)


def linkability_attack(synth: pl.DataFrame, train: pl.DataFrame, control: pl.DataFrame,
                       columns_a: list[str], columns_b: list[str], k: int = 5, n_targets: int = TARGETS,
                       seed: int = 0) -> AttackResult:
    rng = np.random.default_rng(seed)
    va, vb = vocabulary(columns_a, synth, train, control), vocabulary(columns_b, synth, train, control)
    fa = features(synth.select(columns_a), train.select(columns_a), va)
    fb = features(synth.select(columns_b), train.select(columns_b), vb)

    def hits(targets: pl.DataFrame) -> int:
        na = _nearest(fa, features(targets.select(columns_a), train.select(columns_a), va), k)
        nb = _nearest(fb, features(targets.select(columns_b), train.select(columns_b), vb), k)
        return sum(bool(set(a) & set(b)) for a, b in zip(na.tolist(), nb.tolist()))

    t, c = _targets(train, n_targets, rng), _targets(control, n_targets, rng)
    n = min(t.height, c.height)
    return AttackResult.of("linkability", hits(t[:n]), hits(c[:n]), n)


def _predicate(row: dict, cols: list[str], numeric: set[str]) -> pl.Expr:
    expr = pl.lit(True)
    for c in cols:
        v = row[c]
        if v is None:
            expr &= pl.col(c).is_null()
        elif c in numeric:
            expr &= pl.col(c) == v
        else:
            expr &= pl.col(c).cast(pl.Utf8) == str(v)
    return expr


def singling_out_attack(synth: pl.DataFrame, train: pl.DataFrame, control: pl.DataFrame,
                        n_predicates: int = 300, n_columns: int = 3, seed: int = 0) -> AttackResult:
    """Predicates that single out one twin row; success when they single out one real row.

    Train and control are compared at equal size so a predicate is as likely to hit either by
    chance; the control rate is what the twin teaches about the population, not the people."""
    rng = np.random.default_rng(seed)
    cols = [c for c in train.columns if c in synth.columns]
    numeric = {c for c in cols if train[c].dtype.is_numeric()}
    m = min(train.height, control.height)
    tr, ct = _targets(train, m, rng), _targets(control, m, rng)
    hits = control_hits = tried = 0
    for _ in range(n_predicates * 5):
        if tried == n_predicates:
            break
        row = synth.row(int(rng.integers(synth.height)), named=True)
        chosen = list(rng.choice(cols, size=min(n_columns, len(cols)), replace=False))
        pred = _predicate(row, chosen, numeric)
        if synth.filter(pred).height != 1:
            continue  # not a singling-out predicate on the twin
        tried += 1
        hits += int(tr.filter(pred).height == 1)
        control_hits += int(ct.filter(pred).height == 1)
    return AttackResult.of("singling out", hits, control_hits, tried)
