"""What a document may carry into a collection: checked before any point reaches a backend.

A point's payload is `{"id", "title", "text", "meta"}` (schema.py). Everything in it must be JSON the
engine stores and reads back unchanged, so `check_documents` refuses, naming the document id, the field
path (`meta.a.b[3]`) and the fix:

- ids: a non-empty `str` of at most MAX_ID_LENGTH characters (the point id is derived from it);
- values: `str` (valid Unicode), `bool`, `int` in int64, finite `float`, `None`, `list`, `dict` with `str`
  keys. Anything else is refused rather than converted: the engine would store a tuple or bytes as a
  list, 2**70 as a float, a Decimal as a float, or reject a datetime/set/uuid/NaN with a cryptic error
  for the whole batch. Dates belong in ISO strings (`value.isoformat()`), which range filters compare;
- nesting: at most MAX_DEPTH levels of dicts/lists inside `meta`. qdrant-edge writes a deeper payload to
  its WAL but can never read it back (serde's recursion limit: from ~123 levels the collection no longer
  opens, and filtered queries panic), so the limit sits far below that;
- size: at most MAX_PAYLOAD_BYTES of UTF-8 per document (measured: the engine round-trips 64 MiB; the
  limit keeps one batch's WAL entries and in-memory payloads reasonable).

Floats are stored as doubles but not always bit for bit: qdrant-edge (0.9) parses payload numbers with
serde_json's fast float parser, which returns the neighbouring double (relative error <= 2.5e-16) for
about 1 computed float in 5 (measured: 775 of 4,006 random doubles). Values with at most 15 significant
digits and a magnitude between 1e-4 and 1e15 (0.5, 2.25, 123456.789) came back exactly in every
measurement (20,000 of them). Store the value as a string when its exact bits matter.

The whole batch is checked before the first write, so a refused batch leaves nothing half-written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..errors import PayloadError

MAX_DEPTH = 32
MAX_PAYLOAD_BYTES = 8 * 2**20
MAX_ID_LENGTH = 4096
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_SCALAR_BYTES = 8  # what a number, bool or null costs in the size estimate

# Common types the engine cannot store faithfully, and what to do instead.
_HINTS = {
    "datetime": "store it as an ISO string (value.isoformat()); range filters compare ISO strings",
    "date": "store it as an ISO string (value.isoformat()); range filters compare ISO strings",
    "time": "store it as an ISO string (value.isoformat())",
    "set": "store a list (sorted(value))",
    "frozenset": "store a list (sorted(value))",
    "tuple": "store a list (list(value)); a tuple would come back as a list",
    "bytes": "store text (value.decode()) or base64; bytes would come back as a list of ints",
    "bytearray": "store text (value.decode()) or base64",
    "UUID": "store it as a string (str(value))",
    "Decimal": "store it as a string (str(value)) or a float (float(value)); the engine would round it",
}


def check_documents(documents: Sequence[Any]) -> int:
    """Raise PayloadError for the first document in `documents` that cannot be stored as it is;
    return the batch's payload size estimate in bytes."""
    total = 0
    for position, doc in enumerate(documents):
        _check_id(getattr(doc, "id", None), position)
        where = f"document {doc.id!r}"
        for name in ("title", "text"):
            value = getattr(doc, name)
            if not isinstance(value, str):
                raise PayloadError(f"{where}: field {name!r} is {type(value).__name__}, not str; pass text "
                                   "(an empty string when there is none); nothing of this batch was written")
        if not isinstance(doc.meta, dict):
            raise PayloadError(f"{where}: meta is {type(doc.meta).__name__}, not a dict; nothing of this batch "
                               "was written")
        size = len(doc.id) + _check_value(doc.title, "title", 0, where) + _check_value(doc.text, "text", 0, where)
        size += _check_value(doc.meta, "meta", 0, where)
        if size > MAX_PAYLOAD_BYTES:
            raise PayloadError(
                f"{where}: payload is {size / 2**20:.1f} MiB but at most {MAX_PAYLOAD_BYTES // 2**20} MiB per "
                "document is stored; split the document or keep large fields outside the store; nothing of "
                "this batch was written")
        total += size
    return total


def _check_id(doc_id: Any, position: int) -> None:
    where = f"document #{position} of the batch"
    if not isinstance(doc_id, str):
        raise PayloadError(f"{where}: id {doc_id!r} is {type(doc_id).__name__}, not str; pass ids as strings "
                           f"(str(id)); nothing of this batch was written")
    if not doc_id:
        raise PayloadError(f"{where}: id is empty; give every document a unique non-empty id; nothing of this "
                           "batch was written")
    if len(doc_id) > MAX_ID_LENGTH:
        raise PayloadError(f"{where}: id {doc_id[:40]!r}… has {len(doc_id)} characters (at most {MAX_ID_LENGTH}); "
                           "is a text field mapped as the id? nothing of this batch was written")
    _check_text(doc_id, "id", where)


def _check_value(value: Any, path: str, depth: int, where: str) -> int:
    """Check one value (recursively); return its size estimate in bytes."""
    if isinstance(value, str):
        return _check_text(value, path, where)
    if isinstance(value, bool) or value is None:
        return _SCALAR_BYTES
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            _refuse(where, path, f"integer {value} is outside int64", "store it as a string (str(value))")
        return _SCALAR_BYTES
    if isinstance(value, float):
        if not math.isfinite(value):
            _refuse(where, path, f"{value} is not a finite number", "store None (or a string) instead")
        return _SCALAR_BYTES
    if isinstance(value, (dict, list)):
        if depth >= MAX_DEPTH:
            _refuse(where, path, f"nesting is deeper than {MAX_DEPTH} levels",
                    "flatten the metadata (e.g. join the inner keys into one key)")
        if isinstance(value, list):
            return _SCALAR_BYTES + sum(_check_value(v, f"{path}[{i}]", depth + 1, where) for i, v in enumerate(value))
        size = _SCALAR_BYTES
        for key, item in value.items():
            if not isinstance(key, str):
                _refuse(where, f"{path}[{key!r}]", f"key {key!r} is {type(key).__name__}, not str",
                        "use string keys (str(key))")
            size += _check_text(key, f"{path}.{key}", where) + _check_value(item, f"{path}.{key}", depth + 1, where)
        return size
    name = type(value).__name__
    hint = _HINTS.get(name, "convert it to str, int, float, bool, None, list or dict"
                      + (" (value.item() for a numpy scalar)" if type(value).__module__ == "numpy" else ""))
    _refuse(where, path, f"{name} values cannot be stored", hint)


def _check_text(text: str, path: str, where: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        _refuse(where, path, f"text has an unpaired surrogate at character {exc.start}",
                "decode the source with errors='replace' or fix the text")


def _refuse(where: str, path: str, problem: str, fix: str) -> None:
    raise PayloadError(f"{where}, field {path}: {problem}; {fix}. Nothing of this batch was written")
