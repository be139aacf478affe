"""Query tables on disk: safetensors `[vocab, dim]` in float32, float16, or int8 with a per-row scale.

numpy + safetensors only (query path: no torch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from .artifact import SCALE_TENSOR, TABLE_TENSOR
from .errors import ArtifactError


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


def save_table(path: str | Path, table: np.ndarray, dtype: str, instruction: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(quantize_table(table, dtype), str(tmp), metadata={"format": "lightretriever-query-table",
                                                                   "instruction": instruction, "dtype": dtype})
    tmp.replace(path)  # atomic: a crash never leaves a half-written table behind


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
