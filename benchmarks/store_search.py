"""Store latency and end-to-end query throughput on SciFact (5,183 abstracts), in one run.

1. Indexes SciFact into the embedded store (qdrant-edge) once, with the MiniLM artifact (cached under
   --cache; the index is reused while the artifact's document encoder is unchanged).
2. Search latency, query encoding excluded: every SciFact test query pre-encoded, then one
   `store.search` per query (hybrid rrf / dbsf / linear, dense, sparse); median and p95.
3. End to end, one query at a time (encode + hybrid rrf search, k=10), as a search server runs:
   - light: `QueryEncoder` (table lookup + token counts);
   - full: the same backbone's full forward on the query — dense + sparse (`DocumentEncoder`), and a
     cheaper variant (dense-only forward + token counts) whose ratio is the conservative headline.
4. The same search latency for qdrant-client local mode (same vectors copied over), on a sample.

    python benchmarks/store_search.py [--artifact DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from common import artifact_dir, machine

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT / "data" / "scifact"
TARGETS = {"hybrid_search_median_ms": 5.0, "end_to_end_speedup": 10.0}


def test_queries(limit: int | None) -> list[str]:
    test_ids = {line.split("\t")[0] for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]}
    queries = [json.loads(line) for line in (SCIFACT / "queries.jsonl").read_text().splitlines() if line.strip()]
    texts = [q["text"] for q in queries if q["_id"] in test_ids]
    return texts[:limit] if limit else texts


def open_index(artifact, cache: Path):
    """The embedded SciFact collection for this artifact's document encoder, indexed on first use."""
    from lightretriever.components import DocumentEncoder
    from lightretriever.components.store import CollectionSchema, QdrantHybridStore
    from lightretriever.pipelines.indexing import index_corpus

    schema = CollectionSchema.from_artifact(artifact)
    store = QdrantHybridStore(cache / "stores", collection=f"scifact-{schema.document_fingerprint}", schema=schema)
    if store.count() < 5183:
        print("indexing SciFact (once per document encoder) ...", file=sys.stderr)
        index_corpus(SCIFACT / "corpus.jsonl.gz", store, DocumentEncoder(artifact), resume=True)
    return store


def latency_ms(search, encoded, indices) -> dict:
    times = []
    for i in indices:
        start = time.perf_counter()
        search(encoded.dense[i], encoded.sparse[i])
        times.append(1e3 * (time.perf_counter() - start))
    times.sort()
    return {"median_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))], "n": len(times)}


def search_latencies(store, encoded, indices) -> dict:
    variants = {"hybrid_rrf": {"mode": "hybrid", "fusion": "rrf"}, "hybrid_dbsf": {"mode": "hybrid", "fusion": "dbsf"},
                "hybrid_linear": {"mode": "hybrid", "fusion": "linear"}, "dense": {"mode": "dense"},
                "sparse": {"mode": "sparse"}}
    out = {}
    for name, options in variants.items():
        search = lambda d, s, o=options: store.search(d, s, k=10, **o)  # noqa: E731
        latency_ms(search, encoded, indices[:5])  # warm-up
        out[name] = latency_ms(search, encoded, indices)
    return out


def end_to_end(encode, store, queries: list[str]) -> dict:
    """One query at a time: encode, then hybrid rrf top-10."""
    for q in queries[:5]:  # warm-up
        e = encode(q)
        store.search(e.dense[0], e.sparse[0], k=10)
    start = time.perf_counter()
    for q in queries:
        e = encode(q)
        store.search(e.dense[0], e.sparse[0], k=10)
    seconds = time.perf_counter() - start
    return {"qps": len(queries) / seconds, "seconds": seconds, "n": len(queries)}


def full_dense_plus_counts(doc_encoder, query_encoder):
    """Full forward for the dense vector only; sparse = token counts (as the light path)."""
    import torch

    from lightretriever.components.backbones import pool_dense
    from lightretriever.components.query_encoder import QueryEmbeddings

    tokenizer = doc_encoder._tokenizer

    @torch.inference_mode()
    def encode(text: str):
        ids = tokenizer.encode(text.strip(), add_special_tokens=True).ids
        input_ids = torch.tensor([ids])
        attention = torch.ones_like(input_ids)
        hidden = doc_encoder.backbone.hidden(input_ids, attention)
        dense = torch.nn.functional.normalize(pool_dense(hidden, attention, doc_encoder.config.pooling).float(), dim=-1)
        return QueryEmbeddings(dense=dense.numpy(), sparse=query_encoder.encode([text]).sparse)

    return encode


def copy_to_local_mode(store, ids: list[str]):
    """A qdrant-client `:memory:` collection holding the same documents and vectors."""
    from lightretriever.components.sparse import SparseVector
    from lightretriever.components.store import QdrantHybridStore

    local = QdrantHybridStore(location=":memory:", collection="scifact", schema=store.schema)
    for start in range(0, len(ids), 512):
        chunk = ids[start:start + 512]
        docs = store.get(chunk)
        vectors = store.get_vectors(chunk)
        dense = np.array([vectors[d.id].get("dense", [0.0] * store.schema.dense_dim) for d in docs], dtype=np.float32)
        sparse = [SparseVector(np.array(vectors[d.id].get("sparse", ([], []))[0], dtype=np.int64),
                               np.array(vectors[d.id].get("sparse", ([], []))[1], dtype=np.float32)) for d in docs]
        local.upsert(docs, dense, sparse)
    return local


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", help="artifact directory (default: build artifacts/minilm once)")
    parser.add_argument("--cache", default=str(ROOT / "artifacts"))
    parser.add_argument("--queries", type=int, default=None, help="test queries to use (default: all 300)")
    parser.add_argument("--local-queries", type=int, default=30, help="queries for qdrant-client local mode")
    args = parser.parse_args(argv)

    from lightretriever.components import Artifact, DocumentEncoder, QueryEncoder

    root = artifact_dir(args.artifact, args.cache, "minilm")
    artifact = Artifact.load(root, need_document_model=True)
    store = open_index(artifact, Path(args.cache))
    queries = test_queries(args.queries)
    query_encoder = QueryEncoder(artifact)
    encoded = query_encoder.encode(queries)
    indices = list(range(len(queries)))

    embedded = search_latencies(store, encoded, indices)
    doc_encoder = DocumentEncoder(artifact)
    light = end_to_end(lambda q: query_encoder.encode([q]), store, queries)
    full = end_to_end(lambda q: doc_encoder.encode([q], show_progress=False), store, queries)
    full_dense = end_to_end(full_dense_plus_counts(doc_encoder, query_encoder), store, queries)

    ids = [d.id for d in store.iter_documents(batch_size=1024)]
    local = copy_to_local_mode(store, ids)
    local_latency = search_latencies(local, encoded, indices[: args.local_queries])
    local.close()
    store.close()

    speedup = light["qps"] / full["qps"]
    conservative = light["qps"] / full_dense["qps"]
    median = embedded["hybrid_rrf"]["median_ms"]
    print(json.dumps({
        "benchmark": "store_search", "artifact": str(root), "documents": len(ids), "queries": len(queries),
        "embedded_search": embedded, "local_mode_search": local_latency,
        "local_vs_embedded_hybrid_median": local_latency["hybrid_rrf"]["median_ms"] / median,
        "end_to_end": {"light": light, "full_dense_sparse": full, "full_dense_plus_counts": full_dense,
                       "speedup_vs_full_dense_sparse": speedup, "speedup_vs_full_dense_only": conservative},
        "targets": {"hybrid_search_median_ms": {"value": median, "target": TARGETS["hybrid_search_median_ms"],
                                                "pass": median <= TARGETS["hybrid_search_median_ms"]},
                    "end_to_end_speedup": {"value": conservative, "target": TARGETS["end_to_end_speedup"],
                                           "pass": conservative >= TARGETS["end_to_end_speedup"]}},
        "machine": machine(),
    }))


if __name__ == "__main__":
    main()
