"""Streaming JSONL corpus reader (one document per line; `.jsonl.gz` too), for `index` and `evaluate`.

Field mapping (first present key wins; override with --id-field/--text-field/--title-field):
    id     "_id" (BEIR), "id", "docid", "doc_id"
    text   "text", "contents", "content", "body"
    title  "title" (optional; joined before the text for encoding, as BEIR/MTEB do)
Every other field is kept in the document's `meta`; a BEIR "metadata" object is merged into it.
Blank lines are skipped; a malformed line stops the run with its file and line number, because a
silently dropped document would be missing from the index without anyone noticing.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lightretriever.components.errors import CorpusError
from lightretriever.components.store import StoredDocument
from lightretriever.training.data import open_text  # one .jsonl / .jsonl.gz opener (no torch import)

ID_FIELDS = ("_id", "id", "docid", "doc_id")
TEXT_FIELDS = ("text", "contents", "content", "body")
TITLE_FIELDS = ("title",)


@dataclass(frozen=True)
class FieldMap:
    id: tuple[str, ...] = ID_FIELDS
    text: tuple[str, ...] = TEXT_FIELDS
    title: tuple[str, ...] = TITLE_FIELDS

    @classmethod
    def with_overrides(cls, id_field: str | None = None, text_field: str | None = None,
                       title_field: str | None = None) -> "FieldMap":
        return cls(id=(id_field,) if id_field else ID_FIELDS, text=(text_field,) if text_field else TEXT_FIELDS,
                   title=(title_field,) if title_field else TITLE_FIELDS)


def add_field_arguments(parser) -> None:
    """The command-line flags of FieldMap.with_overrides (index, encode-corpus, adapt)."""
    parser.add_argument("--id-field", help="JSON key of the document id (default: _id, id, docid, doc_id)")
    parser.add_argument("--text-field", help="JSON key of the text (default: text, contents, content, body)")
    parser.add_argument("--title-field", help="JSON key of the title (default: title)")


def read_corpus(path: str | Path, fields: FieldMap | None = None) -> Iterator[StoredDocument]:
    path, fields = Path(path), fields or FieldMap()
    if not path.is_file():
        raise CorpusError(f"corpus file {path} does not exist")
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield _document(line, fields, f"{path}:{number}")


def count_documents(path: str | Path) -> int:
    """Non-blank lines, counted in binary chunks (fast enough to size a progress bar)."""
    total = 0
    opener = gzip.open if Path(path).suffix == ".gz" else open
    with opener(path, "rb") as handle:
        for line in handle:
            total += bool(line.strip())
    return total


def _document(line: str, fields: FieldMap, where: str) -> StoredDocument:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{where}: not valid JSON ({exc.msg}); fix or remove the line and rerun with --resume") from exc
    if not isinstance(record, dict):
        raise CorpusError(f"{where}: expected a JSON object per line, got {type(record).__name__}")
    doc_id = _first(record, fields.id)
    if doc_id is None or str(doc_id) == "":
        raise CorpusError(f"{where}: no document id (looked for {list(fields.id)}); pass --id-field NAME")
    text = _first(record, fields.text)
    if text is not None and not isinstance(text, str):
        raise CorpusError(f"{where}: text field is {type(text).__name__}, not a string")
    title = _first(record, fields.title)
    used = {_key(record, fields.id), _key(record, fields.text), _key(record, fields.title)}
    meta = {k: v for k, v in record.items() if k not in used and k != "metadata"}
    if isinstance(record.get("metadata"), dict):
        meta.update(record["metadata"])
    return StoredDocument(id=str(doc_id), text=text or "", title=str(title or ""), meta=meta)


def _key(record: dict, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in record), None)


def _first(record: dict, names: tuple[str, ...]):
    key = _key(record, names)
    return record[key] if key is not None else None
