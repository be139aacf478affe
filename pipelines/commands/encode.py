"""Encode queries (the light, torch-free path) and documents (the full model); print each document's
sparse size and top terms, each query's sparse terms and, with both, the dense and sparse scores.
A quick look at what an artifact does with your texts."""

from __future__ import annotations

import json
import time

from lightretriever.components.texts import check_texts

from .options import add_artifact_argument

NAME = "encode"
HELP = "encode queries and documents; print sizes, scores and top sparse terms"


def add_arguments(parser) -> None:
    add_artifact_argument(parser)
    parser.add_argument("--query", "-q", action="append", default=[], help="a query (repeatable)")
    parser.add_argument("--doc", "-d", action="append", default=[], help="a document (repeatable)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args) -> None:
    check_texts(args.query, "query")  # before any model loads
    check_texts(args.doc, "document")
    result = _encoded(args.artifact, args.query, args.doc)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    for d in result.get("documents", []):
        print(f"doc   {d['text']!r}: sparse nnz {d['sparse_nnz']}, top terms {d['top_terms']}")
    for q in result.get("queries", []):
        scores = f", dense scores {q['dense_scores']}, sparse scores {q['sparse_scores']}" if "dense_scores" in q else ""
        print(f"query {q['text']!r}: {len(q['sparse'])} sparse terms{scores}")
    document_ms = f", document encode {result['doc_encode_ms']} ms" if "doc_encode_ms" in result else ""
    print(f"query encode {result['query_encode_ms']} ms{document_ms}")


def _encoded(artifact: str, query_texts: list[str], doc_texts: list[str]) -> dict:
    from lightretriever.components import QueryEncoder

    result: dict = {}
    query_encoder = QueryEncoder.from_pretrained(artifact)
    started = time.perf_counter()  # encoding only: loading is a one-off
    queries = query_encoder.encode(query_texts) if query_texts else None
    result["query_encode_ms"] = round((time.perf_counter() - started) * 1000, 3)
    docs = _documents(artifact, doc_texts, result) if doc_texts else None
    if queries is not None:
        result["queries"] = [_query_entry(text, queries.dense[i], queries.sparse[i], docs)
                             for i, text in enumerate(query_texts)]
    return result


def _documents(artifact: str, texts: list[str], result: dict):
    import numpy as np
    from lightretriever.components import DocumentEncoder

    encoder = DocumentEncoder.from_pretrained(artifact)
    started = time.perf_counter()
    docs = encoder.encode(texts, show_progress=False)
    result["doc_encode_ms"] = round((time.perf_counter() - started) * 1000, 3)
    tokenizer = encoder.artifact.tokenizer()
    result["documents"] = [
        {"text": text[:80], "dense_norm": float(np.linalg.norm(d)), "sparse_nnz": len(s),
         "top_terms": [tokenizer.id_to_token(int(i)) for i in s.indices[np.argsort(-s.values)[:8]]]}
        for text, d, s in zip(texts, docs.dense, docs.sparse)]
    return docs


def _query_entry(text: str, dense, sparse, docs) -> dict:
    import numpy as np

    entry = {"text": text, "dense_norm": float(np.linalg.norm(dense)),
             "sparse": {int(k): float(v) for k, v in sparse.to_dict().items()}}
    if docs is not None:
        entry["dense_scores"] = [round(float(x), 4) for x in docs.dense @ dense]
        entry["sparse_scores"] = [round(_sparse_dot(sparse, d), 4) for d in docs.sparse]
    return entry


def _sparse_dot(a, b) -> float:
    import numpy as np

    _, ia, ib = np.intersect1d(a.indices, b.indices, assume_unique=True, return_indices=True)
    return float(np.dot(a.values[ia], b.values[ib]))
