"""QueryEncoder: a query costs one tokenisation and a table lookup — no network, no torch.

Dense: the L2-normalised mean of the table rows of the query's tokens (repeats count, as in
training). Sparse: the query's token counts, times the table's per-token weights when it has them
(`adapt` stores the corpus IDF there: a model-free lookup, like Li-LSR's learned query weights);
tokens of weight 0 are dropped. Both come from ONE tokenisation of
`query_prefix + query.strip()` without special tokens; special ids that appear in the text (e.g.
a literal "[CLS]" or [UNK] for unknown characters) are dropped from both, so an empty or
whitespace-only query, or one made only of such tokens, gets a zero dense vector and an empty
sparse vector. (With a byte-level BPE tokenizer, the prefix space before a literal special token
stays a token of its own.)

A query that is not a str, or a str that is not valid Unicode (a lone surrogate, e.g. a CLI argument
whose bytes were not UTF-8), is refused with a QueryError naming its position in the batch. A query
encodes to the same bits alone and in any batch (both sum paths add rows in token order and share
one normalisation), so `search` and `search_batch` rank it alike.

Imports only numpy, tokenizers, safetensors and the stdlib (a test guards it).
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .artifact import Artifact, special_token_ids
from .sparse import SparseBatch
from .tables import dequantize, load_table, load_token_weights
from .texts import check_texts

# Queries per work unit of the table sum: big enough to amortise numpy call overhead, small
# enough that the unit's output rows and gather buffer stay in L2 cache.
_CHUNK = 1024
# Up to this many queries, a direct gather-and-sum per query beats the column sweep's setup cost
# (a search server encodes one query at a time).
_SMALL_BATCH = 8


@dataclass
class QueryEmbeddings:
    dense: np.ndarray  # float32 [n, dim], L2-normalised (all-zero for a query with no usable token)
    sparse: SparseBatch  # per query: unique token ids + counts


@dataclass
class TokenizedQueries:
    """Queries as CSR token ids: query i is `ids[offsets[i]:offsets[i+1]]`."""

    offsets: np.ndarray  # int64 [n + 1]
    ids: np.ndarray  # intp [total tokens]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


class QueryTokenizer:
    """The one query tokenisation both query paths share — and training reuses, so the tokens a
    table row is trained on are the tokens it is looked up by: `query_prefix + query.strip()`,
    no special tokens, truncated to `max_query_length`, special ids dropped."""

    def __init__(self, artifact: Artifact):
        config = artifact.config
        self.prefix = config.query_prefix
        self._tokenizer = artifact.tokenizer()
        self._tokenizer.enable_truncation(config.max_query_length)
        self._is_special = np.zeros(config.vocab_size, dtype=bool)
        self._is_special[np.asarray(special_token_ids(self._tokenizer), dtype=np.int64)] = True

    def __call__(self, texts: list[str]) -> TokenizedQueries:
        texts = check_texts(texts)
        # Surrounding whitespace is dropped first: byte-level BPE would turn it into tokens.
        texts = [self.prefix + t if t else "" for t in (t.strip() for t in texts)]
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        id_lists = [e.ids for e in encodings]
        lengths = np.fromiter(map(len, id_lists), dtype=np.int64, count=len(id_lists))
        ids = np.fromiter(itertools.chain.from_iterable(id_lists), dtype=np.intp, count=int(lengths.sum()))
        return self._drop_special(lengths, ids)

    def _drop_special(self, lengths: np.ndarray, ids: np.ndarray) -> TokenizedQueries:
        keep = ~self._is_special[ids]
        if not keep.all():
            rows = np.repeat(np.arange(len(lengths)), lengths)[keep]
            lengths, ids = np.bincount(rows, minlength=len(lengths)), ids[keep]
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return TokenizedQueries(offsets=offsets, ids=ids)


class QueryEncoder:
    """Encodes queries with an artifact's tokenizer and cached query table."""

    def __init__(self, artifact: Artifact, table: str | None = None, dequantize_table: bool = True,
                 num_threads: int | None = None):
        self.artifact = artifact
        config = artifact.config
        self.table_name = table or config.default_table
        self.instruction = artifact.table_spec(self.table_name).instruction
        stored, self._scale = load_table(artifact.table_file(self.table_name))
        # Dequantised float32 is the fastest path; dequantize_table=False keeps fp16/int8 in memory
        # (saves memory, costs time: numpy's float16 -> float32 cast is slow on CPUs without F16C paths).
        if dequantize_table:
            stored, self._scale = dequantize(stored, self._scale), None
        self._table = stored
        weights_file = artifact.token_weights_file(self.table_name)
        self.token_weights = None if weights_file is None else load_token_weights(weights_file)
        self.dim, self.vocab_size = config.dense_dim, config.vocab_size
        self._tokenize = QueryTokenizer(artifact)
        self._threads = num_threads or min(4, os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def from_pretrained(cls, path: str | Path, table: str | None = None, dequantize_table: bool = True,
                        num_threads: int | None = None) -> "QueryEncoder":
        """Load from an artifact directory; only the tokenizer and the table are read."""
        return cls(Artifact.load(path), table=table, dequantize_table=dequantize_table, num_threads=num_threads)

    # -- public API --------------------------------------------------------------------
    def encode(self, texts: list[str]) -> QueryEmbeddings:
        return self.encode_tokenized(self.tokenize(texts))

    def tokenize(self, texts: list[str]) -> TokenizedQueries:
        return self._tokenize(texts)

    def encode_tokenized(self, tokens: TokenizedQueries) -> QueryEmbeddings:
        """The encode step proper (what the speed benchmark times): ids -> dense + sparse."""
        lengths = tokens.lengths
        n = len(lengths)
        if n <= _SMALL_BATCH:
            return self._encode_small(tokens)
        dense = self._mean_rows(tokens, lengths)
        rows = np.repeat(np.arange(n), lengths)
        sparse = SparseBatch.from_pairs(n, rows, tokens.ids, self.vocab_size)
        return QueryEmbeddings(dense=dense, sparse=self._weigh(sparse))

    def _weigh(self, sparse: SparseBatch) -> SparseBatch:
        """counts -> counts x token weight, zero-weight tokens dropped (no-op without weights)."""
        if self.token_weights is None:
            return sparse
        values = sparse.values * self.token_weights[sparse.indices]
        keep = values > 0
        if keep.all():
            return SparseBatch(sparse.indptr, sparse.indices, values)
        row_of = np.repeat(np.arange(len(sparse)), sparse.nnz())[keep]
        indptr = np.zeros(len(sparse) + 1, dtype=np.int64)
        np.cumsum(np.bincount(row_of, minlength=len(sparse)), out=indptr[1:])
        return SparseBatch(indptr, sparse.indices[keep], values[keep])

    # -- internals ---------------------------------------------------------------------
    def _encode_small(self, tokens: TokenizedQueries) -> QueryEmbeddings:
        """Same result as the batched path, bit for bit, for a handful of queries: one gather + sum
        each (rows added in token order, as the column sweep does), then the same normalisation."""
        n = len(tokens.offsets) - 1
        dense = np.zeros((n, self.dim), dtype=np.float32)
        sparse_rows = []
        for i in range(n):
            ids = tokens.ids[tokens.offsets[i]:tokens.offsets[i + 1]]
            if len(ids):
                rows = self._table[ids]
                if self._scale is not None:
                    rows = rows * self._scale[ids, None]
                dense[i] = rows.sum(axis=0, dtype=np.float32)
            sparse_rows.append(np.unique(ids, return_counts=True))
        _normalise_rows(dense)
        return QueryEmbeddings(dense=dense, sparse=self._weigh(SparseBatch.from_rows(sparse_rows)))

    def _mean_rows(self, tokens: TokenizedQueries, lengths: np.ndarray) -> np.ndarray:
        """L2-normalised sum (= normalised mean) of table rows per query, without materialising
        all gathered rows.

        Queries are sorted by length and cut into chunks; within a chunk, column j adds the
        j-th token row of every query still that long. Each step is one numpy gather + add on
        a cache-resident block, and chunks run on a thread pool (numpy releases the GIL).
        """
        n = len(lengths)
        out = np.zeros((n, self.dim), dtype=np.float32)
        order = np.argsort(lengths, kind="stable")
        chunks = [order[a:a + _CHUNK] for a in range(0, n, _CHUNK)]
        work = lambda q: self._mean_chunk(q, lengths[q], tokens, out)  # noqa: E731
        if len(chunks) > 1 and self._threads > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="lightretriever-query")
            list(self._pool.map(work, chunks))
        else:
            for q in chunks:
                work(q)
        return out

    def _mean_chunk(self, queries: np.ndarray, lens: np.ndarray, tokens: TokenizedQueries, out: np.ndarray) -> None:
        starts = tokens.offsets[queries]
        acc = np.zeros((len(queries), self.dim), dtype=np.float32)
        buf = np.empty((len(queries), self.dim), dtype=self._table.dtype)
        scaled = np.empty((len(queries), self.dim), dtype=np.float32) if self._scale is not None else None
        for j in range(int(lens[-1]) if len(lens) else 0):
            first = int(np.searchsorted(lens, j, side="right"))  # queries longer than j
            idx = tokens.ids[starts[first:] + j]
            rows = np.take(self._table, idx, axis=0, out=buf[: len(idx)])
            if scaled is not None:  # int8: row = q * scale, dequantised into a reused buffer
                rows = np.multiply(rows, self._scale[idx, None], out=scaled[: len(idx)])
            acc[first:] += rows
        _normalise_rows(acc)  # while the block is in cache
        out[queries] = acc

    def __del__(self):
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=False)


def _normalise_rows(acc: np.ndarray) -> None:
    """L2-normalise rows in place; a row of zeros (a query with no token) stays zero.

    Both encode paths end here so that a query gets the same bits alone and in a batch: a BLAS dot
    (the small path's former `total @ total`) and einsum sum the squares in different orders, and a
    last-bit difference in the norm reorders near-tied hits (seen at 1 in 500 hybrid RRF queries)."""
    norms = np.sqrt(np.einsum("ij,ij->i", acc, acc))[:, None]
    if norms.all():  # the common case; `where=` costs a mask pass
        np.divide(acc, norms, out=acc)
    else:
        np.divide(acc, norms, out=acc, where=norms > 0)
