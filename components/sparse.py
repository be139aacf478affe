"""Sparse vectors in one CSR batch: what both encoders return and the stores consume.

numpy only (query path: no torch).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SparseVector:
    """Sorted unique vocabulary ids and their weights (token counts for queries)."""

    indices: np.ndarray  # int64, ascending, unique
    values: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.indices)

    def to_dict(self) -> dict[int, float]:
        return dict(zip(self.indices.tolist(), self.values.tolist()))


class SparseBatch(Sequence[SparseVector]):
    """n sparse vectors stored as CSR (`indptr`, `indices`, `values`); row i is `batch[i]`.

    Keeping CSR instead of n small arrays keeps batch encoding vectorised: nothing per row is
    built until a row is asked for.
    """

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, values: np.ndarray):
        if len(indices) != len(values) or indptr[-1] != len(indices):
            raise ValueError("SparseBatch: indptr, indices and values disagree")
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.values = np.asarray(values, dtype=np.float32)

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[np.ndarray, np.ndarray]]) -> "SparseBatch":
        lengths = np.fromiter((len(i) for i, _ in rows), dtype=np.int64, count=len(rows))
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        empty = np.zeros(0)
        indices = np.concatenate([np.asarray(i) for i, _ in rows]) if rows else empty
        values = np.concatenate([np.asarray(v) for _, v in rows]) if rows else empty
        return cls(indptr, indices, values)

    @classmethod
    def from_pairs(cls, n_rows: int, row_of: np.ndarray, col: np.ndarray, vocab_size: int) -> "SparseBatch":
        """Count (row, col) occurrences: row i gets its unique cols with their counts."""
        keys, counts = np.unique(row_of.astype(np.int64) * vocab_size + col, return_counts=True)
        rows = keys // vocab_size
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
        return cls(indptr, keys - rows * vocab_size, counts.astype(np.float32))

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"SparseBatch index {i} out of range for {len(self)} rows")
        a, b = self.indptr[i], self.indptr[i + 1]
        return SparseVector(self.indices[a:b], self.values[a:b])

    def __iter__(self) -> Iterator[SparseVector]:
        return (self[i] for i in range(len(self)))

    def nnz(self) -> np.ndarray:
        """Non-zeros per row."""
        return np.diff(self.indptr)

    def __repr__(self) -> str:
        return f"SparseBatch(rows={len(self)}, nnz={len(self.indices)})"
