"""LlamaIndex `MetadataFilters` -> the project's Haystack-syntax filter dict (store/filters.py reads it).

Every `FilterOperator` of LlamaIndex 0.14 is either translated or refused with a FilterError that names
it and what to use instead:

    EQ ==   NE !=   GT >   GTE >=   LT <   LTE <=   IN in   NIN not in
    CONTAINS v   -> == v            (a list field matches when one element equals v)
    ANY [a, b]   -> in [a, b]       (a list field holding any of them)
    ALL [a, b]   -> AND(== a, == b) (a list field holding every one)
    IS_EMPTY     -> == None         (field missing, null or an empty list)
    TEXT_MATCH, TEXT_MATCH_INSENSITIVE: refused (the store has no substring / full-text payload match)

Conditions: AND, OR, and NOT as the stock QdrantVectorStore reads it (`must_not`: none of the filters
matches, i.e. NOT(OR ...)); nested MetadataFilters nest. Keys are metadata keys: `k` -> "meta.k", except
"title", which our nodes carry in their metadata but the store keeps as its own field.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilter, MetadataFilters

from ..errors import FilterError

_SAME = {FilterOperator.EQ: "==", FilterOperator.NE: "!=", FilterOperator.GT: ">", FilterOperator.GTE: ">=",
         FilterOperator.LT: "<", FilterOperator.LTE: "<=", FilterOperator.IN: "in", FilterOperator.NIN: "not in",
         FilterOperator.CONTAINS: "==", FilterOperator.ANY: "in"}
_TEXT_MATCH = (FilterOperator.TEXT_MATCH, FilterOperator.TEXT_MATCH_INSENSITIVE)
_STORE_FIELDS = {"title"}  # node metadata keys the store keeps outside `meta`


def to_filter_dict(filters: MetadataFilters | dict[str, Any] | None) -> dict[str, Any] | None:
    """MetadataFilters -> a Haystack-syntax dict; a dict (already that syntax) or None passes through."""
    if filters is None or isinstance(filters, dict):
        return filters
    if not isinstance(filters, MetadataFilters):
        raise FilterError(f"filters must be llama_index MetadataFilters or a Haystack-syntax dict, got "
                          f"{type(filters).__name__}; e.g. MetadataFilters(filters=[MetadataFilter(key='year', "
                          "value=2020, operator='>=')])")
    return _group(filters)


def _group(filters: MetadataFilters) -> dict[str, Any]:
    conditions = [_group(f) if isinstance(f, MetadataFilters) else _comparison(f) for f in filters.filters]
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.NOT:  # the stock Qdrant store's must_not: none of them matches
        return {"operator": "NOT", "conditions": [{"operator": "OR", "conditions": conditions}]}
    return {"operator": "AND" if condition == FilterCondition.AND else "OR", "conditions": conditions}


def _comparison(f: MetadataFilter) -> dict[str, Any]:
    field = f.key if f.key in _STORE_FIELDS else f"meta.{f.key}"
    operator = FilterOperator(f.operator)
    if operator in _SAME:
        return {"field": field, "operator": _SAME[operator], "value": f.value}
    if operator == FilterOperator.IS_EMPTY:
        return {"field": field, "operator": "==", "value": None}
    if operator == FilterOperator.ALL:
        if not isinstance(f.value, list):
            raise FilterError(f"operator ALL on {f.key!r} needs a list value, got {f.value!r}")
        return {"operator": "AND", "conditions": [{"field": field, "operator": "==", "value": v} for v in f.value]}
    if operator in _TEXT_MATCH:
        raise FilterError(f"filter operator {operator.name} on {f.key!r} is not supported: the store has no "
                          "substring or full-text payload match; use EQ for an exact value, IN / ANY for several, "
                          "or put the words in the query text")
    raise FilterError(f"filter operator {operator!r} on {f.key!r} is not supported; use EQ, NE, GT, GTE, LT, "
                      "LTE, IN, NIN, ANY, ALL, CONTAINS or IS_EMPTY")
