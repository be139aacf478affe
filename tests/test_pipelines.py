"""Ready pipelines: Haystack indexing / search / RAG (with a deterministic local chat generator),
LlamaIndex index + query engine, offline drawing, and one collection searched through the Haystack
retriever, the LlamaIndex retriever and the bare store with identical top-10 ids."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from haystack import Document, component
from haystack.dataclasses import ChatMessage
from llama_index.core.schema import TextNode

from lightretriever.components.haystack import LightRetrieverDocumentStore
from lightretriever.components.llama_index import LightRetrieverRetriever as LlamaRetriever
from lightretriever.components.searcher import HybridSearcher
from lightretriever.pipelines import (hybrid_vector_index, indexing_pipeline, mermaid, query_engine, rag_pipeline,
                                      search_pipeline)

DATA = Path(__file__).resolve().parents[1] / "data" / "scifact"


@component
class CitingEchoGenerator:
    """A local, deterministic chat generator: replies with the document ids its prompt lists and the
    question it was asked (no network, no model)."""

    @component.output_types(replies=list[ChatMessage])
    def run(self, messages: list[ChatMessage]):
        prompt = "\n".join(m.text or "" for m in messages)
        cited = re.findall(r"^\[([^\]]+)\]", prompt, flags=re.M)
        question = prompt.rsplit("Question:", 1)[-1].strip()
        return {"replies": [ChatMessage.from_assistant(f"cites {' '.join(cited)} for: {question}")]}


def scifact_rows(n: int) -> list[dict]:
    with gzip.open(DATA / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(next(handle)) for _ in range(n)]


def test_haystack_indexing_search_and_rag(minilm_artifact, tmp_path):
    model = str(minilm_artifact.root)
    store = LightRetrieverDocumentStore(path=str(tmp_path / "stores"), collection="rag", model=model)
    rows = scifact_rows(20)
    docs = [Document(id=r["_id"], content=r["text"], meta={"title": r["title"]}) for r in rows]
    written = indexing_pipeline(model, store, meta_fields_to_embed=["title"], progress_bar=False).run(
        {"embedder": {"documents": docs}})
    assert written["writer"]["documents_written"] == 20
    search = search_pipeline(store, top_k=3, mode="sparse")
    hits = search.run({"retriever": {"query": rows[5]["title"]}})["retriever"]["documents"]
    assert hits[0].id == rows[5]["_id"]

    rag = rag_pipeline(store, CitingEchoGenerator(), top_k=3, mode="sparse")
    question = rows[5]["title"]
    out = rag.run({"retriever": {"query": question}, "prompt_builder": {"query": question}},
                  include_outputs_from={"retriever"})
    reply = out["llm"]["replies"][0].text
    assert reply == f"cites {' '.join(d.id for d in out['retriever']['documents'])} for: {question}"
    assert reply.startswith(f"cites {rows[5]['_id']}")
    drawing = mermaid(rag)
    assert drawing.startswith("%%{ init") or "graph" in drawing
    for name in ("retriever", "prompt_builder", "llm"):
        assert name in drawing
    store.close()


def test_llama_index_builders(minilm_artifact, tmp_path):
    rows = scifact_rows(12)
    index = hybrid_vector_index([TextNode(text=r["title"] + " " + r["text"], id_=f"00000000-0000-0000-0000-"
                                          f"{int(r['_id']):012d}") for r in rows], str(minilm_artifact.root))
    hits = index.as_retriever(vector_store_query_mode="sparse", similarity_top_k=2, sparse_top_k=2).retrieve(
        rows[2]["title"])
    assert hits[0].node.text.startswith(rows[2]["title"])


@pytest.mark.parametrize("mode,fusion", [("hybrid", "rrf"), ("hybrid", "linear"), ("dense", "rrf")])
def test_haystack_llama_index_and_store_agree(minilm_artifact, scifact_collection, mode, fusion):
    store_dir, queries = scifact_collection.store, scifact_collection.queries
    assert len(queries) == 10
    model = str(minilm_artifact.root)

    searcher = HybridSearcher.open(model, store_dir, "sci", mode=mode, fusion=fusion)
    bare = [[h.id for h in searcher.search(q, k=10).hits] for q in queries]
    searcher.store.close()

    store = LightRetrieverDocumentStore(path=str(store_dir), collection="sci", model=model)
    haystack = search_pipeline(store, top_k=10, mode=mode, fusion=fusion)
    from_haystack = [[d.id for d in haystack.run({"retriever": {"query": q}})["retriever"]["documents"]]
                     for q in queries]
    store.close()

    llama = LlamaRetriever(model=model, store=str(store_dir), collection="sci", top_k=10, mode=mode, fusion=fusion)
    from_llama = [[n.node.id_ for n in llama.retrieve(q)] for q in queries]
    llama.close()  # one open store per embedded collection
    assert bare == from_haystack == from_llama
    assert all(len(ids) == 10 for ids in bare)

    engine = query_engine(model, str(store_dir), "sci", top_k=10, mode=mode, fusion=fusion)  # no LLM
    response = engine.query(queries[0])
    assert [n.node.id_ for n in response.source_nodes] == bare[0]
    engine.retriever.close()
