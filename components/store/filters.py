"""Payload filters, written in Haystack's filter syntax and translated for each backend.

One syntax for the bare store, the CLI, Haystack and LlamaIndex:

    {"field": "meta.year", "operator": ">=", "value": 2020}
    {"operator": "AND", "conditions": [{...}, {...}]}          # also "OR", "NOT"

Fields: "id" (document id), "title", "content" or "text" (the body), "meta.<key>" (any user field,
"meta.a.b" for nested keys); a bare name that is none of these means "meta.<name>" (as in Haystack).
Operators: ==, !=, >, >=, <, <=, in, not in. Comparisons take numbers or ISO-8601 date strings.

Semantics are those of Haystack's in-memory store (`haystack.utils.filters`), with the deviations noted:
- `==` compares numbers by value (2 == 2.0, a float payload matches an int filter and back), strings
  exactly (a date string too: no date parsing for `==`), booleans only with booleans (unlike Python,
  where True == 1). `== None` matches documents without the field (or with null / an empty list).
- `!=` and `not in` are the negations: they also match documents without the field.
- `in LIST` is an OR of `==` over its (mixed-type) elements; `in [None]` matches documents without the
  field, `in []` matches none, `not in []` every document.
- `>`, `>=`, `<`, `<=` with None match nothing; they compare numbers with numbers (never booleans or
  strings) and dates with dates.
- `AND []` matches every document, `OR []` and `NOT []` none (NOT = not AND).
- A list payload value matches when one of its elements does (Qdrant's rule; Haystack compares the list).

Refused with FilterError, before anything reaches the engine: a node that is not a dict or has unknown
keys; a field that is not a non-empty string; an unknown operator; NaN or infinite numbers; integers
outside Qdrant's 64-bit range for `==`/`in`; lists or dicts as comparison values; nesting deeper than
MAX_FILTER_DEPTH (32) levels (a comparison alone is 1 level), checked without recursion. Haystack's own
DocumentStore test suite runs against these rules (tests/test_haystack_store.py).
"""

from __future__ import annotations

import datetime
import math
import numbers
from typing import Any, Protocol

from ..errors import FilterError

MAX_FILTER_DEPTH = 32
_FIELD_ALIASES = {"content": "text"}
_PAYLOAD_FIELDS = {"id", "title", "text", "meta"}
_NOT_STORED = {"embedding", "sparse_embedding", "score", "blob"}  # Haystack Document fields we do not store
_RANGE_OPS = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
_COMPARISONS = ("==", "!=", "in", "not in", *_RANGE_OPS)
_LOGIC = ("AND", "OR", "NOT")
_COMPARISON_KEYS = {"field", "operator", "value"}
_LOGIC_KEYS = {"operator", "conditions"}
_INT64 = (-(2**63), 2**63 - 1)
_EXACT_FLOAT_INT = 2**53  # every integer up to this is exactly a float: a range [v, v] is exact


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
    if filters is None or (isinstance(filters, dict) and not filters):
        return None
    check_depth(filters)
    condition = _node(filters, dialect)
    return condition if _is_group(filters) else dialect.group(must=[condition])


def payload_key(field: str) -> str:
    return _FIELD_ALIASES.get(field, field)


def check_depth(filters: Any) -> None:
    """Refuse filters nested deeper than MAX_FILTER_DEPTH, iteratively (a 5,000-deep or cyclic filter
    must not exhaust Python's stack here, nor the engine's later)."""
    stack = [(filters, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_FILTER_DEPTH:
            raise FilterError(f"filter is nested deeper than {MAX_FILTER_DEPTH} levels; flatten it "
                              "(e.g. one OR with many conditions instead of nested ORs)")
        if isinstance(node, dict) and isinstance(node.get("conditions"), list):
            stack.extend((child, depth + 1) for child in node["conditions"])


def _is_group(node: dict) -> bool:
    return "conditions" in node


def _node(node: Any, dialect: Dialect):
    if not isinstance(node, dict):
        raise FilterError(f"a filter must be a dict, got {type(node).__name__}: {_short(node)}")
    if _is_group(node):
        return _logical(node, dialect)
    missing = _COMPARISON_KEYS - node.keys()
    if missing:
        raise FilterError(f"comparison filter {_short(node)} lacks {sorted(missing)}; "
                          'write {"field": "meta.x", "operator": "==", "value": 1}')
    _refuse_unknown_keys(node, _COMPARISON_KEYS)
    key = field_key(node["field"])
    op = node["operator"]
    if not isinstance(op, str) or op not in _COMPARISONS:
        raise FilterError(f"unknown filter operator {_short(op)} on {key!r}; "
                          "use one of ==, !=, >, >=, <, <=, in, not in, AND, OR, NOT")
    return _comparison(key, op, node["value"], dialect)


def _logical(node: dict, dialect: Dialect):
    op, conditions = node.get("operator"), node["conditions"]
    if not isinstance(op, str) or op not in _LOGIC or not isinstance(conditions, list):
        raise FilterError(f"logical filter needs operator in {_LOGIC} and a list of conditions, got {_short(node)}")
    _refuse_unknown_keys(node, _LOGIC_KEYS)
    parts = [_node(c, dialect) for c in conditions]
    if op == "AND":
        return dialect.group(must=parts)
    if op == "OR":  # any([]) is False: an empty OR matches nothing (Qdrant's empty `should` matches all)
        return dialect.group(should=parts) if parts else _nothing(dialect)
    return dialect.group(must_not=[dialect.group(must=parts)])


def _refuse_unknown_keys(node: dict, allowed: set[str]) -> None:
    unknown = [k for k in node if k not in allowed]
    if unknown:
        raise FilterError(f"filter {_short(node)} has unknown keys {unknown!r}; a comparison has exactly "
                          "field/operator/value, a logical filter operator/conditions")


def field_key(field: Any) -> str:
    """A Haystack field name ("meta.year", "title", a bare "year") -> its payload key (checked)."""
    if not isinstance(field, str) or not field.strip():
        raise FilterError(f"filter field must be a non-empty string such as 'meta.year', got "
                          f"{type(field).__name__} {_short(field)}")
    parts = field.split(".")
    if any(not part for part in parts):
        raise FilterError(f"filter field {field!r} has an empty part; write e.g. 'meta.year' or 'meta.a.b'")
    if field in _NOT_STORED:
        raise FilterError(f"filter field {field!r} is not stored in the payload; filter on id, title, content "
                          "or meta.<key>")
    key = payload_key(field)
    if parts[0] not in _PAYLOAD_FIELDS and field not in _FIELD_ALIASES:
        key = f"meta.{field}"  # Haystack reads a bare unknown name (a converted legacy filter) from meta
    return key


def _comparison(key: str, op: str, value: Any, dialect: Dialect):
    if op == "==":
        return _equals(key, value, dialect)
    if op == "!=":
        return dialect.group(must_not=[_equals(key, value, dialect)])
    if op in ("in", "not in"):
        inside = _in(key, op, value, dialect)
        return inside if op == "in" else dialect.group(must_not=[inside])
    return _range(key, op, value, dialect)


def _equals(key: str, value: Any, dialect: Dialect):
    if value is None:
        return dialect.is_empty(key)
    if isinstance(value, (bool, str)):
        return dialect.match(key, value)
    if isinstance(value, numbers.Real):  # numpy scalars too
        return _number_equals(key, _plain_number(value), dialect)
    if isinstance(value, (datetime.date, datetime.datetime)):
        iso = value.isoformat()
        return dialect.date_range(key, gte=iso, lte=iso)
    raise FilterError(f"'==' on {key!r} compares a string, number, boolean, date or None, got "
                      f"{type(value).__name__} {_short(value)}")


def _number_equals(key: str, value: int | float, dialect: Dialect):
    """By value, across int and float payloads: a range [v, v] is exact for floats and for integers
    up to 2**53; larger integers are matched as integers (exact for integer payloads)."""
    _check_finite(key, value)
    if isinstance(value, float) and not value.is_integer():
        return dialect.number_range(key, gte=value, lte=value)
    whole = int(value)
    if abs(whole) <= _EXACT_FLOAT_INT:
        return dialect.number_range(key, gte=float(whole), lte=float(whole))
    if not _INT64[0] <= whole <= _INT64[1]:
        raise FilterError(f"filter value {value!r} on {key!r} is outside the 64-bit integers Qdrant stores; "
                          "no stored integer can equal it")
    return dialect.match(key, whole)


def _in(key: str, op: str, value: Any, dialect: Dialect):
    if not isinstance(value, list):
        raise FilterError(f"operator {op!r} on {key!r} needs a list value, got {_short(value)}")
    strings = list(dict.fromkeys(v for v in value if isinstance(v, str)))
    others = [v for v in value if not isinstance(v, str)]
    for v in others:
        if isinstance(v, (list, tuple, dict, set)):
            raise FilterError(f"operator {op!r} on {key!r}: element {_short(v)} is a {type(v).__name__}; "
                              "the list holds strings, numbers, booleans, dates or None")
    parts = [dialect.match_any(key, strings)] if strings else []
    parts += [_equals(key, v, dialect) for v in _unique(others)]
    if not parts:
        return _nothing(dialect)
    return parts[0] if len(parts) == 1 else dialect.group(should=parts)


def _unique(values: list) -> list:
    """Distinct values, keeping True apart from 1 (a dict would merge them)."""
    seen, out = set(), []
    for v in values:
        token = (type(v) is bool, v)
        if token not in seen:
            seen.add(token)
            out.append(v)
    return out


def _range(key: str, op: str, value: Any, dialect: Dialect):
    if value is None:  # nothing compares greater or less than None (Haystack's semantics)
        return _nothing(dialect)
    bound = _RANGE_OPS[op]
    if isinstance(value, bool):
        raise FilterError(f"operator {op!r} on {key!r} needs a number or an ISO date, got {value!r}")
    if isinstance(value, numbers.Real):
        value = _plain_number(value)
        _check_finite(key, value)
        return dialect.number_range(key, **{bound: float(value)})
    if isinstance(value, (datetime.date, datetime.datetime)):
        return dialect.date_range(key, **{bound: value.isoformat()})
    if isinstance(value, str) and _is_iso_date(value):
        return dialect.date_range(key, **{bound: value})
    raise FilterError(f"operator {op!r} on {key!r} needs a number or an ISO-8601 date, got {_short(value)}")


def _plain_number(value: numbers.Real) -> int | float:
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _check_finite(key: str, value: int | float) -> None:
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        raise FilterError(f"filter value {_short(value)} on {key!r} is not a finite number; "
                          "use a finite number (drop the condition for 'no bound')")


def _nothing(dialect: Dialect):
    """A condition no document meets: a contradiction (every point has an `id`)."""
    return dialect.group(must=[dialect.is_empty("id")], must_not=[dialect.is_empty("id")])


def _is_iso_date(text: str) -> bool:
    try:
        datetime.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _short(value: Any, limit: int = 120) -> str:
    """repr cut to one readable line (a filter can be huge or deeply nested)."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
