"""Haystack components (Haystack >= 3.0).

The classes are also importable — and serialised in pipeline YAML — under Haystack's trusted
namespace (`haystack_integrations.components.embedders.lightretriever`,
`haystack_integrations.components.retrievers.lightretriever`,
`haystack_integrations.document_stores.lightretriever`), so `Pipeline.loads(yaml)` needs no
allowlist step.
"""

from .document_embedder import LightRetrieverDocumentEmbedder
from .document_store import LightRetrieverDocumentStore
from .retriever import LightRetrieverRetriever
from .text_embedder import LightRetrieverTextEmbedder

__all__ = ["LightRetrieverDocumentEmbedder", "LightRetrieverDocumentStore", "LightRetrieverRetriever",
           "LightRetrieverTextEmbedder"]
