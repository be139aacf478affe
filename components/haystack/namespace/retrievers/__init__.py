"""`haystack_integrations.components.retrievers.lightretriever`: where pipeline YAML finds our retriever."""

from lightretriever.components.haystack.retriever import LightRetrieverRetriever

__all__ = ["LightRetrieverRetriever"]
