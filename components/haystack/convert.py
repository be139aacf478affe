"""Haystack `Document` <-> the store's `StoredDocument` / `Hit`."""

from __future__ import annotations

from haystack import Document

from ..store import Hit, StoredDocument


def to_stored(doc: Document) -> StoredDocument:
    return StoredDocument(id=doc.id, text=doc.content or "", title="", meta=dict(doc.meta))


def to_document(stored: StoredDocument | Hit, score: float | None = None) -> Document:
    meta = dict(stored.meta)
    if stored.title and "title" not in meta:  # collections indexed by the CLI keep the title apart
        meta["title"] = stored.title
    return Document(id=stored.id, content=stored.text or None, meta=meta,
                    score=score if score is not None else getattr(stored, "score", None))
