"""A backend-neutral description of one search, which each backend turns into its own request.

A plan has one or two *legs* (a nearest-neighbour search on the dense or the sparse vector) and,
with two legs, a server-side fusion (RRF or DBSF); linear fusion runs each leg as its own plan and
is fused here in Python (`fusion.linear_fuse`), because Qdrant has no per-query min-max fusion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..sparse import SparseVector
from .filters import Dialect, translate


@dataclass(frozen=True)
class Leg:
    using: str                              # vector name: "dense" or "sparse"
    vector: list[float] | SparseVector
    limit: int                              # prefetch depth (never left to a backend default)


@dataclass(frozen=True)
class Plan:
    legs: tuple[Leg, ...]
    limit: int
    fusion: Any = None                      # a fusion.Fusion for two legs, else None
    filters: dict[str, Any] | None = None   # Haystack filter syntax, see filters.py
    with_payload: bool | tuple[str, ...] = True  # a tuple: only these payload fields (Qdrant's include list)
    hnsw_ef: int | None = None              # per-search HNSW breadth of the nearest-neighbour legs
    exact: bool = False                     # brute force instead of the HNSW index


# A ranking reads only the document id (ties are broken by it, Hit.id is it); whole payloads are read
# after the cut, for the hits that are returned (store.search_batch), or never (with_payload=False).
ID_ONLY = ("id",)


def payload_selection(with_payload: bool | tuple[str, ...]) -> bool | list[str]:
    """Plan.with_payload as both engines take it: True / False, or a list of fields to include."""
    return list(with_payload) if isinstance(with_payload, tuple) else with_payload


def request_parts(plan: "Plan", dialect: Dialect, params_type) -> tuple[Any, bool | list[str], Any]:
    """What every request of `plan` carries on either engine: its filter (in the engine's `dialect`), the
    payload selection, and `params_type(hnsw_ef, exact)` (the engine's SearchParams) or None for defaults."""
    params = params_type(hnsw_ef=plan.hnsw_ef, exact=plan.exact) if plan.hnsw_ef or plan.exact else None
    return translate(plan.filters, dialect), payload_selection(plan.with_payload), params


@dataclass(frozen=True)
class RawHit:
    point_id: Any                           # str or the engine's uuid.UUID; None where the payload has the id
    score: float
    payload: dict[str, Any]


def native_vectors(vectors: dict[str, Any], sparse_type) -> dict[str, Any]:
    """{name: list | (indices, values)} -> the backend's point vectors; `sparse_type` is its SparseVector."""
    return {name: sparse_type(indices=value[0], values=value[1]) if isinstance(value, tuple) else value
            for name, value in vectors.items()}


def plain_vectors(vectors: dict[str, Any] | None) -> dict[str, Any]:
    """A backend's returned vectors -> {name: list | (indices, values)}."""
    return {name: (list(value.indices), list(value.values)) if hasattr(value, "indices") else list(value)
            for name, value in (vectors or {}).items()}
