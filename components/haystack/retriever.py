"""LightRetrieverRetriever: query text in, documents out — light query encoding + hybrid search."""

from __future__ import annotations

import asyncio
import numbers
from typing import Any

from haystack import Document, component, default_to_dict
from haystack.document_stores.types import FilterPolicy
from haystack.document_stores.types.filter_policy import apply_filter_policy

from ..artifact import Artifact
from ..errors import InvalidArgumentError
from ..query_encoder import QueryEncoder
from ..searcher import HybridSearcher
from ..store import CollectionSchema
from ..store.fusion import DEFAULT_FUSION, DEFAULT_RRF_K
from ..store.options import DEFAULT_K, DEFAULT_MODE, SearchOptions
from .convert import to_document
from .document_store import LightRetrieverDocumentStore
from .paths import checked_artifact, resolved


@component
class LightRetrieverRetriever:
    """Encodes the query with the artifact's table (no torch) and searches a LightRetrieverDocumentStore
    through `HybridSearcher`: `mode` dense | sparse | hybrid, `fusion` rrf | dbsf | linear, Haystack filters.

    ```python
    store = LightRetrieverDocumentStore(path="stores", collection="docs", model="artifacts/minilm")
    retriever = LightRetrieverRetriever(document_store=store, top_k=5)
    retriever.warm_up()
    retriever.run(query="Does aspirin prevent heart attacks?")["documents"]
    ```
    """

    __module__ = "haystack_integrations.components.retrievers.lightretriever"  # YAML loads with no allowlist step

    def __init__(self, document_store: LightRetrieverDocumentStore, model: str | None = None, top_k: int = DEFAULT_K,
                 mode: str = DEFAULT_MODE, fusion: str = DEFAULT_FUSION, rrf_k: int = DEFAULT_RRF_K,
                 weights: list[float] | None = None, prefetch: int | None = None, filters: dict[str, Any] | None = None,
                 filter_policy: str | FilterPolicy = FilterPolicy.REPLACE, table: str | None = None,
                 score_threshold: float | None = None, group_by: str | None = None, group_size: int | None = None,
                 return_embedding: bool = False):
        """
        :param document_store: where the documents are.
        :param model: artifact for the query side; default: the store's `model`.
        :param top_k: documents returned (a positive int; `run(top_k=...)` overrides it, 0 there returns none).
        :param mode: "dense", "sparse" or "hybrid".
        :param fusion: hybrid fusion: "rrf" (k = `rrf_k`), "dbsf", or "linear" (min-max, `weights` dense/sparse).
        :param prefetch: candidates per leg before fusion (default max(options.DEFAULT_PREFETCH, top_k)).
        :param filters: default filters (Haystack syntax); `filter_policy` says how run-time filters combine.
        :param table: query table (instruction) name; default: the artifact's default table.
        :param score_threshold: drop documents scoring below it, after fusion, on the score they carry:
            cosine for dense, dot product for sparse, the fused score for hybrid (rrf, dbsf and linear
            scores are on different scales: pick the threshold for the fusion in use).
        :param group_by: a meta field ("meta.source"): `top_k` groups, each with its `group_size` best
            documents (default 3), groups by their best document (formed from the fused ranking, on both backends).
        :param return_embedding: fill `embedding` / `sparse_embedding` with the stored vectors (dense
            normalised, as Qdrant keeps them for cosine).
        All but `document_store`, `model`, `table` and `filter_policy` can be changed per call in `run`.
        """
        if not isinstance(document_store, LightRetrieverDocumentStore):
            raise ValueError("document_store must be a LightRetrieverDocumentStore")
        if (model or document_store.model) is None:
            raise ValueError("LightRetrieverRetriever needs model=ARTIFACT (or a document store created with model=)")
        top_k = _check_top_k(top_k, minimum=1)
        # checked here, at init, as before; run-time filters and top_k are applied per call
        self._options = SearchOptions(mode=mode, fusion=fusion, rrf_k=rrf_k, weights=weights, prefetch=prefetch,
                                      k=top_k, score_threshold=score_threshold, group_by=group_by,
                                      group_size=group_size)
        self.document_store = document_store
        self.top_k = top_k
        self.mode = mode
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.model = str(model) if model else None
        self.weights = list(weights) if weights else None
        self.prefetch = prefetch
        self.filters = filters
        self.filter_policy = FilterPolicy.from_str(filter_policy) if isinstance(filter_policy, str) else filter_policy
        self.table = table
        self.score_threshold = score_threshold
        self.group_by = group_by
        self.group_size = group_size
        self.return_embedding = bool(return_embedding)
        self._model_root = resolved(self.model) if self.model else document_store._model_root  # paths.py
        self._encoder: QueryEncoder | None = None

    def warm_up(self) -> None:
        """Load the query table and check it belongs to the document encoder that filled the store."""
        if self._encoder is None:
            given = self.model or self.document_store.model
            artifact = Artifact.load(checked_artifact(given, self._model_root, "LightRetrieverRetriever"))
            store = self.document_store.store
            CollectionSchema.from_artifact(artifact).check_matches(
                store.schema, f"document store collection {self.document_store.collection!r}")
            self._encoder = QueryEncoder(artifact, table=self.table)

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, document_store=self.document_store.to_dict(), model=self.model,
                               top_k=self.top_k, mode=self.mode, fusion=self.fusion, rrf_k=self.rrf_k,
                               weights=self.weights, prefetch=self.prefetch, filters=self.filters,
                               filter_policy=self.filter_policy.value, table=self.table,
                               score_threshold=self.score_threshold, group_by=self.group_by,
                               group_size=self.group_size, return_embedding=self.return_embedding)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LightRetrieverRetriever":
        params = dict(data.get("init_parameters", {}))
        params["document_store"] = LightRetrieverDocumentStore.from_dict(params["document_store"])
        return cls(**params)

    @component.output_types(documents=list[Document])
    def run(self, query: str, filters: dict[str, Any] | None = None, top_k: int | None = None,
            score_threshold: float | None = None, group_by: str | None = None, group_size: int | None = None,
            return_embedding: bool | None = None) -> dict[str, Any]:
        """Top-k documents for `query`, each with its fused `score`; a parameter left None keeps the
        init value (as QdrantHybridRetriever's)."""
        if not isinstance(query, str):
            raise TypeError("LightRetrieverRetriever expects the query as a string")
        if self._encoder is None:
            raise RuntimeError("The query table is not loaded. Call warm_up() before run() "
                               "(a Pipeline does it for you).")
        top_k = self.top_k if top_k is None else _check_top_k(top_k, minimum=0)
        if top_k == 0:  # Haystack's retrievers: "If 0, no documents are returned"
            return {"documents": []}
        filters = apply_filter_policy(self.filter_policy, self.filters, filters)
        overrides = {name: value for name, value in (("score_threshold", score_threshold), ("group_by", group_by),
                                                     ("group_size", group_size)) if value is not None}
        store = self.document_store.store
        searcher = HybridSearcher(self._encoder, store, self._options)  # per call: the store may reopen
        hits = searcher.search(query, k=top_k, filters=filters, **overrides).hits
        with_vectors = self.return_embedding if return_embedding is None else return_embedding
        vectors = store.get_vectors([hit.id for hit in hits]) if with_vectors and hits else {}
        return {"documents": [to_document(hit, hit.score, vectors.get(hit.id)) for hit in hits]}

    @component.output_types(documents=list[Document])
    async def run_async(self, query: str, filters: dict[str, Any] | None = None, top_k: int | None = None,
                        score_threshold: float | None = None, group_by: str | None = None,
                        group_size: int | None = None, return_embedding: bool | None = None) -> dict[str, Any]:
        """Same as `run`; the engine call runs on a worker thread."""
        return await asyncio.to_thread(self.run, query, filters, top_k, score_threshold, group_by, group_size,
                                       return_embedding)


def _check_top_k(top_k: Any, minimum: int) -> int:
    """As InMemoryBM25Retriever: top_k > 0 at init, >= 0 at run time; None at run time means the default."""
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < minimum:
        bound = "greater than 0" if minimum == 1 else "greater than or equal to 0"
        raise InvalidArgumentError(f"top_k must be an int {bound}, but got {top_k!r}")
    return int(top_k)
