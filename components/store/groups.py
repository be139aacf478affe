"""Grouped search (`SearchOptions.group_by`): the best `group_size` hits of each of the top `k` groups.

Qdrant's groups API (`query_points_groups`) exists on a server but not in qdrant-edge 0.9, so groups
are formed here, from the fused ranking, on both backends alike (one behaviour, one test): the ranked
hits are read in order, a hit joins the group of its payload value (each value when the field holds a
list; hits without the field join none, as in Qdrant), and groups rank by their best hit. The ranking is
read deeper until the top `k` groups are settled and full, or every candidate has been read (at most
MAX_READ hits), so no group is cut short by a shallow request (`grouped`). A hybrid search groups its
fused candidates: each leg prefetches at least k x group_size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .plan import RawHit

# Hits asked for per wanted group member on the first request; most collections settle in one.
OVERFETCH = 4
# The most hits one grouped search reads (a group whose members lie deeper stays short, as it would be
# on a server whose groups request has a search limit).
MAX_READ = 10_000


def grouped(run: Callable[[int], list[RawHit]], key: str, k: int, group_size: int) -> list[RawHit]:
    """Hits of the top `k` groups, best group first, each group's hits by score. `run(limit)` returns the
    top `limit` hits of the ranking, best first; it is called again with twice the limit while a group
    may still be missing members that lie deeper."""
    limit = k * group_size * OVERFETCH
    while True:
        hits = run(limit)
        groups = group_hits(hits, key, group_size)
        settled = len(groups) >= k and all(len(members) == group_size for members in list(groups.values())[:k])
        if settled or len(hits) < limit or limit >= MAX_READ:  # settled, or every candidate has been read
            return [hit for members in list(groups.values())[:k] for hit in members]
        limit = min(2 * limit, MAX_READ)


def group_hits(hits: list[RawHit], key: str, group_size: int) -> dict[Any, list[RawHit]]:
    """{group value: its first `group_size` hits}, groups in the order of their best hit."""
    groups: dict[Any, list[RawHit]] = {}
    for hit in hits:
        for value in _values(hit.payload, key):
            members = groups.setdefault(value, [])
            if len(members) < group_size:
                members.append(hit)
    return groups


def _values(payload: dict[str, Any], key: str) -> list[Any]:
    """The hashable values at a dotted payload key ("meta.year"); [] when it is missing."""
    value: Any = payload
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return []
        value = value[part]
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, (str, int, float)) and v is not None]
