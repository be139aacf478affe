"""Qdrant hybrid store: dense + sparse vectors, embedded engine by default, server/cluster by URL."""

from .fusion import FUSIONS, MODES, Fusion
from .schema import CollectionSchema, Hit, StoredDocument, point_id
from .store import QdrantHybridStore

__all__ = ["FUSIONS", "MODES", "CollectionSchema", "Fusion", "Hit", "QdrantHybridStore", "StoredDocument", "point_id"]
