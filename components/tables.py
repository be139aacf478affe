"""Query tables on disk: safetensors `[vocab, dim]` in float32, float16, or int8 with a per-row scale.

numpy + safetensors only (query path: no torch).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from .artifact import SCALE_TENSOR, TABLE_TENSOR, TOKEN_WEIGHTS_TENSOR
from .errors import ArtifactError

# How training/export.py computes a table's rows: prefix-kv runs `[bos] + instruction` once and reuses its
# key/value cache for every token (decoders with last-token pooling); naive runs each row whole; auto picks.
EXPORT_METHODS = ("auto", "prefix-kv", "naive")


def quantize_table(table: np.ndarray, dtype: str) -> dict[str, np.ndarray]:
    """float32 rows -> the tensors stored for `dtype`. int8 is symmetric per row: row = q * scale."""
    table = np.asarray(table, dtype=np.float32)
    if dtype == "float32":
        return {TABLE_TENSOR: np.ascontiguousarray(table)}
    if dtype == "float16":
        return {TABLE_TENSOR: table.astype(np.float16)}
    if dtype == "int8":
        scale = np.abs(table).max(axis=1) / 127.0
        safe = np.where(scale > 0, scale, 1.0).astype(np.float32)
        q = np.clip(np.rint(table / safe[:, None]), -127, 127).astype(np.int8)
        return {TABLE_TENSOR: q, SCALE_TENSOR: scale.astype(np.float32)}
    raise ValueError(f"table dtype {dtype!r}: expected float32, float16 or int8")


def save_table(path: str | Path, table: np.ndarray, dtype: str, instruction: str,
               extra: dict[str, np.ndarray] | None = None) -> None:
    """`extra`: further float32 tensors kept beside the table (e.g. a zero-shot table's `common`);
    the query encoders never read them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tensors = quantize_table(table, dtype)
    tensors.update({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in (extra or {}).items()})
    save_file(tensors, str(tmp), metadata={"format": "lightretriever-query-table", "instruction": instruction,
                                           "dtype": dtype})
    _readable(tmp)
    tmp.replace(path)  # atomic: a crash never leaves a half-written table behind


def _readable(path: Path) -> None:
    """safetensors writes 0600; an artifact is data to share, like the model files beside it."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def load_table(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(table as stored, per-row scale or None)."""
    try:
        tensors = load_file(str(path))
    except Exception as exc:
        raise ArtifactError(f"{path}: cannot be read as safetensors ({exc}); re-export the table") from exc
    return tensors[TABLE_TENSOR], tensors.get(SCALE_TENSOR)


def dequantize(table: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    if scale is not None:
        return table.astype(np.float32) * scale[:, None]
    return table.astype(np.float32, copy=False)


def save_token_weights(path: str | Path, weights: np.ndarray, source: str) -> None:
    """Query-side sparse weights, float32 [vocab] (written atomically, like a table)."""
    weights = np.asarray(weights, dtype=np.float32)
    if weights.ndim != 1 or not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("token weights must be a finite, non-negative float vector with one entry per token")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({TOKEN_WEIGHTS_TENSOR: np.ascontiguousarray(weights)}, str(tmp),
              metadata={"format": "lightretriever-token-weights", "source": source})
    _readable(tmp)
    tmp.replace(path)


def load_token_weights(path: str | Path) -> np.ndarray:
    """The stored weights; a NaN, infinite or negative weight is refused (it would turn every query that
    has the token into NaN scores, or into a negative match)."""
    fix = "re-create them with `lightretriever adapt`"
    try:
        weights = load_file(str(path))[TOKEN_WEIGHTS_TENSOR].astype(np.float32, copy=False)
    except Exception as exc:
        raise ArtifactError(f"{path}: cannot be read as query token weights ({exc}); {fix}") from exc
    bad = np.flatnonzero(~np.isfinite(weights) | (weights < 0))
    if bad.size:
        raise ArtifactError(f"{path}: query token weights must be finite and >= 0, but {bad.size} are not (first: "
                            f"token {int(bad[0])} = {float(weights[bad[0]])}); {fix}")
    return weights
