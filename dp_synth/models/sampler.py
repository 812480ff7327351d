"""Fast exact sampling from an :class:`~dp_synth.models.autoregressive.AutoregressiveGenerator`.

Four rewrites of the same arithmetic, each exact up to float rounding (tested against the trained
layers):

1. **Fused first layer.** Head j's first layer on the embeddings of codes c_<j is
   Σ_i E_i[c_i] · W1_j[:, block i]ᵀ: one precomputed table row per (column, code), summed by
   ``embedding_bag`` — e× fewer operations than the (j·e)-wide matrix product.
2. **Sigmoid form.** tanh(x) = 2σ(2x) − 1, with the 2s and the −1 folded into the weights:
   σ is ~10× cheaper than tanh in PyTorch on CPU, and nothing else changes. The first layer's bias sits
   in column 0's table block (every prefix holds one code of it), and a head whose logits provably lie
   within :data:`MAX_SPREAD` of their row's max exponentiates them less a static ceiling, without a max
   per row (stop 28: with the two, 0.93–0.99 → 0.88–0.93 µs per Adult row).
3. **One evaluation per distinct prefix.** Rows that share c_<j share head j's distribution. The
   distinct prefixes are tracked as dense ids (a mark-and-rank relabel, no sort); each head runs once per
   prefix and the rows gather their prefix's CDF. Early heads see a handful of prefixes, so most of the
   work disappears; once distinct prefixes pass ``dense_share`` (0.6) of the rows, the rest run row by
   row: above that share the gather and relabel cost more than they save (Adult, batches of 122,880 rows,
   one thread: 0.8 → 0.6 gave 1.24 → 1.0 µs per row; 0.45–0.65 within the noise; stop 28).

4. **Chunks.** Each head runs over :data:`CHUNK` rows at a time instead of the whole batch (streaming
   30 MB per head through memory), and the CDF's running sum is taken row by row in place (``cumsum`` along
   the code axis was 3–5× slower): 1.32 → 0.97–1.06 µs per Adult row on one thread at 8,192 rows (stop 25).
   16,384 rows (4 MB of activations, about one core's L2) halve the Python calls per head again: 1,036 → 957
   ns per row on one thread (8 interleaved rounds), the same draws (docs/benchmarks.md, stop 50).

Every row still draws its own uniform for every column, in the same order on either path, so with the
same ``torch.Generator`` state the output does not depend on how prefixes were shared (tested).

>>> import torch
>>> from dp_synth.models.autoregressive import AutoregressiveGenerator
>>> g = AutoregressiveGenerator([3, 4, 2])
>>> Sampler.of(g).sample(5, torch.Generator().manual_seed(0)).shape
torch.Size([5, 3])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["Sampler", "CHUNK", "MAX_SPREAD"]

CHUNK = 16384  # rows per pass through a head (stop 50: 10⁷ Adult rows through the CLI, interleaved,
               # 775k, 758k rows/s at 8,192 against 840k, 787k here; 2,048, 4,096 and 32,768 slower)


MAX_SPREAD = 64.0  # a head whose logits provably lie within this of their row's max needs no per-row max


@dataclass(frozen=True)
class _Head:
    table: torch.Tensor    # (Σ_{i<j} k_i, hidden): 2 · E_i · W1_j[:, block i]ᵀ, blocks stacked; + 2 · b1 in
                           # column 0's block (every prefix holds one code of it)
    weight: torch.Tensor   # (k, hidden): 2 · W2
    shift: torch.Tensor    # (k, 1): b2 − W2 · 1, minus the logits' static ceiling when ``capped``
    capped: bool           # logits ≤ 0 and each row's max ≥ −MAX_SPREAD: exp without subtracting the max

    @classmethod
    def of(cls, table: torch.Tensor, bias: torch.Tensor, k0: int, weight: torch.Tensor,
           shift: torch.Tensor) -> "_Head":
        """With σ ∈ (0, 1), logit c lies in [shift_c + Σ min(0, w_c·), shift_c + Σ max(0, w_c·)]: when the
        highest ceiling is within MAX_SPREAD of the highest floor, subtracting it keeps every row's exp in
        float range (its largest term ≥ e^−64), the same CDF up to rounding without a max per row."""
        table = table.clone()
        table[:k0] += bias
        ceiling = float((shift[:, 0] + weight.clamp(min=0).sum(1)).max())
        floor = float((shift[:, 0] + weight.clamp(max=0).sum(1)).max())
        capped = ceiling - floor <= MAX_SPREAD
        return cls(table.contiguous(), weight.contiguous(), (shift - ceiling if capped else shift).contiguous(), capped)


@dataclass(frozen=True)
class Sampler:
    """A generator's weights rearranged for sampling (a snapshot: build a new one after training)."""

    first: torch.Tensor      # CDF of the first modelled column
    offsets: torch.Tensor    # (H,) int32: where column i's codes start in every head's table
    heads: tuple[_Head, ...]
    cardinalities: tuple[int, ...]
    order: tuple[int, ...]
    dense_share: float = 0.6

    @classmethod
    @torch.inference_mode()
    def of(cls, g: nn.Module, dense_share: float = 0.6) -> "Sampler":
        e = int(g.config["embed_dim"])
        ks = [int(k) for k in g.cardinalities]
        first = g.heads[0]
        cdf = torch.softmax(first.weight[:, 0] + first.bias, 0).cumsum(0)
        starts = torch.zeros(len(ks), dtype=torch.int32)
        starts[1:] = torch.cumsum(torch.tensor(ks[:-1], dtype=torch.int32), 0)
        heads = []
        for j in range(1, len(ks)):
            lin1, lin2 = g.heads[j][0], g.heads[j][2]
            blocks = [g.embeddings[i].weight @ lin1.weight[:, i * e:(i + 1) * e].T for i in range(j)]
            heads.append(_Head.of(2 * torch.cat(blocks, 0), 2 * lin1.bias, ks[0], 2 * lin2.weight,
                                  (lin2.bias - lin2.weight.sum(1))[:, None]))
        return cls(first=cdf, offsets=starts, heads=tuple(heads), cardinalities=tuple(ks),
                   order=tuple(int(i) for i in g.order), dense_share=dense_share)

    def _cdf(self, j: int, prefix: torch.Tensor) -> torch.Tensor:
        """Head j's unnormalised CDF for each prefix row (codes c_<j, model order): shape (k_j, rows)."""
        return self._cdf_at(j, prefix + self.offsets[:j])

    def _cdf_at(self, j: int, rows: torch.Tensor) -> torch.Tensor:
        """:meth:`_cdf` on prefixes already shifted to table rows (code + ``offsets[i]`` in column i),
        computed :data:`CHUNK` rows at a time."""
        if rows.shape[0] <= CHUNK:
            return self._cdf_chunk(j, rows)
        out = torch.empty(self.cardinalities[j], rows.shape[0])
        for s in range(0, rows.shape[0], CHUNK):
            out[:, s:s + CHUNK] = self._cdf_chunk(j, rows[s:s + CHUNK])
        return out

    def _cdf_chunk(self, j: int, rows: torch.Tensor) -> torch.Tensor:
        h = self.heads[j - 1]
        pre = nn.functional.embedding_bag(rows, h.table, mode="sum")
        cdf = torch.addmm(h.shift, h.weight, torch.sigmoid_(pre).T)
        (cdf if h.capped else cdf.sub_(cdf.amax(0, keepdim=True))).exp_()
        for i in range(1, cdf.shape[0]):  # the running sum row by row: 3–5× faster than cumsum(0) here
            cdf[i].add_(cdf[i - 1])
        return cdf

    @staticmethod
    def _pick(cdf: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Inverse-CDF draw for each column of an unnormalised CDF (k, rows), ``u`` uniform on [0, 1)."""
        below = cdf[:-1] < u.mul(cdf[-1])  # searchsorted (left), vectorised
        if cdf.shape[0] <= 256:  # counted in bytes: a bool summed as int32 is converted first (slower)
            return below.view(torch.uint8).sum(0, dtype=torch.uint8)
        return below.sum(0, dtype=torch.int32)

    @torch.inference_mode()
    def log_probs(self, codes: torch.Tensor) -> list[torch.Tensor]:
        """Each head's log-probabilities for ``codes`` (model order), row by row, shape (rows, k_j)."""
        codes = codes.to(torch.int32)
        out = [torch.log(torch.diff(self.first, prepend=self.first.new_zeros(1))).expand(codes.shape[0], -1)]
        for j in range(1, len(self.cardinalities)):
            cdf = self._cdf(j, codes[:, :j].contiguous())
            out.append(torch.log(torch.diff(cdf, dim=0, prepend=cdf.new_zeros(1, cdf.shape[1])) / cdf[-1]).T)
        return out

    @torch.inference_mode()
    def sample(self, n: int, generator: torch.Generator | np.random.Generator | None = None) -> torch.Tensor:
        """``n`` rows of codes (table order), int32, shape (n, columns), stored column by column (each
        column contiguous, as the decoder reads them). ``generator``: a numpy Generator (what the write
        path uses: its float32 uniforms cost 1.8 ns against PyTorch's 4.1), a torch.Generator, or None
        (PyTorch's global one)."""
        ks, H = self.cardinalities, len(self.cardinalities)
        codes = torch.empty(H, n, dtype=torch.int32)  # model order, one contiguous row per column
        u = _uniform(n, generator).mul_(self.first[-1])
        codes[0] = (self.first[:-1, None] < u).sum(0, dtype=torch.int32)  # searchsorted (left), vectorised
        # distinct prefixes as rows of table indices (code + offset of its column), each row's prefix id
        ids, prefixes = codes[0].long(), torch.arange(ks[0], dtype=torch.int32)[:, None]
        dense, rows = False, None
        for j in range(1, H):
            u = _uniform(n, generator)
            table = None if dense else self._cdf_at(j, prefixes)  # one CDF per distinct prefix
            if dense and rows is None:  # row by row from here: the prefix codes as table rows, row-major
                rows = torch.empty(n, H - 1, dtype=torch.int32)
                rows[:, :j] = codes[:j].T + self.offsets[:j]
            for s in range(0, n, CHUNK):  # chunk by chunk (CHUNK rows)
                e = min(n, s + CHUNK)
                cdf = self._cdf_chunk(j, rows[s:e, :j]) if dense else table.index_select(1, ids[s:e])
                codes[j, s:e] = self._pick(cdf, u[s:e])
            if dense and j < H - 1:  # one column more, shifted once (not re-transposed for every head)
                torch.add(codes[j], self.offsets[j], out=rows[:, j])
            if not dense and j < H - 1:
                ids, prefixes, dense = self._extend(ids, prefixes, codes[j], ks[j], int(self.offsets[j]), n)
        return codes.index_select(0, torch.argsort(torch.tensor(self.order))).T  # model order → table order

    def _extend(self, ids, prefixes, c, k: int, offset: int, n: int):
        """Distinct prefixes one column longer: dense ids by marking (prefix id, code) pairs."""
        key = ids * k + c
        mark = torch.zeros(prefixes.shape[0] * k, dtype=torch.bool)
        mark.index_fill_(0, key, True)
        present = mark.nonzero().squeeze(1)
        if present.numel() > self.dense_share * n:
            return ids, prefixes, True
        # each present pair's rank among them (written where it is: no running sum over every pair)
        relabel = torch.empty(mark.shape[0], dtype=torch.int64)
        relabel.index_copy_(0, present, torch.arange(present.numel()))
        parent = present.div(k, rounding_mode="floor")
        code = present.sub(parent * k).to(torch.int32).add_(offset)
        longer = torch.cat([prefixes.index_select(0, parent), code[:, None]], 1)
        return relabel.index_select(0, key), longer, False


def _uniform(n: int, generator: torch.Generator | np.random.Generator | None) -> torch.Tensor:
    """``n`` float32 uniforms on [0, 1) (24 random bits each, from either kind of generator)."""
    if isinstance(generator, np.random.Generator):
        return torch.from_numpy(generator.random(n, dtype=np.float32))
    return torch.rand(n, generator=generator)
