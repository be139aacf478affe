"""README's Python snippets run as written (against a freshly built MiniLM artifact)."""

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    (block,) = [b for b in blocks if marker in b]
    return block


@pytest.mark.slow
def test_readme_encoder_snippet_runs(minilm_artifact):
    snippet = python_block("QueryEncoder.from_pretrained")
    namespace: dict = {}
    exec(snippet.replace('"artifacts/minilm"', repr(str(minilm_artifact.root))), namespace)
    q, d = namespace["q"], namespace["d"]
    assert q.dense.shape == (1, 384) and abs(np.linalg.norm(q.dense[0]) - 1) < 1e-5
    assert d.dense.shape == (1, 384) and len(d.sparse[0]) > 0
    assert float(d.dense[0] @ q.dense[0]) > 0.1  # aspirin query vs aspirin document


@pytest.mark.slow
def test_readme_store_snippet_runs(minilm_artifact, tmp_path):
    snippet = python_block("QdrantHybridStore(")
    snippet = snippet.replace('"artifacts/minilm"', repr(str(minilm_artifact.root)))
    snippet = snippet.replace('"stores/demo"', repr(str(tmp_path / "stores")))
    namespace: dict = {}
    exec(snippet, namespace)
    result = namespace["result"]
    assert [hit.id for hit in result.hits] == ["1"]  # the 2018 statin note is filtered out
    assert result.encode_ms > 0 and result.search_ms > 0
    assert (tmp_path / "stores" / "notes" / "lightretriever-collection.json").is_file()


def run_haystack_block(marker: str, artifact, tmp_path) -> dict:
    """Run a Haystack block with the test artifact and a store under tmp_path; its namespace."""
    snippet = python_block(marker).replace('"artifacts/minilm"', repr(str(artifact.root)))
    namespace: dict = {}
    exec(snippet.replace('path="stores"', f"path={str(tmp_path / 'stores')!r}"), namespace)
    return namespace


@pytest.mark.slow
def test_readme_haystack_snippet_runs(minilm_artifact, tmp_path):
    namespace = run_haystack_block('collection="haystack-demo"', minilm_artifact, tmp_path)
    documents = namespace["result"]["retriever"]["documents"]
    assert [d.meta["title"] for d in documents] == ["Aspirin"]  # the 2018 statin note is filtered out
    assert "haystack_integrations.components.retrievers.lightretriever" in namespace["yaml_text"]


@pytest.mark.slow
def test_readme_haystack_async_snippet_runs(minilm_artifact, tmp_path):
    namespace = run_haystack_block("indexing.run_async(", minilm_artifact, tmp_path)
    documents = namespace["result"]["retriever"]["documents"]
    assert sorted(d.meta["source"] for d in documents) == ["cardiology", "neurology"]  # one per group
    assert all(len(d.embedding) == 384 and d.sparse_embedding is not None for d in documents)
    assert namespace["store"].count_documents() == 3


@pytest.mark.slow
def test_readme_stock_qdrant_haystack_snippet_runs(minilm_artifact):
    snippet = python_block("QdrantHybridRetriever(document_store=qdrant")
    namespace: dict = {}
    exec(snippet.replace('"artifacts/minilm"', repr(str(minilm_artifact.root))), namespace)
    query = namespace["query"]
    assert set(query.graph.nodes) == {"embedder", "retriever"}
    assert query.run({"embedder": {"text": "aspirin"}})["retriever"]["documents"] == []  # empty store, wired right


@pytest.mark.slow
def test_readme_llama_index_snippet_runs(minilm_artifact, capsys):
    snippet = python_block("LightRetrieverEmbedding(model_name=")
    namespace: dict = {}
    exec(snippet.replace('"artifacts/minilm"', repr(str(minilm_artifact.root))), namespace)
    hits = namespace["retriever"].retrieve("Does aspirin prevent heart attacks?")
    assert len(hits) == 2 and hits[0].node.text.startswith("Aspirin")
    assert capsys.readouterr().out.strip().endswith("Aspirin lowers the risk of myocardial infarction.")
