"""LlamaIndex: our embedding (+ sparse functions) inside the stock QdrantVectorStore in hybrid mode,
and our retriever over QdrantHybridStore in a query engine with no LLM."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import numpy as np
from llama_index.core import Settings, StorageContext, VectorStoreIndex
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import TextNode
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient

from lightretriever.components import DocumentEncoder, QueryEncoder
from lightretriever.components.llama_index import LightRetrieverEmbedding, LightRetrieverRetriever

SCIFACT = Path(__file__).resolve().parents[1] / "data" / "scifact" / "corpus.jsonl.gz"


def scifact_rows(n: int) -> list[dict]:
    with gzip.open(SCIFACT, "rt", encoding="utf-8") as handle:
        return [json.loads(next(handle)) for _ in range(n)]


class CountingEmbedding(LightRetrieverEmbedding):
    """Counts texts through the document encoder, to prove hybrid indexing encodes each node once."""

    def _get_text_embeddings(self, texts):
        self.__dict__.setdefault("_texts_encoded", 0)
        self.__dict__["_texts_encoded"] += len(texts)
        return super()._get_text_embeddings(texts)


def test_embedding_is_asymmetric(minilm_artifact):
    embedding = LightRetrieverEmbedding(model_name=str(minilm_artifact.root))
    query = "Does aspirin prevent heart attacks?"
    np.testing.assert_allclose(embedding.get_query_embedding(query),
                               QueryEncoder.from_pretrained(minilm_artifact.root).encode([query]).dense[0], atol=1e-7)
    assert not embedding._encoders.documents_loaded  # queries never load the model
    text = "Aspirin lowers the risk of myocardial infarction."
    np.testing.assert_allclose(embedding.get_text_embedding(text), DocumentEncoder.from_pretrained(
        minilm_artifact.root).encode([text], show_progress=False).dense[0], atol=1e-5)
    assert asyncio.run(embedding.aget_query_embedding(query)) == embedding.get_query_embedding(query)
    indices, values = embedding.sparse_query_fn([query])
    expected = QueryEncoder.from_pretrained(minilm_artifact.root).encode([query]).sparse[0]
    assert indices[0] == expected.indices.tolist() and values[0] == expected.values.tolist()


def test_stock_qdrant_vector_store_hybrid_with_our_functions(minilm_artifact):
    Settings.llm = None
    embedding = CountingEmbedding(model_name=str(minilm_artifact.root))
    rows = scifact_rows(24)
    nodes = [TextNode(id_=f"00000000-0000-0000-0000-{int(r['_id']):012d}", text=r["title"] + " " + r["text"],
                      metadata={"n": i}, excluded_embed_metadata_keys=["n"]) for i, r in enumerate(rows)]
    vector_store = QdrantVectorStore("li", client=QdrantClient(":memory:"), enable_hybrid=True,
                                     sparse_doc_fn=embedding.sparse_doc_fn, sparse_query_fn=embedding.sparse_query_fn,
                                     index_doc_id=False)
    index = VectorStoreIndex(nodes, storage_context=StorageContext.from_defaults(vector_store=vector_store),
                             embed_model=embedding)
    assert embedding.__dict__["_texts_encoded"] == 24  # dense and sparse from one forward pass each
    assert len(embedding._sparse_cache) == 0
    retriever = index.as_retriever(vector_store_query_mode="hybrid", similarity_top_k=5, sparse_top_k=10)
    hits = retriever.retrieve(rows[6]["title"])
    assert nodes[6].id_ in [h.node.id_ for h in hits[:3]]
    sparse_only = index.as_retriever(vector_store_query_mode="sparse", similarity_top_k=3, sparse_top_k=3)
    assert sparse_only.retrieve(rows[6]["title"])[0].node.id_ == nodes[6].id_


def test_our_retriever_in_a_query_engine_without_llm(minilm_artifact, scifact_collection):
    store, rows = scifact_collection.store, scifact_collection.rows
    retriever = LightRetrieverRetriever(model=str(minilm_artifact.root), store=str(store), collection="sci",
                                        top_k=4, fusion="linear")
    try:
        nodes = retriever.retrieve(rows[8]["title"])
        assert nodes[0].node.id_ == rows[8]["_id"] and nodes[0].node.metadata["title"] == rows[8]["title"]
        assert len(nodes) == 4 and nodes[0].score >= nodes[-1].score
        expected = retriever._searcher.search(rows[8]["title"], k=4).hits
        assert [n.node.id_ for n in nodes] == [h.id for h in expected]
        assert [n.node.id_ for n in asyncio.run(retriever.aretrieve(rows[8]["title"]))] == [h.id for h in expected]
        Settings.llm = None  # no LLM here: a retrieval-only query engine
        engine = RetrieverQueryEngine.from_args(retriever, response_mode="no_text")
        response = engine.query(rows[8]["title"])
        assert response.response in ("", None) and response.source_nodes[0].node.id_ == rows[8]["_id"]
    finally:
        retriever.close()
