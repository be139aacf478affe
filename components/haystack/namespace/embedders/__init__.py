"""`haystack_integrations.components.embedders.lightretriever`: where pipeline YAML finds our embedders."""

from lightretriever.components.haystack.document_embedder import LightRetrieverDocumentEmbedder
from lightretriever.components.haystack.text_embedder import LightRetrieverTextEmbedder

__all__ = ["LightRetrieverDocumentEmbedder", "LightRetrieverTextEmbedder"]
