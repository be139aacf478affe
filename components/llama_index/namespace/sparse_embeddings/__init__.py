"""`llama_index.sparse_embeddings.lightretriever`: the sparse embedding (BaseSparseEmbedding)."""

from lightretriever.components.llama_index.sparse_embedding import LightRetrieverSparseEmbedding

__all__ = ["LightRetrieverSparseEmbedding"]
