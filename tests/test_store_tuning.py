"""IndexSettings (HNSW m / ef_construct, int8 quantization, on-disk vectors) reach both engines and stay in
the collection's record; per-search hnsw_ef / exact trade speed for recall on the real embedded engine."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lightretriever.components.errors import InvalidArgumentError, StoreError
from lightretriever.components.sparse import SparseVector
from lightretriever.components.store import CollectionSchema, IndexSettings, QdrantHybridStore, StoredDocument

DIM = 32
SCHEMA = CollectionSchema(dense_dim=DIM, vocab_size=10, document_fingerprint="random")
# tiny thresholds (KB) so that a test-sized segment gets, and is searched through, an HNSW graph
SMALL = {"full_scan_threshold": 1, "indexing_threshold": 1}


def unit_rows(n: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


POINTS, QUERIES = unit_rows(2000, 0), unit_rows(40, 1)
TRUTH = np.argsort(-(QUERIES @ POINTS.T), axis=1)[:, :10]


def filled(path, settings: IndexSettings) -> QdrantHybridStore:
    store = QdrantHybridStore(path, collection="c", schema=SCHEMA, index=settings)
    docs = [StoredDocument(id=f"p{i}") for i in range(len(POINTS))]
    store.upsert(docs, POINTS, [SparseVector(np.array([1]), np.array([1.0], dtype=np.float32))] * len(POINTS))
    store.optimize()
    return store


def recall_at_10(store: QdrantHybridStore, **search) -> float:
    found = store.search_batch(QUERIES, None, k=10, mode="dense", with_payload=False, **search)
    return float(np.mean([len({int(h.id[1:]) for h in hits} & set(truth)) / 10 for hits, truth in zip(found, TRUTH)]))


def test_build_and_search_settings_trade_recall_on_the_embedded_engine(tmp_path):
    with filled(tmp_path / "low", IndexSettings(m=4, ef_construct=8, **SMALL)) as low:
        shallow, wide, exact = recall_at_10(low), recall_at_10(low, hnsw_ef=128), recall_at_10(low, exact=True)
    assert shallow < wide < exact == 1.0  # a wider search finds more true neighbours; exact finds all
    with filled(tmp_path / "default", IndexSettings(**SMALL)) as built_well:
        assert recall_at_10(built_well) > shallow  # a denser graph (Qdrant's m=16, ef_construct=100)


def test_settings_reach_the_engine_and_the_record(tmp_path):
    settings = IndexSettings(m=24, ef_construct=64, quantization="int8", on_disk=True)
    with filled(tmp_path, settings) as store:
        assert store.schema.index == settings.to_record()
        assert recall_at_10(store) >= 0.9  # quantised, then rescored
    engine = json.loads((tmp_path / "c" / "shard" / "edge_config.json").read_text())
    assert (engine["hnsw_config"]["m"], engine["hnsw_config"]["ef_construct"]) == (24, 64)
    assert engine["quantization_config"]["scalar"]["type"] == "int8" and engine["vectors"]["dense"]["on_disk"]
    with QdrantHybridStore(tmp_path, collection="c", schema=SCHEMA) as reopened:  # no settings: the recorded ones
        assert IndexSettings.from_record(reopened.schema.index) == settings
    with pytest.raises(StoreError, match="was created with index settings .* index into a new collection"):
        QdrantHybridStore(tmp_path, collection="c", schema=SCHEMA, index=IndexSettings(m=8))


def test_settings_reach_a_qdrant_client_collection(monkeypatch):
    """What a server is asked to create (local mode itself ignores HNSW settings: it searches by brute force)."""
    from qdrant_client import QdrantClient

    sent = {}
    create = QdrantClient.create_collection
    monkeypatch.setattr(QdrantClient, "create_collection",
                        lambda self, name, **kw: sent.update(kw) or create(self, name, **kw))
    settings = IndexSettings(m=24, ef_construct=64, quantization="int8", on_disk=True, indexing_threshold=5)
    with QdrantHybridStore(location=":memory:", collection="c", schema=SCHEMA, index=settings) as store:
        assert store.schema.index == settings.to_record()
        assert IndexSettings.from_record(store._backend.read_schema().index) == settings  # kept in the metadata
    assert (sent["hnsw_config"].m, sent["hnsw_config"].ef_construct) == (24, 64)
    assert sent["quantization_config"].scalar.type.value == "int8" and sent["vectors_config"]["dense"].on_disk
    assert sent["optimizers_config"].indexing_threshold == 5


def test_on_disk_keyword_is_short_for_the_setting(tmp_path):
    with QdrantHybridStore(tmp_path, collection="c", schema=SCHEMA, on_disk=True) as store:
        assert store.schema.index == {"on_disk": True}


@pytest.mark.parametrize("fields, message", [
    ({"m": 0}, "m=0 must be a whole number >= 1"),
    ({"ef_construct": 2.5}, "ef_construct=2.5 must be a whole number >= 1"),
    ({"quantization": "int4"}, "quantization='int4' is not known; use one of int8"),
    ({"on_disk": "yes"}, "on_disk='yes' must be True or False"),
])
def test_bad_settings_fail_at_construction(fields, message):
    with pytest.raises(InvalidArgumentError, match=message):
        IndexSettings(**fields)


def test_index_command_flags_make_the_settings():
    import argparse

    from lightretriever.pipelines.commands import index

    parser = argparse.ArgumentParser()
    index.add_arguments(parser)
    base = ["ART", "--corpus", "c.jsonl", "--store", "S"]
    assert index.index_settings(parser.parse_args(base)) is None  # a resumed run keeps the collection's own
    args = parser.parse_args(base + ["--hnsw-m", "32", "--ef-construct", "200", "--quantization", "int8"])
    assert index.index_settings(args) == IndexSettings(m=32, ef_construct=200, quantization="int8")
    with pytest.raises(SystemExit):
        parser.parse_args(base + ["--quantization", "int4"])
