"""The light query path during training: every query token through the full model, as the table sees it.

Table row t is the model's output for `prefix + [t] + [eos]` (prefix = `[bos] + instruction`, see
`training/export.py`). Training must compute exactly those rows for the tokens of each query, with
gradients, and average them (repeats count) into the query's "emb vector".

Decoders (causal): one sequence per query, `[prefix…, t1, eos, t2, eos, …]`, with

* position ids `0..P-1` for the prefix and `(P, P+1)` for every `(t_i, eos)` pair, and
* a block-diagonal 4-D additive mask: the prefix is causal within itself; each pair sees the whole
  prefix and itself (causally), never another pair.

So the prefix is computed once per query instead of once per token, and every eos state equals the
separately computed row (`tests/test_training_model.py` checks it to 1e-4). Padding rows attend to
themselves only: a fully blocked softmax row gives NaN in some attention kernels.

Encoders (bidirectional): the prefix states depend on the token, so there is nothing to share; each
token occurrence becomes its own `prefix + [t] + [eos]` row, pooled like documents — exactly what
the export runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class PackedQueries:
    """Decoder form: one row per query; `pool` marks the eos positions to average."""

    input_ids: torch.Tensor       # [B, L]
    position_ids: torch.Tensor    # [B, L]
    attention_mask: torch.Tensor  # [B, 1, L, L] additive float (0 = attend, dtype-min = blocked)
    pool: torch.Tensor            # [B, L] float, 1 at each pair's eos

    def to(self, device) -> "PackedQueries":
        return PackedQueries(*(t.to(device) for t in (self.input_ids, self.position_ids, self.attention_mask,
                                                       self.pool)))


@dataclass
class TokenRows:
    """Encoder form: one `prefix + [t] + [eos]` row per *distinct* token of the batch (a row depends
    only on its token, so repeats and tokens shared by queries are computed once); occurrence i is
    row `row_of[i]` and belongs to query `owner[i]`."""

    input_ids: torch.Tensor  # [distinct tokens, P + 2]
    row_of: torch.Tensor     # [N occurrences] row index
    owner: torch.Tensor      # [N occurrences] query index
    n_queries: int

    def to(self, device) -> "TokenRows":
        return TokenRows(self.input_ids.to(device), self.row_of.to(device), self.owner.to(device), self.n_queries)


def pack_queries(token_lists: list[list[int]], prefix: list[int], eos_id: int, pad_id: int,
                 dtype: torch.dtype = torch.float32) -> PackedQueries:
    """Build the block-masked batch for a causal backbone."""
    p = len(prefix)
    length = p + 2 * max((len(t) for t in token_lists), default=0)
    batch = len(token_lists)
    input_ids = torch.full((batch, length), pad_id, dtype=torch.long)
    position_ids = torch.zeros((batch, length), dtype=torch.long)
    allowed = torch.zeros((batch, length, length), dtype=torch.bool)
    pool = torch.zeros((batch, length))
    causal_prefix = torch.ones(p, p, dtype=torch.bool).tril()
    for row, tokens in enumerate(token_lists):
        n = len(tokens)
        input_ids[row, :p] = torch.tensor(prefix, dtype=torch.long)
        position_ids[row, :p] = torch.arange(p)
        allowed[row, :p, :p] = causal_prefix
        for i, token in enumerate(tokens):
            t, e = p + 2 * i, p + 2 * i + 1
            input_ids[row, t], input_ids[row, e] = token, eos_id
            position_ids[row, t], position_ids[row, e] = p, p + 1
            allowed[row, t:e + 1, :p] = True      # the pair sees the whole prefix ...
            allowed[row, t, t] = True             # ... and itself, causally
            allowed[row, e, t:e + 1] = True
            pool[row, e] = 1.0
        pad = torch.arange(p + 2 * n, length)
        allowed[row, pad, pad] = True             # padding: self only (no all-blocked softmax row)
    mask = torch.zeros((batch, 1, length, length), dtype=dtype)
    mask.masked_fill_(~allowed.unsqueeze(1), torch.finfo(dtype).min)
    return PackedQueries(input_ids, position_ids, mask, pool)


def token_rows(token_lists: list[list[int]], prefix: list[int], eos_id: int) -> TokenRows:
    """Build the per-token rows for a bidirectional backbone."""
    flat = torch.tensor([t for tokens in token_lists for t in tokens], dtype=torch.long)
    owner = torch.tensor([q for q, tokens in enumerate(token_lists) for _ in tokens], dtype=torch.long)
    distinct, row_of = torch.unique(flat, return_inverse=True)
    head = torch.tensor(prefix, dtype=torch.long).expand(len(distinct), -1)
    tail = torch.full((len(distinct), 1), eos_id, dtype=torch.long)
    return TokenRows(torch.cat([head, distinct[:, None], tail], dim=1), row_of, owner, len(token_lists))


def mean_per_query(vectors: torch.Tensor, owner: torch.Tensor, n_queries: int) -> torch.Tensor:
    """Mean of each query's token vectors (repeats count); a query without tokens gets zeros."""
    sums = vectors.new_zeros(n_queries, vectors.shape[-1]).index_add_(0, owner, vectors)
    counts = torch.bincount(owner, minlength=n_queries).clamp(min=1).to(vectors.dtype)
    return sums / counts[:, None]
