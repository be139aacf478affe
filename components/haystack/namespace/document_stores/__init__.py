"""`haystack_integrations.document_stores.lightretriever`: where pipeline YAML finds our document store."""

from lightretriever.components.haystack.document_store import LightRetrieverDocumentStore

__all__ = ["LightRetrieverDocumentStore"]
