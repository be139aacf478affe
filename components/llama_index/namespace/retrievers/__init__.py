"""`llama_index.retrievers.lightretriever`: the retriever over a LightRetriever collection."""

from lightretriever.components.llama_index.retriever import LightRetrieverRetriever

__all__ = ["LightRetrieverRetriever"]
