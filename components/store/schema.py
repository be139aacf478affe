"""What a collection holds and records: vector names, the document-encoder record, point ids, payload.

Every point carries the payload `{"id", "title", "text", "meta"}`; `id` is the user's document id and
the point id is UUIDv5(namespace, id), so writing a document twice replaces it (idempotent indexing).
The collection records the schema below (qdrant-edge: a JSON file beside the shard and a copy inside
it, edge.py; qdrant-client: the collection's `metadata`), and opening it with another document encoder
is refused. What a payload may hold (types, depth, size, ids) is checked by payload.py.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from ..artifact import Artifact
from ..document import StoredDocument as StoredDocument  # the one document type, re-exported here
from ..errors import StoreMismatchError

DENSE_VECTOR = "dense"
SPARSE_VECTOR = "sparse"
SCHEMA_VERSION = 1
METADATA_KEY = "lightretriever"
# Fixed forever: changing it would re-key every existing index.
POINT_NAMESPACE = uuid.UUID("6f0d3d9a-4c1e-5b8e-9a57-1c2f0e7b3a11")


def point_id(doc_id: str) -> str:
    """The Qdrant point id of a document id (Qdrant accepts only integers and UUIDs)."""
    return str(uuid.uuid5(POINT_NAMESPACE, str(doc_id)))


@dataclass(frozen=True)
class CollectionSchema:
    """The record a collection keeps about the document encoder that filled it."""

    dense_dim: int
    vocab_size: int
    document_fingerprint: str
    backbone: str = ""
    artifact: str = ""  # where the writer's artifact was, for messages only
    schema_version: int = SCHEMA_VERSION
    index: dict[str, Any] = field(default_factory=dict)  # IndexSettings.to_record() at creation (tuning.py)

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> "CollectionSchema":
        cfg = artifact.config
        return cls(dense_dim=cfg.dense_dim, vocab_size=cfg.vocab_size,
                   document_fingerprint=artifact.document_fingerprint(), backbone=cfg.backbone,
                   artifact=str(artifact.root))

    def to_metadata(self) -> dict[str, Any]:
        return {METADATA_KEY: asdict(self)}

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any] | None) -> "CollectionSchema | None":
        record = (metadata or {}).get(METADATA_KEY)
        if not isinstance(record, dict):
            return None
        known = {k: record[k] for k in cls.__dataclass_fields__ if k in record}
        return cls(**known)

    def check_matches(self, stored: "CollectionSchema", where: str) -> None:
        """Refuse to read or write `where` with an encoder other than the one that indexed it."""
        fix = ("index into a new collection (--collection NEW), or delete the old one first; "
               "nothing was changed")
        if stored.dense_dim != self.dense_dim:
            raise StoreMismatchError(
                f"{where} stores {stored.dense_dim}-dim dense vectors but this artifact makes "
                f"{self.dense_dim}-dim ones; {fix}")
        if stored.vocab_size != self.vocab_size:
            raise StoreMismatchError(
                f"{where} stores sparse vectors over a {stored.vocab_size}-token vocabulary but this "
                f"artifact's tokenizer has {self.vocab_size} tokens; {fix}")
        if stored.document_fingerprint != self.document_fingerprint:
            raise StoreMismatchError(
                f"{where} was indexed by document encoder {stored.document_fingerprint} "
                f"({stored.artifact or 'unknown artifact'}) but this artifact's document encoder is "
                f"{self.document_fingerprint} ({self.artifact}); its queries would not match those "
                f"vectors. Use the artifact that indexed it, or {fix}")


@dataclass
class Hit:
    """One search result."""

    id: str
    score: float
    text: str = ""
    title: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": self.score, "title": self.title, "text": self.text, "meta": self.meta}
