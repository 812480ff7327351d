"""Membership-inference audit: is the measured leakage consistent with the claimed ε?

We train many models with and without a canary row and score each by the likelihood its
generator gives the canary. For an (ε, δ)-DP training run every test satisfies
TPR ≤ e^ε·FPR + δ, so ε_lower = log((TPR_lo − δ)/FPR_hi) (Clopper-Pearson, 95%) must not exceed
the claim (Jagielski et al. 2020; Nasr et al. 2021). A control run without DP noise shows the
audit has the power to catch a leak.
"""

import math

import numpy as np
import polars as pl
import pytest
import torch
from scipy.stats import beta

import dp_synth

TRIALS = 14
SPEC = {"a": {"categories": list("pqrs")}, "b": {"categories": list("wxyz")}}
CFG = dict(epochs=6, batch_size=32, hidden=16, embed_dim=4, learning_rate=0.1, output_learning_rate=0.1,
           optimizer="sgd")
# a table this small trains the output layers only by default (training.scope_for); "all" audits the path
# large tables take (every weight)
SCOPES = ["output", "all"]


def base(seed=123, n=120):
    rng = np.random.default_rng(seed)  # canary cell (s, z) never occurs in the base data
    a = rng.choice(list("pqr"), n)
    b = rng.choice(list("wxy"), n)
    return pl.DataFrame({"a": a, "b": b})


CANARY = pl.DataFrame({"a": ["s"], "b": ["z"]})


def canary_score(model) -> float:
    codes = torch.as_tensor(model.encoder.encode(CANARY))
    with torch.no_grad():
        return -float(model.generator(codes)[0])


def scores(epsilon, copies, seeds, scope):
    out = {True: [], False: []}
    for s in seeds:
        for inside in (True, False):
            df = pl.concat([base()] + [CANARY] * copies) if inside else base()
            m = dp_synth.fit(df, epsilon=epsilon, delta=1e-5, seed=s, spec=SPEC, min_rows=50,
                            config=dp_synth.TrainingConfig(**CFG, small_scope=scope))
            assert m.metadata["trained"] == scope
            out[inside].append(canary_score(m))
    return np.array(out[True]), np.array(out[False])


def empirical_epsilon(ins, outs, delta=1e-5):
    best = 0.0
    for t in np.unique(np.concatenate([ins, outs])):
        tp, fp = int((ins >= t).sum()), int((outs >= t).sum())
        tpr_lo = beta.ppf(0.025, tp, len(ins) - tp + 1) if tp else 0.0
        fpr_hi = beta.ppf(0.975, fp + 1, len(outs) - fp) if fp < len(outs) else 1.0
        if tpr_lo > delta and fpr_hi > 0:
            best = max(best, math.log((tpr_lo - delta) / fpr_hi))
    return best


@pytest.mark.slow
@pytest.mark.parametrize("scope", SCOPES)
def test_audit_consistent_with_claimed_epsilon_and_has_power(scope):
    ins, outs = scores(epsilon=1.0, copies=1, seeds=range(TRIALS), scope=scope)
    eps_lb = empirical_epsilon(ins, outs)
    assert eps_lb <= 1.0, f"measured leakage ε ≥ {eps_lb:.2f} exceeds the claimed ε=1"
    # control: a 'guarantee' of ε=40 with the canary repeated is easy to detect
    ins_c, outs_c = scores(epsilon=40.0, copies=8, seeds=range(TRIALS), scope=scope)
    assert empirical_epsilon(ins_c, outs_c) > 1.0, "audit lacks power: cannot tell in from out"
