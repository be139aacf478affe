"""The corpus reader: JSONL, one document per line (`.jsonl.gz` too), for `index`, `evaluate`,
`encode-corpus`, `adapt` and training's BEIR corpus (`training/data.read_beir`). It lives in components
because imports run pipelines -> training -> components and both sides read corpora with one rule.
(`pipelines/commands/options.add_field_options` holds the command-line flags of FieldMap.)

Field mapping (first present key wins; override with --id-field/--text-field/--title-field):
    id     "_id" (BEIR), "id", "docid", "doc_id"
    text   "text", "contents", "content", "body"
    title  "title" (optional; joined before the text for encoding, as BEIR/MTEB do)
Every other field is kept in the document's `meta`; a BEIR "metadata" object is merged into it (its keys
win over top-level ones of the same name); a "metadata" that is not an object is kept as meta["metadata"].

What a line must be (anything else stops the run with file:line and the fix, because a silently dropped
or altered document would be missing from the index without anyone noticing):
    - UTF-8 text (a byte-order mark on line 1 is fine), in a .gz that decompresses to its end;
    - one JSON object, with no lone-surrogate escape ("\\ud800") in any string or key: such a string
      cannot be encoded as UTF-8, so neither the tokenizer nor the store could take it;
    - id: a non-empty string or an integer (7 -> "7"); a float (1.0), a bool, a list or an object is
      refused, since str() would make an id ("1.0", "True") that matches no qrels or lookup;
    - text and title: strings, or null/absent (= ""); a number, list or object is refused rather than
      str()-ed into text the model would encode. A document with no text (absent, null or blank) is
      read, and `index` counts and reports it (IndexReport.empty), since it holds only its title.
Blank lines are skipped. `count_documents` reads the whole file once in binary (exists, decompresses,
is UTF-8) so `index` refuses a bad corpus before it loads a model or writes a document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lightretriever.components.document import StoredDocument
from lightretriever.components.errors import CorpusError
from lightretriever.components.jsonl import json_object, numbered_lines, numbered_raw_lines, utf8_line

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


def read_corpus(path: str | Path, fields: FieldMap | None = None) -> Iterator[StoredDocument]:
    for _, document in numbered_documents(path, fields):
        yield document


def numbered_documents(path: str | Path, fields: FieldMap | None = None, *,
                       json_fix: str = "") -> Iterator[tuple[int, StoredDocument]]:
    """(line number, document) for every non-blank line: the line lets later errors point at the file.
    `json_fix` ends the fix of a line that is not JSON: the caller knows how its run goes on (`index`:
    " and rerun with --resume"); the reader does not."""
    path, fields = check_corpus_file(path), fields or FieldMap()
    for number, line in numbered_lines(path, CorpusError):
        if line.strip():
            yield number, _document(line, fields, f"{path}:{number}", json_fix)


def count_documents(path: str | Path) -> int:
    """Non-blank lines, after reading the whole file: it exists, decompresses (.gz), is UTF-8 and has no
    lone-surrogate escape (a CorpusError with file:line otherwise), so that a caller can refuse a bad
    corpus before it loads a model or writes anything. Under 0.5 s per 100 MB; sizes the progress bar too."""
    path, total, offset = check_corpus_file(path), 0, 0
    for number, raw in numbered_raw_lines(path, CorpusError):
        line = utf8_line(raw, path, number, offset, CorpusError)  # decoded only to be checked
        offset += len(raw)
        total += bool(raw.strip())
        if b"\\" in raw and _MAYBE_LONE_SURROGATE_BYTES.search(raw):  # rare: only such lines are parsed here
            _refuse_lone_surrogates(_json_object(line, f"{path}:{number}"), f"{path}:{number}")
    return total


def check_corpus_file(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        raise CorpusError(f"corpus {path} is a directory; pass its JSONL file (e.g. {path / 'corpus.jsonl'})")
    if not path.is_file():
        raise CorpusError(f"corpus file {path} does not exist; pass a JSONL file, one document per line")
    return path


def _document(line: str, fields: FieldMap, where: str, json_fix: str) -> StoredDocument:
    record = _json_object(line, where, json_fix)
    if _MAYBE_LONE_SURROGATE.search(line):
        _refuse_lone_surrogates(record, where)
    doc_id = _document_id(_first(record, fields.id), fields, where)
    text = _text_field(record, fields.text, "text", where)
    title = _text_field(record, fields.title, "title", where)
    used = {_key(record, fields.id), _key(record, fields.text), _key(record, fields.title)}
    meta = {k: v for k, v in record.items() if k not in used and k != "metadata"}
    metadata = record.get("metadata")
    if isinstance(metadata, dict):
        meta.update(metadata)
    elif metadata is not None:
        meta["metadata"] = metadata  # kept as it is rather than dropped
    return StoredDocument(id=doc_id, text=text, title=title, meta=meta)


def _json_object(line: str, where: str, json_fix: str = "") -> dict:
    return json_object(line, where, CorpusError, then=json_fix)


def _document_id(value, fields: FieldMap, where: str) -> str:
    if value is None or value == "":
        raise CorpusError(f"{where}: no document id (looked for {list(fields.id)}); pass --id-field NAME")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise CorpusError(f"{where}: document id {json.dumps(value)[:40]} is {type(value).__name__}; an id must be a "
                          "string or an integer (write it as \"1\", not 1.0)")
    return str(value)


def _text_field(record: dict, names: tuple[str, ...], role: str, where: str) -> str:
    value = _first(record, names)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CorpusError(f"{where}: {role} field is {type(value).__name__} (key {_key(record, names)!r}), not a "
                          f"string; make it a string, or pass --{role}-field NAME for another key")
    return value


# A JSON escape of a surrogate (\ud800-\udfff): paired ones decode to one character, a lone one stays a
# surrogate that no UTF-8 encoder accepts. Only lines with such an escape are walked (cheap on the rest).
_MAYBE_LONE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_MAYBE_LONE_SURROGATE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def _refuse_lone_surrogates(record: dict, where: str) -> None:
    stack: list[tuple[str, object]] = [("", record)]  # no recursion: a deep record must not crash the check
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                _check_string(key, f"{path}.{key!r}" if path else repr(key), where)
                stack.append((f"{path}.{key}" if path else key, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str):
            _check_string(value, path, where)


def _check_string(value: str, field: str, where: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CorpusError(f"{where}: field {field} holds a lone surrogate escape (\\u{ord(value[exc.start]):04x} at "
                          f"character {exc.start}), which is not text; remove it or write the full pair") from None


def _key(record: dict, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in record), None)


def _first(record: dict, names: tuple[str, ...]):
    key = _key(record, names)
    return record[key] if key is not None else None
