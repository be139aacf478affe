"""The one document type: what the store keeps, `index` and `evaluate` read, and training learns from.

`encoder_text` is the text the document encoder reads — the same at training and at index time, so the
model trains on exactly what it will encode. Training's BEIR and triples readers, `adapt`'s corpus and
the store all use this class (its `payload` is the point payload, see store/schema.py). It lives in
components, beside the store, because training and pipelines both import it (imports run pipelines ->
training -> components); it imports nothing but the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StoredDocument:
    """A document: id, body, title, free metadata (the store keeps it as a point's payload, its vectors beside it)."""

    id: str
    text: str = ""
    title: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "text": self.text, "meta": self.meta}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> "StoredDocument":
        return cls(id=str(payload.get("id", "")), text=payload.get("text") or "",
                   title=payload.get("title") or "", meta=payload.get("meta") or {})

    def encoder_text(self) -> str:
        """What the document encoder reads: title and body joined by a space (BEIR/MTEB convention)."""
        return f"{self.title} {self.text}".strip() if self.title else self.text
