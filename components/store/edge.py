"""Embedded backend: Qdrant's own engine in-process (qdrant-edge-py), one directory per collection.

Layout of `<store dir>/<collection>/`:
    lightretriever-collection.json   the CollectionSchema record (written before the shard)
    shard/                           the qdrant-edge shard (segments + WAL)
    .lock                            flock held while a store has it open
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import qdrant_edge as q

from ..errors import StoreError
from .filters import translate
from .lock import DirectoryLock
from .plan import Plan, RawHit, native_vectors, plain_vectors
from .schema import DENSE_VECTOR, SPARSE_VECTOR, CollectionSchema

RECORD_FILE = "lightretriever-collection.json"
SHARD_DIR = "shard"


class EdgeDialect:
    def match(self, key, value):
        return q.FieldCondition(key=key, match=q.MatchValue(value))

    def match_any(self, key, values):
        return q.FieldCondition(key=key, match=q.MatchAny(values))

    def number_range(self, key, **bounds):
        return q.FieldCondition(key=key, range=q.RangeFloat(**bounds))

    def date_range(self, key, **bounds):
        return q.FieldCondition(key=key, range=q.RangeDateTime(**bounds))

    def is_empty(self, key):
        return q.IsEmptyCondition(key)

    def group(self, must=None, should=None, must_not=None):
        return q.Filter(must=must, should=should, must_not=must_not)


_DIALECT = EdgeDialect()


class EdgeBackend:
    name = "edge"

    def __init__(self, root: str | Path, collection: str, on_disk: bool = False):
        self.folder = Path(root).expanduser() / collection
        self.where = f"collection {collection!r} in {Path(root).expanduser()}"
        self.on_disk = on_disk
        self._lock = DirectoryLock(self.folder)
        self._lock.acquire()
        self._shard: q.EdgeShard | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def read_schema(self) -> CollectionSchema | None:
        record = self.folder / RECORD_FILE
        if not record.is_file():
            return None
        return CollectionSchema.from_metadata(json.loads(record.read_text(encoding="utf-8")))

    def exists(self) -> bool:
        return (self.folder / RECORD_FILE).is_file()

    def create(self, schema: CollectionSchema) -> None:
        record = self.folder / RECORD_FILE
        tmp = record.with_suffix(".tmp")
        tmp.write_text(json.dumps(schema.to_metadata(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, record)  # the record appears whole, before any point is written

    def open(self, schema: CollectionSchema) -> None:
        shard_dir = self.folder / SHARD_DIR
        try:
            if (shard_dir / "edge_config.json").is_file():
                self._shard = q.EdgeShard.load(str(shard_dir))
            else:
                self._shard = q.EdgeShard.create(str(shard_dir), self._config(schema))
        except Exception as exc:  # the engine raises plain exceptions with Rust messages
            raise StoreError(f"{self.where}: qdrant-edge could not open {shard_dir} ({exc})") from exc

    def _config(self, schema: CollectionSchema) -> q.EdgeConfig:
        return q.EdgeConfig(
            vectors={DENSE_VECTOR: q.EdgeVectorParams(size=schema.dense_dim, distance=q.Distance.Cosine,
                                                      on_disk=self.on_disk)},
            sparse_vectors={SPARSE_VECTOR: q.EdgeSparseVectorParams(on_disk=self.on_disk)},
            # qdrant-edge keeps payloads on disk by default; reading 10 of them then costs as much as
            # the search itself, so they stay in memory unless on_disk is asked for.
            on_disk_payload=self.on_disk,
        )

    def close(self) -> None:
        if self._shard is not None:
            self._shard.flush()
            self._shard.close()
            self._shard = None
        self._lock.release()

    # -- writes ----------------------------------------------------------------------------
    def upsert(self, points: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
        """points: (point id, {vector name: list | (indices, values)}, payload)."""
        batch = [q.Point(id=pid, vector=native_vectors(vectors, q.SparseVector), payload=payload)
                 for pid, vectors, payload in points]
        self._shard.update(q.UpdateOperation.upsert_points(batch))

    def delete(self, point_ids: list[str]) -> None:
        self._shard.update(q.UpdateOperation.delete_points(point_ids))

    def delete_by_filter(self, filters: dict) -> None:
        self._shard.update(q.UpdateOperation.delete_points_by_filter(translate(filters, _DIALECT)))

    def flush(self) -> None:
        self._shard.flush()

    def optimize(self) -> None:
        """Merge segments and build the vector indexes now (the engine would do it lazily)."""
        self._shard.optimize()

    # -- reads -----------------------------------------------------------------------------
    def count(self, filters: dict | None = None) -> int:
        return self._shard.count(q.CountRequest(exact=True, filter=translate(filters, _DIALECT)))

    def retrieve(self, point_ids: list[str], with_vectors: bool = False) -> list[tuple[str, dict, dict]]:
        records = self._shard.retrieve(point_ids, True, with_vectors)
        return [(str(r.id), r.payload or {}, plain_vectors(r.vector) if with_vectors else {}) for r in records]

    def scroll(self, filters: dict | None, limit: int, offset: Any = None) -> tuple[list[dict], Any]:
        records, next_offset = self._shard.scroll(q.ScrollRequest(
            offset=offset, limit=limit, filter=translate(filters, _DIALECT), with_payload=True, with_vector=False))
        return [r.payload or {} for r in records], next_offset

    def query(self, plans: list[Plan]) -> list[list[RawHit]]:
        requests = [self._request(plan) for plan in plans]
        if len(requests) == 1:
            results = [self._shard.query(requests[0])]
        else:
            results = self._shard.query_batch(q.QueryBatchRequest(requests))
        return [[RawHit(str(p.id), float(p.score), p.payload or {}) for p in points] for points in results]

    def _request(self, plan: Plan) -> q.QueryRequest:
        flt = translate(plan.filters, _DIALECT)
        if len(plan.legs) == 1:
            leg = plan.legs[0]
            return q.QueryRequest(limit=plan.limit, query=_nearest(leg), filter=flt, with_payload=plan.with_payload)
        prefetches = [q.Prefetch(limit=leg.limit, query=_nearest(leg), filter=flt) for leg in plan.legs]
        return q.QueryRequest(limit=plan.limit, prefetches=prefetches, query=_fusion(plan.fusion),
                              filter=flt, with_payload=plan.with_payload)


def _nearest(leg) -> q.Query:
    if leg.using == SPARSE_VECTOR:
        vector = q.SparseVector(indices=leg.vector.indices.tolist(), values=leg.vector.values.tolist())
    else:
        vector = leg.vector
    return q.Query.Nearest(vector, using=leg.using)


def _fusion(fusion) -> Any:
    if fusion.kind == "dbsf":
        return q.Fusion.Dbsf()
    return q.Fusion.Rrf(k=fusion.rrf_k, weights=list(fusion.weights) if fusion.weights else None)

