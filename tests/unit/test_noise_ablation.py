"""benchmarks/noise_ablation.py: one stage's noise shrinks inside the block, the recorded σ stays nominal,
nothing else changes, and everything is restored after."""

import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dp_synth.privacy import noise

_spec = importlib.util.spec_from_file_location("noise_ablation", Path(__file__).parents[2] / "benchmarks" / "noise_ablation.py")
A = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(A)

fit_module = importlib.import_module("dp_synth.fit")  # the module, not dp_synth.fit the function
RHO = 0.002  # σ = 1/√(2ρ) ≈ 15.8
TREE, HIST = "2-way marginal of columns 0×1", "age: histogram (16 cells + NULL)"


def _spread(target: str) -> tuple[float, float, float]:
    counter = noise.NoisyCounter(np.random.RandomState(0))
    noisy, sigma = counter.counts(np.full(3000, 100), RHO, target)
    return float(np.std(noisy - 100)), sigma, counter.measurements[-1].sigma


def test_only_the_named_stage_is_shrunk_and_its_sigma_stays_nominal():
    nominal = noise.sigma_of(RHO)
    with A.shrunk_noise("tree", 10.0):
        tree_sd, tree_sigma, tree_recorded = _spread(TREE)
        hist_sd, _, _ = _spread(HIST)
    assert tree_sd == pytest.approx(nominal / 10, rel=0.15)
    assert tree_sigma == tree_recorded == pytest.approx(nominal)
    assert hist_sd == pytest.approx(nominal, rel=0.1)
    after_sd, _, _ = _spread(TREE)  # restored
    assert after_sd == pytest.approx(nominal, rel=0.1)


def test_stage_labels_and_sgd_patch_is_restored():
    assert [A.stage_of(t) for t in (TREE, TREE + " (adaptive)", HIST, "row count")] == ["tree", "extra", "profile",
                                                                                         "profile"]
    original, counts = fit_module.train_dp, noise.NoisyCounter.counts
    with A.shrunk_noise("sgd", 4.0):
        assert fit_module.train_dp is not original and noise.NoisyCounter.counts is counts
    assert fit_module.train_dp is original
    with pytest.raises(ValueError, match="unknown stage"):
        with A.shrunk_noise("bounds"):
            pass


def test_paired_differences_skip_a_split_undefined_in_either_arm():
    """A one-class test split makes a TSTR NaN: the paired mean is over the other splits and says so."""
    nan = float("nan")
    assert A.paired([0.90, 0.91, nan], [0.92, 0.90, 0.95]) == "+0.0050 ± 0.0150 (1/2 higher, 1 NaN skipped)"
    assert A.paired([0.90, 0.91], [0.92, 0.90]) == "+0.0050 ± 0.0150 (1/2 higher)"
    assert A.paired([nan], [0.9]).startswith("–")
