"""Haystack components: our embedders alone, inside stock qdrant-haystack pipelines, and through a
YAML round trip in a fresh process."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from haystack import Document, Pipeline
from haystack.components.writers import DocumentWriter
from haystack.document_stores.types import DuplicatePolicy
from haystack_integrations.components.retrievers.qdrant import QdrantHybridRetriever
from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

from lightretriever.components import DocumentEncoder, QueryEncoder
from lightretriever.components.haystack import LightRetrieverDocumentEmbedder, LightRetrieverTextEmbedder

SCIFACT = Path(__file__).resolve().parents[1] / "data" / "scifact" / "corpus.jsonl.gz"


def scifact_documents(n: int = 30) -> list[Document]:
    with gzip.open(SCIFACT, "rt", encoding="utf-8") as handle:
        rows = [json.loads(next(handle)) for _ in range(n)]
    return [Document(id=r["_id"], content=r["text"], meta={"title": r["title"], "n": i}) for i, r in enumerate(rows)]


@pytest.fixture(scope="module")
def text_embedder(minilm_artifact):
    embedder = LightRetrieverTextEmbedder(model=str(minilm_artifact.root))
    embedder.warm_up()
    return embedder


@pytest.fixture(scope="module")
def doc_embedder(minilm_artifact):
    embedder = LightRetrieverDocumentEmbedder(model=str(minilm_artifact.root), progress_bar=False)
    embedder.warm_up()
    return embedder


# -- the embedders alone ----------------------------------------------------------------------
def test_text_embedder_is_the_query_encoder(minilm_artifact, text_embedder):
    out = text_embedder.run("Does aspirin prevent heart attacks?")
    expected = QueryEncoder.from_pretrained(minilm_artifact.root).encode(["Does aspirin prevent heart attacks?"])
    np.testing.assert_allclose(out["embedding"], expected.dense[0], atol=1e-7)
    assert out["sparse_embedding"].indices == expected.sparse[0].indices.tolist()
    assert out["sparse_embedding"].values == expected.sparse[0].values.tolist()
    assert asyncio.run(text_embedder.run_async("Does aspirin prevent heart attacks?")) == out
    empty = text_embedder.run("   ")
    assert not any(empty["embedding"]) and empty["sparse_embedding"].indices == []


def test_text_embedder_errors(minilm_artifact, text_embedder):
    with pytest.raises(TypeError, match="expects a string"):
        text_embedder.run(["a list"])
    cold = LightRetrieverTextEmbedder(model=str(minilm_artifact.root))
    with pytest.raises(RuntimeError, match="warm_up"):
        cold.run("q")


def test_document_embedder_keeps_ids_and_matches_the_encoder(minilm_artifact, doc_embedder):
    docs = scifact_documents(3) + [Document(content=None, meta={"title": "empty"})]
    out = doc_embedder.run(docs)["documents"]
    assert [d.id for d in out] == [d.id for d in docs] and docs[0].embedding is None  # copies, same ids
    expected = DocumentEncoder.from_pretrained(minilm_artifact.root).encode([d.content for d in docs[:3]],
                                                                            show_progress=False)
    np.testing.assert_allclose(np.array([d.embedding for d in out[:3]]), expected.dense, atol=1e-5)
    assert out[0].sparse_embedding.indices == expected.sparse[0].indices.tolist()
    assert not any(out[3].embedding) and out[3].sparse_embedding.indices == []
    titled = LightRetrieverDocumentEmbedder(model=str(minilm_artifact.root), meta_fields_to_embed=["title"],
                                            progress_bar=False)
    titled._encoder = doc_embedder._encoder  # same model, other text preparation
    with_title = titled.run(docs[:1])["documents"][0].embedding
    np.testing.assert_allclose(
        with_title, DocumentEncoder.encode(doc_embedder._encoder, [docs[0].meta["title"] + "\n" + docs[0].content],
                                           show_progress=False).dense[0], atol=1e-5)
    # the same batch: the same vectors (a row alone vs in a batch moves ~1e-4 in bf16, the default on AMX CPUs)
    assert [d.embedding for d in asyncio.run(doc_embedder.run_async(docs))["documents"]] == [d.embedding for d in out]


def test_document_embedder_errors(minilm_artifact, doc_embedder):
    with pytest.raises(TypeError, match="expects a list of Documents"):
        doc_embedder.run("a string")
    assert doc_embedder.run([]) == {"documents": []}
    with pytest.raises(RuntimeError, match="warm_up"):
        LightRetrieverDocumentEmbedder(model=str(minilm_artifact.root)).run(scifact_documents(1))


# -- inside stock qdrant-haystack pipelines -------------------------------------------------------
def indexing_pipeline(store, model: str) -> Pipeline:
    pipeline = Pipeline()
    pipeline.add_component("embedder", LightRetrieverDocumentEmbedder(model=model, progress_bar=False,
                                                                      meta_fields_to_embed=["title"]))
    pipeline.add_component("writer", DocumentWriter(document_store=store, policy=DuplicatePolicy.OVERWRITE))
    pipeline.connect("embedder.documents", "writer.documents")
    return pipeline


def query_pipeline(store, model: str, top_k: int = 5) -> Pipeline:
    pipeline = Pipeline()
    pipeline.add_component("embedder", LightRetrieverTextEmbedder(model=model))
    pipeline.add_component("retriever", QdrantHybridRetriever(document_store=store, top_k=top_k))
    pipeline.connect("embedder.embedding", "retriever.query_embedding")
    pipeline.connect("embedder.sparse_embedding", "retriever.query_sparse_embedding")
    return pipeline


def test_embedders_in_stock_qdrant_haystack_pipelines(minilm_artifact):
    store = QdrantDocumentStore(location=":memory:", embedding_dim=384, use_sparse_embeddings=True,
                                progress_bar=False)
    docs = scifact_documents(30)
    written = indexing_pipeline(store, str(minilm_artifact.root)).run({"embedder": {"documents": docs}})
    assert written["writer"]["documents_written"] == 30 and store.count_documents() == 30
    result = query_pipeline(store, str(minilm_artifact.root)).run(
        {"embedder": {"text": docs[7].meta["title"]},
         "retriever": {"filters": {"field": "meta.n", "operator": ">=", "value": 5}}})
    hits = result["retriever"]["documents"]
    # its own title finds it (the zero-shot table's dense leg is weak, so allow the runner-up place)
    assert docs[7].id in [d.id for d in hits[:2]]
    assert all(d.meta["n"] >= 5 for d in hits) and len(hits) == 5
    store.close()


def test_wrong_embedding_dim_fails_at_write(minilm_artifact):
    store = QdrantDocumentStore(location=":memory:", embedding_dim=768, use_sparse_embeddings=True,
                                progress_bar=False)
    with pytest.raises(Exception, match="(?i)dim"):
        indexing_pipeline(store, str(minilm_artifact.root)).run({"embedder": {"documents": scifact_documents(2)}})
    store.close()


@pytest.mark.slow
def test_yaml_round_trip_in_a_fresh_process(minilm_artifact, tmp_path):
    store = QdrantDocumentStore(path=str(tmp_path / "qdrant"), embedding_dim=384, use_sparse_embeddings=True,
                                progress_bar=False)
    docs = scifact_documents(20)
    indexing_pipeline(store, str(minilm_artifact.root)).run({"embedder": {"documents": docs}})
    pipeline = query_pipeline(store, str(minilm_artifact.root), top_k=3)
    query = docs[4].meta["title"]
    expected = [d.id for d in pipeline.run({"embedder": {"text": query}})["retriever"]["documents"]]
    yaml_text = pipeline.dumps()
    store.close()  # local-mode storage allows one client per folder
    assert "haystack_integrations.components.embedders.lightretriever.LightRetrieverTextEmbedder" in yaml_text
    (tmp_path / "pipeline.yaml").write_text(yaml_text)
    script = (
        "import sys, json\n"
        "from haystack import Pipeline\n"
        "p = Pipeline.loads(open(sys.argv[1]).read())\n"  # plain loads: no allowlist step
        "out = p.run({'embedder': {'text': sys.argv[2]}})\n"
        "print(json.dumps([d.id for d in out['retriever']['documents']]))\n"
        "print('transformers' in sys.modules or 'lightretriever.components.document_encoder' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "pipeline.yaml"), query],
                            capture_output=True, text=True, check=True)
    ids, model_loaded = result.stdout.strip().splitlines()
    assert json.loads(ids) == expected and docs[4].id in expected
    # The query side loads no model (Haystack itself imports torch when installed: haystack.utils.device).
    assert model_loaded == "False"
