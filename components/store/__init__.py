"""Qdrant hybrid store: dense + sparse vectors, embedded engine by default, server/cluster by URL."""

from .fusion import FUSIONS, MODES, Fusion
from .options import SearchOptions
from .schema import CollectionSchema, Hit, StoredDocument, point_id
from .store import QdrantHybridStore
from .tuning import IndexSettings

__all__ = ["FUSIONS", "MODES", "CollectionSchema", "Fusion", "Hit", "IndexSettings", "QdrantHybridStore",
           "SearchOptions", "StoredDocument", "point_id"]
