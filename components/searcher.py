"""HybridSearcher: text queries in, hits out — a query encoder in front of a QdrantHybridStore.

With `QueryEncoder` (the default) no neural network runs per query: a table lookup and token counts.
Any object with `encode(list[str]) -> (.dense, .sparse)` works as the encoder, so the benchmarks put
the full model (`DocumentEncoder` on the query text) in the same place to compare like for like.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pathlib import Path

from .artifact import Artifact
from .query_encoder import QueryEncoder
from .texts import check_texts
from .store import CollectionSchema, Hit, QdrantHybridStore
from .store.fusion import DEFAULT_FUSION


@dataclass
class SearchResult:
    hits: list[Hit]
    encode_ms: float
    search_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"hits": [h.to_dict() for h in self.hits], "encode_ms": self.encode_ms, "search_ms": self.search_ms}


@dataclass
class HybridSearcher:
    encoder: Any
    store: QdrantHybridStore
    mode: str = "hybrid"
    fusion: str = DEFAULT_FUSION
    rrf_k: int = 60
    weights: tuple[float, float] | None = None
    prefetch: int | None = None

    @classmethod
    def open(cls, artifact: str | Path | Artifact, store: str | Path, collection: str, *, table: str | None = None,
             **options) -> "HybridSearcher":
        """Load the artifact's query side and open its collection (refusing one indexed by another
        document encoder). `store` is a directory, a server URL or ':memory:'."""
        artifact = artifact if isinstance(artifact, Artifact) else Artifact.load(artifact)
        opened = QdrantHybridStore.from_location(store, collection, schema=CollectionSchema.from_artifact(artifact),
                                                 create=False)
        return cls(encoder=QueryEncoder(artifact, table=table), store=opened, **options)

    def search(self, query: str, k: int = 10, filters: dict[str, Any] | None = None, **overrides) -> SearchResult:
        return self.search_batch([query], k=k, filters=filters, **overrides)[0]

    def search_batch(self, queries: list[str], k: int = 10, filters: dict[str, Any] | None = None,
                     **overrides) -> list[SearchResult]:
        """Encode all queries at once, then one batched engine request; times are per batch, split evenly."""
        options = {"mode": self.mode, "fusion": self.fusion, "rrf_k": self.rrf_k, "weights": self.weights,
                   "prefetch": self.prefetch, **overrides}
        queries = check_texts(queries)  # a str here would silently become one query per character
        start = time.perf_counter()
        encoded = self.encoder.encode(queries)
        encoded_at = time.perf_counter()
        hits = self.store.search_batch(encoded.dense, encoded.sparse, k=k, filters=filters, **options)
        done = time.perf_counter()
        n = max(len(queries), 1)
        encode_ms, search_ms = 1e3 * (encoded_at - start) / n, 1e3 * (done - encoded_at) / n
        return [SearchResult(h, encode_ms, search_ms) for h in hits]
