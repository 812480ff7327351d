"""``fit``: data → spec → DP profile → encoder → generator trained with DP-SGD."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import secrets
import warnings
import math
import platform
from typing import Any, Callable, Mapping

import numpy as np
import polars as pl
import pyarrow as pa
import torch

from . import __version__
from .encoding import Encoder
from .holdout import AUTO_MIN_ROWS, AUTO_SHARE, HOLDOUT_MAX_ROWS, HoldoutPlan, polars_frame
from .errors import InputError
from .model import SynthModel
from .models import build_generator
from .models.calibrate import rake_marginals, sharpen
from .privacy import Measurement, PrivacyStatement, calibrate_profile_rho, calibrate_sgd_sigma
from .marginals import all_pairs, code_noise, measure_tree, pooled_marginals, reweighted
from .pairs import measure_extra_pairs, reweight
from .notices import profile_notices
from .profile import NoisyCounter, measure_profile, smallness
from .source import ArrowSource, TrainingSource
from .spec import Kind, TableSpec, load_spec_overrides
from .training import TrainingConfig, plan_steps, pretrain, scope_for, temperature_for, train_dp

__all__ = ["fit", "default_delta", "to_arrow", "fingerprint", "check_validation_settings", "check_seed",
           "MAX_EPSILON", "MIN_EPSILON", "MIN_ROWS"]

MAX_EPSILON = 50.0   # beyond this a DP guarantee means nothing; refuse rather than mislead
MIN_EPSILON = 0.01   # below this every count is pure noise, and the discrete Gaussian's σ ~ 1e5+ makes
                     # diffprivlib's sampler take minutes to hours (ε=1e-4 did not finish in 5 min)
MIN_ROWS = 100       # below this, noise calibrated to any meaningful ε swamps the data


def default_delta(n_rows: int) -> float:
    """δ = 1/(10·N), N = row count rounded up to a power of ten: well below 1/n, and it
    depends on the data only through its order of magnitude."""
    return 0.1 / 10 ** math.ceil(math.log10(max(n_rows, 10)))


def to_arrow(data: Any, name: str = "data") -> pa.Table:
    """Accept a DuckDB relation, Arrow table/reader or polars DataFrame."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if isinstance(data, pl.DataFrame):
        return data.to_arrow()
    if hasattr(data, "fetch_arrow_table"):  # duckdb.DuckDBPyRelation
        return data.fetch_arrow_table()
    raise InputError(f"{name}: unsupported data of type {type(data).__name__}; pass a DuckDB relation, "
                     "a pyarrow Table or a polars DataFrame")


def fingerprint(table: pa.Table) -> str:
    """SHA-256 of the data (Arrow IPC). Stays in the ledger/artifact, never in the twin."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


VALIDATION_KEYS = ("target", "positive", "secret")


def check_validation_settings(settings: Mapping | None, where: str = "") -> dict[str, str]:
    """Per-table inputs of the GX suites (``target``, ``positive``, ``secret``), kept in the model file
    so ``dp-synth validate`` finds them; they change nothing in training."""
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(VALIDATION_KEYS))
    if unknown:
        raise InputError(f"{where}unknown validation settings {unknown}; allowed: {list(VALIDATION_KEYS)}")
    return {k: str(v) for k, v in settings.items() if v is not None}


def check_epsilon(epsilon: Any, where: str = "") -> float:
    try:
        eps = float(epsilon)
    except (TypeError, ValueError):
        raise InputError(f"{where}epsilon must be a number, got {epsilon!r}") from None
    if not math.isfinite(eps) or eps <= 0:
        raise InputError(f"{where}epsilon must be a finite number > 0, got {epsilon!r}")
    if eps < MIN_EPSILON:
        raise InputError(f"{where}epsilon={eps:g} is below the smallest dp-synth accepts ({MIN_EPSILON:g}): "
                         "at that budget the twin would be noise. Use ε ≥ 0.1 for useful twins")
    if eps > MAX_EPSILON:
        raise InputError(f"{where}epsilon={eps:g} is too large to mean anything (max {MAX_EPSILON:g}); "
                         "typical values are 0.1 to 10")
    return eps


def secure_rng(seed: int | None) -> np.random.Generator:
    """A numpy generator: from the user's seed (tests), else seeded with 128 bits from ``secrets``
    (the OS CSPRNG) — never from numpy's global state, which a caller may have seeded."""
    return np.random.default_rng(seed if seed is not None else secrets.randbits(128))


def check_seed(seed: Any, where: str = "") -> int | None:
    """A user-given seed: a whole number in [0, 2³²) (numpy's legacy generator, used by diffprivlib)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int):
        try:
            as_float = float(seed)
        except (TypeError, ValueError):
            raise InputError(f"{where}seed must be a whole number, got {seed!r}") from None
        if not as_float.is_integer():
            raise InputError(f"{where}seed must be a whole number, got {seed!r}")
        seed = int(as_float)
    if not 0 <= seed < 2**32:
        raise InputError(f"{where}seed must be between 0 and 2**32-1, got {seed}")
    return seed


def check_delta(delta: Any, n_noisy: float, where: str = "") -> float:
    """δ given by the user, or the default from the DP row count ``n_noisy`` (never the exact n)."""
    if delta is None:
        return default_delta(int(max(n_noisy, 10)))
    try:
        d = float(delta)
    except (TypeError, ValueError):
        raise InputError(f"{where}delta must be a number, got {delta!r}") from None
    if not math.isfinite(d) or d <= 0:
        raise InputError(f"{where}delta must be a finite number > 0, got {delta!r}")
    if d >= 1.0 / max(n_noisy, 1.0):
        raise InputError(f"{where}delta={d:g} must be well below 1/n for this table's size (by a DP estimate): a δ "
                         f"that large allows releasing a whole row. Use e.g. {default_delta(int(max(n_noisy, 10))):g}")
    return d


def count_rho(epsilon: float) -> float:
    """zCDP spent on the first, whole-table row count: a fixed function of ε alone (public), so the
    count can set δ's default, the holdout rule and the minimum-size check before anything else.
    0.002·ε², flat from ε = 5 (σ ≈ 3 rows there): the whole budget's ρ grows about linearly in ε, so
    at ε = 40 an ε² count took 22 % of it and a table measuring extra pairs had no budget left for
    DP-SGD ("profile already uses the whole budget")."""
    return 0.002 * min(epsilon, 5.0) ** 2


def _check_size(n_noisy: float, exact_empty: bool, t: str, min_rows: int) -> None:
    if exact_empty:
        raise InputError(f"table {t!r} is empty: there is nothing to learn from")
    if n_noisy < min_rows:
        raise InputError(f"table {t!r} has fewer than about {min_rows} rows (by a DP estimate), too few to protect "
                         "individuals with useful accuracy. Add rows, or pass min_rows= if you accept "
                         "a twin that is mostly noise")


WEAK_TVD = 0.15  # expected 1-way TVD above which a run says the twin will be mostly noise


def _expected_error(profile, measurements) -> float:
    """Mean over columns of the 1-way TVD the profile's histogram noise alone implies (DP outputs
    and public noise scales only): ½·k·σ·√(2/π) / n̂ for a histogram of k cells."""
    sigmas = {m.target.split(": histogram")[0]: m.sigma for m in measurements if ": histogram" in m.target}
    errs = [min(1.0, 0.5 * c.n_codes * sigmas[c.name] * math.sqrt(2 / math.pi) / max(profile.n_noisy, 1.0))
            for c in profile.columns if c.name in sigmas]
    return float(np.mean(errs)) if errs else 0.0


def fit(data: Any, epsilon: float, delta: float | None = None, spec: Mapping | str | None = None,
        seed: int | None = None, *, config: TrainingConfig | None = None, min_rows: int = MIN_ROWS,
        table_name: str = "data", on_step: Callable[[int, int, float], None] | None = None,
        holdout: float | None = None, defer_notices: bool = False) -> SynthModel:
    """Fit a DP synthesizer to ``data`` with total privacy budget (``epsilon``, ``delta``).

    ``holdout`` keeps a share of the rows out of training as a control for risk measures (default:
    20 % for tables of ≥ 1,000 rows by a DP count, none below; 0 disables), chosen by a keyed hash
    of each row (:mod:`dp_synth.holdout`; the key is ``model.holdout_key``, never saved in the model).
    ``data`` may also be a :class:`~dp_synth.source.TrainingSource` (the runtime passes an engine's:
    measured by aggregate queries, DP-SGD on a bounded keyed sample).
    ``defer_notices`` keeps notices (PII detection) in ``model.notices`` instead of warning, so a
    caller can show them only once its run has succeeded.
    ``spec`` overrides kinds, roles and public domains (dict or YAML path). ``seed`` makes the
    run reproducible for tests; it is **not** cryptographically secure, leave it unset in
    production. ``on_step(step, steps, epsilon_so_far)`` reports training progress.

    >>> import polars as pl, dp_synth
    >>> df = pl.DataFrame({"a": [i % 7 for i in range(500)], "b": ["x", "y"] * 250})
    >>> m = dp_synth.fit(df, epsilon=2.0, seed=0, config=dp_synth.TrainingConfig(epochs=1))
    >>> m.privacy.epsilon <= 2.0 and m.sample(10).shape == (10, 2)
    True
    """
    config = config or TrainingConfig()
    eps = check_epsilon(epsilon, f"table {table_name!r}: ")
    seed = check_seed(seed, f"table {table_name!r}: ")
    source = data if isinstance(data, TrainingSource) else ArrowSource(to_arrow(data, table_name))
    overrides = load_spec_overrides(spec)
    tspec = TableSpec.from_arrow(source.schema, overrides, table=table_name)
    if holdout is not None and not 0.0 <= float(holdout) < 0.9:
        raise InputError(f"table {table_name!r}: holdout share must be in [0, 0.9), got {holdout!r}")
    rng = np.random.RandomState(seed) if seed is not None else None  # None: diffprivlib's secure RNG
    # 1. the whole table's size, under DP: every size-dependent decision below uses this, not n
    first = NoisyCounter(rng)
    n_exact = source.count_all()
    n_table = max(float(first.counts(np.array([n_exact]), count_rho(eps), "row count (whole table)")[0][0]), 0.0)
    _check_size(n_table, n_exact == 0, table_name, min_rows)
    dlt = check_delta(delta, n_table, f"table {table_name!r}: ")
    # default holdout: 20 %, at most about HOLDOUT_MAX_ROWS rows (fewer rows withheld, better twins)
    share = holdout if holdout is not None else (
        min(AUTO_SHARE, HOLDOUT_MAX_ROWS / n_table) if n_table >= AUTO_MIN_ROWS else 0.0)
    plan = HoldoutPlan.choose(0, share, None if seed is None else hashlib.sha256(f"holdout{seed}".encode()).hexdigest())
    counts = source.counts(plan)  # exact counts of the training rows: in the engine, or in memory

    undeclared = any(c.kind is Kind.CATEGORICAL and c.categories is None for c in tspec.learned)
    delta_threshold = 0.1 * dlt if undeclared else 0.0
    rho = calibrate_profile_rho(eps, dlt - delta_threshold, 1.0)
    with warnings.catch_warnings(record=True) as notices:  # PII notices: shown only once the run succeeded
        warnings.simplefilter("always")
        # more of ρ to the profile on few training rows (DP count × kept share: public)
        small = smallness(n_table * (1.0 - plan.share))
        profile_share = config.profile_share + (config.small_profile_share - config.profile_share) * small
        extra_scale = 1.0 - small  # the extra pairs' shares shrink instead: few rows afford none (pairs.py)
        tspec, profile, measurements = measure_profile(counts, tspec, rho * profile_share, delta_threshold, rng)
    measurements = [*first.measurements, *measurements]
    if plan.share > 0 and profile.n_noisy < min_rows:  # both counts are DP: comparing them is post-processing
        raise InputError(
            f"table {table_name!r}: the holdout (share {plan.share:g}) leaves about {profile.n_noisy:,.0f} training "
            f"rows of about {n_table:,.0f} (DP estimates), fewer than {min_rows}. Lower the holdout share or add rows")
    weak = _expected_error(profile, measurements)
    if weak > WEAK_TVD:
        notices.append(warnings.WarningMessage(
            f"table {table_name!r}: ε={eps:g} is small for a table of about {profile.n_noisy:,.0f} rows (DP estimate): "
            f"the expected error of each column's distribution is ≈ {weak:.2f} (1-way TVD), so the twin will be "
            "mostly noise. Raise ε, declare public bounds/categories (they cost nothing), or add rows",
            UserWarning, __file__, 0))
    notices.extend(warnings.WarningMessage(text, UserWarning, __file__, 0)
                   for text in profile_notices(tspec, profile, table_name, eps))
    if not tspec.learned:
        raise InputError(f"table {table_name!r}: every column is key/pii/ignore after PII detection; "
                         "nothing is left to learn. Declare a column {'role': 'learn'}")

    encoder = Encoder(tspec, profile)
    prior, extra, base = None, None, None
    if config.tree_share > 0 and len(encoder.cardinalities) > 1:
        counter = NoisyCounter(rng)
        d = len(encoder.cardinalities)
        triples = list(itertools.combinations(range(d), 3)) if config.extra_triples and config.extra_pairs else []
        tables = counts.pair_tables(encoder, all_pairs(d) + triples)  # one engine scan
        prior = measure_tree(tables, encoder.cardinalities, encoder.marginals(), profile.n_noisy,
                             rho * config.tree_select_share, rho * config.tree_share, counter,
                             secure_rng(seed), noise=[code_noise(c) for c in encoder.columns])
        marginals = [np.asarray(m) for m in prior.marginals]  # the profile's, pooled with the tree's tables
        if config.extra_pairs > 0 and extra_scale > 0:
            # a larger tree sample, so that resampling by weight repeats few rows
            base = prior.sample(4 * config.pretrain_rows, secure_rng(None if seed is None else seed + 1))
            edges = {(c, prior.parent[c]) for c in range(len(prior.parent)) if prior.parent[c] >= 0}
            found, extra, sigma_extra = measure_extra_pairs(
                tables, encoder.cardinalities, base, edges, profile.n_noisy, config.extra_pairs,
                rho * config.extra_select_share * extra_scale, rho * config.extra_share * extra_scale, counter,
                secure_rng(seed), marginals=marginals)
            if found:  # their margins pooled in too, and the weights refitted to the result
                marginals = pooled_marginals(marginals, [np.asarray(s) for s in prior.noise], profile.n_noisy,
                                             found, sigma_extra)
                extra = reweight(base, found, encoder.cardinalities, marginals=marginals)
        if marginals:  # post-processing: the model's profile (and so its encoder) holds the pooled marginals
            profile = reweighted(profile, marginals)
            encoder = Encoder(tspec, profile)
        measurements += counter.measurements
        del tables
    # 2. the rows DP-SGD reads: every training row, or a keyed sample of about TRAIN_SAMPLE_ROWS
    sampled = source.training_rows(plan, profile.n_noisy,
                                   None if seed is None else hashlib.sha256(f"sample{seed}".encode()).hexdigest(),
                                   columns=[c.name for c in tspec.learned])
    df = polars_frame(sampled.rows)
    codes = encoder.encode(df)
    del df
    n_sgd = profile.n_noisy * sampled.rate  # expected size of the rows DP-SGD reads (public: DP count × rate)
    q, steps = plan_steps(n_sgd, config)
    sigma = calibrate_sgd_sigma(measurements, q, steps, eps, dlt)
    sgd = Measurement("training", "dp_sgd", f"{config.generator} generator ({steps} steps)", sigma, q, steps)
    if seed is not None:
        torch.manual_seed(seed)
    generator = build_generator(config.generator, cardinalities=encoder.cardinalities,
                                marginals=encoder.marginals(), embed_dim=config.embed_dim,
                                hidden=config.hidden, order=prior.order if prior else None)
    if prior is not None:
        synthetic = base if base is not None else prior.sample(config.pretrain_rows,
                                                               secure_rng(None if seed is None else seed + 1))
        if extra is not None:  # rows resampled by their weights: the tree's sample agreeing with the extra pairs
            pick = secure_rng(None if seed is None else seed + 2).choice(len(synthetic), config.pretrain_rows, p=extra)
            synthetic = synthetic[pick]
        pretrain(generator, synthetic, config.pretrain_epochs, seed)

    def progress(step: int, loss: float) -> None:
        if on_step is not None and (step % 10 == 0 or step == steps):
            partial = Measurement("training", "dp_sgd", "", sigma, q, step)
            on_step(step, steps, PrivacyStatement.of([*measurements, partial], dlt).epsilon)

    scope, learning_rate = scope_for(small, config)  # few rows: DP-SGD trains the output layers only
    result = train_dp(generator, codes, sample_rate=q, steps=steps, noise_multiplier=sigma,
                      expected_batch_size=q * n_sgd, config=config, seed=seed, scope=scope,
                      learning_rate=learning_rate, on_step=progress)
    temperature = temperature_for(scope)  # post-processing: small tables' flat conditionals sharpened
    sharpen(generator, temperature)
    if config.rake_rounds > 0:  # post-processing: the DP marginals pull the model's 1-way marginals to them
        gen_rake = torch.Generator()
        gen_rake.manual_seed(int(secure_rng(None if seed is None else seed + 3).integers(0, 2**62)))
        rake_marginals(generator, encoder.marginals(), rounds=config.rake_rounds, generator=gen_rake)
    statement = PrivacyStatement.of([*measurements, sgd], dlt)
    if statement.epsilon > eps * (1 + 1e-9):  # never report a guarantee we did not meet
        raise AssertionError(f"internal error: composed ε {statement.epsilon} exceeds target {eps}")
    metadata = {
        "generator": config.generator, "training": config.to_json(),
        "steps": result.steps, "sample_rate": q, "noise_multiplier": sigma, "trained": scope,
        "temperature": temperature,
        "accountant_history": [list(h) for h in result.accountant_history],
        "source": table_name, "holdout": {**plan.to_json(), "rule": source.holdout_rule, "by": source.holdout_by},
        "train_sample_rate": sampled.rate,
        "rows_noisy": n_table,  # DP count of the whole table (its measurement is in the statement)
        "learned_columns": [c.name for c in tspec.learned],
        "roles": {c.name: c.role.value for c in tspec.columns},
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
    }
    model = SynthModel(spec=tspec, profile=profile, generator=generator, privacy=statement,
                       metadata=metadata, seed=seed)
    model.holdout_key = plan.key  # governance record: goes to the ledger, never into the model file
    model.sample_key = sampled.key  # likewise (None: DP-SGD read every training row)
    model.notices = [str(w.message) for w in notices]
    if not defer_notices:
        for text in model.notices:
            warnings.warn(text, UserWarning, stacklevel=2)
    return model


def _versions() -> dict[str, str]:
    import opacus
    import diffprivlib

    return {"dp_synth": __version__, "torch": torch.__version__, "opacus": opacus.__version__,
            "diffprivlib": diffprivlib.__version__,
            "polars": pl.__version__, "python": platform.python_version()}
