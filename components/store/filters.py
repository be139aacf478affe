"""Payload filters, written in Haystack's filter syntax and translated for each backend.

One syntax for the bare store, the CLI, Haystack and LlamaIndex:

    {"field": "meta.year", "operator": ">=", "value": 2020}
    {"operator": "AND", "conditions": [{...}, {...}]}          # also "OR", "NOT"

Fields: "id" (document id), "title", "content" or "text" (the body), "meta.<key>" (any user field).
Operators: ==, !=, >, >=, <, <=, in, not in. Comparisons take numbers or ISO-8601 date strings.
`== None` matches documents without the field; `!=` also matches documents without the field
(Haystack's semantics, and Qdrant's must_not); `>`/`<` with None match nothing. Haystack's own
DocumentStore test suite runs against these rules (tests/test_haystack_store.py).
"""

from __future__ import annotations

import datetime
from typing import Any, Protocol

from ..errors import FilterError

_FIELD_ALIASES = {"content": "text"}
_RANGE_OPS = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
_LOGIC = ("AND", "OR", "NOT")


class Dialect(Protocol):
    """The few constructors a backend supplies; `translate` does the rest."""

    def match(self, key: str, value: str | int | bool) -> Any: ...
    def match_any(self, key: str, values: list) -> Any: ...
    def number_range(self, key: str, **bounds: float) -> Any: ...
    def date_range(self, key: str, **bounds: str) -> Any: ...
    def is_empty(self, key: str) -> Any: ...
    def group(self, must: list | None = None, should: list | None = None, must_not: list | None = None) -> Any: ...


def translate(filters: dict[str, Any] | None, dialect: Dialect):
    """Haystack-syntax filter -> the backend's Filter object (None stays None)."""
    if not filters:
        return None
    condition = _node(filters, dialect)
    return condition if _is_group(filters) else dialect.group(must=[condition])


def payload_key(field: str) -> str:
    return _FIELD_ALIASES.get(field, field)


def _is_group(node: dict) -> bool:
    return "conditions" in node


def _node(node: Any, dialect: Dialect):
    if not isinstance(node, dict):
        raise FilterError(f"a filter must be a dict, got {type(node).__name__}: {node!r}")
    if _is_group(node):
        op = node.get("operator")
        conditions = node["conditions"]
        if op not in _LOGIC or not isinstance(conditions, list):
            raise FilterError(f"logical filter needs operator in {_LOGIC} and a list of conditions, got {node!r}")
        parts = [_node(c, dialect) for c in conditions]
        if op == "AND":
            return dialect.group(must=parts)
        if op == "OR":
            return dialect.group(should=parts)
        return dialect.group(must_not=[dialect.group(must=parts)])
    missing = {"field", "operator", "value"} - node.keys()
    if missing:
        raise FilterError(f"comparison filter {node!r} lacks {sorted(missing)}; "
                          'write {"field": "meta.x", "operator": "==", "value": 1}')
    return _comparison(payload_key(node["field"]), node["operator"], node["value"], dialect)


def _comparison(key: str, op: str, value: Any, dialect: Dialect):
    if op == "==":
        return _equals(key, value, dialect)
    if op == "!=":
        return dialect.group(must_not=[_equals(key, value, dialect)])
    if op in ("in", "not in"):
        if not isinstance(value, list):
            raise FilterError(f"operator {op!r} on {key!r} needs a list value, got {value!r}")
        values = list(value)
        if values and all(isinstance(v, float) and not float(v).is_integer() for v in values):
            raise FilterError(f"operator {op!r} on {key!r}: Qdrant matches lists of strings or integers only")
        values = [int(v) if isinstance(v, float) else v for v in values]
        inside = dialect.match_any(key, values) if values else _nothing(dialect)
        return inside if op == "in" else dialect.group(must_not=[inside])
    if op in _RANGE_OPS:
        bound = {_RANGE_OPS[op]: value}
        if value is None:  # nothing compares greater or less than None (Haystack's semantics)
            return _nothing(dialect)
        if isinstance(value, bool):
            raise FilterError(f"operator {op!r} on {key!r} needs a number or an ISO date, got {value!r}")
        if isinstance(value, (int, float)):
            return dialect.number_range(key, **bound)
        if isinstance(value, str) and _is_iso_date(value):
            return dialect.date_range(key, **bound)
        raise FilterError(f"operator {op!r} on {key!r} needs a number or an ISO-8601 date, got {value!r}")
    raise FilterError(f"unknown filter operator {op!r}; use one of ==, !=, >, >=, <, <=, in, not in, AND, OR, NOT")


def _equals(key: str, value: Any, dialect: Dialect):
    if value is None:
        return dialect.is_empty(key)
    if isinstance(value, float) and not value.is_integer():
        return dialect.number_range(key, gte=value, lte=value)
    if isinstance(value, float):
        value = int(value)
    if not isinstance(value, (str, int, bool)):
        raise FilterError(f"'==' on {key!r} compares strings, numbers, booleans or None, got {value!r}")
    return dialect.match(key, value)


def _nothing(dialect: Dialect):
    """`in []` matches no document: a contradiction (every point has an `id`)."""
    return dialect.group(must=[dialect.is_empty("id")], must_not=[dialect.is_empty("id")])


def _is_iso_date(text: str) -> bool:
    try:
        datetime.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True
