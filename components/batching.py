"""Length-sorted batches: the one batching order of every full-model forward pass.

Texts of similar length share a batch, so little of a pass is padding; the longest come first, so an
out-of-memory batch shows at once rather than at the end of a long run. Ties keep input order (a
stable sort), so the same lengths always give the same batches — and, batch by batch, the same
vectors: the document encoder, training's frozen-document cache and `evaluate`'s `full` mode all
batch this way. Callers write each batch's results at its indices, which puts them back in input order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from .errors import InvalidArgumentError


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[np.ndarray]:
    """Index arrays of at most `batch_size` items, longest first (ties in input order); together they
    cover `range(len(lengths))` once."""
    if batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be a whole number >= 1, got {batch_size!r}: pass 1 or more")
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]
