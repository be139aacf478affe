"""lightretriever.components: what a RAG application imports at run time.

`QueryEncoder` and the artifact classes import no torch; `DocumentEncoder` (torch) is
imported lazily on first access so that a query server never loads torch.
"""

from .artifact import Artifact, ArtifactConfig, DocumentModelSpec, QueryTableSpec, SparseSettings, SpecialTokens
from .errors import ArtifactError, LightRetrieverError
from .query_encoder import QueryEmbeddings, QueryEncoder
from .sparse import SparseBatch, SparseVector

__all__ = [
    "Artifact", "ArtifactConfig", "ArtifactError", "DocumentEmbeddings", "DocumentEncoder", "DocumentModelSpec",
    "LightRetrieverError", "QueryEmbeddings", "QueryEncoder", "QueryTableSpec", "SparseBatch", "SparseSettings",
    "SparseVector", "SpecialTokens",
]


def __getattr__(name: str):
    if name in ("DocumentEncoder", "DocumentEmbeddings"):
        from . import document_encoder

        return getattr(document_encoder, name)
    raise AttributeError(f"module 'lightretriever.components' has no attribute {name!r}")
