"""Embedded backend: Qdrant's own engine in-process (qdrant-edge-py), one directory per collection.

Layout of `<store dir>/<collection>/`:
    lightretriever-collection.json   the CollectionSchema record (written before the shard)
    shard/                           the qdrant-edge shard (segments + WAL)
    shard/lightretriever-collection.json   a copy of the record, so that losing one file refuses (or
                                     restores from the other) instead of adopting the shard as new
    .lock                            flock held while a store has it open

Opening a collection that does not exist without the right to create it touches nothing on disk.
Every engine call goes through `_engine`: the engine's errors, its Rust panics (pyo3 PanicException, a
BaseException that `except Exception` misses) and "No space left" become StoreError / StoreFullError.
Before it opens or writes, the backend checks the free disk space (disk.py): a disk that fills under the
engine's memory maps kills the process with SIGBUS instead of raising.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as q

from ..errors import LightRetrieverError, StoreError, StoreFullError
from .disk import OPEN_FLOOR_MB, ensure_free_space, used_bytes
from .document_ids import DocumentIds
from .filters import translate
from .lock import DirectoryLock
from .plan import ID_ONLY, Plan, RawHit, native_vectors, payload_selection, plain_vectors, request_parts
from .schema import DENSE_VECTOR, SPARSE_VECTOR, CollectionSchema
from .tuning import HNSW_DEFAULTS, INT8_QUANTILE, IndexSettings

RECORD_FILE = "lightretriever-collection.json"
SHARD_DIR = "shard"


class EdgeDialect:
    def match(self, key, value):
        # qdrant-edge reads a Python bool as the integer 1/0 (so `== True` would match x=1, never
        # x=true); numpy's bool_ reaches it as a boolean.
        return q.FieldCondition(key=key, match=q.MatchValue(np.bool_(value) if isinstance(value, bool) else value))

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

    def __init__(self, root: str | Path, collection: str, create: bool = True):
        self.folder = Path(root).expanduser() / collection
        self.where = f"collection {collection!r} in {Path(root).expanduser()}"
        self._shard: q.EdgeShard | None = None
        self._document_ids = DocumentIds()  # for id-only rankings; this process is the only writer
        self._lock = DirectoryLock(self.folder)
        # A collection that is not there and may not be created is reported missing by read_schema;
        # taking the lock would leave `<name>/.lock` (and the directory) behind.
        self._made_folder = create and not self.folder.exists()
        if create or self.folder.is_dir():
            self._lock.acquire()

    # -- lifecycle -------------------------------------------------------------------------
    def read_schema(self) -> CollectionSchema | None:
        """The collection's record (None: no collection here). A shard without any readable record is
        refused, never adopted: its vectors may come from any document encoder."""
        main, main_problem = self._read_record(self.folder / RECORD_FILE)
        copy, copy_problem = self._read_record(self.folder / SHARD_DIR / RECORD_FILE)
        if main is not None and copy is not None and main != copy:
            raise StoreError(
                f"{self.where}: its record {RECORD_FILE} and the copy in {SHARD_DIR}/ disagree "
                f"(document encoder {main.document_fingerprint} vs {copy.document_fingerprint}); one was edited. "
                f"Restore the right one (copy it over the other), or re-index into a new collection")
        if main is None and copy is None:
            if (self.folder / SHARD_DIR / "edge_config.json").is_file():
                raise StoreError(
                    f"{self.where}: its record {RECORD_FILE} {main_problem} and the copy in {SHARD_DIR}/ "
                    f"{copy_problem}, but the shard holds points; which document encoder wrote them is unknown, "
                    f"so it is not adopted. Restore the record from a backup, or re-index into a new "
                    f"collection (--collection NEW)")
            return None
        if main is None:
            self._write_record(self.folder / RECORD_FILE, copy)  # the copy is the same record: restore it
        return main or copy

    @staticmethod
    def _read_record(path: Path) -> tuple[CollectionSchema | None, str]:
        if not path.is_file():
            return None, "is missing"
        try:
            schema = CollectionSchema.from_metadata(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, AttributeError):
            schema = None
        return (schema, "") if schema is not None else (None, "is damaged")

    def _write_record(self, path: Path, schema: CollectionSchema) -> None:
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(schema.to_metadata(), indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, path)  # the record appears whole
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if _is_disk_full(exc):
                raise StoreFullError(f"{self.where}: the disk is full (writing {path.name}: {exc}); free space, "
                                     "then rerun") from exc
            raise StoreError(f"{self.where}: cannot write {path} ({exc}); check the directory's permissions") from exc

    def create(self, schema: CollectionSchema) -> None:
        ensure_free_space(self.folder, 0, "creating the collection", self.where)
        self._write_record(self.folder / RECORD_FILE, schema)  # before any point is written

    def open(self, schema: CollectionSchema) -> None:
        shard_dir = self.folder / SHARD_DIR
        exists = (shard_dir / "edge_config.json").is_file()
        # Loading writes a little (WAL replay, engine state); creating allocates WAL segments and pages.
        ensure_free_space(self.folder, 0, "opening the collection" if exists else "creating the collection",
                          self.where, floor_cap_mb=OPEN_FLOOR_MB if exists else None)
        with self._engine(f"open {shard_dir}"):
            if exists:
                self._shard = q.EdgeShard.load(str(shard_dir))
            else:
                self._shard = q.EdgeShard.create(str(shard_dir), self._config(schema))
        if not (shard_dir / RECORD_FILE).is_file():
            self._write_record(shard_dir / RECORD_FILE, schema)

    @contextmanager
    def _engine(self, doing: str) -> Iterator[None]:
        """Turn whatever the engine raises into StoreError; KeyboardInterrupt and SystemExit pass."""
        try:
            yield
        except (KeyboardInterrupt, SystemExit, GeneratorExit, LightRetrieverError):
            raise
        except BaseException as exc:  # plain exceptions with Rust messages, and pyo3 PanicException
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if _is_disk_full(exc):
                raise StoreFullError(
                    f"{self.where}: the disk is full (qdrant-edge could not {doing}: {message}); free space, "
                    "then rerun (`lightretriever index … --resume` continues where it stopped)") from exc
            raise StoreError(f"{self.where}: qdrant-edge could not {doing} ({type(exc).__name__}: {message})") from exc

    @staticmethod
    def _config(schema: CollectionSchema) -> q.EdgeConfig:
        settings = IndexSettings.from_record(schema.index)
        hnsw = settings.hnsw
        return q.EdgeConfig(
            vectors={DENSE_VECTOR: q.EdgeVectorParams(size=schema.dense_dim, distance=q.Distance.Cosine,
                                                      on_disk=settings.on_disk)},
            sparse_vectors={SPARSE_VECTOR: q.EdgeSparseVectorParams(on_disk=settings.on_disk)},
            # qdrant-edge keeps payloads on disk by default; reading 10 of them then costs as much as
            # the search itself, so they stay in memory unless on_disk is asked for.
            on_disk_payload=settings.on_disk,
            hnsw_config=q.HnswIndexConfig(**{**HNSW_DEFAULTS, **hnsw}) if hnsw else None,
            quantization_config=q.ScalarQuantizationConfig(type=q.ScalarType.Int8, quantile=INT8_QUANTILE,
                                                           always_ram=True) if settings.quantization else None,
            optimizers=q.EdgeOptimizersConfig(indexing_threshold=settings.indexing_threshold)
            if settings.indexing_threshold else None,
        )

    def close(self) -> None:
        try:
            if self._shard is not None:
                shard, self._shard = self._shard, None
                with self._engine("flush and close the shard"):
                    shard.flush()
                    shard.close()
        finally:
            self._forget_unused_folder()
            self._lock.release()

    def _forget_unused_folder(self) -> None:
        """A folder this store made and never wrote a record into goes again (a refused create)."""
        if self._made_folder and not (self.folder / RECORD_FILE).exists():
            try:
                self._lock.file.unlink()  # while the lock is still held
                self.folder.rmdir()
            except OSError:
                pass

    # -- writes ----------------------------------------------------------------------------
    def reserve(self, batch_bytes: int, doing: str) -> None:
        """Refuse (StoreFullError) a write of about `batch_bytes` that the disk cannot take safely."""
        ensure_free_space(self.folder, batch_bytes, doing, self.where)

    def upsert(self, points: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
        """points: (point id, {vector name: list | (indices, values)}, payload)."""
        self._document_ids.forget()
        ensure_free_space(self.folder, 0, f"writing {len(points)} documents", self.where)
        with self._engine(f"write {len(points)} documents"):
            batch = [q.Point(id=pid, vector=native_vectors(vectors, q.SparseVector), payload=payload)
                     for pid, vectors, payload in points]
            self._shard.update(q.UpdateOperation.upsert_points(batch))

    def delete(self, point_ids: list[str]) -> None:
        self._document_ids.forget()
        ensure_free_space(self.folder, 0, "deleting documents", self.where)
        with self._engine(f"delete {len(point_ids)} documents"):
            self._shard.update(q.UpdateOperation.delete_points(point_ids))

    def delete_by_filter(self, filters: dict) -> None:
        self._document_ids.forget()
        flt = translate(filters, _DIALECT)
        ensure_free_space(self.folder, 0, "deleting documents", self.where)
        with self._engine("delete documents by filter"):
            self._shard.update(q.UpdateOperation.delete_points_by_filter(flt))

    def delete_all(self) -> None:
        self._document_ids.forget()
        ensure_free_space(self.folder, 0, "deleting documents", self.where)
        with self._engine("delete all documents"):
            self._shard.update(q.UpdateOperation.delete_points_by_filter(q.Filter()))  # an empty filter matches all

    def flush(self) -> None:
        with self._engine("flush the shard"):
            self._shard.flush()

    def optimize(self) -> None:
        """Merge segments and build the vector indexes now (the engine would do it lazily). Merging
        writes the merged segments beside the old ones, so it needs about the shard's size free."""
        ensure_free_space(self.folder, used_bytes(self.folder / SHARD_DIR / "segments"), "merging segments", self.where, factor=1)
        with self._engine("optimize the shard"):
            self._shard.optimize()

    # -- reads -----------------------------------------------------------------------------
    def count(self, filters: dict | None = None) -> int:
        flt = translate(filters, _DIALECT)
        with self._engine("count documents"):
            return self._shard.count(q.CountRequest(exact=True, filter=flt))

    def retrieve(self, point_ids: list[str], with_vectors: bool = False,
                 payload: bool | tuple[str, ...] = True) -> list[tuple[str, dict, dict]]:
        with self._engine(f"retrieve {len(point_ids)} documents"):
            records = self._shard.retrieve(point_ids, payload_selection(payload), with_vectors)
        return [(str(r.id), r.payload or {}, plain_vectors(r.vector) if with_vectors else {}) for r in records]

    def scroll(self, filters: dict | None, limit: int, offset: Any = None) -> tuple[list[dict], Any]:
        request = q.ScrollRequest(offset=offset, limit=limit, filter=translate(filters, _DIALECT), with_payload=True,
                                  with_vector=False)
        with self._engine("scroll documents"):
            records, next_offset = self._shard.scroll(request)
        return [r.payload or {} for r in records], next_offset

    def query(self, plans: list[Plan]) -> list[list[RawHit]]:
        ids = self._document_ids.mapping(self.count, self._scroll_document_ids) \
            if any(plan.with_payload == ID_ONLY for plan in plans) else None
        # id-only rankings read point ids and map them (document_ids.py) instead of each hit's payload
        mapped = [ids is not None and plan.with_payload == ID_ONLY for plan in plans]
        requests = [self._request(replace(plan, with_payload=False) if by_map else plan)
                    for plan, by_map in zip(plans, mapped)]
        with self._engine(f"search ({len(requests)} requests)"):
            if len(requests) == 1:
                results = [self._shard.query(requests[0])]
            else:
                results = self._shard.query_batch(q.QueryBatchRequest(requests))
        # A point id is read only where no payload names the document (linear fusion's legs): the engine
        # makes a uuid.UUID per read, ~0.3 ms per 100 hits. It stays that object (same order as its text).
        return [self._mapped_hits(points, ids) if by_map
                else [RawHit(p.id, p.score, {}) for p in points] if not plan.with_payload
                else [RawHit(None, p.score, p.payload or {}) for p in points]
                for plan, by_map, points in zip(plans, mapped, results)]

    def _mapped_hits(self, points, ids: dict[Any, str]) -> list[RawHit]:
        hits = [RawHit(None, p.score, {"id": ids[p.id]}) if p.id in ids else RawHit(p.id, p.score, {})
                for p in points]
        unknown = [h.point_id for h in hits if h.point_id is not None]
        if not unknown:
            return hits
        # a point the map does not know (not written through this store object): its payload id, and a new map
        self._document_ids.forget()
        found = {pid: payload for pid, payload, _ in self.retrieve([str(pid) for pid in unknown], payload=ID_ONLY)}
        return [RawHit(None, h.score, found.get(str(h.point_id), {})) if h.point_id is not None else h for h in hits]

    def _scroll_document_ids(self) -> dict[Any, str]:
        """{point id as the engine returns it: document id} of every point (payload `id` only)."""
        ids: dict[Any, str] = {}
        offset = None
        with self._engine("read the document ids"):
            while True:
                records, offset = self._shard.scroll(q.ScrollRequest(offset=offset, limit=10_000,
                                                                     with_payload=list(ID_ONLY), with_vector=False))
                ids.update((r.id, str((r.payload or {}).get("id", ""))) for r in records)
                if offset is None:
                    return ids

    def _request(self, plan: Plan) -> q.QueryRequest:
        flt, payload, params = request_parts(plan, _DIALECT, q.SearchParams)
        if len(plan.legs) == 1:
            leg = plan.legs[0]
            return q.QueryRequest(limit=plan.limit, query=_nearest(leg), filter=flt, with_payload=payload,
                                  params=params)
        # prefetch legs return no payload (only the fused top `limit` does); search params apply per leg
        prefetches = [q.Prefetch(limit=leg.limit, query=_nearest(leg), filter=flt, params=params) for leg in plan.legs]
        return q.QueryRequest(limit=plan.limit, prefetches=prefetches, query=_fusion(plan.fusion),
                              filter=flt, with_payload=payload)


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    text = str(exc)
    return "No space left" in text or "os error 28" in text


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

