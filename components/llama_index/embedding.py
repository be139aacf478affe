"""LightRetrieverEmbedding: LlamaIndex's BaseEmbedding, asymmetric as LightRetriever is.

Queries: the artifact's cached table (no model, no torch). Texts (nodes): the document encoder, one
forward pass that also yields the sparse vector; `sparse_doc_fn` hands those back to
`QdrantVectorStore(enable_hybrid=True, ...)` from a cache keyed by text, so no node is encoded twice.

The cache is bounded (`sparse_cache_size` texts, least recently embedded dropped first): VectorStoreIndex
embeds up to `insert_batch_size` (2048) nodes before the store asks for their sparse vectors, so the
default 4096 keeps every pending one; a text dropped (or never embedded here) is simply encoded again,
which costs time, never a wrong vector. Used without a hybrid store, nothing drains it and it stays full.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import Field, PrivateAttr

from ..query_encoder import QueryEncoder
from ..sparse import SparseVector

SparseBatchLists = tuple[list[list[int]], list[list[float]]]


class LightRetrieverEmbedding(BaseEmbedding):
    """
    ```python
    from lightretriever.components.llama_index import LightRetrieverEmbedding

    embed_model = LightRetrieverEmbedding(model_name="artifacts/minilm")
    embed_model.get_query_embedding("Does aspirin prevent heart attacks?")   # table lookup
    embed_model.get_text_embedding("Aspirin lowers the risk of myocardial infarction.")  # model forward
    ```
    """

    model_name: str = Field(description="Path of a LightRetriever artifact directory.")
    table: str | None = Field(default=None, description="Query table (instruction); default: the artifact's.")
    device: str | None = Field(default=None, description="Device of the document encoder (default: cuda if any).")
    show_progress: bool = Field(default=False, description="Progress bar while encoding texts.")
    embed_batch_size: int = Field(default=32, gt=0, description="Texts per forward pass.")
    sparse_cache_size: int = Field(default=4096, gt=0, description=(
        "Sparse vectors of embedded texts kept for sparse_doc_fn (at least VectorStoreIndex's insert_batch_size)."))

    _query_encoder: QueryEncoder | None = PrivateAttr(default=None)
    _document_encoder: Any = PrivateAttr(default=None)
    _sparse_cache: OrderedDict[str, SparseVector] = PrivateAttr(default_factory=OrderedDict)

    @classmethod
    def class_name(cls) -> str:
        return "LightRetrieverEmbedding"

    # -- encoders, loaded on first use (the document side only when texts are embedded) ----------------
    def _queries(self) -> QueryEncoder:
        if self._query_encoder is None:
            self._query_encoder = QueryEncoder.from_pretrained(self.model_name, table=self.table)
        return self._query_encoder

    def _documents(self):
        if self._document_encoder is None:
            from ..document_encoder import DocumentEncoder

            self._document_encoder = DocumentEncoder.from_pretrained(self.model_name, device=self.device)
        return self._document_encoder

    # -- BaseEmbedding -------------------------------------------------------------------------------
    def _get_query_embedding(self, query: str) -> list[float]:
        return self._queries().encode([query]).dense[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        encoded = self._documents().encode(list(texts), batch_size=self.embed_batch_size,
                                           show_progress=self.show_progress)
        for text, vector in zip(texts, encoded.sparse, strict=True):
            self._remember(text, vector)
        return [row.tolist() for row in encoded.dense]

    def _remember(self, text: str, vector: SparseVector) -> None:
        self._sparse_cache[text] = vector
        self._sparse_cache.move_to_end(text)
        while len(self._sparse_cache) > self.sparse_cache_size:
            self._sparse_cache.popitem(last=False)

    # -- sparse functions for QdrantVectorStore(enable_hybrid=True, ...) ---------------------------------
    def sparse_doc_fn(self, texts: list[str]) -> SparseBatchLists:
        """Sparse vectors of node texts: taken from the forward pass that embedded them (then dropped
        from the cache); texts never embedded here are encoded now."""
        found = {t: self._sparse_cache.pop(t) for t in set(texts) if t in self._sparse_cache}
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:  # not cached: encode here, without filling the cache again
            encoded = self._documents().encode(missing, batch_size=self.embed_batch_size,
                                               show_progress=self.show_progress)
            found.update(zip(missing, encoded.sparse, strict=True))
        vectors = [found[t] for t in texts]
        return [v.indices.tolist() for v in vectors], [v.values.tolist() for v in vectors]

    def sparse_query_fn(self, texts: list[str]) -> SparseBatchLists:
        """Sparse vectors of queries: token counts (no model)."""
        sparse = self._queries().encode(list(texts)).sparse
        return [v.indices.tolist() for v in sparse], [v.values.tolist() for v in sparse]
