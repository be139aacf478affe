"""LlamaIndex conventions for the embeddings: the ecosystem import paths, LightRetrieverSparseEmbedding
(BaseSparseEmbedding) in the stock QdrantVectorStore's hybrid mode, async embedding in whole batches
off the event loop, and no per-batch progress bar inside LlamaIndex's own."""

from __future__ import annotations

import asyncio
import time

import numpy as np
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.embeddings.lightretriever import LightRetrieverEmbedding
from llama_index.retrievers.lightretriever import LightRetrieverRetriever
from llama_index.sparse_embeddings.lightretriever import LightRetrieverSparseEmbedding
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient
from test_llama_index import scifact_rows

from lightretriever.components import DocumentEncoder, QueryEncoder
from lightretriever.components import llama_index as ours


def as_dict(vector) -> dict[int, float]:
    return dict(zip(vector.indices.tolist(), vector.values.tolist()))


class BatchRecording(LightRetrieverEmbedding):
    """Records the batches that reach the document encoder."""

    def _get_text_embeddings(self, texts):
        self.__dict__.setdefault("_batches", []).append(len(texts))
        return super()._get_text_embeddings(texts)


def test_ecosystem_import_paths_are_our_classes():
    assert LightRetrieverEmbedding is ours.LightRetrieverEmbedding
    assert LightRetrieverSparseEmbedding is ours.LightRetrieverSparseEmbedding
    assert LightRetrieverRetriever is ours.LightRetrieverRetriever


def test_sparse_embedding_queries_are_token_counts_and_texts_the_document_encoder(minilm_artifact):
    # float32: batches of 2 here, of 5 below; in bf16 (the default on AMX CPUs) a row moves ~1e-3 with its batch
    sparse = LightRetrieverSparseEmbedding(model_name=str(minilm_artifact.root), embed_batch_size=2, dtype="float32")
    query = "Does aspirin prevent heart attacks?"
    assert sparse.get_query_embedding(query) == as_dict(
        QueryEncoder.from_pretrained(minilm_artifact.root).encode([query]).sparse[0])
    assert asyncio.run(sparse.aget_query_embedding(query)) == sparse.get_query_embedding(query)
    assert not sparse._encoders.documents_loaded  # the light path: no model for queries
    texts = [r["title"] for r in scifact_rows(5)]
    expected = DocumentEncoder.from_pretrained(minilm_artifact.root, dtype="float32").encode(
        texts, show_progress=False).sparse
    for got in (sparse.get_text_embedding_batch(texts), asyncio.run(sparse.aget_text_embedding_batch(texts))):
        assert [list(g) for g in got] == [e.indices.tolist() for e in expected]
        np.testing.assert_allclose(np.concatenate([list(g.values()) for g in got]),
                                   np.concatenate([e.values for e in expected]), rtol=1e-5, atol=1e-6)


def test_stock_qdrant_vector_store_hybrid_with_our_sparse_embedding(minilm_artifact):
    """0.10.4 takes no sparse-embedding object: its sparse_doc_fn/sparse_query_fn come from ours.
    The paired sparse embedding reuses the dense pass: each node goes through the model once."""
    embed_model = BatchRecording(model_name=str(minilm_artifact.root), dtype="float32")  # node alone == in a batch
    sparse = embed_model.sparse_embedding()
    assert isinstance(sparse, LightRetrieverSparseEmbedding)
    rows = scifact_rows(24)
    nodes = [TextNode(id_=f"00000000-0000-0000-0000-{int(r['_id']):012d}", text=r["title"] + " " + r["text"])
             for r in rows]
    client = QdrantClient(":memory:")
    vector_store = QdrantVectorStore("li", client=client, enable_hybrid=True, sparse_doc_fn=sparse.sparse_doc_fn,
                                     sparse_query_fn=sparse.sparse_query_fn, index_doc_id=False)
    index = VectorStoreIndex(nodes, storage_context=StorageContext.from_defaults(vector_store=vector_store),
                             embed_model=embed_model)
    assert sum(embed_model.__dict__["_batches"]) == 24 and len(embed_model._sparse_cache) == 0
    assert sparse.dtype == "float32" and str(sparse._encoders.documents().dtype) == "torch.float32"
    stored = client.retrieve("li", ids=[nodes[3].id_], with_vectors=True)[0].vector["text-sparse-new"]
    assert dict(zip(stored.indices, stored.values)) == sparse.get_text_embedding(nodes[3].text)
    hybrid = index.as_retriever(vector_store_query_mode="hybrid", similarity_top_k=5, sparse_top_k=10)
    assert nodes[6].id_ in [h.node.id_ for h in hybrid.retrieve(rows[6]["title"])[:3]]
    sparse_only = index.as_retriever(vector_store_query_mode="sparse", similarity_top_k=3, sparse_top_k=3)
    assert sparse_only.retrieve(rows[6]["title"])[0].node.id_ == nodes[6].id_


def test_async_text_embeddings_match_sync_in_whole_batches_without_blocking_the_loop(minilm_artifact):
    embedding = BatchRecording(model_name=str(minilm_artifact.root), embed_batch_size=4)
    texts = [r["title"] + " " + r["text"] for r in scifact_rows(10)]
    sync = embedding.get_text_embedding_batch(texts)
    embedding.__dict__["_batches"] = []

    async def embed_while_ticking():
        ticks, done = 0, False

        async def ticker():
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0.001)

        task = asyncio.create_task(ticker())
        started = time.perf_counter()
        vectors = await embedding.aget_text_embedding_batch(texts)
        elapsed, done = time.perf_counter() - started, True
        await task
        return vectors, ticks, elapsed

    vectors, ticks, elapsed = asyncio.run(embed_while_ticking())
    np.testing.assert_allclose(vectors, sync, atol=1e-5)
    assert sorted(embedding.__dict__["_batches"]) == [2, 4, 4]  # batches of embed_batch_size, not one per text
    assert ticks >= min(5, elapsed / 0.01), (ticks, elapsed)  # the loop ran other coroutines meanwhile
    one = asyncio.run(embedding.aget_text_embedding(texts[0]))
    np.testing.assert_allclose(one, embedding.get_text_embedding(texts[0]), atol=1e-5)  # alone, as sync alone


def test_embedding_batches_draw_no_progress_bar_of_their_own(minilm_artifact, capsys):
    embedding = LightRetrieverEmbedding(model_name=str(minilm_artifact.root), show_progress=True)
    embedding.get_text_embedding_batch([r["title"] for r in scifact_rows(3)])
    assert "Encoding documents" not in capsys.readouterr().err
