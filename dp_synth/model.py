"""SynthModel: a trained generator with its spec, DP profile and privacy statement."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import numpy as np
import polars as pl
import pyarrow as pa
import torch

from .artifact import read_artifact, write_artifact
from .encoding import Encoder
from .errors import ArtifactError, InputError
from .models import build_generator
from .models.prefetch import ordered_map
from .privacy import PrivacyStatement
from .profile import TableProfile
from .spec import TableSpec

__all__ = ["SynthModel"]

MAX_DRAW_THREADS = 8  # threads that draw, decode and hand on batches: one per core, at most this many

T = TypeVar("T")


@dataclass(frozen=True)
class _Batches:
    """A twin's rows as numbered batches, each drawn and decoded from its own generator."""

    sampler: Any
    encoder: Encoder
    sizes: tuple[int, ...]
    starts: tuple[int, ...]
    seeds: tuple[int, ...]
    dictionary: bool

    def table(self, i: int) -> pa.Table:
        rng = np.random.default_rng(self.seeds[i])
        codes = self.sampler.sample(self.sizes[i], rng).numpy()
        return self.encoder.decode(codes, rng, row_offset=self.starts[i], dictionary=self.dictionary)


@dataclass
class SynthModel:
    """A fitted synthesizer. Everything in it is DP output (or public), so sampling from it
    costs no further budget.

    ``metadata`` holds the model card: generator settings, training steps and time, package
    versions, the source fingerprint and where it came from.
    """

    spec: TableSpec
    profile: TableProfile
    generator: torch.nn.Module
    privacy: PrivacyStatement
    metadata: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None       # in memory only: never written to the model file
    holdout_key: str | None = field(default=None, repr=False, compare=False)  # ledger only
    sample_key: str | None = field(default=None, repr=False, compare=False)   # ledger only
    notices: list = field(default_factory=list, repr=False, compare=False)     # shown on success only

    @property
    def encoder(self) -> Encoder:
        return Encoder(self.spec, self.profile)

    @property
    def default_rows(self) -> int:
        """The source's size: the DP count of the whole table. Model files from before it was recorded: the DP
        count of training rows scaled up by the holdout share, which misses when identical rows (held out
        together) make up much of the table (2,000 rows of 3 distinct values gave 2,525)."""
        if self.metadata.get("rows_noisy") is not None:
            return max(1, int(round(float(self.metadata["rows_noisy"]))))
        share = float(self.metadata.get("holdout", {}).get("share", 0.0))
        return max(1, int(round(self.profile.n_noisy / (1.0 - share))))

    def sample_batches(self, n: int | None = None, batch_size: int = 100_000, seed: int | None = None,
                       ahead: bool = False, dictionary: bool = False) -> Iterator[pa.RecordBatch]:
        """Yield ``n`` synthetic rows (default: the DP row count) as Arrow record batches.

        ``seed`` (or the fit seed) makes output reproducible; it is not cryptographically secure.
        ``ahead``: draw and decode the next batches in background threads (one per core) while this one is
        used (the same rows as without: each batch has its own generator).
        ``dictionary``: string categories as Arrow dictionary arrays (cheaper to build and to insert;
        the values are the same strings).
        """
        plan = self._plan(n, batch_size, seed, dictionary)
        if not ahead:
            for i in range(len(plan.sizes)):
                yield from plan.table(i).to_batches()
            return
        for table in self.map_batches(lambda t: t, n, batch_size, seed, dictionary):
            yield from table.to_batches()

    def map_batches(self, fn: Callable[[pa.Table], T], n: int | None = None, batch_size: int = 100_000,
                    seed: int | None = None, dictionary: bool = False,
                    workers: int | None = None) -> Iterator[T]:
        """``fn`` of each batch of ``n`` rows (the same batches as :meth:`sample_batches`), yielded in
        order. Each of ``workers`` threads (default: one per core) draws a batch, decodes it and calls
        ``fn`` on it, so ``fn`` (a warehouse insert) runs on every core too, not in the caller's thread
        alone (10⁷ Adult rows into DuckDB through the CLI on 2 cores, interleaved: 735–826k rows/s against
        735–781k with the caller inserting; docs/benchmarks.md, stop 46).
        ``fn`` must be safe to call from several threads. A caller that stops early stops the threads;
        an error in ``fn`` is raised in the caller when it reaches that batch."""
        plan = self._plan(n, batch_size, seed, dictionary)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        # each thread on one PyTorch thread (PyTorch's pool is per process), undone afterwards
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield from ordered_map(lambda i: fn(plan.table(i)), len(plan.sizes),
                                   workers=workers or min(cores, MAX_DRAW_THREADS))
        finally:
            torch.set_num_threads(threads)

    def _plan(self, n: int | None, batch_size: int, seed: int | None, dictionary: bool) -> "_Batches":
        n = self.default_rows if n is None else int(n)
        if n < 0:
            raise InputError(f"cannot sample {n} rows; ask for 0 or more")
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        seed = seed if seed is not None else self.seed
        rng = np.random.default_rng(seed if seed is not None else secrets.randbits(128))
        self.generator.eval()
        starts = tuple(range(0, n, batch_size))
        # every batch draws and decodes from its own generator: its rows do not depend on the thread
        return _Batches(self.generator.sampler(), self.encoder.prepare(),
                        tuple(min(batch_size, n - s) for s in starts), starts,
                        tuple(rng.integers(0, 2**62, size=len(starts)).tolist()), dictionary)

    def sample_block(self, start: int, m: int, seed: int | None = None) -> pa.Table:
        """Rows ``start … start+m-1`` of a twin generated block by block (Spark partitions): keys are
        numbered from ``start``; each block draws fresh randomness (``seed``: reproducible per block)."""
        rng = np.random.default_rng([seed, start] if seed is not None else secrets.randbits(128))
        gen = np.random.default_rng(int(rng.integers(0, 2**62)))
        self.generator.eval()
        codes = self.generator.sample(m, generator=gen).numpy()
        return self.encoder.decode(codes, rng, row_offset=start)

    @classmethod
    def from_bytes(cls, data: bytes) -> "SynthModel":
        """A model from the bytes of its file (what a Spark executor receives by broadcast)."""
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.safetensors"
            path.write_bytes(data)
            return cls.load(path)

    def sample(self, n: int | None = None, seed: int | None = None) -> pl.DataFrame:
        batches = list(self.sample_batches(n, seed=seed))
        schema = self.encoder.decode(np.zeros((0, len(self.profile.columns)), np.int64),
                                     np.random.default_rng(0)).schema
        return pl.from_arrow(pa.Table.from_batches(batches, schema=schema))

    # -------------------------------------------------------------- persistence
    def to_document(self) -> dict[str, Any]:
        return {"spec": self.spec.to_json(), "profile": self.profile.to_json(),
                "generator": {"name": self.metadata.get("generator", "autoregressive"),
                              "config": self.generator.config},
                "privacy": self.privacy.to_json(), "metadata": self.metadata}

    def save(self, path: str | Path) -> Path:
        return write_artifact(path, self.to_document(), self.generator.state_dict())

    @classmethod
    def load(cls, path: str | Path) -> "SynthModel":
        doc, tensors = read_artifact(path)
        try:
            from .models import GENERATORS

            cls_ = GENERATORS[doc["generator"]["name"]]
            shapes = cls_.expected_shapes(doc["generator"]["config"])
            if shapes != {k: tuple(v.shape) for k, v in tensors.items()}:
                raise ArtifactError(f"{str(path)!r}: the generator's settings do not match its weights; "
                                    "refusing to load it")
            gen = build_generator(doc["generator"]["name"], **doc["generator"]["config"])
            gen.load_state_dict(tensors, strict=True)
            return cls(spec=TableSpec.from_json(doc["spec"]), profile=TableProfile.from_json(doc["profile"]),
                       generator=gen, privacy=PrivacyStatement.from_json(doc["privacy"]),
                       metadata=doc.get("metadata", {}))
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise ArtifactError(f"{str(path)!r} is a dp-synth file but its content does not match "
                                f"this version ({type(e).__name__}: {e})") from None
