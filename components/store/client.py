"""Server / cluster backend through qdrant-client (also its local mode, for compatibility tests).

`url` reaches a Qdrant server or cluster; the API key comes from `api_key` or `QDRANT_API_KEY` and is
never printed. `location=":memory:"` and `path=` are qdrant-client's pure-Python local mode: correct,
but ~100x slower than the embedded engine on sparse search — use them for tests only.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import Any

import grpc
import httpx
from qdrant_client import QdrantClient
from qdrant_client import models as m
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ..errors import StoreAuthError, StoreError, StoreInUseError
from .filters import translate
from .plan import Plan, RawHit, native_vectors, payload_selection, plain_vectors, request_parts
from .redact import mentions, redact, scrub
from .schema import DENSE_VECTOR, SPARSE_VECTOR, CollectionSchema
from .tuning import INT8_QUANTILE, IndexSettings


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
                 replication_factor: int | None = None):
        self.collection = collection
        self.url = redact(url) if url else (location or path)  # what messages and reprs show
        self.where = f"collection {collection!r} at {self.url}"
        self.cluster = {"shard_number": shard_number, "replication_factor": replication_factor}
        self._raw_url = url
        self._api_key = (api_key or os.environ.get("QDRANT_API_KEY")) if url else None
        try:
            if url:
                self.client = QdrantClient(url=url, api_key=self._api_key, prefer_grpc=prefer_grpc, timeout=timeout)
            else:
                self.client = QdrantClient(location=location, path=path)
        except RuntimeError as exc:
            if "already accessed" in str(exc):
                raise StoreInUseError(f"{path} is in use by another qdrant-client instance ({exc})") from exc
            raise
        except Exception as exc:  # urllib3 LocationParseError, ValueError("Unknown scheme"): may quote the URL
            if not url:
                raise
            raise self._chained(StoreError(
                f"cannot use {self.url} as a Qdrant URL ({self._safe_text(exc)}); give http(s)://HOST[:PORT]"), exc)

    # -- lifecycle -------------------------------------------------------------------------
    def exists(self) -> bool:
        with self._remote("check"):
            return self.client.collection_exists(self.collection)

    @contextmanager
    def _remote(self, operation: str):
        """Server faults as StoreError/StoreAuthError with the URL redacted; a refused key is not an
        unreachable server. Local-mode errors (ValueError, ...) pass through unchanged."""
        try:
            yield
        except UnexpectedResponse as exc:
            raise self._chained(self._http_error(exc, operation), exc)
        except (ResponseHandlingException, httpx.HTTPError) as exc:
            raise self._chained(self._unreachable(exc), exc)
        except grpc.RpcError as exc:
            raise self._chained(self._grpc_error(exc, operation), exc)

    def _http_error(self, exc: UnexpectedResponse, operation: str) -> StoreError:
        if exc.status_code in (401, 403):
            return self._auth_error(f"HTTP {exc.status_code}")
        detail = self._safe_text(_server_message(exc.content))[:300]
        return StoreError(f"Qdrant at {self.url} refused to {operation} collection {self.collection!r} "
                          f"(HTTP {exc.status_code} {exc.reason_phrase}: {detail})")

    def _grpc_error(self, exc: grpc.RpcError, operation: str) -> StoreError:
        code = exc.code() if hasattr(exc, "code") else None
        if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            return self._auth_error(f"gRPC {code.name}")
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, None):
            return self._unreachable(exc)
        detail = self._safe_text(exc.details() if hasattr(exc, "details") else str(exc))
        return StoreError(f"Qdrant at {self.url} refused to {operation} collection {self.collection!r} "
                          f"(gRPC {code.name}: {detail})")

    def _auth_error(self, status: str) -> StoreAuthError:
        sent = "" if self._api_key else "; no API key was sent"
        return StoreAuthError(f"Qdrant at {self.url} refused the API key ({status}{sent}): "
                              "set QDRANT_API_KEY or pass api_key")

    def _unreachable(self, exc: BaseException) -> StoreError:
        text = exc.details() if isinstance(exc, grpc.RpcError) and hasattr(exc, "details") else exc
        return StoreError(f"cannot reach Qdrant at {self.url} ({type(exc).__name__}: {self._safe_text(text)}); "
                          "check the URL, that the server is running, and QDRANT_API_KEY")

    def _safe_text(self, exc: BaseException | str) -> str:
        return " ".join(scrub(str(exc), self._raw_url, self._api_key).split())

    def _chained(self, error: StoreError, cause: BaseException) -> StoreError:
        """Keep the original error as __cause__ unless its text quotes a secret (tracebacks print it)."""
        if mentions(cause, self._raw_url, self._api_key):
            error.__suppress_context__ = True
            error.__cause__ = None
        else:
            error.__cause__ = cause
        return error

    def read_schema(self) -> CollectionSchema | None:
        if not self.exists():
            return None
        with self._remote("read"):
            info = self.client.get_collection(self.collection)
        schema = CollectionSchema.from_metadata(info.config.metadata)
        if schema is None:
            raise StoreError(
                f"{self.where} exists but was not created by lightretriever (no record in its metadata); "
                "choose another collection name — it is left untouched")
        return schema

    def create(self, schema: CollectionSchema) -> None:
        with self._remote("create"):
            self._create(schema)

    def _create(self, schema: CollectionSchema) -> None:
        settings = IndexSettings.from_record(schema.index)
        on_disk = settings.on_disk or None
        quantization = m.ScalarQuantization(scalar=m.ScalarQuantizationConfig(
            type=m.ScalarType.INT8, quantile=INT8_QUANTILE, always_ram=True)) if settings.quantization else None
        self.client.create_collection(
            self.collection,
            vectors_config={DENSE_VECTOR: m.VectorParams(size=schema.dense_dim, distance=m.Distance.COSINE,
                                                         on_disk=on_disk)},
            sparse_vectors_config={SPARSE_VECTOR: m.SparseVectorParams(index=m.SparseIndexParams(on_disk=on_disk))},
            hnsw_config=m.HnswConfigDiff(**settings.hnsw) if settings.hnsw else None,
            quantization_config=quantization,
            optimizers_config=m.OptimizersConfigDiff(indexing_threshold=settings.indexing_threshold)
            if settings.indexing_threshold else None,
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
        with self._remote("write to"):
            self.client.upsert(self.collection, points=batch, wait=True)

    def delete(self, point_ids: list[str]) -> None:
        with self._remote("delete from"):
            self.client.delete(self.collection, points_selector=m.PointIdsList(points=point_ids), wait=True)

    def delete_by_filter(self, filters: dict) -> None:
        selector = m.FilterSelector(filter=translate(filters, _DIALECT))
        with self._remote("delete from"):
            self.client.delete(self.collection, points_selector=selector, wait=True)

    def delete_all(self) -> None:
        with self._remote("delete from"):  # an empty filter matches every point
            self.client.delete(self.collection, points_selector=m.FilterSelector(filter=m.Filter()), wait=True)

    def flush(self) -> None:
        pass  # the server persists on write (wait=True)

    def optimize(self) -> None:
        pass  # the server optimises in the background

    # -- reads -----------------------------------------------------------------------------
    def count(self, filters: dict | None = None) -> int:
        flt = translate(filters, _DIALECT)
        with self._remote("count"):
            return self.client.count(self.collection, count_filter=flt, exact=True).count

    def retrieve(self, point_ids: list[str], with_vectors: bool = False,
                 payload: bool | tuple[str, ...] = True) -> list[tuple[str, dict, dict]]:
        with self._remote("read from"):
            records = self.client.retrieve(self.collection, ids=point_ids, with_payload=payload_selection(payload),
                                           with_vectors=with_vectors)
        return [(str(r.id), r.payload or {}, plain_vectors(r.vector) if with_vectors else {}) for r in records]

    def scroll(self, filters: dict | None, limit: int, offset: Any = None) -> tuple[list[dict], Any]:
        flt = translate(filters, _DIALECT)
        with self._remote("read from"):
            records, next_offset = self.client.scroll(self.collection, scroll_filter=flt, limit=limit, offset=offset,
                                                      with_payload=True, with_vectors=False)
        return [r.payload or {} for r in records], next_offset

    def query(self, plans: list[Plan]) -> list[list[RawHit]]:
        requests = [self._request(plan) for plan in plans]
        with self._remote("search"):
            responses = self.client.query_batch_points(self.collection, requests=requests)
        return [[RawHit(str(p.id), float(p.score), p.payload or {}) for p in r.points] for r in responses]

    def _request(self, plan: Plan) -> m.QueryRequest:
        flt, payload, params = request_parts(plan, _DIALECT, m.SearchParams)
        if len(plan.legs) == 1:
            leg = plan.legs[0]
            return m.QueryRequest(query=_vector(leg), using=leg.using, limit=plan.limit, filter=flt,
                                  with_payload=payload, params=params)
        prefetch = [m.Prefetch(query=_vector(leg), using=leg.using, limit=leg.limit, filter=flt, params=params)
                    for leg in plan.legs]
        return m.QueryRequest(prefetch=prefetch, query=_fusion(plan.fusion), limit=plan.limit, filter=flt,
                              with_payload=payload)


def _server_message(content: bytes) -> str:
    """Qdrant's own words from an error body ({"status": {"error": "..."}}), else the raw body."""
    text = content.decode("utf-8", "replace")
    try:
        status = json.loads(text).get("status")
    except (ValueError, AttributeError):
        return text
    return status["error"] if isinstance(status, dict) and isinstance(status.get("error"), str) else text


def _vector(leg):
    if leg.using == SPARSE_VECTOR:
        return m.SparseVector(indices=leg.vector.indices.tolist(), values=leg.vector.values.tolist())
    return leg.vector


def _fusion(fusion):
    if fusion.kind == "dbsf":
        return m.FusionQuery(fusion=m.Fusion.DBSF)
    return m.RrfQuery(rrf=m.Rrf(k=fusion.rrf_k, weights=list(fusion.weights) if fusion.weights else None))

