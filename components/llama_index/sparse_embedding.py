"""LightRetrieverSparseEmbedding: LlamaIndex's BaseSparseEmbedding, asymmetric as LightRetriever is.

Queries: token counts x the artifact's sparse weights (the light path: no model, no torch). Texts: the
document encoder's sparse vector (one forward pass per `embed_batch_size` texts). The stock
`QdrantVectorStore` (0.10.x) takes no sparse-embedding object, only `sparse_doc_fn` / `sparse_query_fn`
callables; this class supplies both, built from its own embedding methods.

From `LightRetrieverEmbedding.sparse_embedding()` it shares that embedding's encoders and takes each
node's sparse vector from the dense forward pass (the bounded LRU cache), so no node is encoded twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.base.embeddings.base_sparse import BaseSparseEmbedding, SparseEmbedding
from pydantic import Field, PrivateAttr

from ..sparse import SparseVector
from .encoders import SharedEncoders, SparseCache, as_dict, as_lists


class LightRetrieverSparseEmbedding(BaseSparseEmbedding):
    """
    ```python
    from llama_index.sparse_embeddings.lightretriever import LightRetrieverSparseEmbedding

    sparse = LightRetrieverSparseEmbedding(model_name="artifacts/minilm")
    sparse.get_query_embedding("Does aspirin prevent heart attacks?")   # {token id: weight}, no model
    ```
    """

    model_name: str = Field(description="Path of a LightRetriever artifact directory.")
    table: str | None = Field(default=None, description="Query table (instruction); default: the artifact's.")
    device: str | None = Field(default=None, description="Device of the document encoder (default: cuda if any).")
    dtype: str | None = Field(default=None, description=(
        "Forward dtype of the document encoder: auto (default: bfloat16 where native, else float32), "
        "float32, bfloat16, float16."))
    embed_batch_size: int = Field(default=32, gt=0, description="Texts per forward pass.")

    _encoders: SharedEncoders = PrivateAttr()
    _cache: SparseCache | None = PrivateAttr(default=None)  # a partner's cache: vectors already computed

    def __init__(self, **data: Any):
        super().__init__(**data)
        self._encoders = SharedEncoders(self.model_name, table=self.table, device=self.device, dtype=self.dtype)

    @classmethod
    def sharing(cls, encoders: SharedEncoders, cache: SparseCache, embed_batch_size: int
                ) -> LightRetrieverSparseEmbedding:
        """A sparse embedding over another embedding's encoders and sparse cache."""
        sparse = cls(model_name=encoders.model_name, table=encoders.table, device=encoders.device, dtype=encoders.dtype,
                     embed_batch_size=embed_batch_size)
        sparse._encoders, sparse._cache = encoders, cache
        return sparse

    @classmethod
    def class_name(cls) -> str:
        return "LightRetrieverSparseEmbedding"

    # -- vectors -------------------------------------------------------------------------------------
    def query_vectors(self, queries: list[str]) -> list[SparseVector]:
        return self._encoders.queries().encode(list(queries)).sparse

    def text_vectors(self, texts: list[str]) -> list[SparseVector]:
        """Taken from the partner's cache where the dense pass left them (then dropped from it); the
        others encoded now, without a progress bar (LlamaIndex draws its own) and without caching."""
        found = self._cache.take(texts) if self._cache is not None else {}
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            encoded = self._encoders.documents().encode(missing, batch_size=self.embed_batch_size,
                                                        show_progress=False)
            found.update(zip(missing, encoded.sparse, strict=True))
        return [found[t] for t in texts]

    # -- BaseSparseEmbedding -------------------------------------------------------------------------
    def _get_query_embedding(self, query: str) -> SparseEmbedding:
        return as_dict(self.query_vectors([query])[0])

    async def _aget_query_embedding(self, query: str) -> SparseEmbedding:
        return self._get_query_embedding(query)  # a table lookup: no thread needed

    def _get_text_embedding(self, text: str) -> SparseEmbedding:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[SparseEmbedding]:
        return [as_dict(v) for v in self.text_vectors(texts)]

    async def _aget_text_embedding(self, text: str) -> SparseEmbedding:
        return (await self._aget_text_embeddings([text]))[0]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[SparseEmbedding]:
        # the forward pass runs in a worker thread: the event loop keeps serving meanwhile
        return await asyncio.to_thread(self._get_text_embeddings, list(texts))

    # -- the sparse functions the stock QdrantVectorStore(enable_hybrid=True, ...) takes ---------------
    def sparse_doc_fn(self, texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        return as_lists(self.text_vectors(texts))

    def sparse_query_fn(self, texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        return as_lists(self.query_vectors(texts))
