"""Ready LlamaIndex pieces: a hybrid VectorStoreIndex on the stock QdrantVectorStore, and a query
engine over our store (retrieval only when no LLM is given)."""

from __future__ import annotations

from typing import Any

from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import BaseNode

from lightretriever.components.llama_index import LightRetrieverEmbedding, LightRetrieverRetriever
from lightretriever.components.store.options import DEFAULT_K


def hybrid_vector_index(nodes: list[BaseNode], model: str, client: Any = None, collection: str = "lightretriever",
                        **embedding_options: Any) -> VectorStoreIndex:
    """Nodes -> a VectorStoreIndex whose QdrantVectorStore holds our dense + sparse vectors (each node
    encoded once). `client`: a QdrantClient (default: an in-memory one)."""
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    embed_model = LightRetrieverEmbedding(model_name=model, **embedding_options)
    vector_store = QdrantVectorStore(collection, client=client or QdrantClient(":memory:"), enable_hybrid=True,
                                     sparse_doc_fn=embed_model.sparse_doc_fn,
                                     sparse_query_fn=embed_model.sparse_query_fn, index_doc_id=False)
    return VectorStoreIndex(nodes, storage_context=StorageContext.from_defaults(vector_store=vector_store),
                            embed_model=embed_model)


def query_engine(model: str, store: str, collection: str, *, llm: Any = None, top_k: int = DEFAULT_K,
                 **retriever_options: Any) -> RetrieverQueryEngine:
    """A RetrieverQueryEngine over our store. Without `llm` it only retrieves (`response.source_nodes`);
    with one it answers from the retrieved nodes."""
    retriever = LightRetrieverRetriever(model=model, store=store, collection=collection, top_k=top_k,
                                        **retriever_options)
    if llm is None:
        from llama_index.core.llms import MockLLM
        from llama_index.core.response_synthesizers.no_text import NoText

        # NoText with an explicit MockLLM: from_args(..., response_mode="no_text") would reach for
        # Settings.llm (OpenAI by default) even though no text is generated.
        return RetrieverQueryEngine(retriever=retriever, response_synthesizer=NoText(llm=MockLLM()))
    return RetrieverQueryEngine.from_args(retriever, llm=llm)
