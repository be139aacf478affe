"""HybridSearcher: text queries in, hits out — a query encoder in front of a QdrantHybridStore.

With `QueryEncoder` (the default) no neural network runs per query: a table lookup and token counts.
Any object with `encode(list[str]) -> (.dense, .sparse)` works as the encoder, so the benchmarks put
the full model (`DocumentEncoder` on the query text) in the same place to compare like for like.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .artifact import Artifact
from .query_encoder import QueryEncoder
from .texts import check_texts
from .store import CollectionSchema, Hit, QdrantHybridStore
from .store.options import SearchOptions


@dataclass
class SearchResult:
    hits: list[Hit]
    encode_ms: float
    search_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"hits": [h.to_dict() for h in self.hits], "encode_ms": self.encode_ms, "search_ms": self.search_ms}


class HybridSearcher:
    """A query encoder and a store with one `SearchOptions`; `search(q, k=5)` changes it for one call."""

    def __init__(self, encoder: Any, store: QdrantHybridStore, options: SearchOptions | None = None,
                 **overrides: Any):
        """`options` (default: SearchOptions()), or any of its fields as keywords (mode=, fusion=, ...)."""
        self.encoder = encoder
        self.store = store
        self.options = SearchOptions.of(options, **overrides)

    @classmethod
    def open(cls, artifact: str | Path | Artifact, store: str | Path, collection: str, *, table: str | None = None,
             options: SearchOptions | None = None, **overrides: Any) -> "HybridSearcher":
        """Load the artifact's query side and open its collection (refusing one indexed by another
        document encoder). `store` is a directory, a server URL or ':memory:'."""
        options = SearchOptions.of(options, **overrides)  # a bad option fails before the store opens
        artifact = artifact if isinstance(artifact, Artifact) else Artifact.load(artifact)
        opened = QdrantHybridStore.from_location(store, collection, schema=CollectionSchema.from_artifact(artifact),
                                                 create=False)
        return cls(encoder=QueryEncoder(artifact, table=table), store=opened, options=options)

    def search(self, query: str, **overrides: Any) -> SearchResult:
        return self.search_batch([query], **overrides)[0]

    def search_batch(self, queries: list[str], **overrides: Any) -> list[SearchResult]:
        """Encode all queries at once, then one batched engine request; times are per batch, split evenly.
        `overrides` change this call's options (k=, filters=, mode=, ...)."""
        options = self.options.replace(**overrides) if overrides else self.options
        queries = check_texts(queries)  # a str here would silently become one query per character
        start = time.perf_counter()
        encoded = self.encoder.encode(queries)
        encoded_at = time.perf_counter()
        hits = self.search_encoded(encoded.dense, encoded.sparse, options)
        done = time.perf_counter()
        n = max(len(queries), 1)
        encode_ms, search_ms = 1e3 * (encoded_at - start) / n, 1e3 * (done - encoded_at) / n
        return [SearchResult(h, encode_ms, search_ms) for h in hits]

    def search_encoded(self, dense, sparse, options: SearchOptions | None = None) -> list[list[Hit]]:
        """Already-encoded queries (rows of `dense`, items of `sparse`; either may be None), with this
        searcher's options or `options`: for a caller that times or batches encoding itself."""
        return self.store.search_batch(dense, sparse, options=options or self.options)
