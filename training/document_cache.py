"""Frozen documents: their dense vectors computed once with the base document encoder, then looked up.

With `--freeze-documents` (and `--table-only`) the document encoder never changes, so an index built
with the base model stays valid, and training touches no document forward pass. Vectors are kept in
a file per document-encoder fingerprint (`$LIGHTRETRIEVER_HOME/cache/document-vectors/`), keyed by
the text's sha1, so a second run (or the other variant) reuses them. numpy `.npz` with numeric and
fixed-width byte arrays only: loaded with `allow_pickle=False`.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from lightretriever.components.artifact import Artifact
from lightretriever.components.home import lightretriever_home


def _key(text: str) -> bytes:
    return hashlib.sha1(text.strip().encode("utf-8")).hexdigest().encode("ascii")


class DocumentVectors:
    """text -> L2-normalised dense vector of the (frozen) document encoder."""

    def __init__(self, keys: np.ndarray, vectors: np.ndarray):
        self._index = {k: i for i, k in enumerate(keys.tolist())}
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
        path = (cache_dir or lightretriever_home() / "cache" / "document-vectors") / f"{name}.npz"
        keys, vectors = _load(path)
        known = set(keys.tolist())
        missing = list(dict.fromkeys(t for t in texts if _key(t) not in known))
        if missing:
            encoder = DocumentEncoder(artifact, device=device, dtype=dtype, max_length=max_length)
            vectors = vectors.reshape(-1, encoder.dim)
            started = time.perf_counter()
            with tqdm(total=len(missing), unit="text", desc=description, disable=not show_progress) as bar:
                for start in range(0, len(missing), save_every):
                    spent = time.perf_counter() - started
                    if time_budget_s is not None and start and spent / start * (start + save_every) > time_budget_s:
                        bar.set_postfix_str(f"time budget reached: {start} of {len(missing)} encoded")
                        break
                    chunk = missing[start:start + save_every]
                    dense = encoder.encode_dense(chunk, batch_size=batch_size, show_progress=False)
                    keys = np.concatenate([keys, np.array([_key(t) for t in chunk], dtype="S40")])
                    vectors = np.concatenate([vectors, dense])
                    _save(path, keys, vectors)
                    bar.update(len(chunk))
        return cls(keys, vectors)


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        return np.zeros(0, dtype="S40"), np.zeros((0, 0), dtype=np.float32)
    with np.load(path, allow_pickle=False) as data:
        return data["keys"], data["vectors"]


def _save(path: Path, keys: np.ndarray, vectors: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, keys=keys, vectors=vectors)
    tmp.replace(path)
