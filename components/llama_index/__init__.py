"""LlamaIndex components: `LightRetrieverEmbedding` (BaseEmbedding + sparse functions for
QdrantVectorStore hybrid mode), `LightRetrieverSparseEmbedding` (BaseSparseEmbedding) and
`LightRetrieverRetriever` (BaseRetriever over our store, MetadataFilters or Haystack-syntax filters).
Also installed as `llama_index.embeddings.lightretriever`, `llama_index.sparse_embeddings.lightretriever`
and `llama_index.retrievers.lightretriever` (namespace/)."""

from .embedding import LightRetrieverEmbedding
from .retriever import LightRetrieverRetriever
from .sparse_embedding import LightRetrieverSparseEmbedding

__all__ = ["LightRetrieverEmbedding", "LightRetrieverRetriever", "LightRetrieverSparseEmbedding"]
