"""Id-only rankings of the embedded store read point ids and map them to document ids (document_ids.py):
the same hits as reading the payload, writes drop the map, a point it does not know is still named."""

from __future__ import annotations

import numpy as np
import pytest

from lightretriever.components.sparse import SparseVector
from lightretriever.components.store import CollectionSchema, QdrantHybridStore, StoredDocument
from lightretriever.components.store import document_ids

DIM, VOCAB = 16, 50
SCHEMA = CollectionSchema(dense_dim=DIM, vocab_size=VOCAB, document_fingerprint="random")
RNG = np.random.default_rng(7)
POINTS = RNG.standard_normal((300, DIM)).astype(np.float32)
SPARSE = [SparseVector(np.sort(RNG.choice(VOCAB, 5, replace=False)), RNG.random(5, dtype=np.float32) + 0.1)
          for _ in range(len(POINTS))]
QUERIES = RNG.standard_normal((12, DIM)).astype(np.float32)
QUERY_TERMS = [SparseVector(np.sort(RNG.choice(VOCAB, 3, replace=False)), np.ones(3, dtype=np.float32))
               for _ in range(len(QUERIES))]


@pytest.fixture
def store(tmp_path):
    with QdrantHybridStore(tmp_path, collection="c", schema=SCHEMA) as opened:
        opened.upsert([StoredDocument(id=f"doc-{i}", text=f"text {i}", meta={"n": i}) for i in range(len(POINTS))],
                      POINTS, SPARSE)
        yield opened


def rankings(store, **options):
    return [[(h.id, round(h.score, 6)) for h in hits]
            for hits in store.search_batch(QUERIES, QUERY_TERMS, k=20, **options)]


@pytest.mark.parametrize("options", [{"mode": "hybrid"}, {"mode": "hybrid", "fusion": "rrf"}, {"mode": "dense"},
                                     {"mode": "sparse"}, {"mode": "hybrid", "fusion": "linear"}])
def test_id_only_rankings_equal_the_payload_ones(store, options):
    with_payload = rankings(store, **options)
    assert rankings(store, with_payload=False, **options) == with_payload
    hits = store.search(QUERIES[0], QUERY_TERMS[0], k=5, with_payload=False, **options)
    assert hits and all(h.text == "" and h.meta == {} for h in hits)  # ids only, as asked


def test_the_map_is_built_once_and_dropped_by_every_write(store):
    ids = store._backend._document_ids
    store.search(QUERIES[0], None, k=5, mode="dense", with_payload=False)
    assert ids._ids is not None and len(ids._ids) == len(POINTS)
    best = QUERIES[0] * 10  # a new document right where the query points
    store.upsert([StoredDocument(id="new")], best[None, :], [SparseVector(np.array([1]), np.array([1.0], np.float32))])
    assert ids._ids is None
    assert store.search(QUERIES[0], None, k=1, mode="dense", with_payload=False)[0].id == "new"
    store.delete(["new"])
    assert ids._ids is None
    assert store.search(QUERIES[0], None, k=1, mode="dense", with_payload=False)[0].id != "new"


def test_a_point_the_map_does_not_know_is_read_from_its_payload(store):
    expected = rankings(store, with_payload=False)
    ids = store._backend._document_ids
    ids._ids = dict(list(ids._ids.items())[::2])  # as if half the points were written behind its back
    assert rankings(store, with_payload=False) == expected
    assert ids._ids is None or len(ids._ids) == len(POINTS)  # forgotten, then rebuilt whole


def test_a_collection_above_the_cap_reads_payload_ids(store, monkeypatch):
    expected = rankings(store)
    monkeypatch.setattr(document_ids, "MAX_POINTS", 10)
    store._backend._document_ids.forget()
    counts = []
    backend = store._backend
    monkeypatch.setattr(backend, "count", lambda *a, _count=backend.count: counts.append(1) or _count(*a))
    assert rankings(store, with_payload=False) == expected
    assert rankings(store, with_payload=False) == expected
    assert backend._document_ids._ids is None and len(counts) == 1  # no map kept, and counted once, not per search
