"""LightRetrieverDocumentStore and LightRetrieverRetriever on the embedded engine: Haystack's own
DocumentStore test suite, pipelines with our retriever, run_async, YAML round trip, wiring errors."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from haystack import Document, Pipeline
from haystack.components.writers import DocumentWriter
from haystack.document_stores.errors import DuplicateDocumentError
from haystack.document_stores.types import DuplicatePolicy
from haystack.testing.document_store import (CountDocumentsTest, DeleteAllTest, DeleteDocumentsTest,
                                             FilterDocumentsTest, WriteDocumentsTest)
from haystack.testing.document_store_async import (CountDocumentsAsyncTest, DeleteAllAsyncTest,
                                                   DeleteDocumentsAsyncTest, FilterDocumentsAsyncTest,
                                                   WriteDocumentsAsyncTest)

from lightretriever.components.errors import ArtifactError, InvalidArgumentError, StoreMismatchError
from lightretriever.components.haystack import (LightRetrieverDocumentEmbedder, LightRetrieverDocumentStore,
                                                LightRetrieverRetriever, LightRetrieverTextEmbedder)
from query_artifacts import make_query_artifact

SCIFACT = Path(__file__).resolve().parents[1] / "data" / "scifact" / "corpus.jsonl.gz"


def comparable(documents: list[Document]) -> list[tuple]:
    """Qdrant stores cosine vectors normalised and returns no score for a filter: compare the rest."""
    return sorted((d.id, d.content, json.dumps(d.meta, sort_keys=True)) for d in documents)


@pytest.fixture(scope="module")
def artifact_768(tmp_path_factory):
    """Haystack's suite writes 768-dim embeddings: a query-side artifact of that width."""
    artifact, _ = make_query_artifact(tmp_path_factory.mktemp("artifact") / "a", dim=768)
    return artifact


class TestHaystackDocumentStoreSuite(CountDocumentsTest, DeleteDocumentsTest, FilterDocumentsTest,
                                     WriteDocumentsTest, DeleteAllTest, CountDocumentsAsyncTest,
                                     DeleteDocumentsAsyncTest, FilterDocumentsAsyncTest, WriteDocumentsAsyncTest,
                                     DeleteAllAsyncTest):
    """Haystack's own tests for DocumentStore implementations (768-dim random embeddings), sync and async.
    The async mixins are marked for pytest-asyncio; anyio's pytest plugin (installed with httpx) runs them."""

    pytestmark = pytest.mark.anyio

    @pytest.fixture
    def document_store(self, artifact_768, tmp_path):
        store = LightRetrieverDocumentStore(path=str(tmp_path / "stores"), collection="suite",
                                            model=str(artifact_768.root))
        yield store
        store.close()

    @staticmethod
    def assert_documents_are_equal(received: list[Document], expected: list[Document]):
        assert comparable(received) == comparable(expected)

    def test_write_documents(self, document_store):
        doc = Document(content="test doc")
        assert document_store.write_documents([doc]) == 1
        with pytest.raises(DuplicateDocumentError):  # NONE behaves as FAIL
            document_store.write_documents([doc])
        self.assert_documents_are_equal(document_store.filter_documents(), [doc])

    async def test_write_documents_async(self, document_store):
        doc = Document(content="test doc")
        assert await document_store.write_documents_async([doc]) == 1
        with pytest.raises(DuplicateDocumentError):  # NONE behaves as FAIL
            await document_store.write_documents_async([doc])
        self.assert_documents_are_equal(await document_store.filter_documents_async(), [doc])

    async def test_get_documents_by_id_keeps_order_and_skips_missing(self, document_store):
        docs = [Document(id=str(i), content=f"doc {i}") for i in range(3)]
        document_store.write_documents(docs)
        assert [d.id for d in document_store.get_documents_by_id(["2", "missing", "0"])] == ["2", "0"]
        found = await document_store.get_documents_by_id_async(["1"])
        assert comparable(found) == comparable(docs[1:2])


@pytest.fixture
def anyio_backend():
    return "asyncio"


def scifact_documents(n: int) -> list[Document]:
    with gzip.open(SCIFACT, "rt", encoding="utf-8") as handle:
        rows = [json.loads(next(handle)) for _ in range(n)]
    return [Document(id=r["_id"], content=r["text"], meta={"title": r["title"], "n": i, "shelf": i % 3}) for i, r in enumerate(rows)]


@pytest.fixture(scope="module")
def filled_store(minilm_artifact, tmp_path_factory):
    """30 SciFact abstracts written through a Haystack indexing pipeline into our store."""
    root = tmp_path_factory.mktemp("haystack-store")
    store = LightRetrieverDocumentStore(path=str(root), collection="sci", model=str(minilm_artifact.root))
    indexing = Pipeline()
    indexing.add_component("embedder", LightRetrieverDocumentEmbedder(model=str(minilm_artifact.root),
                                                                      meta_fields_to_embed=["title"],
                                                                      progress_bar=False))
    indexing.add_component("writer", DocumentWriter(document_store=store, policy=DuplicatePolicy.OVERWRITE))
    indexing.connect("embedder.documents", "writer.documents")
    docs = scifact_documents(30)
    assert indexing.run({"embedder": {"documents": docs}})["writer"]["documents_written"] == 30
    yield store, docs
    store.close()


def test_retriever_finds_documents_with_filters_and_modes(filled_store):
    store, docs = filled_store
    # A zero-shot table's dense leg is weak (one abstract, 70115, attracts most title queries), so the
    # sparse leg is the one checked for rank 1; hybrid results must contain the target near the top.
    title = docs[12].meta["title"]
    sparse = LightRetrieverRetriever(document_store=store, top_k=5, mode="sparse")
    sparse.warm_up()
    hits = sparse.run(query=title)["documents"]
    assert hits[0].id == docs[12].id and len(hits) == 5 and hits[0].score > hits[-1].score
    assert hits[0].content == docs[12].content and hits[0].meta == docs[12].meta
    retriever = LightRetrieverRetriever(document_store=store, top_k=5)
    retriever.warm_up()
    assert docs[12].id in [d.id for d in retriever.run(query=title)["documents"][:3]]
    filtered = retriever.run(query=title, top_k=3,
                             filters={"field": "meta.n", "operator": "<", "value": 10})["documents"]
    assert len(filtered) == 3 and all(d.meta["n"] < 10 for d in filtered)
    for mode, fusion in (("hybrid", "dbsf"), ("hybrid", "linear")):
        other = LightRetrieverRetriever(document_store=store, top_k=3, mode=mode, fusion=fusion)
        other.warm_up()
        assert docs[12].id in [d.id for d in other.run(query=title)["documents"]]
    assert asyncio.run(retriever.run_async(query=title)) == retriever.run(query=title)


def test_query_pipeline_and_async_run(filled_store, minilm_artifact):
    store, docs = filled_store
    pipeline = Pipeline()
    pipeline.add_component("retriever", LightRetrieverRetriever(document_store=store, top_k=4))
    out = pipeline.run({"retriever": {"query": docs[3].meta["title"]}})
    assert docs[3].id in [d.id for d in out["retriever"]["documents"]]
    async_out = asyncio.run(pipeline.run_async({"retriever": {"query": docs[3].meta["title"]}}))
    assert [d.id for d in async_out["retriever"]["documents"]] == [d.id for d in out["retriever"]["documents"]]


def test_retriever_score_threshold_groups_and_embeddings(filled_store):
    """QdrantHybridRetriever's parameters, at init and per run, and serialised."""
    store, docs = filled_store
    query = docs[12].meta["title"]
    for mode in ("dense", "sparse", "hybrid"):  # the threshold cuts the score the documents carry
        retriever = LightRetrieverRetriever(document_store=store, top_k=6, mode=mode)
        retriever.warm_up()
        everything = retriever.run(query=query)["documents"]
        cut = retriever.run(query=query, score_threshold=everything[2].score)["documents"]
        assert [d.id for d in cut] == [d.id for d in everything[:3]]
        assert all(d.embedding is None and d.sparse_embedding is None for d in everything)
    grouping = LightRetrieverRetriever(document_store=store, top_k=2, group_by="meta.shelf", group_size=2,
                                       return_embedding=True)
    grouping.warm_up()
    grouped = grouping.run(query=query)["documents"]
    shelves = [d.meta["shelf"] for d in grouped]
    assert len(grouped) == 4 and len(set(shelves)) == 2 and all(shelves.count(s) == 2 for s in shelves)
    assert all(len(d.embedding) == 384 and d.sparse_embedding.indices for d in grouped)
    assert len(grouping.run(query=query, group_size=1, return_embedding=False)["documents"]) == 2
    assert grouping.run(query=query, return_embedding=False)["documents"][0].embedding is None
    again = LightRetrieverRetriever.from_dict(grouping.to_dict())
    assert (again.group_by, again.group_size, again.return_embedding) == ("meta.shelf", 2, True)
    with pytest.raises(InvalidArgumentError, match="group_size=2 needs group_by"):
        LightRetrieverRetriever(document_store=store, group_size=2)


def test_document_writer_under_async_pipeline(minilm_artifact, tmp_path):
    """The stock DocumentWriter calls write_documents_async under Pipeline.run_async."""
    store = LightRetrieverDocumentStore(path=str(tmp_path), collection="async", model=str(minilm_artifact.root))
    indexing = Pipeline()
    indexing.add_component("embedder", LightRetrieverDocumentEmbedder(model=str(minilm_artifact.root),
                                                                      progress_bar=False))
    indexing.add_component("writer", DocumentWriter(document_store=store))
    indexing.connect("embedder.documents", "writer.documents")
    out = asyncio.run(indexing.run_async({"embedder": {"documents": scifact_documents(4)}}))
    assert out["writer"]["documents_written"] == 4 and store.count_documents() == 4
    store.close()


def test_retriever_refuses_an_artifact_of_another_document_encoder(filled_store, tmp_path):
    store, _ = filled_store
    other, _ = make_query_artifact(tmp_path / "other", dim=384)
    retriever = LightRetrieverRetriever(document_store=store, model=str(other.root))
    with pytest.raises(StoreMismatchError, match="was indexed by document encoder"):
        retriever.warm_up()
    wrong_dim, _ = make_query_artifact(tmp_path / "wrong-dim", dim=16)
    with pytest.raises(StoreMismatchError, match="384-dim dense vectors but this artifact makes 16-dim"):
        LightRetrieverRetriever(document_store=store, model=str(wrong_dim.root)).warm_up()


def test_writer_refuses_embeddings_of_the_wrong_size(filled_store):
    store, _ = filled_store
    with pytest.raises(Exception, match="3-dim embedding but collection 'sci' stores 384-dim"):
        store.write_documents([Document(content="x", embedding=[0.1, 0.2, 0.3])], policy=DuplicatePolicy.OVERWRITE)


def test_bad_retriever_settings_fail_at_construction(filled_store):
    store, _ = filled_store
    with pytest.raises(Exception, match="fusion='max'"):
        LightRetrieverRetriever(document_store=store, fusion="max")
    with pytest.raises(ValueError, match="LightRetrieverDocumentStore"):
        LightRetrieverRetriever(document_store="not a store", model="x")


@pytest.mark.slow
def test_yaml_round_trip_with_our_store_in_a_fresh_process(minilm_artifact, tmp_path):
    store = LightRetrieverDocumentStore(path=str(tmp_path / "stores"), collection="sci",
                                        model=str(minilm_artifact.root))
    docs = scifact_documents(20)
    embedder = LightRetrieverDocumentEmbedder(model=str(minilm_artifact.root), progress_bar=False,
                                              meta_fields_to_embed=["title"])
    embedder.warm_up()
    store.write_documents(embedder.run(docs)["documents"])
    pipeline = Pipeline()
    pipeline.add_component("retriever", LightRetrieverRetriever(document_store=store, top_k=3, fusion="linear"))
    query = docs[9].meta["title"]
    expected = [d.id for d in pipeline.run({"retriever": {"query": query}})["retriever"]["documents"]]
    yaml_text = pipeline.dumps()
    store.close()  # one open store per embedded collection
    assert "haystack_integrations.components.retrievers.lightretriever.LightRetrieverRetriever" in yaml_text
    assert "haystack_integrations.document_stores.lightretriever.LightRetrieverDocumentStore" in yaml_text
    script = (
        "import sys, json\n"
        "from haystack import Pipeline\n"
        "p = Pipeline.loads(sys.stdin.read())\n"
        "out = p.run({'retriever': {'query': sys.argv[1]}})\n"
        "print(json.dumps([d.id for d in out['retriever']['documents']]),\n"
        "      'transformers' in sys.modules or 'lightretriever.components.document_encoder' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script, query], input=yaml_text, capture_output=True, text=True,
                            check=True)
    ids, model_loaded = result.stdout.rsplit(" ", 1)
    assert json.loads(ids) == expected and docs[9].id in expected
    assert model_loaded.strip() == "False"  # the query side loads no model


def test_relative_paths_in_yaml_resolve_at_init_and_name_their_directory(tmp_path, monkeypatch):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    make_query_artifact(project / "artifacts" / "q", dim=8)
    elsewhere.mkdir()
    monkeypatch.chdir(project)
    store = LightRetrieverDocumentStore(path="stores", collection="rel", model="artifacts/q")
    pipeline = Pipeline()
    pipeline.add_component("retriever", LightRetrieverRetriever(document_store=store))
    pipeline.add_component("embedder", LightRetrieverTextEmbedder(model="artifacts/q"))
    yaml_text = pipeline.dumps()
    assert "model: artifacts/q" in yaml_text and "path: stores" in yaml_text  # kept as given
    monkeypatch.chdir(elsewhere)
    pipeline.warm_up()  # made in project/: a later chdir does not move its paths
    assert (project / "stores" / "rel").is_dir() and not (elsewhere / "stores").exists()
    store.close()
    loaded = Pipeline.loads(yaml_text)  # made in elsewhere/: resolved there, and refused with that directory
    with pytest.raises(ArtifactError, match=f"resolved against the working directory {elsewhere}"):
        loaded.get_component("retriever").warm_up()
    with pytest.raises(ArtifactError, match="LightRetrieverTextEmbedder: model='artifacts/q' is relative"):
        loaded.get_component("embedder").warm_up()
    monkeypatch.chdir(project)
    again = Pipeline.loads(yaml_text)
    again.warm_up()
    again.get_component("retriever").document_store.close()


def test_text_embedder_output_feeds_our_retriever_store(filled_store, minilm_artifact):
    """The text embedder and the retriever encode a query identically."""
    store, docs = filled_store
    embedder = LightRetrieverTextEmbedder(model=str(minilm_artifact.root))
    embedder.warm_up()
    out = embedder.run(docs[0].meta["title"])
    hits = store.store.search(out["embedding"], None, k=1, mode="dense")
    assert hits[0].id == docs[0].id
