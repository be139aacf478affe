"""Ready Haystack pipelines: indexing (documents in), hybrid search, and RAG with any chat generator."""

from __future__ import annotations

from typing import Any

from haystack import Pipeline
from haystack.components.builders import ChatPromptBuilder
from haystack.components.writers import DocumentWriter
from haystack.dataclasses import ChatMessage
from haystack.document_stores.types import DuplicatePolicy

from lightretriever.components.store.fusion import DEFAULT_FUSION
from lightretriever.components.store.options import DEFAULT_K, DEFAULT_MODE
from lightretriever.components.haystack import (LightRetrieverDocumentEmbedder, LightRetrieverDocumentStore,
                                                LightRetrieverRetriever)

RAG_TEMPLATE = [
    ChatMessage.from_system("Answer the question using only the documents below. Say so if they do not contain "
                            "the answer, and cite document ids in brackets."),
    ChatMessage.from_user(
        "{% for doc in documents %}[{{ doc.id }}] {{ doc.meta.get('title', '') }} {{ doc.content }}\n{% endfor %}"
        "\nQuestion: {{ query }}"),
]


def indexing_pipeline(model: str, document_store: LightRetrieverDocumentStore, *,
                      meta_fields_to_embed: list[str] | None = None, batch_size: int = 32,
                      progress_bar: bool = True, policy: DuplicatePolicy = DuplicatePolicy.OVERWRITE) -> Pipeline:
    """`run({"embedder": {"documents": [...]}})`: embed (dense + sparse, one pass) and write."""
    pipeline = Pipeline()
    pipeline.add_component("embedder", LightRetrieverDocumentEmbedder(
        model=model, batch_size=batch_size, progress_bar=progress_bar, meta_fields_to_embed=meta_fields_to_embed))
    pipeline.add_component("writer", DocumentWriter(document_store=document_store, policy=policy))
    pipeline.connect("embedder.documents", "writer.documents")
    return pipeline


def search_pipeline(document_store: LightRetrieverDocumentStore, *, model: str | None = None, top_k: int = DEFAULT_K,
                    mode: str = DEFAULT_MODE, fusion: str = DEFAULT_FUSION, **retriever_options: Any) -> Pipeline:
    """`run({"retriever": {"query": "...", "filters": {...}}})` -> `{"retriever": {"documents": [...]}}`."""
    pipeline = Pipeline()
    pipeline.add_component("retriever", LightRetrieverRetriever(
        document_store=document_store, model=model, top_k=top_k, mode=mode, fusion=fusion, **retriever_options))
    return pipeline


def rag_pipeline(document_store: LightRetrieverDocumentStore, chat_generator: Any, *, model: str | None = None,
                 top_k: int = 5, mode: str = DEFAULT_MODE, fusion: str = DEFAULT_FUSION,
                 template: list[ChatMessage] | None = None) -> Pipeline:
    """Retrieve -> ChatPromptBuilder -> your chat generator (any component taking `messages`).

    `run({"retriever": {"query": q}, "prompt_builder": {"query": q}})`; the answer is in
    `["llm"]["replies"]`. The default template lists the documents with their ids and asks for citations.
    """
    pipeline = search_pipeline(document_store, model=model, top_k=top_k, mode=mode, fusion=fusion)
    pipeline.add_component("prompt_builder", ChatPromptBuilder(template=template or RAG_TEMPLATE,
                                                               required_variables=["documents", "query"]))
    pipeline.add_component("llm", chat_generator)
    pipeline.connect("retriever.documents", "prompt_builder.documents")
    pipeline.connect("prompt_builder.prompt", "llm.messages")
    return pipeline


def mermaid(pipeline: Pipeline) -> str:
    """The pipeline as Mermaid text, offline (`Pipeline.draw` needs the mermaid.ink web service)."""
    from haystack.core.pipeline.draw import _to_mermaid_text  # private, but the only offline renderer

    return _to_mermaid_text(pipeline.graph.copy(), init_params={"theme": "neutral"})
