"""lightretriever.components: what a RAG application imports at run time.

`QueryEncoder`, the store and the searcher import no torch; `DocumentEncoder` (torch) and the
store classes are imported lazily on first access, so a query server never loads torch.
"""

from .artifact import Artifact, ArtifactConfig, DocumentModelSpec, QueryTableSpec, SparseSettings, SpecialTokens
from .errors import ArtifactError, LightRetrieverError
from .query_encoder import QueryEmbeddings, QueryEncoder
from .sparse import SparseBatch, SparseVector

__all__ = [
    "Artifact", "ArtifactConfig", "ArtifactError", "CollectionSchema", "DocumentEmbeddings", "DocumentEncoder",
    "DocumentModelSpec", "Hit", "HybridSearcher", "LightRetrieverError", "QdrantHybridStore", "QueryEmbeddings",
    "QueryEncoder", "QueryTableSpec", "SearchOptions", "SearchResult", "SparseBatch", "SparseSettings", "SparseVector",
    "SpecialTokens", "StoredDocument",
]

_LAZY = {  # imported on first use: torch for the document encoder, the Qdrant engines for the store
    "DocumentEncoder": "document_encoder", "DocumentEmbeddings": "document_encoder",
    "QdrantHybridStore": "store", "CollectionSchema": "store", "StoredDocument": "store", "Hit": "store", "SearchOptions": "store",
    "HybridSearcher": "searcher", "SearchResult": "searcher",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        try:
            module = importlib.import_module(f".{_LAZY[name]}", __name__)
        except ModuleNotFoundError as exc:  # torch (or an engine) left out of the install: name the extra
            from .extras import missing_extra

            raise (missing_extra(exc, f"lightretriever.components.{name}") or exc) from exc
        return getattr(module, name)
    raise AttributeError(f"module 'lightretriever.components' has no attribute {name!r}")
