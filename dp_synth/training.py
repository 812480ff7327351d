"""DP-SGD with Opacus: Poisson sampling, per-sample clipping, Gaussian noise.

We draw the Poisson batches ourselves with a rate set from the *noisy* row count, so the
sampling rate the accountant uses never depends on the exact size of the data.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
from opacus.accountants import RDPAccountant
from opacus.grad_sample import GradSampleModuleFastGradientClipping
from opacus.optimizers import DPOptimizerFastGradientClipping
from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping

from .errors import InputError

__all__ = ["TrainingConfig", "TrainingResult", "train_dp", "plan_steps", "poisson_batch", "dp_modules",
           "clipped_backward", "SCOPES", "SCOPE_SMALLNESS", "scope_for", "SMALL_TEMPERATURE", "temperature_for"]

# What DP-SGD trains: every weight, or each head's output layer only (the embeddings and hidden layers
# then stay as pretraining on the DP tree's sample left them). DP-SGD's noise has one coordinate per trained
# weight (N(0, σ²C²) on the clipped sum) while the signal is bounded by the clip norm C, so on few rows —
# seattle_weather: 233 rows a step at σ = 16.7 — training the ≈ 1/5 of the weights in the output layers
# learns what all of them do not. The guarantee is the same either way: every trained weight's gradient
# is clipped and noised, the others are never touched by the data.
SCOPES = {
    "all": lambda model: list(model.parameters()),
    "output": lambda model: model.output_parameters(),
}
SCOPE_SMALLNESS = 0.3   # tables at least this small (profile.smallness: ≈ 5,000 training rows by the DP count) use
                        # config.small_scope; Adult (20,800 rows) trains every weight: output layers only
                        # cost it 2-way 0.042 → 0.044 (ε = 1, 2 paired fits). Was 0.5 (≈ 3,200 rows); Adult
                        # samples of 3,840 / 4,480 / 5,600 / 7,680 training rows, ε = 1, output layers against
                        # every weight: TSTR +0.019 / +0.026 (with the temperature) / +0.008 / −0.001
                        # (docs/benchmarks.md, stop 49)
SMALL_TEMPERATURE = 0.7  # small tables (DP-SGD trained the output layers only) divide every head's logits after the
                         # first by this once DP-SGD is done, then rake (post-processing, free). ε = 1, paired seeded fits:
                         # seattle TSTR +0.007 (80 splits), airports 2-way −0.011 (40 of 40 lower), adult_small TSTR
                         # +0.016 (40); Adult (large) at 0.8: 2-way +0.003, TSTR flat, so large tables keep 1. A
                         # module constant, not a TrainingConfig field: a new field would change every run's
                         # settings hash, and an unchanged dbt project would retrain and spend again on upgrade


@dataclass(frozen=True)
class TrainingConfig:
    """DP-SGD hyperparameters. ``epochs`` is in expected passes over the data."""

    generator: str = "autoregressive"
    epochs: float = 12.0
    batch_size: int = 1024          # expected Poisson batch size
    learning_rate: float = 3e-3
    small_scope: str = "output"     # what DP-SGD trains on small tables (smallness ≥ SCOPE_SMALLNESS): "output" =
                                    # the heads' last layers only (SCOPES); seattle_weather ε = 1, 6 paired fits:
                                    # TSTR 0.891 → 0.910 (docs/benchmarks.md, stop 34); "all" = every weight
    output_learning_rate: float = 2e-2  # Adam's rate when DP-SGD trains the output layers only; seattle TSTR at
                                        # 0.005 / 0.01 / 0.02 / 0.03: 0.901 / 0.905 / 0.910 / 0.901 (ε = 1)
    optimizer: str = "adam"         # adam | sgd (momentum 0.9)
    max_grad_norm: float = 2.0      # per-row clip (was 1.0: Adult ε=1 TSTR 0.897 → 0.901, docs/benchmarks.md)
    embed_dim: int = 8
    hidden: int = 64
    profile_share: float = 0.25     # zCDP budget share: bounds, 1-way histograms, NULL rates (large tables)
    small_profile_share: float = 0.3   # the same for small tables (≤ 1,000 rows by the DP count; see
                                    # profile.smallness: log-linear between, profile_share from 10,000 rows).
                                    # With it the fixed shares stay ≤ 75 % there: at 90 % (35 + 5 + 50) a
                                    # 128-row table at ε ≥ 10 left DP-SGD no budget
    tree_select_share: float = 0.05 # choosing the tree of column pairs (exponential mechanism)
    tree_share: float = 0.4         # measuring the tree's 2-way marginals; DP-SGD gets the rest
    extra_pairs: int = 8            # 2-way marginals beyond the tree, chosen adaptively (pairs.py)
    extra_triples: bool = False     # 3-way marginals are candidates of the adaptive selection too
    extra_select_share: float = 0.02
    extra_share: float = 0.1
    pretrain_rows: int = 50_000     # samples from the DP tree used to pretrain (free)
    pretrain_epochs: int = 4
    rake_rounds: int = 3            # passes of raking the trained model to the DP 1-way marginals (free; 0: off)
    max_steps: int = 320            # DP-SGD steps at most (Adult at 12 epochs needs 305): cost flat in rows;
                                    # at large n each step has less noise (q = B/n̂ amplifies)

    def __post_init__(self) -> None:
        if self.small_scope not in SCOPES:
            raise InputError(f"training setting small_scope={self.small_scope!r} is not one of {sorted(SCOPES)}")

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainingResult:
    steps: int
    sample_rate: float
    noise_multiplier: float
    final_loss: float
    seconds: float
    accountant_history: tuple = ()   # Opacus RDPAccountant history: (σ, q, steps) entries


_OPTIMIZERS = {
    "adam": lambda params, lr: torch.optim.Adam(params, lr=lr),
    "sgd": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9),
}


def plan_steps(n_noisy: float, config: TrainingConfig) -> tuple[float, int]:
    """Sampling rate and step count from the noisy row count (public after measuring it)."""
    batch = max(32, min(config.batch_size, int(n_noisy / 4)))
    q = min(1.0, batch / max(n_noisy, 1.0))
    return q, max(1, min(math.ceil(config.epochs / q), int(config.max_steps)))


def poisson_batch(n: int, q: float, gen: torch.Generator) -> torch.Tensor:
    """Row indices of one Poisson-sampled batch (each row in w.p. q, independently) in O(batch) time:
    the batch size is Binomial(n, q), and given its size the batch is a uniform subset of that size —
    exactly the distribution of n Bernoulli(q) coin flips, without drawing n uniforms per step."""
    if n == 0:
        return torch.zeros(0, dtype=torch.long)
    b = int(torch.binomial(torch.tensor([float(n)]), torch.tensor([float(q)]), generator=gen).item())
    if b == 0:
        return torch.zeros(0, dtype=torch.long)
    if b > n // 4:  # dense: a permutation is as cheap
        return torch.randperm(n, generator=gen)[:b]
    picked = torch.zeros(0, dtype=torch.long)
    while picked.numel() < b:
        draw = torch.randint(n, (b + b // 8 + 16,), generator=gen)
        picked = torch.unique(torch.cat([picked, draw]))
    return picked[torch.randperm(picked.numel(), generator=gen)[:b]]


def pretrain(model: torch.nn.Module, codes: np.ndarray, epochs: int, seed: int | None,
             batch_size: int = 512, lr: float = 3e-3) -> None:
    """Ordinary training on synthetic codes sampled from DP measurements (post-processing)."""
    if len(codes) == 0 or epochs <= 0:
        return
    data = torch.as_tensor(codes, dtype=torch.long)
    gen = torch.Generator()
    gen.manual_seed(seed if seed is not None else secrets.randbits(63))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        for idx in torch.randperm(len(data), generator=gen).split(batch_size):
            opt.zero_grad(set_to_none=True)
            model(data[idx]).mean().backward()
            opt.step()


def scope_for(smallness: float, config: TrainingConfig) -> tuple[str, float]:
    """What DP-SGD trains and at which learning rate, from the table's smallness (public: a DP count).

    >>> scope_for(1.0, TrainingConfig()), scope_for(0.0, TrainingConfig())
    (('output', 0.02), ('all', 0.003))
    """
    if smallness >= SCOPE_SMALLNESS and config.small_scope != "all":
        return config.small_scope, config.output_learning_rate
    return "all", config.learning_rate


def temperature_for(scope: str) -> float:
    """The sampling temperature of a model DP-SGD trained in ``scope`` (:func:`scope_for`, from the table's
    public smallness): :data:`SMALL_TEMPERATURE` when only the output layers were trained, 1 otherwise.

    A small table's heads come out with conditionals flatter than the data's: the tree's pair tables they
    pretrain on hold noise in every cell, and DP-SGD's few noisy steps on the output layers add more.
    Dividing the logits by a temperature below 1 sharpens every conditional; raking then puts the 1-way
    marginals back on the DP ones. With every weight trained (large tables, or ``small_scope="all"``) a
    temperature gave nothing: Adult at 0.8 and a 3,840-row sample at 0.8 were flat (docs/benchmarks.md, stop 49).

    >>> temperature_for("output"), temperature_for("all")
    (0.7, 1.0)
    """
    return float(SMALL_TEMPERATURE) if scope == "output" else 1.0


def dp_modules(model: torch.nn.Module, config: TrainingConfig, noise_multiplier: float,
               expected_batch_size: float, gen: torch.Generator, learning_rate: float | None = None):
    """Opacus's ghost-clipping module and optimizer around ``model``.

    Ghost clipping computes each row's gradient norm from the layer's inputs and output gradients
    (‖aᵢ‖·‖gᵢ‖ for a linear layer on one row) without materialising a per-row gradient, then takes a
    second backward pass of Σᵢ cᵢ·lossᵢ with cᵢ = min(1, C/‖∇lossᵢ‖): the same clipped sum as per-sample
    clipping (tested against it), at the memory and time of two ordinary backward passes. The optimizer
    adds N(0, σ²C²) to that sum and divides by the *expected* batch size (q · noisy n), so the update
    scale never depends on the exact data size."""
    gsm = GradSampleModuleFastGradientClipping(model, loss_reduction="sum", max_grad_norm=config.max_grad_norm,
                                               use_ghost_clipping=True)
    optimizer = DPOptimizerFastGradientClipping(
        _OPTIMIZERS[config.optimizer]([p for p in gsm.parameters() if p.requires_grad],
                                      config.learning_rate if learning_rate is None else learning_rate),
        noise_multiplier=noise_multiplier, max_grad_norm=config.max_grad_norm,
        expected_batch_size=max(1, round(expected_batch_size)), loss_reduction="mean", generator=gen)
    return gsm, optimizer


def clipped_backward(gsm, optimizer, nll: torch.Tensor) -> None:
    """``p.grad`` = Σᵢ clip_C(∇ nllᵢ) for the rows of one batch (two backward passes, see above)."""
    with warnings.catch_warnings():  # our inputs are codes: no input needs a gradient, as intended
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        DPTensorFastGradientClipping(gsm, optimizer, nll, loss_reduction="sum").backward()


@contextlib.contextmanager
def _only(model: torch.nn.Module, scope: str):
    """Freeze every weight of ``model`` outside ``scope`` (:data:`SCOPES`) for the block, unfreeze after."""
    if scope not in SCOPES:
        raise ValueError(f"unknown training scope {scope!r}; choose one of {sorted(SCOPES)}")
    trained = {id(p) for p in SCOPES[scope](model)}
    frozen = [p for p in model.parameters() if id(p) not in trained and p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in frozen:
            p.requires_grad_(True)


def train_dp(model: torch.nn.Module, codes: np.ndarray, *, sample_rate: float, steps: int,
             noise_multiplier: float, expected_batch_size: float, config: TrainingConfig,
             seed: int | None, scope: str = "all", learning_rate: float | None = None,
             on_step: Callable[[int, float], None] | None = None) -> TrainingResult:
    """DP-SGD on ``codes``. The weights in ``scope`` (:data:`SCOPES`) are trained at ``learning_rate``
    (default: the config's); the others are frozen for the run and unfrozen after it."""
    t0 = time.perf_counter()
    data = torch.as_tensor(codes, dtype=torch.long)
    n = data.shape[0]
    gen = torch.Generator()
    gen.manual_seed(seed if seed is not None else secrets.randbits(63))
    with _only(model, scope):
        gsm, optimizer = dp_modules(model, config, noise_multiplier, expected_batch_size, gen, learning_rate)
        accountant = RDPAccountant()
        loss_value = float("nan")
        for step in range(steps):
            batch = data[poisson_batch(n, sample_rate, gen)]
            accountant.step(noise_multiplier=noise_multiplier, sample_rate=sample_rate)
            if batch.shape[0] > 0:  # P(empty) < e^-32 at batch ≥ 32; skipping it is still charged above
                optimizer.zero_grad(set_to_none=True)
                nll = gsm(batch)
                clipped_backward(gsm, optimizer, nll)
                optimizer.step()
                loss_value = float(nll.mean().detach())
            if on_step is not None:
                on_step(step + 1, loss_value)
        gsm._close()
        return TrainingResult(steps=steps, sample_rate=sample_rate, noise_multiplier=noise_multiplier,
                              final_loss=loss_value, seconds=time.perf_counter() - t0,
                              accountant_history=tuple(tuple(h) for h in accountant.history))
