"""LightRetrieverRetriever for LlamaIndex: query text in, scored nodes out, over QdrantHybridStore.

Filters: LlamaIndex `MetadataFilters` (translated by filters.py) or a Haystack-syntax dict, at
construction or per call through `with_filters(...)` (a view on the same open store)."""

from __future__ import annotations

import copy
import numbers
from typing import Any

from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.core.vector_stores.types import MetadataFilters

from ..errors import InvalidArgumentError
from ..searcher import HybridSearcher
from ..store import Hit
from ..store.fusion import DEFAULT_FUSION, DEFAULT_RRF_K
from ..store.options import DEFAULT_K, DEFAULT_MODE, SearchOptions
from .filters import to_filter_dict


class LightRetrieverRetriever(BaseRetriever):
    """Searches a collection indexed by `lightretriever index` (or the Haystack store) with the light
    query encoder: `mode` dense | sparse | hybrid, `fusion` rrf | dbsf | linear, `filters` as LlamaIndex
    `MetadataFilters` (keys are metadata keys) or a Haystack-syntax dict.

    ```python
    retriever = LightRetrieverRetriever(model="artifacts/minilm", store="stores", collection="scifact")
    nodes = retriever.retrieve("vitamin D and bone density")
    ```
    `store` is a directory (embedded engine), a Qdrant URL, or ':memory:'.
    """

    def __init__(self, model: str, store: str, collection: str, top_k: int = DEFAULT_K, mode: str = DEFAULT_MODE,
                 fusion: str = DEFAULT_FUSION, rrf_k: int = DEFAULT_RRF_K, weights: tuple[float, float] | None = None,
                 prefetch: int | None = None, filters: MetadataFilters | dict[str, Any] | None = None,
                 table: str | None = None, callback_manager: CallbackManager | None = None):
        if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k <= 0:
            # checked here, before the store opens, not at the first retrieve()
            raise InvalidArgumentError(f"top_k must be an int greater than 0, but got {top_k!r}")
        super().__init__(callback_manager=callback_manager)
        options = SearchOptions(mode=mode, fusion=fusion, rrf_k=rrf_k, weights=weights, prefetch=prefetch,
                                k=int(top_k), filters=to_filter_dict(filters))
        self._searcher = HybridSearcher.open(model, store, collection, table=table, options=options)

    @property
    def top_k(self) -> int:
        return self._searcher.options.k

    @property
    def filters(self) -> dict[str, Any] | None:
        return self._searcher.options.filters

    def with_filters(self, filters: MetadataFilters | dict[str, Any] | None) -> LightRetrieverRetriever:
        """This retriever with other filters (None: none), for one call or many; it shares the open store,
        so close either one, once."""
        options = self._searcher.options.replace(filters=to_filter_dict(filters))
        view = copy.copy(self)
        view._searcher = HybridSearcher(encoder=self._searcher.encoder, store=self._searcher.store, options=options)
        return view

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
