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
5. The store against the engine, same run, queries interleaved: hybrid (default dbsf) k=10 with payloads
   through `store.search` vs the same request written by hand for qdrant-edge (`engine_vs_store`);
   `evaluate`'s search step (k=100, ids only, batches of 64); batched vs one at a time (`batch_vs_single`).

    python benchmarks/store_search.py [--artifact DIR] [--store-only]
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
TARGETS = {"hybrid_search_median_ms": 5.0, "end_to_end_speedup": 10.0, "store_over_engine": 1.25,
           "evaluate_search_ms_per_query": 2.0}
EVALUATE_BATCH = 64  # evaluate's default batch_size


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


def engine_request(dense, sparse, k: int):
    """What a hand-written qdrant-edge call for the store's default hybrid search sends (dbsf over two
    100-deep prefetches, payloads of the top k)."""
    import qdrant_edge as q

    legs = [q.Prefetch(limit=100, query=q.Query.Nearest(dense.tolist(), using="dense")),
            q.Prefetch(limit=100, query=q.Query.Nearest(
                q.SparseVector(indices=sparse.indices.tolist(), values=sparse.values.tolist()), using="sparse"))]
    return q.QueryRequest(limit=k, prefetches=legs, query=q.Fusion.Dbsf(), with_payload=True)


def engine_vs_store(store, encoded, indices, k: int = 10) -> dict:
    """Median ms of the hand-written engine call (request built, run, ids and payloads read) and of
    `store.search` for the same query, interleaved so that both see the same load."""
    shard = store._backend._shard  # the embedded engine itself (benchmark only)
    engine, ours = [], []
    for rep in range(2):  # the first pass warms both
        for i in indices:
            start = time.perf_counter()
            [(p.id, p.payload) for p in shard.query(engine_request(encoded.dense[i], encoded.sparse[i], k))]
            middle = time.perf_counter()
            store.search(encoded.dense[i], encoded.sparse[i], k=k)
            if rep:
                engine.append(1e3 * (middle - start))
                ours.append(1e3 * (time.perf_counter() - middle))
    median_engine, median_store = statistics.median(engine), statistics.median(ours)
    return {"k": k, "engine_median_ms": median_engine, "store_median_ms": median_store,
            "store_over_engine": median_store / median_engine, "n": len(engine)}


def per_query_ms(run, n: int, repeats: int = 3) -> float:
    """Best of `repeats` runs of `run()` (which searches n queries), in ms per query."""
    run()  # warm-up
    return min(timed_once(run) for _ in range(repeats)) * 1e3 / n


def timed_once(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def evaluate_search_step(store, encoded) -> dict:
    """`evaluate`'s search: k=100, ids only, batches of 64; and the same with payloads, and one at a time."""
    n = len(encoded.dense)

    def batched(**options):
        for start in range(0, n, EVALUATE_BATCH):
            end = start + EVALUATE_BATCH
            store.search_batch(encoded.dense[start:end], encoded.sparse[start:end], k=100, **options)

    def single(**options):
        for i in range(n):
            store.search(encoded.dense[i], encoded.sparse[i], k=100, **options)

    return {"ids_only_batched_ms": per_query_ms(lambda: batched(with_payload=False), n),
            "with_payload_batched_ms": per_query_ms(lambda: batched(), n),
            "ids_only_single_ms": per_query_ms(lambda: single(with_payload=False), n),
            "with_payload_single_ms": per_query_ms(lambda: single(), n), "queries": n}


def batch_vs_single(store, encoded) -> dict:
    """Hybrid k=10 with payloads: all queries in one search_batch vs one store.search each (ms/query)."""
    n = len(encoded.dense)
    batch = per_query_ms(lambda: store.search_batch(encoded.dense, encoded.sparse, k=10), n)
    single = per_query_ms(lambda: [store.search(encoded.dense[i], encoded.sparse[i], k=10) for i in range(n)], n)
    return {"batch_ms": batch, "single_ms": single, "single_over_batch": single / batch, "queries": n}


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
    parser.add_argument("--store-only", action="store_true",
                        help="only the store parts (2 and 5): no full-model end to end, no local mode")
    args = parser.parse_args(argv)

    from lightretriever.components import Artifact, QueryEncoder

    root = artifact_dir(args.artifact, args.cache, "minilm")
    artifact = Artifact.load(root, need_document_model=True)
    store = open_index(artifact, Path(args.cache))
    queries = test_queries(args.queries)
    query_encoder = QueryEncoder(artifact)
    encoded = query_encoder.encode(queries)
    indices = list(range(len(queries)))

    figures = {"embedded_search": search_latencies(store, encoded, indices),
               "engine_vs_store": engine_vs_store(store, encoded, indices),
               "evaluate_search_step": evaluate_search_step(store, encoded),
               "batch_vs_single": batch_vs_single(store, encoded)}
    if not args.store_only:
        figures.update(full_model_parts(artifact, query_encoder, store, queries, encoded, args.local_queries))
        figures["local_vs_embedded_hybrid_median"] = (figures["local_mode_search"]["hybrid_rrf"]["median_ms"]
                                                      / figures["embedded_search"]["hybrid_rrf"]["median_ms"])
    documents = store.count()
    store.close()
    print(json.dumps({"benchmark": "store_search", "artifact": str(root), "documents": documents,
                      "queries": len(queries), **figures, "targets": targets(figures), "machine": machine()}))


def full_model_parts(artifact, query_encoder, store, queries, encoded, local_queries: int) -> dict:
    """Parts 3 and 4: end to end against the full model, and qdrant-client local mode."""
    from lightretriever.components import DocumentEncoder

    doc_encoder = DocumentEncoder(artifact)
    light = end_to_end(lambda q: query_encoder.encode([q]), store, queries)
    full = end_to_end(lambda q: doc_encoder.encode([q], show_progress=False), store, queries)
    full_dense = end_to_end(full_dense_plus_counts(doc_encoder, query_encoder), store, queries)
    local = copy_to_local_mode(store, [d.id for d in store.iter_documents(batch_size=1024)])
    local_latency = search_latencies(local, encoded, list(range(len(queries)))[:local_queries])
    local.close()
    return {"local_mode_search": local_latency,
            "end_to_end": {"light": light, "full_dense_sparse": full, "full_dense_plus_counts": full_dense,
                           "speedup_vs_full_dense_sparse": light["qps"] / full["qps"],
                           "speedup_vs_full_dense_only": light["qps"] / full_dense["qps"]}}


def targets(figures: dict) -> dict:
    """Each target with its value and whether it passes (the end-to-end one only when it was measured)."""
    def check(name: str, value: float, at_most: bool = True) -> dict:
        passed = value <= TARGETS[name] if at_most else value >= TARGETS[name]
        return {"value": value, "target": TARGETS[name], "pass": passed}

    out = {"hybrid_search_median_ms": check("hybrid_search_median_ms",
                                            figures["embedded_search"]["hybrid_rrf"]["median_ms"]),
           "store_over_engine": check("store_over_engine", figures["engine_vs_store"]["store_over_engine"]),
           "evaluate_search_ms_per_query": check("evaluate_search_ms_per_query",
                                                 figures["evaluate_search_step"]["ids_only_batched_ms"])}
    if "end_to_end" in figures:
        out["end_to_end_speedup"] = check("end_to_end_speedup", figures["end_to_end"]["speedup_vs_full_dense_only"],
                                          at_most=False)
    return out


if __name__ == "__main__":
    main()
