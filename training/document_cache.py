"""Frozen documents: their dense vectors computed once with the base document encoder, then looked up.

With `--freeze-documents` (and `--table-only`) the document encoder never changes, so an index built
with the base model stays valid, and training touches no document forward pass. Vectors are kept in
a file per document-encoder fingerprint (`$LIGHTRETRIEVER_HOME/cache/document-vectors/NAME.safetensors`),
keyed by `text_digest` of the stripped text (the encoder strips it too), so a second run (or the other
variant) reuses them. The file is the project's one document-vector format (components/vector_file.py:
safetensors, dense float32 only here, written atomically, no pickle). Caches of older versions (`NAME.npz`,
sha1-keyed) are simply not found: their vectors are computed again, once.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from lightretriever.components.artifact import Artifact
from lightretriever.components.home import lightretriever_home
from lightretriever.components.progress import progress
from lightretriever.components.vector_file import read_vector_file, text_digest, text_digests, write_vector_file


def _key(text: str) -> bytes:
    return text_digest(text.strip())  # the encoder strips the text too: same vector, same key


def _keys(texts: list[str]) -> np.ndarray:
    return text_digests(t.strip() for t in texts)


class DocumentVectors:
    """text -> L2-normalised dense vector of the (frozen) document encoder."""

    def __init__(self, keys: np.ndarray, vectors: np.ndarray):
        """`keys`: uint8 [n, 8], `_key` of each row's text; `vectors`: [n, dim]."""
        self._index = {row.tobytes(): i for i, row in enumerate(keys)}
        self._vectors = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))

    def has(self, text: str) -> bool:
        return _key(text) in self._index

    @property
    def dim(self) -> int:
        return self._vectors.shape[1]

    def lookup(self, texts: list[str]) -> torch.Tensor:
        try:
            rows = [self._index[_key(t)] for t in texts]
        except KeyError:
            raise KeyError("a passage has no cached document vector; compute_document_vectors() must see every "
                           "training passage") from None
        return self._vectors[rows]

    @classmethod
    def compute(cls, artifact: Artifact, texts: list[str], *, batch_size: int = 32, device: str | None = None,
                cache_dir: Path | None = None, show_progress: bool = True,
                description: str = "Caching document vectors", dtype: str | None = None,
                save_every: int = 256, time_budget_s: float | None = None,
                max_length: int | None = None) -> "DocumentVectors":
        """Vectors for `texts`, reusing (and extending) the on-disk cache of this document encoder.
        The cache is saved every `save_every` new texts, so an interrupted run keeps its work.
        `time_budget_s`: stop encoding new texts once the next chunk would not fit (texts are taken
        in the given order; `has` tells which got a vector). `max_length`: truncate at fewer tokens than
        the artifact does (its own cache file: such vectors are not the index's)."""
        from lightretriever.components.document_encoder import DocumentEncoder

        name = artifact.document_fingerprint()
        if max_length is not None and max_length < artifact.config.max_document_length:
            name += f"-max{max_length}"
        else:
            max_length = None
        path = (cache_dir or lightretriever_home() / "cache" / "document-vectors") / f"{name}.safetensors"
        keys, vectors = _load(path)
        known = {row.tobytes() for row in keys}
        missing = list(dict.fromkeys(t for t in texts if _key(t) not in known))
        if missing:
            encoder = DocumentEncoder(artifact, device=device, dtype=dtype, max_length=max_length)
            vectors = vectors.reshape(-1, encoder.dim)
            started = time.perf_counter()
            with progress(len(missing), unit="text", desc=description, enabled=show_progress) as bar:
                for start in range(0, len(missing), save_every):
                    spent = time.perf_counter() - started
                    if time_budget_s is not None and start and spent / start * (start + save_every) > time_budget_s:
                        bar.set_postfix_str(f"time budget reached: {start} of {len(missing)} encoded")
                        break
                    chunk = missing[start:start + save_every]
                    dense = encoder.encode_dense(chunk, batch_size=batch_size, show_progress=False)
                    keys = np.concatenate([keys, _keys(chunk)])
                    vectors = np.concatenate([vectors, dense])
                    write_vector_file(path, np.asarray(vectors, dtype=np.float32), keys, name)
                    bar.update(len(chunk))
        return cls(keys, vectors)


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(keys uint8 [n, 8], vectors float32 [n, dim]) of the cache file; empty when there is none yet."""
    if not path.is_file():
        return _keys([]), np.zeros((0, 0), dtype=np.float32)
    file = read_vector_file(path)
    return file.digests, file.dense
