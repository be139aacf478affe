"""Issue 13, adapters slice: the Haystack and LlamaIndex components behave as their frameworks' own
components do at the edges — top_k 0 / negative, one id twice in a write batch — and the LlamaIndex
embedding's sparse cache stays bounded without losing the right sparse vector.

Real parts: the embedded qdrant-edge engine in tmp_path, Haystack's InMemoryDocumentStore as the
reference, a query artifact with MiniLM's tokenizer, the tiny Llama's document encoder.
"""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest
from conftest import TINY_WORDS
from haystack import Document
from haystack.dataclasses import SparseEmbedding
from haystack.document_stores.errors import DuplicateDocumentError
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.document_stores.types import DuplicatePolicy
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient

from lightretriever.components import DocumentEncoder
from lightretriever.components.errors import InvalidArgumentError
from lightretriever.components.haystack import LightRetrieverDocumentStore, LightRetrieverRetriever
from lightretriever.components.llama_index import LightRetrieverEmbedding
from lightretriever.components.llama_index import LightRetrieverRetriever as LlamaRetriever
from query_artifacts import make_query_artifact

DIM = 16


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return make_query_artifact(tmp_path_factory.mktemp("art") / "a", dim=DIM)[0]


def embedded(doc_id: str, content: str, seed: int) -> Document:
    rng = np.random.default_rng(seed)
    return Document(id=doc_id, content=content, embedding=rng.standard_normal(DIM).tolist(),
                    sparse_embedding=SparseEmbedding(indices=[seed + 1000], values=[1.0]))


@pytest.fixture
def store(artifact, tmp_path):
    s = LightRetrieverDocumentStore(path=str(tmp_path / "stores"), collection="c", model=str(artifact.root))
    yield s
    s.close()


@pytest.fixture
def retriever(store):
    store.write_documents([embedded(f"d{i}", f"document {i}", i) for i in range(12)])
    r = LightRetrieverRetriever(document_store=store)
    r.warm_up()
    return r


# -- Haystack retriever top_k: as InMemoryBM25Retriever ---------------------------------------------------

def test_run_top_k_zero_returns_no_documents(retriever):
    assert retriever.run("document", top_k=0) == {"documents": []}
    assert asyncio.run(retriever.run_async("document", top_k=0)) == {"documents": []}


def test_run_top_k_none_is_the_default(retriever):
    assert len(retriever.run("document")["documents"]) == 10
    assert len(retriever.run("document", top_k=None)["documents"]) == 10
    assert len(retriever.run("document", top_k=3)["documents"]) == 3


@pytest.mark.parametrize("top_k", [-1, 2.5, "3", True])
def test_run_refuses_a_bad_top_k(retriever, top_k):
    with pytest.raises(InvalidArgumentError, match=r"top_k must be an int greater than or equal to 0, but got"):
        retriever.run("document", top_k=top_k)


@pytest.mark.parametrize("top_k", [0, -5, 1.0, None])
def test_init_refuses_a_bad_top_k(store, top_k):
    with pytest.raises(InvalidArgumentError, match=r"top_k must be an int greater than 0, but got"):
        LightRetrieverRetriever(document_store=store, top_k=top_k)


# -- LlamaIndex retriever top_k ------------------------------------------------------------------------------

@pytest.mark.parametrize("top_k", [0, -1, 2.5])
def test_llama_index_retriever_refuses_a_bad_top_k_before_opening_anything(artifact, tmp_path, top_k):
    missing = tmp_path / "no-such-store"  # opening it would be a StoreError, and leave files behind
    with pytest.raises(InvalidArgumentError, match=r"top_k must be an int greater than 0, but got"):
        LlamaRetriever(model=str(artifact.root), store=str(missing), collection="c", top_k=top_k)
    assert not missing.exists()


# -- write_documents with one id twice in the batch: as InMemoryDocumentStore ---------------------------------

def batch_with_a_repeated_id() -> list[Document]:
    return [embedded("same", "first", 1), embedded("other", "other", 2), embedded("same", "second", 3)]


def outcome(store, documents, policy):
    """(returned count or error type, sorted (id, content) afterwards)."""
    try:
        result = store.write_documents(documents, policy=policy)
    except DuplicateDocumentError:
        result = "DuplicateDocumentError"
    return result, sorted((d.id, d.content) for d in store.filter_documents())


@pytest.mark.parametrize("policy", [DuplicatePolicy.OVERWRITE, DuplicatePolicy.SKIP])
def test_in_batch_duplicates_end_as_in_memory(store, policy):
    assert outcome(store, batch_with_a_repeated_id(), policy) == outcome(
        InMemoryDocumentStore(), batch_with_a_repeated_id(), policy)


@pytest.mark.parametrize("policy", [DuplicatePolicy.FAIL, DuplicatePolicy.NONE])
def test_in_batch_duplicates_fail_before_anything_is_written(store, policy):
    store.write_documents([embedded("kept", "kept", 9)])
    with pytest.raises(DuplicateDocumentError, match=r"ID 'same' appears twice in this batch \(documents 0 and 2\); "
                                                     "nothing was written"):
        store.write_documents(batch_with_a_repeated_id(), policy=policy)
    with pytest.raises(DuplicateDocumentError):  # the in-memory store refuses the batch too
        InMemoryDocumentStore().write_documents(batch_with_a_repeated_id(), policy=policy)
    assert [(d.id, d.content) for d in store.filter_documents()] == [("kept", "kept")]


def test_skip_keeps_stored_documents_and_the_first_of_a_batch(store):
    store.write_documents([embedded("same", "stored", 0)])
    reference = InMemoryDocumentStore()
    reference.write_documents([embedded("same", "stored", 0)])
    assert outcome(store, batch_with_a_repeated_id(), DuplicatePolicy.SKIP) == outcome(
        reference, batch_with_a_repeated_id(), DuplicatePolicy.SKIP)


# -- LlamaIndex embedding: the sparse cache is bounded ----------------------------------------------------------

DISTINCT_TEXTS = [" ".join(words) for words in
                  itertools.islice(itertools.permutations(list(dict.fromkeys(TINY_WORDS)), 3), 10_000)]


@pytest.fixture(scope="module")
def document_encoder(tiny_llama_artifact):
    return DocumentEncoder.from_pretrained(tiny_llama_artifact.root)


def expected_sparse(encoder, texts):
    vectors = encoder.encode(texts, show_progress=False).sparse
    return [v.indices.tolist() for v in vectors], [v.values.tolist() for v in vectors]


@pytest.mark.slow
def test_sparse_cache_stays_bounded_when_nothing_drains_it(tiny_llama_artifact, document_encoder):
    embedding = LightRetrieverEmbedding(model_name=str(tiny_llama_artifact.root), embed_batch_size=500)
    assert len(DISTINCT_TEXTS) == 10_000
    embedding.get_text_embedding_batch(DISTINCT_TEXTS)
    assert len(embedding._sparse_cache) == embedding.sparse_cache_size == 4096
    newest, evicted = DISTINCT_TEXTS[-1], DISTINCT_TEXTS[0]
    assert newest in embedding._sparse_cache and evicted not in embedding._sparse_cache
    indices, values = embedding.sparse_doc_fn([newest, evicted, newest])
    want_indices, want_values = expected_sparse(document_encoder, [newest, evicted, newest])
    assert indices == want_indices
    np.testing.assert_allclose(np.concatenate(values), np.concatenate(want_values), rtol=1e-5, atol=1e-6)
    assert newest not in embedding._sparse_cache and len(embedding._sparse_cache) == 4095  # drained, not refilled


def test_hybrid_index_stores_the_right_sparse_vectors_past_the_cache_bound(tiny_llama_artifact, document_encoder):
    """A cache smaller than the insert batch: evicted texts are encoded again, every node gets its own vector."""
    embedding = LightRetrieverEmbedding(model_name=str(tiny_llama_artifact.root), sparse_cache_size=2)
    texts = DISTINCT_TEXTS[:5]
    nodes = [TextNode(id_=f"00000000-0000-0000-0000-{i:012d}", text=t) for i, t in enumerate(texts)]
    client = QdrantClient(":memory:")
    vector_store = QdrantVectorStore("li", client=client, enable_hybrid=True, sparse_doc_fn=embedding.sparse_doc_fn,
                                     sparse_query_fn=embedding.sparse_query_fn, index_doc_id=False)
    VectorStoreIndex(nodes, storage_context=StorageContext.from_defaults(vector_store=vector_store),
                     embed_model=embedding)
    assert len(embedding._sparse_cache) == 0
    points = client.retrieve("li", ids=[n.id_ for n in nodes], with_vectors=True)
    stored = {str(p.id): p.vector["text-sparse-new"] for p in points}
    want_indices, want_values = expected_sparse(document_encoder, texts)
    for node, indices, values in zip(nodes, want_indices, want_values):
        order = np.argsort(indices)  # Qdrant sorts sparse indices
        assert stored[node.id_].indices == np.asarray(indices)[order].tolist()
        np.testing.assert_allclose(stored[node.id_].values, np.asarray(values)[order], rtol=1e-5, atol=1e-6)
