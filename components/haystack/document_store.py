"""LightRetrieverDocumentStore: a Haystack DocumentStore over QdrantHybridStore (embedded by default)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
from haystack import Document, default_from_dict, default_to_dict
from haystack.document_stores.errors import DuplicateDocumentError
from haystack.errors import FilterError as HaystackFilterError
from haystack.document_stores.types import DuplicatePolicy
from haystack.utils import Secret, deserialize_secrets_inplace

from ..artifact import Artifact
from ..errors import FilterError, InvalidArgumentError, StoreError
from ..sparse import SparseVector
from ..store import CollectionSchema, QdrantHybridStore
from ..store.redact import redact, secrets_in
from .convert import to_document, to_stored
from .paths import checked_artifact, resolved


class LightRetrieverDocumentStore:
    """Documents with their dense + sparse vectors in one Qdrant collection.

    Embedded engine on a directory (`path=`, the default), or a Qdrant server (`url=`, with `api_key`,
    a Haystack `Secret`: by default the QDRANT_API_KEY environment variable, read when the store first
    connects and serialised as the variable's name, never its value), or qdrant-client local mode
    (`location=":memory:"`, tests). The collection is
    created on first use for `model` (an artifact path; only its config is read) and refuses
    documents from another document encoder. Filters use Haystack's syntax.

    Every protocol method has an `..._async` twin (as qdrant-haystack's store), so `DocumentWriter`
    and the retriever run under `Pipeline.run_async`.

    ```python
    store = LightRetrieverDocumentStore(path="stores", collection="docs", model="artifacts/minilm")
    ```
    """

    __module__ = "haystack_integrations.document_stores.lightretriever"  # YAML loads with no allowlist step

    def __init__(self, path: str | None = None, collection: str = "lightretriever", model: str | None = None,
                 url: str | None = None, location: str | None = None, on_disk: bool = False,
                 write_batch_size: int = 256,
                 api_key: Secret | None = Secret.from_env_var("QDRANT_API_KEY", strict=False)):
        self.path = str(path) if path else None
        self.collection = collection
        self.model = str(model) if model else None
        self.url = url
        self.location = location
        self.on_disk = on_disk
        self.write_batch_size = write_batch_size
        self.api_key = api_key
        # relative paths: resolved now, against this working directory (paths.py); kept as given for to_dict
        self._model_root = resolved(self.model) if self.model else None
        self._path_root = resolved(self.path) if self.path else None
        self._store: QdrantHybridStore | None = None
        self._opening = threading.Lock()  # async twins run on worker threads: open the engine once

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def store(self) -> QdrantHybridStore:
        """The open QdrantHybridStore (opened, and created for `model` if needed, on first use)."""
        with self._opening:
            if self._store is None:
                self._store = self._open()
        return self._store

    def _open(self) -> QdrantHybridStore:
        schema = None
        if self.model:
            schema = CollectionSchema.from_artifact(
                Artifact.load(checked_artifact(self.model, self._model_root, "LightRetrieverDocumentStore")))
        api_key = self.api_key.resolve_value() if self.api_key and self.url else None  # only now, only for a server
        return QdrantHybridStore(self._path_root, collection=self.collection, schema=schema, url=self.url,
                                 api_key=api_key, location=self.location, on_disk=self.on_disk,
                                 write_batch_size=self.write_batch_size)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def to_dict(self) -> dict[str, Any]:
        """Init parameters; `api_key` as its Secret's dict (a token Secret is refused, as Haystack does)."""
        if self.url and secrets_in(self.url):  # a pipeline file would carry them in clear text
            raise InvalidArgumentError(
                f"url {redact(self.url)} carries credentials, which would be written in clear text: "
                "remove them from the URL and pass api_key=Secret.from_env_var(\"QDRANT_API_KEY\")")
        return default_to_dict(self, path=self.path, collection=self.collection, model=self.model, url=self.url,
                               location=self.location, on_disk=self.on_disk, write_batch_size=self.write_batch_size,
                               api_key=self.api_key.to_dict() if self.api_key else None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LightRetrieverDocumentStore":
        data = {**data, "init_parameters": dict(data.get("init_parameters", {}))}  # the caller's dict stays as it is
        deserialize_secrets_inplace(data["init_parameters"], keys=["api_key"])
        return default_from_dict(cls, data)

    # -- DocumentStore protocol --------------------------------------------------------------------
    def count_documents(self) -> int:
        return self.store.count()

    def filter_documents(self, filters: dict[str, Any] | None = None) -> list[Document]:
        try:
            return [to_document(d) for d in self.store.iter_documents(filters)]
        except FilterError as exc:
            raise HaystackFilterError(str(exc)) from exc

    def write_documents(self, documents: list[Document], policy: DuplicatePolicy = DuplicatePolicy.NONE) -> int:
        """Write embedded documents (from LightRetrieverDocumentEmbedder). A document without
        embeddings is stored without vectors: filterable, never matched by search.
        NONE behaves as FAIL (Haystack's convention for stores). One id twice in the batch is treated as
        InMemoryDocumentStore treats it: FAIL refuses the batch (here before anything is written), SKIP
        keeps the first, OVERWRITE the last (and counts both, as the in-memory store does)."""
        if not isinstance(documents, list) or any(not isinstance(d, Document) for d in documents):
            raise ValueError("write_documents expects a list of Documents")
        if not documents:
            return 0
        written = len(documents)
        documents = _one_per_id(documents, policy)
        if policy in (DuplicatePolicy.NONE, DuplicatePolicy.FAIL, DuplicatePolicy.SKIP):
            existing = self.store.existing_ids([d.id for d in documents])
            if existing and policy != DuplicatePolicy.SKIP:
                raise DuplicateDocumentError(
                    f"{len(existing)} document(s) already stored, e.g. id {sorted(existing)[0]!r}; "
                    "write with policy=DuplicatePolicy.OVERWRITE to replace or SKIP to keep them")
            documents = [d for d in documents if d.id not in existing]
        dense, sparse = self._vectors(documents)
        stored = self.store.upsert([to_stored(d) for d in documents], dense, sparse)
        return written if policy == DuplicatePolicy.OVERWRITE else stored

    def delete_documents(self, document_ids: list[str]) -> None:
        self.store.delete(document_ids)

    def delete_all_documents(self, recreate_index: bool = False) -> None:
        """Empty the collection; it stays, with its record of the document encoder. `recreate_index` is taken
        for qdrant-haystack's signature: the collection's settings follow from the document encoder, so a
        recreated one would be the same collection, and both values empty it alike."""
        self.store.delete_all()

    def get_documents_by_id(self, document_ids: list[str]) -> list[Document]:
        """The stored documents among `document_ids`, in that order (ids not stored are left out)."""
        return [to_document(d) for d in self.store.get(list(document_ids))]

    # -- async twins ---------------------------------------------------------------------------------
    # Neither engine behind the store has an async API we use (qdrant-edge is a synchronous in-process
    # engine; the server path shares the sync client), so each call runs the sync method on a worker
    # thread: the event loop stays free while the engine works, and both paths behave exactly alike.
    async def count_documents_async(self) -> int:
        return await asyncio.to_thread(self.count_documents)

    async def filter_documents_async(self, filters: dict[str, Any] | None = None) -> list[Document]:
        return await asyncio.to_thread(self.filter_documents, filters)

    async def write_documents_async(self, documents: list[Document],
                                    policy: DuplicatePolicy = DuplicatePolicy.NONE) -> int:
        return await asyncio.to_thread(self.write_documents, documents, policy)

    async def delete_documents_async(self, document_ids: list[str]) -> None:
        await asyncio.to_thread(self.delete_documents, document_ids)

    async def delete_all_documents_async(self, recreate_index: bool = False) -> None:
        await asyncio.to_thread(self.delete_all_documents, recreate_index)

    async def get_documents_by_id_async(self, document_ids: list[str]) -> list[Document]:
        return await asyncio.to_thread(self.get_documents_by_id, document_ids)

    def _vectors(self, documents: list[Document]) -> tuple[np.ndarray, list[SparseVector]]:
        dim = self.store.schema.dense_dim
        dense = np.zeros((len(documents), dim), dtype=np.float32)
        sparse = []
        for row, doc in enumerate(documents):
            if doc.embedding is not None:
                if len(doc.embedding) != dim:
                    raise StoreError(
                        f"document {doc.id!r} has a {len(doc.embedding)}-dim embedding but collection "
                        f"{self.collection!r} stores {dim}-dim vectors; embed it with "
                        "LightRetrieverDocumentEmbedder and the artifact that created the collection")
                dense[row] = doc.embedding
            sparse.append(self._sparse(doc))
        return dense, sparse

    def _sparse(self, doc: Document) -> SparseVector:
        se = doc.sparse_embedding
        indices = np.asarray(se.indices if se else [], dtype=np.int64)
        values = np.asarray(se.values if se else [], dtype=np.float32)
        order = np.argsort(indices, kind="stable")
        indices, values = indices[order], values[order]
        vocab = self.store.schema.vocab_size
        if len(indices) and (np.any(np.diff(indices) == 0) or indices[0] < 0 or indices[-1] >= vocab):
            raise StoreError(f"document {doc.id!r}: sparse indices must be unique token ids in [0, {vocab})")
        return SparseVector(indices, values)


def _one_per_id(documents: list[Document], policy: DuplicatePolicy) -> list[Document]:
    """One document per id, chosen as InMemoryDocumentStore would end up storing it."""
    by_id: dict[str, Document] = {}
    first_position: dict[str, int] = {}
    for position, doc in enumerate(documents):
        if doc.id not in by_id:
            by_id[doc.id], first_position[doc.id] = doc, position
        elif policy == DuplicatePolicy.OVERWRITE:
            by_id[doc.id] = doc
        elif policy != DuplicatePolicy.SKIP:  # NONE / FAIL
            raise DuplicateDocumentError(
                f"ID {doc.id!r} appears twice in this batch (documents {first_position[doc.id]} and {position}); "
                "nothing was written: give each document its own id, or write with "
                "policy=DuplicatePolicy.OVERWRITE (the last wins) or SKIP (the first wins)")
    return list(by_id.values())
