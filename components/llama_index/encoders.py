"""The encoders and sparse cache the LlamaIndex embeddings share: loaded once, on first use.

`LightRetrieverEmbedding` and the `LightRetrieverSparseEmbedding` it hands out (`sparse_embedding()`)
hold one `SharedEncoders`, so a node's dense and sparse vectors come from one forward pass. Async
embedding runs these from worker threads (`asyncio.to_thread`), hence the locks: two batches arriving
together must not load the model twice or tear the cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from ..query_encoder import QueryEncoder
from ..sparse import SparseVector


class SharedEncoders:
    """The query encoder (table, no torch) and the document encoder (model), each loaded on first use."""

    def __init__(self, model_name: str, table: str | None = None, device: str | None = None,
                 dtype: str | None = None):
        self.model_name, self.table, self.device, self.dtype = model_name, table, device, dtype
        self._queries: QueryEncoder | None = None
        self._documents: Any = None
        self._lock = threading.Lock()

    @property
    def documents_loaded(self) -> bool:
        return self._documents is not None

    def queries(self) -> QueryEncoder:
        with self._lock:
            if self._queries is None:
                self._queries = QueryEncoder.from_pretrained(self.model_name, table=self.table)
            return self._queries

    def documents(self):
        with self._lock:
            if self._documents is None:
                from ..document_encoder import DocumentEncoder  # torch: only when texts are embedded

                self._documents = DocumentEncoder.from_pretrained(self.model_name, device=self.device, dtype=self.dtype)
            return self._documents


class SparseCache:
    """Sparse vectors of recently embedded texts, least recently embedded dropped first (LRU)."""

    def __init__(self, size: int):
        self.size = size
        self._vectors: OrderedDict[str, SparseVector] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._vectors)

    def __contains__(self, text: object) -> bool:
        return text in self._vectors

    def remember(self, texts: list[str], vectors: list[SparseVector]) -> None:
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                self._vectors[text] = vector
                self._vectors.move_to_end(text)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)

    def take(self, texts: list[str]) -> dict[str, SparseVector]:
        """The cached vectors among `texts`, removed from the cache (each is handed out once)."""
        with self._lock:
            return {t: self._vectors.pop(t) for t in set(texts) if t in self._vectors}


def as_lists(vectors: list[SparseVector]) -> tuple[list[list[int]], list[list[float]]]:
    """QdrantVectorStore's sparse-function shape: (index lists, value lists)."""
    return [v.indices.tolist() for v in vectors], [v.values.tolist() for v in vectors]


def as_dict(vector: SparseVector) -> dict[int, float]:
    """LlamaIndex's SparseEmbedding: {vocabulary id: weight}."""
    return dict(zip(vector.indices.tolist(), vector.values.tolist(), strict=True))
