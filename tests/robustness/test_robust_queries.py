"""The query side under attack: queries that are not valid text, fusion arguments that would poison
scores, and one query ranked the same alone and in a batch (encoder bits, engine ties)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from lightretriever.components import QueryEncoder
from lightretriever.components.errors import InvalidArgumentError, QueryError
from lightretriever.components.searcher import HybridSearcher
from lightretriever.components.sparse import SparseVector
from lightretriever.components.store import CollectionSchema, QdrantHybridStore, StoredDocument
from lightretriever.components.store.fusion import Fusion
from query_artifacts import make_query_artifact

QUERIES_FILE = Path(__file__).resolve().parents[2] / "data" / "scifact" / "queries.jsonl"


def scifact_queries(n: int) -> list[str]:
    if not QUERIES_FILE.is_file():
        pytest.skip(f"{QUERIES_FILE} is missing")
    return [json.loads(line)["text"] for line in QUERIES_FILE.read_text(encoding="utf-8").splitlines()[:n]]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    artifact, _ = make_query_artifact(tmp_path_factory.mktemp("q") / "a", dim=16)
    return QueryEncoder(artifact)


# -- queries that are not valid text -----------------------------------------------------------------
@pytest.mark.parametrize("batch,message", [
    (["fine", "abc\ud800"], r"query 1 is not valid Unicode text: lone surrogate '\\ud800' at character 3; "
                            r"pass valid Unicode text"),
    (["caf\udce9"], r"query 0 is not valid Unicode text: byte 0xe9 that is not UTF-8 at character 3"),
    (["ok", "ok", b"bytes"], r"query 2 is bytes, not str \(decode it first"),
    ([None], r"query 0 is NoneType, not str: pass valid Unicode text"),
    (["a", 7], r"query 1 is int, not str"),
    ("a single string", r"takes a list of strings, got a single str; wrap a single query as \[query\]"),
    (b"raw", r"got a single bytes"),
    (None, r"takes a list of strings, got NoneType"),
])
def test_bad_queries_raise_query_error(encoder, batch, message):
    with pytest.raises(QueryError, match=message):
        encoder.encode(batch)


def test_a_big_batch_names_the_bad_position(encoder):
    batch = ["aspirin and heart attacks"] * 40 + ["\udfff"] + ["x"] * 10
    with pytest.raises(QueryError, match=r"query 40 is not valid Unicode text"):
        encoder.encode(batch)


def test_valid_unicode_and_empty_queries_still_encode(encoder):
    out = encoder.encode(["", "   \t", "naïve café 😀 ünïcödé", "ok"])
    assert not out.dense[:2].any() and len(out.sparse[0]) == 0 and len(out.sparse[1]) == 0
    assert np.isclose(np.linalg.norm(out.dense[2]), 1.0) and len(out.sparse[2]) > 0


SCHEMA = CollectionSchema(dense_dim=16, vocab_size=30522, document_fingerprint="queries-test")


@pytest.fixture
def searcher(encoder, tmp_path):
    store = QdrantHybridStore(tmp_path / "store", collection="q", schema=SCHEMA)
    rng = np.random.default_rng(0)
    docs = [StoredDocument(id=f"d{i}", text=f"doc {i}") for i in range(5)]
    sparse = [SparseVector(np.array([1000 + i]), np.array([1.0], dtype=np.float32)) for i in range(5)]
    store.upsert(docs, rng.standard_normal((5, 16)).astype(np.float32), sparse)
    yield HybridSearcher(encoder=encoder, store=store)
    store.close()


def test_searcher_refuses_bad_queries_with_query_error(searcher):
    with pytest.raises(QueryError, match=r"query 0 is not valid Unicode text: lone surrogate"):
        searcher.search("abc\ud800")
    with pytest.raises(QueryError, match=r"query 0 is bytes, not str"):
        searcher.search(b"abc")
    with pytest.raises(QueryError, match=r"query 1 is NoneType"):
        searcher.search_batch(["ok", None])
    # a str given as a batch used to become one query per character
    with pytest.raises(QueryError, match=r"got a single str"):
        searcher.search_batch("abc")
    assert len(searcher.search("a fine query").hits) > 0


# -- fusion arguments ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,weights,message", [
    ("linear", (math.nan, 1.0), r"weights=\(nan, 1.0\): pass two finite, non-negative numbers"),
    ("linear", (math.inf, 1.0), r"weights=\(inf, 1.0\)"),
    ("linear", (-0.5, 1.0), r"non-negative"),
    ("linear", (0.0, 0.0), r"not both zero"),
    ("linear", (1.0,), r"weights=\(1.0,\): pass two"),
    ("linear", (1.0, 2.0, 3.0), r"pass two"),
    ("linear", "0.7,0.3", r"pass two"),
    ("linear", ("a", 1), r"are not numbers"),
    ("linear", (True, 1), r"are not numbers"),
    ("rrf", (math.nan, 1.0), r"weights=\(nan, 1.0\)"),
    ("rrf", (0, 0), r"not both zero"),
    ("rrf", (1.0, -1.0), r"non-negative"),
    ("dbsf", (0.5, 0.5), r"not dbsf"),
])
def test_bad_fusion_weights_raise_invalid_argument(searcher, kind, weights, message):
    with pytest.raises(InvalidArgumentError, match=message):
        Fusion.parse(kind, weights=weights)
    with pytest.raises(InvalidArgumentError, match=message):
        searcher.store.search(np.ones(16, dtype=np.float32), None, k=3, fusion=kind, weights=weights)


@pytest.mark.parametrize("rrf_k", [-1, math.nan, math.inf, 1.5, "60", True])
def test_bad_rrf_k_raises_invalid_argument(rrf_k):
    with pytest.raises(InvalidArgumentError, match=r"rrf_k=.* must be a whole number >= 0"):
        Fusion.parse("rrf", rrf_k=rrf_k)


def test_bad_fusion_and_mode_names(searcher):
    with pytest.raises(InvalidArgumentError, match=r"fusion='sum' is not known"):
        Fusion.parse("sum")
    with pytest.raises(InvalidArgumentError, match=r"fusion=\['rrf'\] is not known"):
        Fusion.parse(["rrf"])
    with pytest.raises(InvalidArgumentError, match=r"mode='both' is not known"):
        searcher.search("query", mode="both")


def test_linear_scores_stay_finite_with_valid_weights(searcher):
    hits = searcher.search("doc", fusion="linear", weights=(1.0, 0.0)).hits
    assert hits and all(math.isfinite(h.score) for h in hits)


# -- determinism: one query, alone or in a batch -------------------------------------------------------
@pytest.mark.parametrize("dtype,dequantize", [("float32", True), ("float16", False), ("int8", False),
                                              ("int8", True)])
def test_encoder_gives_the_same_bits_alone_and_in_a_batch(tmp_path, dtype, dequantize):
    artifact, _ = make_query_artifact(tmp_path / "a", dim=384, dtype=dtype)
    encoder = QueryEncoder(artifact, dequantize_table=dequantize)
    queries = scifact_queries(1200)  # > one chunk of the column sweep: the threaded path runs too
    batch = encoder.encode(queries).dense
    alone = np.stack([encoder.encode([q]).dense[0] for q in queries[:300]])
    assert np.array_equal(batch[:300], alone)
    for size in (2, 8, 9, 33):  # either side of the small-batch path
        assert np.array_equal(encoder.encode(queries[:size]).dense, batch[:size]), size


def test_minilm_encoder_gives_the_same_bits_alone_and_in_a_batch(minilm_artifact):
    """The issue's measurement: 500 SciFact queries one by one vs as one batch (191 differed before)."""
    encoder = QueryEncoder(minilm_artifact)
    queries = scifact_queries(500)
    batch = encoder.encode(queries)
    for i, query in enumerate(queries):
        alone = encoder.encode([query])
        assert np.array_equal(alone.dense[0], batch.dense[i]), (i, query)
        assert np.array_equal(alone.sparse[0].indices, batch.sparse[i].indices)
        assert np.array_equal(alone.sparse[0].values, batch.sparse[i].values)


@pytest.mark.parametrize("fusion", ["rrf", "dbsf", "linear"])
@pytest.mark.slow
def test_search_and_search_batch_rank_identically(minilm_artifact, scifact_collection, fusion):
    queries = scifact_queries(300)
    searcher = HybridSearcher.open(minilm_artifact.root, scifact_collection.store, "sci", fusion=fusion)
    try:
        batch = searcher.search_batch(queries, k=10)
        for query, together in zip(queries, batch):
            alone = searcher.search(query, k=10)
            assert [(h.id, h.score) for h in alone.hits] == [(h.id, h.score) for h in together.hits], query
    finally:
        searcher.store.close()


def tied_store(path: Path) -> QdrantHybridStore:
    """Pairs of documents whose RRF scores tie exactly: 'b…' is 1st dense and 2nd sparse, 'a…' the
    reverse, so their scores are equal and k=1 must pick the smaller document id."""
    store = QdrantHybridStore(path, collection="ties", schema=CollectionSchema(dense_dim=2, vocab_size=10,
                                                                                document_fingerprint="ties"))
    docs = [StoredDocument(id=i, text=i) for i in ("b1", "a1", "c1")]
    dense = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], dtype=np.float32)
    sparse = [SparseVector(np.array([1]), np.array([v], dtype=np.float32)) for v in (2.0, 3.0, 1.0)]
    store.upsert(docs, dense, sparse)
    return store


def test_rrf_ties_at_the_cut_are_broken_by_document_id(tmp_path):
    store = tied_store(tmp_path / "s")
    try:
        q_dense = np.array([1.0, 0.0], dtype=np.float32)
        q_sparse = SparseVector(np.array([1]), np.array([1.0], dtype=np.float32))
        alone = store.search(q_dense, q_sparse, k=1, fusion="rrf")
        together = store.search_batch(np.stack([q_dense] * 3), [q_sparse] * 3, k=1, fusion="rrf")
        assert [h.id for h in alone] == ["a1"]
        assert all([h.id for h in hits] == ["a1"] for hits in together)
        two = store.search(q_dense, q_sparse, k=2, fusion="rrf")
        assert [h.id for h in two] == ["a1", "b1"] and two[0].score == two[1].score
    finally:
        store.close()
