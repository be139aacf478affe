"""A zero-shot table worth using: the exported rows, centred and weighted by a Zipf prior.

Raw exported rows share one large common component (every row is the model's output for the same
`[bos] + instruction + … + [eos]` frame), so the mean of a query's rows mostly points along it and
ranks documents by how much *they* align with it — all-MiniLM-L6-v2 on SciFact: dense nDCG@10 0.078.
Removing the mean row (Model2Vec's "remove the common component") leaves what tells tokens apart,
and the Zipf prior — with no corpus to count, a token's id rank stands in for its frequency, as in
Model2Vec: BERT's WordPiece and byte-level BPE vocabularies are built roughly most-frequent-first —
lets rarer tokens weigh more in the query mean (log(1 + rank)). Measured on SciFact (label-free,
see benchmarks/adapt_ablation.py): centring 0.078 → 0.40, the Zipf weights → 0.42. The same prior is
the zero-shot sparse query weight (count × log(1 + rank)): 0.600 → 0.608.

`adapt` starts from the same centred rows but weights them by the corpus's own IDF instead.
The subtracted mean is stored in the table file (tensor `common`), so the exported rows can be
recovered exactly (`exported_rows`): what the agreement tests compare with transformers.
"""

from __future__ import annotations

import numpy as np


COMMON_TENSOR = "common"
ZIPF_NOTE = "zipf: log(1 + token rank)"


def common_component(rows: np.ndarray, special_ids: list[int]) -> np.ndarray:
    """The mean row over ordinary (non-special) tokens (rows that are NaN — not exported — ignored)."""
    ordinary = np.ones(len(rows), dtype=bool)
    ordinary[np.asarray(special_ids, dtype=np.int64)] = False
    return np.nanmean(rows[ordinary].astype(np.float64), axis=0).astype(np.float32)


def zipf_weights(vocab_size: int) -> np.ndarray:
    """log(1 + rank), rank = id + 1: a frequency prior for vocabularies built most-frequent-first."""
    return np.log1p(np.arange(1, vocab_size + 1, dtype=np.float64)).astype(np.float32)


def centred_rows(rows: np.ndarray, special_ids: list[int]) -> np.ndarray:
    return (rows - common_component(rows, special_ids)).astype(np.float32)


def stored_common(path) -> np.ndarray | None:
    """The common component a zero-shot table file carries, or None."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return f.get_tensor(COMMON_TENSOR) if COMMON_TENSOR in f.keys() else None


def weighted_rows(rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row t scaled by weight t: the query mean becomes a weighted mean (rows are stored unnormalised)."""
    return (rows * weights[:, None]).astype(np.float32)


def zero_shot_rows(rows: np.ndarray, special_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(table rows, the common component that was subtracted)."""
    common = common_component(rows, special_ids)
    return weighted_rows(rows - common, zipf_weights(len(rows))), common


def exported_rows(stored: np.ndarray, ids: np.ndarray, vocab_size: int, common: np.ndarray | None) -> np.ndarray:
    """Undo `zero_shot_rows` for the rows `ids` of a stored zero-shot table (`common` None: a raw table)."""
    if common is None:
        return stored[ids]
    return stored[ids] / zipf_weights(vocab_size)[ids, None] + common
