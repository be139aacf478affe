"""Server / cluster backend through qdrant-client (also its local mode, for compatibility tests).

`url` reaches a Qdrant server or cluster; the API key comes from `api_key` or `QDRANT_API_KEY` and is
never printed. `location=":memory:"` and `path=` are qdrant-client's pure-Python local mode: correct,
but ~100x slower than the embedded engine on sparse search — use them for tests only.
"""

from __future__ import annotations

import os
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client import models as m

from ..errors import StoreError, StoreInUseError
from .filters import translate
from .plan import Plan, RawHit, native_vectors, plain_vectors
from .schema import DENSE_VECTOR, SPARSE_VECTOR, CollectionSchema


class ClientDialect:
    def match(self, key, value):
        return m.FieldCondition(key=key, match=m.MatchValue(value=value))

    def match_any(self, key, values):
        return m.FieldCondition(key=key, match=m.MatchAny(any=values))

    def number_range(self, key, **bounds):
        return m.FieldCondition(key=key, range=m.Range(**bounds))

    def date_range(self, key, **bounds):
        return m.FieldCondition(key=key, range=m.DatetimeRange(**bounds))

    def is_empty(self, key):
        return m.IsEmptyCondition(is_empty=m.PayloadField(key=key))

    def group(self, must=None, should=None, must_not=None):
        return m.Filter(must=must, should=should, must_not=must_not)


_DIALECT = ClientDialect()


class ClientBackend:
    name = "qdrant-client"

    def __init__(self, collection: str, *, url: str | None = None, api_key: str | None = None,
                 location: str | None = None, path: str | None = None, prefer_grpc: bool = False,
                 timeout: int | None = None, shard_number: int | None = None,
                 replication_factor: int | None = None, on_disk: bool = False):
        self.collection = collection
        self.url = url or location or path
        self.where = f"collection {collection!r} at {self.url}"
        self.cluster = {"shard_number": shard_number, "replication_factor": replication_factor}
        self.on_disk = on_disk
        try:
            if url:
                self.client = QdrantClient(url=url, api_key=api_key or os.environ.get("QDRANT_API_KEY"),
                                           prefer_grpc=prefer_grpc, timeout=timeout)
            else:
                self.client = QdrantClient(location=location, path=path)
        except RuntimeError as exc:
            if "already accessed" in str(exc):
                raise StoreInUseError(f"{path} is in use by another qdrant-client instance ({exc})") from exc
            raise

    # -- lifecycle -------------------------------------------------------------------------
    def exists(self) -> bool:
        try:
            return self.client.collection_exists(self.collection)
        except Exception as exc:  # httpx / grpc / qdrant_client errors; none of them carries the key
            raise StoreError(f"cannot reach Qdrant at {self.url} ({type(exc).__name__}: {exc}); "
                             "check the URL, that the server is running, and QDRANT_API_KEY") from exc

    def read_schema(self) -> CollectionSchema | None:
        if not self.exists():
            return None
        info = self.client.get_collection(self.collection)
        schema = CollectionSchema.from_metadata(info.config.metadata)
        if schema is None:
            raise StoreError(
                f"{self.where} exists but was not created by lightretriever (no record in its metadata); "
                "choose another collection name — it is left untouched")
        return schema

    def create(self, schema: CollectionSchema) -> None:
        self.client.create_collection(
            self.collection,
            vectors_config={DENSE_VECTOR: m.VectorParams(size=schema.dense_dim, distance=m.Distance.COSINE,
                                                         on_disk=self.on_disk or None)},
            sparse_vectors_config={SPARSE_VECTOR: m.SparseVectorParams(
                index=m.SparseIndexParams(on_disk=self.on_disk or None))},
            metadata=schema.to_metadata(),
            **{k: v for k, v in self.cluster.items() if v is not None},
        )

    def open(self, schema: CollectionSchema) -> None:
        pass  # the client holds no per-collection handle

    def close(self) -> None:
        self.client.close()

    # -- writes ----------------------------------------------------------------------------
    def upsert(self, points: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
        batch = [m.PointStruct(id=pid, vector=native_vectors(vectors, m.SparseVector), payload=payload)
                 for pid, vectors, payload in points]
        self.client.upsert(self.collection, points=batch, wait=True)

    def delete(self, point_ids: list[str]) -> None:
        self.client.delete(self.collection, points_selector=m.PointIdsList(points=point_ids), wait=True)

    def delete_by_filter(self, filters: dict) -> None:
        self.client.delete(self.collection, points_selector=m.FilterSelector(filter=translate(filters, _DIALECT)),
                           wait=True)

    def flush(self) -> None:
        pass  # the server persists on write (wait=True)

    def optimize(self) -> None:
        pass  # the server optimises in the background

    # -- reads -----------------------------------------------------------------------------
    def count(self, filters: dict | None = None) -> int:
        return self.client.count(self.collection, count_filter=translate(filters, _DIALECT), exact=True).count

    def retrieve(self, point_ids: list[str], with_vectors: bool = False) -> list[tuple[str, dict, dict]]:
        records = self.client.retrieve(self.collection, ids=point_ids, with_payload=True, with_vectors=with_vectors)
        return [(str(r.id), r.payload or {}, plain_vectors(r.vector) if with_vectors else {}) for r in records]

    def scroll(self, filters: dict | None, limit: int, offset: Any = None) -> tuple[list[dict], Any]:
        records, next_offset = self.client.scroll(self.collection, scroll_filter=translate(filters, _DIALECT),
                                                  limit=limit, offset=offset, with_payload=True, with_vectors=False)
        return [r.payload or {} for r in records], next_offset

    def query(self, plans: list[Plan]) -> list[list[RawHit]]:
        requests = [self._request(plan) for plan in plans]
        responses = self.client.query_batch_points(self.collection, requests=requests)
        return [[RawHit(str(p.id), float(p.score), p.payload or {}) for p in r.points] for r in responses]

    def _request(self, plan: Plan) -> m.QueryRequest:
        flt = translate(plan.filters, _DIALECT)
        if len(plan.legs) == 1:
            leg = plan.legs[0]
            return m.QueryRequest(query=_vector(leg), using=leg.using, limit=plan.limit, filter=flt,
                                  with_payload=plan.with_payload)
        prefetch = [m.Prefetch(query=_vector(leg), using=leg.using, limit=leg.limit, filter=flt) for leg in plan.legs]
        return m.QueryRequest(prefetch=prefetch, query=_fusion(plan.fusion), limit=plan.limit, filter=flt,
                              with_payload=plan.with_payload)


def _vector(leg):
    if leg.using == SPARSE_VECTOR:
        return m.SparseVector(indices=leg.vector.indices.tolist(), values=leg.vector.values.tolist())
    return leg.vector


def _fusion(fusion):
    if fusion.kind == "dbsf":
        return m.FusionQuery(fusion=m.Fusion.DBSF)
    return m.RrfQuery(rrf=m.Rrf(k=fusion.rrf_k, weights=list(fusion.weights) if fusion.weights else None))

