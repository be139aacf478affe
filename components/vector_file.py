"""The document-vector file: per-document arrays in one safetensors file, each row tied to its text.

Both places that keep document vectors on disk write this one format (no pickle, numpy + safetensors
only, no torch): `lightretriever encode-corpus` (pipelines/vectors.py: dense + sparse + ids, read by
`index --vectors`) and training's frozen-document cache (training/document_cache.py: dense only, one
file per document fingerprint under `$LIGHTRETRIEVER_HOME/cache/document-vectors/`).

Layout: `dense` [n, dim] (float16 for encode-corpus, float32 for the cache); `text_digest` uint8 [n, 8],
`text_digest()` of each document's encoder text, so a vector is never used for a text it was not made
from; a writer may add arrays (encode-corpus adds sparse CSR). String metadata: `format`,
`document_fingerprint` (the encoder that wrote the vectors), and whatever the writer adds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, safe_open, save_file

from .errors import VectorsError

FORMAT = "lightretriever-document-vectors/1"
DIGEST_BYTES = 8  # 64 bits: a collision among a corpus' texts is out of reach, and the column stays small


def text_digest(text: str) -> bytes:
    """The key of a text in a vector file: blake2b, 8 bytes, of its UTF-8 encoding."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=DIGEST_BYTES).digest()


def text_digests(texts: Iterable[str]) -> np.ndarray:
    """`text_digest` of each text as one uint8 [n, 8] array (the file's `text_digest` column)."""
    joined = b"".join(text_digest(t) for t in texts)
    return np.frombuffer(joined, dtype=np.uint8).reshape(-1, DIGEST_BYTES)


@dataclass
class VectorFile:
    """What a vector file holds: its arrays by name and its string metadata."""

    tensors: dict[str, np.ndarray]
    meta: dict[str, str]

    @property
    def dense(self) -> np.ndarray:
        return self.tensors["dense"].astype(np.float32)

    @property
    def digests(self) -> np.ndarray:
        return self.tensors["text_digest"]

    @property
    def fingerprint(self) -> str:
        return self.meta["document_fingerprint"]


def write_vector_file(path: str | Path, dense: np.ndarray, digests: np.ndarray, fingerprint: str, *,
                      tensors: dict[str, np.ndarray] | None = None, metadata: dict[str, str] | None = None) -> Path:
    """Write `dense` rows keyed by `digests` (plus any further `tensors` and `metadata`) to `path`."""
    path = Path(path)
    if len(dense) != len(digests):
        raise ValueError(f"{len(dense)} dense vectors but {len(digests)} text digests")
    arrays = {"dense": np.ascontiguousarray(dense), "text_digest": np.ascontiguousarray(digests, dtype=np.uint8),
              **(tensors or {})}
    meta = {**(metadata or {}), "format": FORMAT, "document_fingerprint": fingerprint}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    save_file(arrays, str(tmp), metadata=meta)
    tmp.replace(path)  # atomic: an interrupted run never leaves a truncated file under the real name
    return path


def read_vector_file(path: str | Path) -> VectorFile:
    """Read a vector file written by `write_vector_file`; VectorsError when it is damaged or not one."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as handle:
            meta = handle.metadata() or {}
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise VectorsError(f"{path} cannot be read as a document-vector file ({exc}); delete it and re-create "
                           "it (`lightretriever encode-corpus`, or the training run that cached it)") from exc
    if meta.get("format") != FORMAT:
        raise VectorsError(f"{path} is not a {FORMAT} file (format {meta.get('format')!r})")
    return VectorFile(tensors, meta)
