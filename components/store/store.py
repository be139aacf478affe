"""QdrantHybridStore: dense + sparse vectors side by side in one Qdrant collection.

Backends behind the same methods:
  - embedded (default): `QdrantHybridStore("DIR", collection=...)` — qdrant-edge, Qdrant's Rust engine
    in-process; one open store per collection directory;
  - server / cluster: `QdrantHybridStore(url="http://host:6333", collection=...)` (+ `api_key`, or the
    QDRANT_API_KEY environment variable), with `shard_number`, `replication_factor`;
  - qdrant-client local mode: `location=":memory:"` or `local_path=DIR` (compatibility tests only).

Pass `schema=CollectionSchema.from_artifact(artifact)` to create the collection on first use and to
refuse a collection that another document encoder wrote; `index=IndexSettings(...)` (tuning.py: HNSW m,
ef_construct, int8 quantization, on-disk vectors; `on_disk=True` is short for its on_disk) shapes a new
collection and is kept in its record. Search takes already-encoded queries;
`components.searcher.HybridSearcher` pairs the store with a query encoder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, LightRetrieverError, StoreError
from ..sparse import SparseVector
from .filters import field_key
from .fusion import linear_fuse, query_tie_safe
from .groups import grouped
from .options import SearchOptions
from .payload import check_documents
from .plan import ID_ONLY, Leg, Plan, RawHit
from .schema import DENSE_VECTOR, SPARSE_VECTOR, CollectionSchema, Hit, StoredDocument, point_id
from .tuning import IndexSettings

DEFAULT_COLLECTION = "lightretriever"


class QdrantHybridStore:
    def __init__(self, path: str | Path | None = None, *, collection: str = DEFAULT_COLLECTION,
                 schema: CollectionSchema | None = None, create: bool = True,
                 url: str | None = None, api_key: str | None = None, location: str | None = None,
                 local_path: str | Path | None = None, prefer_grpc: bool = False, timeout: int | None = None,
                 shard_number: int | None = None, replication_factor: int | None = None, on_disk: bool = False,
                 index: IndexSettings | None = None, write_batch_size: int = 256):
        chosen = [name for name, v in (("path", path), ("url", url), ("location", location),
                                        ("local_path", local_path)) if v]
        if len(chosen) != 1:
            raise StoreError(
                f"give exactly one of path=DIR (embedded engine), url=URL (Qdrant server), "
                f"location=':memory:' or local_path=DIR (qdrant-client local mode); got {chosen or 'none'}")
        if not collection or "/" in collection or collection.startswith("."):
            raise StoreError(f"collection name {collection!r} must be a plain non-empty name")
        self.collection = collection
        self.write_batch_size = write_batch_size
        if path:
            from .edge import EdgeBackend

            self._backend = EdgeBackend(path, collection, create=schema is not None and create)
        else:
            from .client import ClientBackend

            self._backend = ClientBackend(collection, url=url, api_key=api_key, location=location,
                                          path=str(local_path) if local_path else None, prefer_grpc=prefer_grpc,
                                          timeout=timeout, shard_number=shard_number,
                                          replication_factor=replication_factor)
        try:
            self.schema = self._open(schema, create, index, on_disk)
        except BaseException:
            self._backend.close()
            raise

    @classmethod
    def from_location(cls, store: str | Path, collection: str = DEFAULT_COLLECTION, **kwargs) -> "QdrantHybridStore":
        """What the CLI's --store means: http(s)://… → server, ':memory:' → local mode, else a directory."""
        text = str(store)
        if text.startswith(("http://", "https://")):
            return cls(url=text, collection=collection, **kwargs)
        if text == ":memory:":
            return cls(location=text, collection=collection, **kwargs)
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):  # grpc://, ftp://, a typo'd scheme: not a folder name
            from .redact import redact

            raise StoreError(f"--store {redact(text)}: only http:// and https:// URLs reach a Qdrant server "
                             "(gRPC too, with prefer_grpc=True); anything else is read as a directory path")
        return cls(Path(text), collection=collection, **kwargs)

    def _open(self, schema: CollectionSchema | None, create: bool, index: IndexSettings | None,
              on_disk: bool) -> CollectionSchema:
        where = self._backend.where
        stored = self._backend.read_schema()
        if stored is None:
            if schema is None or not create:
                raise StoreError(
                    f"{where} does not exist; index documents first with "
                    f"`lightretriever index ART --corpus FILE.jsonl --store … --collection {self.collection}`")
            settings = index or IndexSettings()
            stored = replace(schema, index=replace(settings, on_disk=settings.on_disk or on_disk).to_record())
            self._backend.create(stored)
        else:
            if schema is not None:
                schema.check_matches(stored, where)
            if index is not None and index.to_record() != stored.index:
                raise StoreError(
                    f"{where} was created with index settings {stored.index or 'the defaults'}, not "
                    f"{index.to_record() or 'the defaults'}; they apply when a collection is created. Leave them "
                    "out to use this one as it is, or index into a new collection (--collection NEW)")
        self._backend.open(stored)
        return stored

    @property
    def backend(self) -> str:
        return self._backend.name

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> "QdrantHybridStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"QdrantHybridStore({self._backend.where}, backend={self.backend})"

    # -- writes ----------------------------------------------------------------------------
    def upsert(self, documents: Sequence[StoredDocument], dense: np.ndarray, sparse: Sequence[SparseVector]) -> int:
        """Write documents with their vectors (rows of `dense`, items of `sparse`), replacing any
        document with the same id. An all-zero dense row or an empty sparse vector (a document with
        no content) is stored without that vector, so it never matches that leg.

        Everything is checked before the first write (payload.py: ids, metadata types, depth, size;
        vectors: finite, sparse ids unique and inside the vocabulary; embedded engine: free disk
        space), so a refused batch (PayloadError, InvalidArgumentError, StoreFullError) writes nothing."""
        if any(not isinstance(doc, StoredDocument) for doc in documents):
            raise InvalidArgumentError("upsert takes StoredDocument objects (lightretriever.components.store)")
        dense = np.asarray(dense, dtype=np.float32)
        if dense.ndim != 2 or dense.shape[0] != len(documents) or len(sparse) != len(documents):
            raise InvalidArgumentError(
                f"upsert got {len(documents)} documents, dense {dense.shape} and {len(sparse)} sparse vectors; "
                "they must be one row per document")
        if dense.shape[1] != self.schema.dense_dim:
            raise InvalidArgumentError(
                f"dense vectors have {dense.shape[1]} dims but {self._backend.where} stores {self.schema.dense_dim}")
        payload_bytes = check_documents(documents)
        self._check_vectors(documents, dense, sparse)
        points = []
        for doc, row, vec in zip(documents, dense, sparse):
            vectors: dict[str, Any] = {}
            if np.any(row):
                vectors[DENSE_VECTOR] = row.tolist()
            if len(vec):
                vectors[SPARSE_VECTOR] = (vec.indices.tolist(), vec.values.tolist())
            points.append((point_id(doc.id), vectors, doc.payload()))
        reserve = getattr(self._backend, "reserve", None)  # the embedded engine's free-space check
        if reserve is not None and points:
            vector_bytes = dense.nbytes + sum(12 * len(vec) for vec in sparse)
            reserve(payload_bytes + vector_bytes, f"writing {len(points)} documents")
        for start in range(0, len(points), self.write_batch_size):
            self._backend.upsert(points[start:start + self.write_batch_size])
        return len(points)

    def _check_vectors(self, documents: Sequence[StoredDocument], dense: np.ndarray,
                       sparse: Sequence[SparseVector]) -> None:
        """NaN/inf would be stored and poison every score; sparse ids outside the vocabulary or repeated
        would be stored as they are (or, negative, fail inside the engine)."""
        bad_rows = np.flatnonzero(~np.isfinite(dense).all(axis=1))
        if len(bad_rows):
            raise InvalidArgumentError(
                f"document {documents[bad_rows[0]].id!r}: its dense vector has NaN or infinite values "
                f"({len(bad_rows)} such document(s) in the batch); nothing of this batch was written")
        vocab = self.schema.vocab_size
        for doc, vec in zip(documents, sparse):
            indices, values = np.asarray(vec.indices), np.asarray(vec.values)
            if len(indices) != len(values):
                problem = f"{len(indices)} indices but {len(values)} values"
            elif len(indices) and (indices.min() < 0 or indices.max() >= vocab):
                problem = f"token ids must lie in [0, {vocab}) (got {indices.min()}..{indices.max()})"
            elif len(np.unique(indices)) != len(indices):
                problem = "token ids repeat"
            elif not np.isfinite(values).all():
                problem = "values are NaN or infinite"
            else:
                continue
            raise InvalidArgumentError(
                f"document {doc.id!r}: its sparse vector is malformed: {problem}; nothing of this batch was written")

    def delete(self, ids: Iterable[str]) -> None:
        pids = [point_id(i) for i in ids]
        if pids:
            self._backend.delete(pids)

    def delete_by_filter(self, filters: dict[str, Any]) -> None:
        if not filters:
            raise LightRetrieverError("delete_by_filter needs a filter; use a new collection to drop everything")
        self._backend.delete_by_filter(filters)

    def delete_all(self) -> None:
        """Remove every document; the collection and its record of the document encoder stay."""
        self._backend.delete_all()

    def flush(self) -> None:
        self._backend.flush()

    def optimize(self) -> None:
        """Embedded engine: merge segments and build indexes now (after a bulk load); no-op on a server."""
        self._backend.optimize()

    # -- reads -----------------------------------------------------------------------------
    def count(self, filters: dict[str, Any] | None = None) -> int:
        return self._backend.count(filters)

    def get(self, ids: Sequence[str]) -> list[StoredDocument]:
        """Stored documents for `ids`, in the given order; ids not stored are left out."""
        found = {pid: payload for pid, payload, _ in self._backend.retrieve([point_id(i) for i in ids])}
        return [StoredDocument.from_payload(found[point_id(i)]) for i in ids if point_id(i) in found]

    def get_vectors(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """{doc id: {"dense": list, "sparse": (indices, values)}} for stored ids (vectors as stored:
        Qdrant keeps cosine vectors normalised)."""
        records = self._backend.retrieve([point_id(i) for i in ids], with_vectors=True)
        return {str(payload.get("id")): vectors for _, payload, vectors in records}

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        by_pid = {point_id(i): i for i in ids}
        return {by_pid[pid] for pid, _, _ in self._backend.retrieve(list(by_pid))}

    def iter_documents(self, filters: dict[str, Any] | None = None, batch_size: int = 256) -> Iterator[StoredDocument]:
        offset = None
        while True:
            payloads, offset = self._backend.scroll(filters, batch_size, offset)
            yield from (StoredDocument.from_payload(p) for p in payloads)
            if offset is None:
                return

    # -- search ----------------------------------------------------------------------------
    def search(self, dense: Sequence[float] | np.ndarray | None = None, sparse: SparseVector | None = None, *,
               options: SearchOptions | None = None, **overrides: Any) -> list[Hit]:
        """Top-k documents for one encoded query. A missing, all-zero dense vector or an empty sparse
        vector skips that leg (an empty list when no leg is left). `options` (default: SearchOptions())
        with any of its fields given as keywords (k=, mode=, fusion=, rrf_k=, weights=, prefetch=, filters=,
        score_threshold=, group_by=, group_size=, with_payload=, hnsw_ef=, exact=). With group_by, k counts
        groups: up to k x group_size hits (a grouped search reads whole payloads: it groups by one)."""
        dense_rows = None if dense is None else np.asarray(dense, dtype=np.float32)[None, :]
        results = self.search_batch(dense_rows, None if sparse is None else [sparse], options=options, **overrides)
        return results[0] if results else []

    def search_batch(self, dense: np.ndarray | None, sparse: Sequence[SparseVector] | None, *,
                     options: SearchOptions | None = None, **overrides: Any) -> list[list[Hit]]:
        """One result list per query row; all queries go to the engine as one batch request. Options as
        `search`."""
        options = SearchOptions.of(options, **overrides)
        mode, k, fusion, depth = options.mode, options.k, options.fused, options.depth
        n = len(dense) if dense is not None else len(sparse) if sparse is not None else 0
        if dense is not None and np.asarray(dense).shape[-1] != self.schema.dense_dim:
            raise LightRetrieverError(
                f"query vectors have {np.asarray(dense).shape[-1]} dims but {self._backend.where} stores "
                f"{self.schema.dense_dim}")
        if dense is not None and not np.isfinite(np.asarray(dense, dtype=np.float32)).all():
            raise InvalidArgumentError("a dense query vector holds NaN or infinite values; the engine would rank "
                                       "by them silently. Check the query encoder's table (re-export it)")
        if options.group_by is not None:  # per query: a grouped search may read its ranking more than once
            depth = max(depth, k * options.hits_per_group)
            return [self._search_grouped(self._legs(mode, None if dense is None else dense[i],
                                                    None if sparse is None else sparse[i], depth), options)
                    for i in range(n)]
        plans, slots = self._plans(options, dense, sparse, n)
        ranked = [idx[0] for kind, idx in slots if kind == "single"]  # linear legs are fused in Python
        results = query_tie_safe(self._backend.query, plans, k, ranked) if plans else []
        rankings = []
        for kind, idx in slots:
            if kind == "empty":
                raw: list[RawHit] = []
            elif kind == "single":
                raw = results[idx[0]]
            else:
                raw = linear_fuse(results[idx[0]], results[idx[1]], fusion.linear_weights(), k)
            rankings.append(_above_raw(raw, options.score_threshold))
        rankings = self._fill_payloads(rankings, options.with_payload)
        # Equal scores (common with RRF) come back in engine order, which can change when a shard is
        # reopened or re-optimised; ties are broken by document id so results are reproducible
        # (query_tie_safe has sorted the engine's rankings so already; linear fusion's are sorted here).
        return [sorted(hits, key=lambda hit: (-hit.score, hit.id)) if kind == "linear" else hits
                for (kind, _), hits in zip(slots, ([_hit(h) for h in raw] for raw in rankings))]

    def _plans(self, options: SearchOptions, dense, sparse, n: int) -> tuple[list[Plan], list[tuple[str, list[int]]]]:
        """The engine requests of `n` queries, and per query how to turn their results into one ranking.
        A ranking reads whole payloads in its own request (k + TIE_MARGIN of them: measured cheaper than a
        second request for the k returned), or only the document id with with_payload=False; prefetch and
        linear legs read none (linear is fused by point id, its top k read after: `_fill_payloads`)."""
        k, fusion, depth = options.k, options.fused, options.depth
        payload = True if options.with_payload else ID_ONLY
        search = {"filters": options.filters, "hnsw_ef": options.hnsw_ef, "exact": options.exact}
        plans: list[Plan] = []
        slots: list[tuple[str, list[int]]] = []
        for i in range(n):
            legs = self._legs(options.mode, None if dense is None else dense[i],
                              None if sparse is None else sparse[i], depth)
            if not legs:
                slots.append(("empty", []))
            elif len(legs) == 1:
                slots.append(("single", [len(plans)]))
                plans.append(Plan(legs=tuple(legs), limit=k, with_payload=payload, **search))
            elif fusion.kind == "linear":
                slots.append(("linear", [len(plans), len(plans) + 1]))
                plans.extend(Plan(legs=(leg,), limit=leg.limit, with_payload=False, **search) for leg in legs)
            else:
                slots.append(("single", [len(plans)]))
                plans.append(Plan(legs=tuple(legs), limit=k, fusion=fusion, with_payload=payload, **search))
        return plans, slots

    def _fill_payloads(self, rankings: list[list[RawHit]], whole: bool) -> list[list[RawHit]]:
        """Payloads of returned hits that came without one (linear fusion's), in one request for all
        queries: whole ones, or (whole=False) just the document id."""
        wanted = {h.point_id for raw in rankings for h in raw if not h.payload}
        if not wanted:
            return rankings
        # the engine's point ids may be uuid.UUID objects; retrieve answers with their text
        records = self._backend.retrieve([str(pid) for pid in wanted], payload=True if whole else ID_ONLY)
        found = {pid: payload for pid, payload, _ in records}
        return [[RawHit(h.point_id, h.score, found.get(str(h.point_id), h.payload)) if h.point_id in wanted else h
                 for h in raw] for raw in rankings]

    def _search_grouped(self, legs: list[Leg], options: SearchOptions) -> list[Hit]:
        """The hits of the top k groups (groups.py); the score threshold cuts hits before they group."""
        if not legs:
            return []
        threshold = options.score_threshold

        def ranking(limit: int) -> list[RawHit]:
            hits = sorted(self._ranked(legs, limit, options), key=lambda h: (-h.score, str(h.payload.get("id", ""))))
            return [h for h in hits if threshold is None or h.score >= threshold]

        raw = grouped(ranking, field_key(options.group_by), options.k, options.hits_per_group)
        return [_hit(h) for h in raw]

    def _ranked(self, legs: list[Leg], limit: int, options: SearchOptions) -> list[RawHit]:
        """The top `limit` hits of one query, fused as `options` says, with payloads."""
        fusion = options.fused
        search = {"filters": options.filters, "hnsw_ef": options.hnsw_ef, "exact": options.exact}
        if len(legs) == 1:
            return self._backend.query([Plan(legs=tuple(legs), limit=limit, **search)])[0]
        if fusion.kind == "linear":
            dense, sparse = self._backend.query(
                [Plan(legs=(leg,), limit=leg.limit, with_payload=False, **search) for leg in legs])
            return self._fill_payloads([linear_fuse(dense, sparse, fusion.linear_weights(), limit)], True)[0]
        return self._backend.query([Plan(legs=tuple(legs), limit=limit, fusion=fusion, **search)])[0]

    @staticmethod
    def _legs(mode: str, dense_row, sparse_vec: SparseVector | None, depth: int) -> list[Leg]:
        legs = []
        if mode in ("dense", "hybrid") and dense_row is not None and np.any(dense_row):
            legs.append(Leg(DENSE_VECTOR, np.asarray(dense_row, dtype=np.float32).tolist(), depth))
        if mode in ("sparse", "hybrid") and sparse_vec is not None and len(sparse_vec):
            legs.append(Leg(SPARSE_VECTOR, sparse_vec, depth))
        return legs


def _above_raw(hits: list[RawHit], threshold: float | None) -> list[RawHit]:
    """The score threshold cuts before payloads are read: a hit it drops is never fetched."""
    return hits if threshold is None else [hit for hit in hits if hit.score >= threshold]


def _hit(raw: RawHit) -> Hit:
    payload = raw.payload  # read as StoredDocument.from_payload does, without the intermediate object
    if len(payload) == 1 and "id" in payload:  # an id-only search (with_payload=False): half the time
        return Hit(id=str(payload["id"]), score=raw.score)
    return Hit(id=str(payload.get("id", "")), score=raw.score, text=payload.get("text") or "",
               title=payload.get("title") or "", meta=payload.get("meta") or {})
