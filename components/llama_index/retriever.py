"""LightRetrieverRetriever for LlamaIndex: query text in, scored nodes out, over QdrantHybridStore."""

from __future__ import annotations

import numbers
from typing import Any

from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from ..errors import InvalidArgumentError
from ..searcher import HybridSearcher
from ..store import Hit
from ..store.fusion import DEFAULT_FUSION, DEFAULT_RRF_K
from ..store.options import DEFAULT_K, DEFAULT_MODE, SearchOptions


class LightRetrieverRetriever(BaseRetriever):
    """Searches a collection indexed by `lightretriever index` (or the Haystack store) with the light
    query encoder: `mode` dense | sparse | hybrid, `fusion` rrf | dbsf | linear, Haystack-syntax `filters`.

    ```python
    retriever = LightRetrieverRetriever(model="artifacts/minilm", store="stores", collection="scifact")
    nodes = retriever.retrieve("vitamin D and bone density")
    ```
    `store` is a directory (embedded engine), a Qdrant URL, or ':memory:'.
    """

    def __init__(self, model: str, store: str, collection: str, top_k: int = DEFAULT_K, mode: str = DEFAULT_MODE,
                 fusion: str = DEFAULT_FUSION, rrf_k: int = DEFAULT_RRF_K, weights: tuple[float, float] | None = None,
                 prefetch: int | None = None, filters: dict[str, Any] | None = None, table: str | None = None,
                 callback_manager: CallbackManager | None = None):
        if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k <= 0:
            # checked here, before the store opens, not at the first retrieve()
            raise InvalidArgumentError(f"top_k must be an int greater than 0, but got {top_k!r}")
        super().__init__(callback_manager=callback_manager)
        options = SearchOptions(mode=mode, fusion=fusion, rrf_k=rrf_k, weights=weights, prefetch=prefetch,
                                k=int(top_k), filters=filters)
        self._searcher = HybridSearcher.open(model, store, collection, table=table, options=options)

    @property
    def top_k(self) -> int:
        return self._searcher.options.k

    @property
    def filters(self) -> dict[str, Any] | None:
        return self._searcher.options.filters

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        result = self._searcher.search(query_bundle.query_str)
        return [NodeWithScore(node=_node(hit), score=hit.score) for hit in result.hits]

    def close(self) -> None:
        """Release the store (an embedded collection allows one open store)."""
        self._searcher.store.close()


def _node(hit: Hit) -> TextNode:
    metadata = dict(hit.meta)
    if hit.title and "title" not in metadata:
        metadata["title"] = hit.title
    return TextNode(id_=hit.id, text=hit.text, metadata=metadata)
