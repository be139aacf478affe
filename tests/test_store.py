"""QdrantHybridStore on the real embedded engine (qdrant-edge) and on qdrant-client's local mode,
the same cases for both: schema, idempotent writes, fusions checked against hand-computed scores,
filters, empty legs, mismatch and "in use" errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from lightretriever.components.errors import LightRetrieverError, StoreError, StoreInUseError, StoreMismatchError
from lightretriever.components.sparse import SparseVector
from lightretriever.components.store import CollectionSchema, QdrantHybridStore, StoredDocument, point_id

SCHEMA = CollectionSchema(dense_dim=4, vocab_size=10, document_fingerprint="doc-encoder-A")

# Dense scores against Q_DENSE (cosine): a 1.0 > b 0.8 > c 0.5 > d 0.2; sparse against Q_SPARSE: b 3 > c 2.5 > a 1.
DOCS = {
    "a": ([1.0, 0.0, 0.0, 0.0], {1: 1.0}, {"year": 2019, "lang": "en", "tags": ["x"]}),
    "b": ([0.8, 0.6, 0.0, 0.0], {2: 3.0}, {"year": 2020, "lang": "de"}),
    "c": ([0.5, 0.0, np.sqrt(0.75), 0.0], {1: 2.0, 2: 0.5}, {"year": 2021, "lang": "en"}),
    "d": ([0.2, 0.0, 0.0, np.sqrt(0.96)], {}, {"year": 2022}),
    "e": ([0.0, 0.0, 0.0, 0.0], {}, {"year": 2023, "note": "no content"}),
}
Q_DENSE = [1.0, 0.0, 0.0, 0.0]
Q_SPARSE = SparseVector(np.array([1, 2]), np.array([1.0, 1.0], dtype=np.float32))


def sparse(mapping: dict[int, float]) -> SparseVector:
    keys = sorted(mapping)
    return SparseVector(np.array(keys, dtype=np.int64), np.array([mapping[k] for k in keys], dtype=np.float32))


def write_docs(store: QdrantHybridStore, names=tuple(DOCS), text_suffix: str = "") -> None:
    docs = [StoredDocument(id=n, text=f"text of {n}{text_suffix}", title=f"title {n}", meta=DOCS[n][2]) for n in names]
    store.upsert(docs, np.array([DOCS[n][0] for n in names], dtype=np.float32), [sparse(DOCS[n][1]) for n in names])


@pytest.fixture(params=["edge", "memory"])
def backend(request):
    return request.param


@pytest.fixture
def open_store(backend, tmp_path):
    opened = []

    def make(schema=SCHEMA, collection="t", **kwargs):
        if backend == "edge":
            store = QdrantHybridStore(tmp_path / "store", collection=collection, schema=schema, **kwargs)
        else:
            store = QdrantHybridStore(location=":memory:", collection=collection, schema=schema, **kwargs)
        opened.append(store)
        return store

    yield make
    for store in opened:
        try:
            store.close()
        except Exception:
            pass


@pytest.fixture
def store(open_store):
    s = open_store()
    write_docs(s)
    return s


def ids(hits):
    return [h.id for h in hits]


def scores(hits):
    return {h.id: h.score for h in hits}


# -- schema and writes ---------------------------------------------------------------------
def test_edge_schema_is_recorded_and_reopened(tmp_path):
    store = QdrantHybridStore(tmp_path / "store", collection="c", schema=SCHEMA)
    write_docs(store)
    store.close()
    record = json.loads((tmp_path / "store" / "c" / "lightretriever-collection.json").read_text())
    assert record["lightretriever"]["document_fingerprint"] == "doc-encoder-A"
    edge_config = json.loads((tmp_path / "store" / "c" / "shard" / "edge_config.json").read_text())
    assert "dense" in json.dumps(edge_config) and "sparse" in json.dumps(edge_config)
    reopened = QdrantHybridStore(tmp_path / "store", collection="c")  # no schema: read what is there
    assert reopened.schema == SCHEMA and reopened.count() == len(DOCS)
    reopened.close()


def test_client_collection_schema_and_metadata():
    store = QdrantHybridStore(location=":memory:", collection="c", schema=SCHEMA)
    info = store._backend.client.get_collection("c")
    assert info.config.params.vectors["dense"].size == 4
    assert info.config.params.vectors["dense"].distance.name == "COSINE"
    assert "sparse" in info.config.params.sparse_vectors
    assert info.config.metadata["lightretriever"]["document_fingerprint"] == "doc-encoder-A"
    store.close()


def test_upsert_is_idempotent_and_replaces(store):
    assert store.count() == 5
    write_docs(store, names=("a", "b"), text_suffix=" (v2)")
    assert store.count() == 5
    assert [d.text for d in store.get(["b", "a"])] == ["text of b (v2)", "text of a (v2)"]


def test_get_keeps_order_and_skips_missing(store):
    got = store.get(["c", "nope", "a"])
    assert [d.id for d in got] == ["c", "a"]
    assert got[0].meta == {"year": 2021, "lang": "en"} and got[0].title == "title c"
    assert store.existing_ids(["a", "zz", "e"]) == {"a", "e"}


def test_delete_and_iterate(store):
    store.delete(["a", "missing"])
    assert store.count() == 4
    assert sorted(d.id for d in store.iter_documents(batch_size=2)) == ["b", "c", "d", "e"]
    store.delete_by_filter({"field": "meta.lang", "operator": "==", "value": "de"})
    assert sorted(d.id for d in store.iter_documents()) == ["c", "d", "e"]


def test_point_ids_are_uuid5_of_document_ids():
    assert point_id("a") == point_id("a") != point_id("b")
    assert len(point_id("a")) == 36


def test_content_free_document_is_stored_without_vectors(store):
    vectors = store.get_vectors(["e", "a"])
    assert vectors["e"] == {} and set(vectors["a"]) == {"dense", "sparse"}
    for mode in ("dense", "sparse", "hybrid"):
        assert "e" not in ids(store.search(Q_DENSE, Q_SPARSE, k=10, mode=mode))


def test_wrong_dimensions_are_refused(store):
    with pytest.raises(LightRetrieverError, match="3 dims"):
        store.search([1.0, 0.0, 0.0], None, mode="dense")
    with pytest.raises(LightRetrieverError, match="5 dims"):
        store.upsert([StoredDocument("x")], np.ones((1, 5), dtype=np.float32), [sparse({1: 1.0})])


# -- single legs and fusions, checked against hand-computed scores ----------------------------
def test_dense_and_sparse_legs(store):
    dense = store.search(Q_DENSE, Q_SPARSE, k=10, mode="dense")
    assert ids(dense) == ["a", "b", "c", "d"]
    assert scores(dense) == pytest.approx({"a": 1.0, "b": 0.8, "c": 0.5, "d": 0.2}, abs=1e-5)
    sparse_hits = store.search(Q_DENSE, Q_SPARSE, k=10, mode="sparse")
    assert ids(sparse_hits) == ["b", "c", "a"]
    assert scores(sparse_hits) == pytest.approx({"b": 3.0, "c": 2.5, "a": 1.0}, abs=1e-6)
    assert dense[0].title == "title a" and dense[0].text == "text of a" and dense[0].meta["year"] == 2019


def test_rrf_matches_hand_computation(store):
    # dense ranks (from 0): a0 b1 c2 d3; sparse ranks: b0 c1 a2.  score = sum 1/(rank + k)
    hits = store.search(Q_DENSE, Q_SPARSE, k=10, fusion="rrf", rrf_k=1)
    assert scores(hits) == pytest.approx({"b": 1 / 2 + 1 / 1, "a": 1 / 1 + 1 / 3, "c": 1 / 3 + 1 / 2, "d": 1 / 4})
    assert ids(hits) == ["b", "a", "c", "d"]
    default = store.search(Q_DENSE, Q_SPARSE, k=10, fusion="rrf")  # k = 60, not qdrant-client local mode's 2
    assert scores(default)["b"] == pytest.approx(1 / 61 + 1 / 60)
    assert scores(default)["d"] == pytest.approx(1 / 63)


def test_weighted_rrf(backend, store):
    hits = store.search(Q_DENSE, Q_SPARSE, k=10, fusion="rrf", rrf_k=1, weights=(2.0, 1.0))
    if backend == "edge":  # Qdrant's engine: sum w / (rank + k)
        expected = {"a": 2 / 1 + 1 / 3, "b": 2 / 2 + 1 / 1, "c": 2 / 3 + 1 / 2, "d": 2 / 4}
    else:  # qdrant-client local mode: sum 1 / ((rank + 1) / w + k - 1)
        expected = {"a": 1 / (1 / 2) + 1 / 3, "b": 1 / (2 / 2) + 1 / 1, "c": 1 / (3 / 2) + 1 / 2, "d": 1 / (4 / 2)}
    assert scores(hits) == pytest.approx(expected)


def test_dbsf_matches_hand_computation(store):
    def normalise(values):  # (s - (mean - 3 sd)) / (6 sd), sample standard deviation
        v = np.array(list(values.values()))
        mean, sd = v.mean(), v.std(ddof=1)
        return {key: (s - (mean - 3 * sd)) / (6 * sd) for key, s in values.items()}

    dense = normalise({"a": 1.0, "b": 0.8, "c": 0.5, "d": 0.2})
    sparse_norm = normalise({"b": 3.0, "c": 2.5, "a": 1.0})
    expected = {key: dense[key] + sparse_norm.get(key, 0.0) for key in dense}
    hits = store.search(Q_DENSE, Q_SPARSE, k=10, fusion="dbsf")
    assert scores(hits) == pytest.approx(expected, abs=1e-5)


def test_linear_min_max_fusion_matches_hand_computation(store):
    # dense min-max over (1, .8, .5, .2); sparse over (3, 2.5, 1); 0.7 / 0.3; missing leg -> 0
    dense = {"a": 1.0, "b": 0.6 / 0.8, "c": 0.3 / 0.8, "d": 0.0}
    sparse_norm = {"b": 1.0, "c": 0.75, "a": 0.0}
    expected = {k: 0.7 * dense[k] + 0.3 * sparse_norm.get(k, 0.0) for k in dense}
    hits = store.search(Q_DENSE, Q_SPARSE, k=10, fusion="linear")
    assert scores(hits) == pytest.approx(expected, abs=1e-5)
    assert ids(hits) == ["b", "a", "c", "d"]
    custom = store.search(Q_DENSE, Q_SPARSE, k=2, fusion="linear", weights=(0.0, 1.0))
    assert ids(custom) == ["b", "c"]


def test_prefetch_depth_is_never_silently_capped(open_store):
    store = open_store()
    rng = np.random.default_rng(0)
    n = 60
    docs = [StoredDocument(id=f"doc{i}", text=str(i)) for i in range(n)]
    store.upsert(docs, rng.normal(size=(n, 4)).astype(np.float32),
                 [sparse({i % 10: 1.0 + i / 100}) for i in range(n)])
    query_sparse = sparse({k: 1.0 for k in range(10)})
    for fusion in ("rrf", "dbsf", "linear"):
        assert len(store.search(Q_DENSE, query_sparse, k=50, fusion=fusion)) == 50
    assert len(store.search(Q_DENSE, query_sparse, k=50, prefetch=50)) == 50
    with pytest.raises(LightRetrieverError, match="prefetch=20 is smaller than k=50"):
        store.search(Q_DENSE, query_sparse, k=50, prefetch=20)


def test_empty_legs_are_skipped(store):
    only_sparse = store.search([0.0] * 4, Q_SPARSE, k=10)
    assert ids(only_sparse) == ids(store.search(None, Q_SPARSE, k=10, mode="sparse"))
    only_dense = store.search(Q_DENSE, sparse({}), k=10)
    assert scores(only_dense) == pytest.approx(scores(store.search(Q_DENSE, None, k=10, mode="dense")))
    assert store.search([0.0] * 4, sparse({}), k=10) == []
    assert store.search(None, None, k=10, mode="dense") == []


def test_batch_search_equals_single_searches(store):
    dense = np.array([Q_DENSE, [0.0, 1.0, 0.0, 0.0], [0.0] * 4], dtype=np.float32)
    sparse_rows = [Q_SPARSE, sparse({2: 1.0}), sparse({1: 1.0})]
    for fusion in ("rrf", "linear"):
        batch = store.search_batch(dense, sparse_rows, k=3, fusion=fusion)
        single = [store.search(d, s, k=3, fusion=fusion) for d, s in zip(dense, sparse_rows)]
        assert [ids(b) for b in batch] == [ids(s) for s in single]


def test_bad_options_are_refused(store):
    with pytest.raises(LightRetrieverError, match="fusion='max'"):
        store.search(Q_DENSE, Q_SPARSE, fusion="max")
    with pytest.raises(LightRetrieverError, match="mode='both'"):
        store.search(Q_DENSE, Q_SPARSE, mode="both")
    with pytest.raises(LightRetrieverError, match="k=0"):
        store.search(Q_DENSE, Q_SPARSE, k=0)


# -- filters --------------------------------------------------------------------------------
FILTER_CASES = [
    ({"field": "meta.lang", "operator": "==", "value": "en"}, {"a", "c"}),
    ({"field": "meta.lang", "operator": "!=", "value": "en"}, {"b", "d", "e"}),
    ({"field": "meta.year", "operator": ">=", "value": 2021}, {"c", "d", "e"}),
    ({"field": "meta.year", "operator": "<", "value": 2020.5}, {"a", "b"}),
    ({"field": "meta.lang", "operator": "in", "value": ["de", "fr"]}, {"b"}),
    ({"field": "meta.lang", "operator": "not in", "value": ["en"]}, {"b", "d", "e"}),
    ({"field": "meta.lang", "operator": "==", "value": None}, {"d", "e"}),
    ({"field": "meta.lang", "operator": "in", "value": []}, set()),
    ({"field": "id", "operator": "==", "value": "b"}, {"b"}),
    ({"field": "content", "operator": "==", "value": "text of c"}, {"c"}),
    ({"operator": "AND", "conditions": [{"field": "meta.lang", "operator": "==", "value": "en"},
                                        {"field": "meta.year", "operator": ">", "value": 2019}]}, {"c"}),
    ({"operator": "OR", "conditions": [{"field": "meta.lang", "operator": "==", "value": "de"},
                                       {"field": "meta.year", "operator": "==", "value": 2022}]}, {"b", "d"}),
    ({"operator": "NOT", "conditions": [{"field": "meta.lang", "operator": "==", "value": "en"}]}, {"b", "d", "e"}),
]


@pytest.mark.parametrize("filters,expected", FILTER_CASES, ids=[str(i) for i in range(len(FILTER_CASES))])
def test_filters(store, filters, expected):
    assert {d.id for d in store.iter_documents(filters)} == expected
    assert store.count(filters) == len(expected)
    searchable = expected - {"e"}  # e has no vectors
    dense_side = {"a", "b", "c", "d"} & searchable
    assert set(ids(store.search(Q_DENSE, Q_SPARSE, k=10, filters=filters))) == dense_side
    assert set(ids(store.search(Q_DENSE, Q_SPARSE, k=10, fusion="linear", filters=filters))) == dense_side


def test_bad_filters_name_the_problem(store):
    with pytest.raises(LightRetrieverError, match="lacks"):
        store.count({"field": "meta.x", "value": 1})
    with pytest.raises(LightRetrieverError, match="unknown filter operator"):
        store.count({"field": "meta.x", "operator": "~", "value": 1})
    with pytest.raises(LightRetrieverError, match="needs a list"):
        store.count({"field": "meta.x", "operator": "in", "value": 1})
    with pytest.raises(LightRetrieverError, match="number or an ISO"):
        store.count({"field": "meta.x", "operator": ">", "value": "abc"})


# -- opening: mismatch, missing, in use ---------------------------------------------------
@pytest.mark.parametrize("change,message", [
    ({"document_fingerprint": "doc-encoder-B"}, "document encoder doc-encoder-A"),
    ({"dense_dim": 8}, "4-dim dense vectors"),
    ({"vocab_size": 11}, "10-token vocabulary"),
])
def test_other_document_encoder_is_refused_and_nothing_changes(backend, tmp_path, change, message):
    fields = {**SCHEMA.__dict__, **change}
    if backend == "edge":
        store = QdrantHybridStore(tmp_path / "s", collection="c", schema=SCHEMA)
        write_docs(store)
        store.close()
        with pytest.raises(StoreMismatchError, match=message):
            QdrantHybridStore(tmp_path / "s", collection="c", schema=CollectionSchema(**fields))
        again = QdrantHybridStore(tmp_path / "s", collection="c", schema=SCHEMA)  # lock was released
        assert again.count() == len(DOCS)
        again.close()
    else:
        store = QdrantHybridStore(local_path=tmp_path / "local", collection="c", schema=SCHEMA)
        write_docs(store)
        store.close()
        with pytest.raises(StoreMismatchError, match=message):
            QdrantHybridStore(local_path=tmp_path / "local", collection="c", schema=CollectionSchema(**fields))
        again = QdrantHybridStore(local_path=tmp_path / "local", collection="c", schema=SCHEMA)
        assert again.count() == len(DOCS)
        again.close()


def test_missing_collection_needs_a_schema(open_store):
    with pytest.raises(StoreError, match="does not exist; index documents first"):
        open_store(schema=None)


def test_foreign_client_collection_is_left_alone(tmp_path):
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=str(tmp_path / "local"))
    client.create_collection("theirs", vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
    client.close()
    with pytest.raises(StoreError, match="not created by lightretriever"):
        QdrantHybridStore(local_path=tmp_path / "local", collection="theirs", schema=SCHEMA)


def test_second_open_store_in_process_is_in_use(tmp_path):
    first = QdrantHybridStore(tmp_path / "s", collection="c", schema=SCHEMA)
    with pytest.raises(StoreInUseError, match="in use"):
        QdrantHybridStore(tmp_path / "s", collection="c", schema=SCHEMA)
    QdrantHybridStore(tmp_path / "s", collection="other", schema=SCHEMA).close()  # other collections are free
    first.close()
    QdrantHybridStore(tmp_path / "s", collection="c", schema=SCHEMA).close()


def test_writer_in_another_process_is_in_use(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from lightretriever.components.store import QdrantHybridStore, CollectionSchema\n"
         f"s = QdrantHybridStore({str(tmp_path / 's')!r}, collection='c', schema=CollectionSchema(4, 10, 'x'))\n"
         "print('open', flush=True)\n"
         "sys.stdin.readline()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreInUseError, match=f"pid {holder.pid}"):
            QdrantHybridStore(tmp_path / "s", collection="c", schema=CollectionSchema(4, 10, "x"))
    finally:
        holder.kill()
        holder.wait()
    # The OS drops the lock with the dead process: no stale lock file blocks the next writer.
    QdrantHybridStore(tmp_path / "s", collection="c", schema=CollectionSchema(4, 10, "x")).close()


def test_local_mode_path_in_use(tmp_path):
    first = QdrantHybridStore(local_path=tmp_path / "local", collection="c", schema=SCHEMA)
    with pytest.raises(StoreInUseError):
        QdrantHybridStore(local_path=tmp_path / "local", collection="c", schema=SCHEMA)
    first.close()


def test_exactly_one_location(tmp_path):
    with pytest.raises(StoreError, match="exactly one of"):
        QdrantHybridStore(collection="c")
    with pytest.raises(StoreError, match="exactly one of"):
        QdrantHybridStore(tmp_path, location=":memory:", collection="c")
    with pytest.raises(StoreError, match="plain non-empty name"):
        QdrantHybridStore(tmp_path, collection="../x")


def test_unreachable_server_is_a_clear_error_and_hides_the_key(monkeypatch):
    monkeypatch.setenv("QDRANT_API_KEY", "secret-key-123")
    with pytest.raises(StoreError, match="cannot reach Qdrant at http://127.0.0.1:9") as err:
        QdrantHybridStore.from_location("http://127.0.0.1:9", "c", schema=SCHEMA, timeout=2)
    assert "secret-key-123" not in str(err.value)


# -- score threshold and groups ---------------------------------------------------------------
def test_score_threshold_cuts_the_score_each_mode_returns(store):
    assert ids(store.search(Q_DENSE, Q_SPARSE, mode="dense", score_threshold=0.5)) == ["a", "b", "c"]  # cosine
    assert ids(store.search(Q_DENSE, Q_SPARSE, mode="sparse", score_threshold=2.5)) == ["b", "c"]  # dot product
    # fused RRF (k=1): b 1/2 + 1/1 = 1.5, a 1/1 + 1/3 = 1.33, c 0.83, d 0.25
    assert ids(store.search(Q_DENSE, Q_SPARSE, fusion="rrf", rrf_k=1, score_threshold=1.0)) == ["b", "a"]
    for fusion in ("dbsf", "linear"):
        everything = store.search(Q_DENSE, Q_SPARSE, fusion=fusion)
        cut = everything[1].score
        assert ids(store.search(Q_DENSE, Q_SPARSE, fusion=fusion, score_threshold=cut)) == ids(everything[:2])


def test_group_by_returns_the_best_hits_of_the_top_groups(store, monkeypatch):
    from lightretriever.components.store import groups

    dense_only = dict(mode="dense", group_by="meta.lang")  # dense order: a en, b de, c en, d (no lang)
    assert ids(store.search(Q_DENSE, Q_SPARSE, k=2, group_size=1, **dense_only)) == ["a", "b"]
    assert ids(store.search(Q_DENSE, Q_SPARSE, k=2, group_size=2, **dense_only)) == ["a", "c", "b"]
    assert ids(store.search(Q_DENSE, Q_SPARSE, k=5, **dense_only)) == ["a", "c", "b"]  # d has no lang: no group
    monkeypatch.setattr(groups, "OVERFETCH", 1)  # first read: a, b; "en" needs c, which lies deeper
    assert ids(store.search(Q_DENSE, Q_SPARSE, k=1, group_size=2, **dense_only)) == ["a", "c"]
    # hybrid groups its fused ranking (RRF k=1: b, a, c, d); the threshold cuts before grouping
    hybrid = dict(fusion="rrf", rrf_k=1, group_by="lang", group_size=2)
    assert ids(store.search(Q_DENSE, Q_SPARSE, k=2, **hybrid)) == ["b", "a", "c"]
    assert ids(store.search(Q_DENSE, Q_SPARSE, k=2, score_threshold=1.0, **hybrid)) == ["b", "a"]
    linear = store.search(Q_DENSE, Q_SPARSE, k=1, fusion="linear", group_by="meta.year", group_size=1)
    assert ids(linear) == ids(store.search(Q_DENSE, Q_SPARSE, k=1, fusion="linear"))
    assert ids(store.search(Q_DENSE, Q_SPARSE, mode="dense", group_by="meta.tags")) == ["a"]  # a list value
    batch = store.search_batch(np.array([Q_DENSE, Q_DENSE], dtype=np.float32), [Q_SPARSE, Q_SPARSE],
                               k=2, group_size=1, **dense_only)
    assert [ids(hits) for hits in batch] == [["a", "b"], ["a", "b"]]


def test_bad_threshold_and_group_options_are_refused(store):
    with pytest.raises(LightRetrieverError, match="group_size=2 needs group_by"):
        store.search(Q_DENSE, Q_SPARSE, group_size=2)
    with pytest.raises(LightRetrieverError, match="score_threshold=nan"):
        store.search(Q_DENSE, Q_SPARSE, score_threshold=float("nan"))
    with pytest.raises(LightRetrieverError, match="group_by='meta..x'"):
        store.search(Q_DENSE, Q_SPARSE, group_by="meta..x")


# -- what a search reads, and per-search HNSW settings -------------------------------------
@pytest.mark.parametrize("mode, fusion", [("dense", "rrf"), ("sparse", "rrf"), ("hybrid", "rrf"), ("hybrid", "dbsf"),
                                          ("hybrid", "linear")])
def test_ids_only_search_ranks_the_same_without_payloads(store, mode, fusion):
    whole = store.search(Q_DENSE, Q_SPARSE, k=3, mode=mode, fusion=fusion)
    bare = store.search(Q_DENSE, Q_SPARSE, k=3, mode=mode, fusion=fusion, with_payload=False)
    assert [(h.id, h.score) for h in bare] == [(h.id, h.score) for h in whole]
    assert all(h.text and h.title and h.meta is not None for h in whole)
    assert all(h.text == "" and h.title == "" and h.meta == {} for h in bare)


def test_payloads_are_read_for_returned_hits_only(store, monkeypatch):
    """Prefetch legs and id-only searches read no payload; linear fusion reads the fused top k, once."""
    plans, retrieved = [], []
    query, retrieve = store._backend.query, store._backend.retrieve
    monkeypatch.setattr(store._backend, "query", lambda batch: plans.extend(batch) or query(batch))
    monkeypatch.setattr(store._backend, "retrieve",
                        lambda pids, with_vectors=False, payload=True: retrieved.append((sorted(pids), payload))
                        or retrieve(pids, with_vectors, payload))
    store.search_batch(np.array([Q_DENSE] * 2, dtype=np.float32), [Q_SPARSE] * 2, k=2, with_payload=False)
    assert {p.with_payload for p in plans} == {("id",)} and not retrieved
    plans.clear()
    hits = store.search_batch(np.array([Q_DENSE] * 2, dtype=np.float32), [Q_SPARSE] * 2, k=2, fusion="linear")
    assert {p.with_payload for p in plans} == {False}
    assert retrieved == [(sorted({point_id(h.id) for found in hits for h in found}), True)]  # one request for both


def random_points(n: int, dim: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def fill_random(store: QdrantHybridStore, vectors: np.ndarray) -> None:
    docs = [StoredDocument(id=f"p{i}", text="") for i in range(len(vectors))]
    store.upsert(docs, vectors, [SparseVector(np.array([i % 10]), np.array([1.0], dtype=np.float32))
                                 for i in range(len(vectors))])


def test_exact_search_equals_brute_force(open_store):
    vectors = random_points(600, 16)
    schema = CollectionSchema(dense_dim=16, vocab_size=10, document_fingerprint="random")
    s = open_store(schema=schema)
    fill_random(s, vectors)
    queries = random_points(5, 16, seed=1)
    for query, hits in zip(queries, s.search_batch(queries, None, k=10, mode="dense", exact=True)):
        expected = np.argsort(-(vectors @ query), kind="stable")[:10]
        assert ids(hits) == [f"p{i}" for i in expected]
        assert np.allclose([h.score for h in hits], (vectors @ query)[expected], atol=1e-5)
    tuned = s.search_batch(queries, None, k=10, mode="dense", hnsw_ef=64)  # accepted by both engines
    assert [len(h) for h in tuned] == [10] * 5
