"""LlamaIndex components: `LightRetrieverEmbedding` (BaseEmbedding + sparse functions for
QdrantVectorStore hybrid mode) and `LightRetrieverRetriever` (BaseRetriever over our store)."""

from .embedding import LightRetrieverEmbedding
from .retriever import LightRetrieverRetriever

__all__ = ["LightRetrieverEmbedding", "LightRetrieverRetriever"]
