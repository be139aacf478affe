"""`llama_index.embeddings.lightretriever`, where LlamaIndex users look for an embedding integration."""

from lightretriever.components.llama_index.embedding import LightRetrieverEmbedding

__all__ = ["LightRetrieverEmbedding"]
