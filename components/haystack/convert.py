"""Haystack `Document` <-> the store's `StoredDocument` / `Hit`."""

from __future__ import annotations

from typing import Any

from haystack import Document
from haystack.dataclasses import SparseEmbedding

from ..store import Hit, StoredDocument
from ..store.schema import DENSE_VECTOR, SPARSE_VECTOR


def to_stored(doc: Document) -> StoredDocument:
    return StoredDocument(id=doc.id, text=doc.content or "", title="", meta=dict(doc.meta))


def to_document(stored: StoredDocument | Hit, score: float | None = None,
                vectors: dict[str, Any] | None = None) -> Document:
    """`vectors` (the store's `get_vectors` entry) fill `embedding` and `sparse_embedding`, as stored:
    Qdrant keeps cosine vectors normalised; a document stored without a vector gets None there."""
    meta = dict(stored.meta)
    if stored.title and "title" not in meta:  # collections indexed by the CLI keep the title apart
        meta["title"] = stored.title
    vectors = vectors or {}
    sparse = vectors.get(SPARSE_VECTOR)
    return Document(id=stored.id, content=stored.text or None, meta=meta,
                    score=score if score is not None else getattr(stored, "score", None),
                    embedding=vectors.get(DENSE_VECTOR),
                    sparse_embedding=SparseEmbedding(indices=list(sparse[0]), values=list(sparse[1])) if sparse else None)
