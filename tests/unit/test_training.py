"""DP-SGD's clipped gradient sum (ghost clipping) against per-row clipping done by hand."""

import copy

import pytest
import torch

from dp_synth.models import build_generator
from dp_synth.models.layers import RowEmbedding
from dp_synth.errors import InputError
from dp_synth.training import (SCOPE_SMALLNESS, SMALL_TEMPERATURE, TrainingConfig, clipped_backward, dp_modules,
                               scope_for, temperature_for, train_dp)


def _model(seed=0):
    torch.manual_seed(seed)
    return build_generator("autoregressive", cardinalities=[3, 5, 4, 7], marginals=None, embed_dim=4, hidden=8,
                           order=[2, 0, 3, 1])


def _codes(n, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(k, (n,), generator=g) for k in [3, 5, 4, 7]], 1)


def _by_hand(model, codes, clip, params=None):
    """Σᵢ min(1, C/‖∇ lossᵢ‖)·∇ lossᵢ over ``params`` (default: every weight), one row at a time through
    the plain model."""
    params = list(model.parameters()) if params is None else params
    total = [torch.zeros_like(p) for p in params]
    norms = []
    for i in range(len(codes)):
        model.zero_grad()
        model(codes[i:i + 1]).sum().backward()
        grads = [p.grad.clone() for p in params]
        norm = torch.sqrt(sum((g ** 2).sum() for g in grads)).item()
        norms.append(norm)
        total = [t + min(1.0, clip / (norm + 1e-6)) * g for t, g in zip(total, grads)]
    return total, norms


def test_forward_is_the_heads_log_loss_on_their_own_prefixes():
    """forward() reads each head's inputs as a view of one concatenation; ``logits()`` concatenates each
    head's prefix on its own. The two agree only if head j sees exactly the columns before it."""
    model, codes = _model(), _codes(32)
    ordered = codes[:, model.order]
    want = sum(torch.nn.functional.cross_entropy(lg, ordered[:, j], reduction="none")
               for j, lg in enumerate(model.logits(ordered)))
    assert torch.allclose(model(codes), want, atol=1e-6)
    changed = codes.clone()
    last_col = model.order[-1]  # the last modelled column (5 codes)
    changed[:, last_col] = (changed[:, last_col] + 1) % 5
    diff = model(changed) - model(codes)  # only the last head's loss may change: no head reads it
    last, loss = model.logits(ordered)[-1], torch.nn.functional.cross_entropy
    want = loss(last, changed[:, model.order][:, -1], reduction="none") - loss(last, ordered[:, -1], reduction="none")
    assert torch.allclose(diff, want, atol=1e-5)


@pytest.mark.parametrize("clip", [0.05, 0.5, 100.0])
def test_clipped_sum_equals_per_row_clipping(clip):
    model, codes = _model(), _codes(48)
    expected, norms = _by_hand(copy.deepcopy(model), codes, clip)
    if clip == 0.05:
        assert min(norms) > clip  # every row clipped: the test exercises the clipping
    if clip == 100.0:
        assert max(norms) < clip  # no row clipped: plain summed gradient
    gsm, opt = dp_modules(model, TrainingConfig(max_grad_norm=clip), 0.0, len(codes), torch.Generator())
    opt.zero_grad(set_to_none=True)
    clipped_backward(gsm, opt, gsm(codes))
    for got, want in zip(model.parameters(), expected):
        assert torch.allclose(got.grad, want, atol=1e-5, rtol=1e-4)
    assert torch.allclose(gsm.per_sample_gradient_norms, torch.tensor(norms), rtol=1e-4, atol=1e-6)
    gsm._close()


def test_noise_has_the_calibrated_scale():
    """With zero gradients the update is the noise alone: N(0, (σC/B)²) per coordinate."""
    model, codes = _model(), _codes(32)
    sigma, clip, batch = 1.7, 0.3, 200
    gsm, opt = dp_modules(model, TrainingConfig(max_grad_norm=clip), sigma, batch, torch.Generator().manual_seed(3))
    opt.zero_grad(set_to_none=True)
    clipped_backward(gsm, opt, gsm(codes) * 0.0)
    opt.pre_step()
    noise = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert noise.numel() > 400
    assert abs(noise.std().item() / (sigma * clip / batch) - 1) < 0.1
    assert abs(noise.mean().item()) < 4 * sigma * clip / batch / noise.numel() ** 0.5
    gsm._close()


def test_row_embedding_norm_falls_back_for_sequences():
    """Several indices per row (not how the generator uses it): Opacus's general rule, same norms."""
    emb = RowEmbedding(6, 3)
    idx = torch.tensor([[1, 1], [2, 0], [5, 5]])
    gsm, opt = dp_modules(emb, TrainingConfig(max_grad_norm=1e6), 0.0, 3, torch.Generator())
    out = gsm(idx)
    loss = (out * torch.arange(1.0, 19.0).reshape(3, 2, 3)).sum(dim=(1, 2))
    clipped_backward(gsm, opt, loss)
    by_hand = []
    for i in range(3):
        w = torch.zeros(6, 3)
        for t in range(2):
            w[idx[i, t]] += torch.arange(1.0, 19.0).reshape(3, 2, 3)[i, t]
        by_hand.append(w.norm())
    assert torch.allclose(gsm.per_sample_gradient_norms, torch.stack(by_hand), rtol=1e-4)
    gsm._close()


def test_output_scope_clips_over_the_trained_weights_only():
    """Frozen hidden layers: each row's clipped gradient (norm over the output layers alone) equals
    per-row clipping by hand over those weights, and the frozen weights get no gradient at all."""
    model, codes, clip = _model(), _codes(40), 0.05
    out = {id(p) for p in model.output_parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in out)
    by_hand = copy.deepcopy(model)
    expected, norms = _by_hand(by_hand, codes, clip, [p for p in by_hand.parameters() if p.requires_grad])
    assert min(norms) > clip  # every row clipped
    gsm, opt = dp_modules(model, TrainingConfig(max_grad_norm=clip), 0.0, len(codes), torch.Generator())
    opt.zero_grad(set_to_none=True)
    clipped_backward(gsm, opt, gsm(codes))
    trained = [p for p in model.parameters() if p.requires_grad]
    assert 0 < len(trained) < len(list(model.parameters()))
    for got, want in zip(trained, expected):
        assert torch.allclose(got.grad, want, atol=1e-5, rtol=1e-4)
    assert all(p.grad is None for p in model.parameters() if not p.requires_grad)
    assert torch.allclose(gsm.per_sample_gradient_norms, torch.tensor(norms), rtol=1e-4, atol=1e-6)
    gsm._close()


@pytest.mark.parametrize("scope", ["output", "all"])
def test_train_dp_moves_only_its_scope_and_unfreezes_after(scope):
    model, codes = _model(), _codes(200).numpy()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    out = {id(p) for p in model.output_parameters()}
    train_dp(model, codes, sample_rate=0.5, steps=5, noise_multiplier=1.0, expected_batch_size=100,
             config=TrainingConfig(), seed=0, scope=scope, learning_rate=1e-2)
    for n, p in model.named_parameters():
        moved = not torch.equal(p.detach(), before[n])
        assert moved == (scope == "all" or id(p) in out), n
        assert p.requires_grad, n  # frozen for the run only: pretraining or raking may follow
    with pytest.raises(ValueError, match="unknown training scope"):
        train_dp(model, codes, sample_rate=0.5, steps=1, noise_multiplier=1.0, expected_batch_size=100,
                 config=TrainingConfig(), seed=0, scope="hidden")


def test_scope_by_table_size_and_config():
    assert scope_for(1.0, TrainingConfig()) == ("output", TrainingConfig().output_learning_rate)
    assert scope_for(SCOPE_SMALLNESS, TrainingConfig())[0] == "output"
    assert scope_for(SCOPE_SMALLNESS - 0.01, TrainingConfig()) == ("all", TrainingConfig().learning_rate)
    assert scope_for(1.0, TrainingConfig(small_scope="all"))[0] == "all"
    with pytest.raises(InputError, match="small_scope='hidden'"):
        TrainingConfig(small_scope="hidden")


def test_temperature_follows_what_dp_sgd_trained():
    assert 0 < SMALL_TEMPERATURE < 1
    small, large = scope_for(SCOPE_SMALLNESS, TrainingConfig())[0], scope_for(SCOPE_SMALLNESS - 0.01, TrainingConfig())[0]
    assert temperature_for(small) == SMALL_TEMPERATURE and temperature_for(large) == 1.0
    assert temperature_for(scope_for(1.0, TrainingConfig(small_scope="all"))[0]) == 1.0


def test_fit_sharpens_a_small_tables_model_and_records_it(monkeypatch):
    """The same seeded fit with and without the small tables' temperature: the later heads' output weights
    differ by exactly that factor (raking moves biases only), the first head not at all."""
    import numpy as np
    import polars as pl

    import dp_synth
    import dp_synth.training as training

    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, 600)
    df = pl.DataFrame({"x": x, "y": np.where(rng.random(600) < 0.9, x % 2, 1 - x % 2).astype(str)})
    cfg = TrainingConfig(epochs=2, pretrain_epochs=1, pretrain_rows=2_000)
    sharp = dp_synth.fit(df, epsilon=2.0, seed=3, config=cfg)
    monkeypatch.setattr(training, "SMALL_TEMPERATURE", 1.0)
    plain = dp_synth.fit(df, epsilon=2.0, seed=3, config=cfg)
    assert sharp.metadata["temperature"] == SMALL_TEMPERATURE and plain.metadata["temperature"] == 1.0
    assert sharp.metadata["trained"] == "output"  # a 600-row table is small
    a, b = sharp.generator, plain.generator
    assert torch.equal(a.heads[0].weight, b.heads[0].weight)
    for j in range(1, len(a.heads)):
        assert torch.allclose(a.heads[j][-1].weight, b.heads[j][-1].weight / SMALL_TEMPERATURE, atol=1e-6), j
        assert torch.equal(a.heads[j][0].weight, b.heads[j][0].weight), j
