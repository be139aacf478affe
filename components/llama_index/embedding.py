"""LightRetrieverEmbedding: LlamaIndex's BaseEmbedding, asymmetric as LightRetriever is.

Queries: the artifact's cached table (no model, no torch). Texts (nodes): the document encoder, one
forward pass per batch that also yields the sparse vector; `sparse_embedding()` (a
LightRetrieverSparseEmbedding) and its `sparse_doc_fn` hand those back to
`QdrantVectorStore(enable_hybrid=True, ...)` from a cache keyed by text, so no node is encoded twice.

The cache is bounded (`sparse_cache_size` texts, LRU: least recently embedded dropped first):
VectorStoreIndex embeds up to `insert_batch_size` (2048) nodes before the store asks for their sparse
vectors, so the default 4096 keeps every pending one; a text dropped (or never embedded here) is simply
encoded again, which costs time, never a wrong vector. Used without a hybrid store, nothing drains it and
it stays full.

Async (`aget_text_embedding_batch`, `aget_query_embedding`): each batch's forward pass runs in a worker
thread (`asyncio.to_thread`, as llama-index-embeddings-fastembed does), whole batches, not one pass per
text. No progress bar per batch: LlamaIndex draws its own "Generating embeddings".
"""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import Field, PrivateAttr

from .encoders import SharedEncoders, SparseCache, as_lists
from .sparse_embedding import LightRetrieverSparseEmbedding

SparseBatchLists = tuple[list[list[int]], list[list[float]]]


class LightRetrieverEmbedding(BaseEmbedding):
    """
    ```python
    from llama_index.embeddings.lightretriever import LightRetrieverEmbedding

    embed_model = LightRetrieverEmbedding(model_name="artifacts/minilm")
    embed_model.get_query_embedding("Does aspirin prevent heart attacks?")   # table lookup
    embed_model.get_text_embedding("Aspirin lowers the risk of myocardial infarction.")  # model forward
    ```
    """

    model_name: str = Field(description="Path of a LightRetriever artifact directory.")
    table: str | None = Field(default=None, description="Query table (instruction); default: the artifact's.")
    device: str | None = Field(default=None, description="Device of the document encoder (default: cuda if any).")
    dtype: str | None = Field(default=None, description=(
        "Forward dtype of the document encoder: auto (default: bfloat16 where native, else float32), "
        "float32, bfloat16, float16."))
    show_progress: bool = Field(default=False, description=(
        "Kept for compatibility; batches draw no bar of their own (pass show_progress=True to LlamaIndex)."))
    embed_batch_size: int = Field(default=32, gt=0, description="Texts per forward pass.")
    sparse_cache_size: int = Field(default=4096, gt=0, description=(
        "Sparse vectors of embedded texts kept for sparse_doc_fn, LRU (at least VectorStoreIndex's "
        "insert_batch_size)."))

    _encoders: SharedEncoders = PrivateAttr()
    _sparse_cache: SparseCache = PrivateAttr()
    _sparse: LightRetrieverSparseEmbedding = PrivateAttr()

    def __init__(self, **data: Any):
        super().__init__(**data)
        self._encoders = SharedEncoders(self.model_name, table=self.table, device=self.device, dtype=self.dtype)
        self._sparse_cache = SparseCache(self.sparse_cache_size)
        self._sparse = LightRetrieverSparseEmbedding.sharing(self._encoders, self._sparse_cache,
                                                             self.embed_batch_size)

    @classmethod
    def class_name(cls) -> str:
        return "LightRetrieverEmbedding"

    def sparse_embedding(self) -> LightRetrieverSparseEmbedding:
        """The matching sparse embedding: same encoders, sparse vectors from this embedding's passes."""
        return self._sparse

    # -- BaseEmbedding -------------------------------------------------------------------------------
    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encoders.queries().encode([query]).dense[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)  # a table lookup: no thread needed

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        texts = list(texts)
        encoded = self._encoders.documents().encode(texts, batch_size=self.embed_batch_size, show_progress=False)
        self._sparse_cache.remember(texts, encoded.sparse)
        return [row.tolist() for row in encoded.dense]

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return (await self._aget_text_embeddings([text]))[0]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        # the whole batch in one worker thread: the event loop keeps serving meanwhile
        return await asyncio.to_thread(self._get_text_embeddings, list(texts))

    # -- sparse functions for QdrantVectorStore(enable_hybrid=True, ...) ---------------------------------
    def sparse_doc_fn(self, texts: list[str]) -> SparseBatchLists:
        """Sparse vectors of node texts: taken from the forward pass that embedded them (then dropped
        from the cache); texts never embedded here are encoded now."""
        return as_lists(self._sparse.text_vectors(texts))

    def sparse_query_fn(self, texts: list[str]) -> SparseBatchLists:
        """Sparse vectors of queries: token counts (no model)."""
        return as_lists(self._sparse.query_vectors(texts))
