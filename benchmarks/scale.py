"""The store at scale: 10k → 100k → 1M points, the embedded engine (and a Qdrant server when --url is given).

SYNTHETIC points, not real documents (encoding a million real documents takes days on 2 cores). Two kinds
(--data):
  - fitted (default): drawn from the statistics of REAL document vectors — the 5,183 SciFact abstracts
    through the committed MiniLM document model (data/quickstart/scifact-minilm-vectors.safetensors).
    Dense ~ N(their mean, their covariance), normalised: real embeddings are anisotropic (participation
    ratio ~65 of 384 dimensions), which is what HNSW's recall depends on. Sparse: as many draws as a real
    document has terms (~128), token ids drawn by the real document frequencies, weights from the real
    weights. Neighbourhoods are not the real ones (no topics): a stand-in, said as such.
  - random: i.i.d. Gaussian unit 384-d vectors and uniform token ids — no structure at all, HNSW's worst
    case (recall is far lower than on any real embedding at the same settings).
Queries are drawn the same way (8 sparse terms); payloads hold only the id. For each size and each setting
(`default`: Qdrant's HNSW defaults; `tuned`: TUNED below), one fresh collection:

  - upsert rate (points/s) and the optimize (segment merge + HNSW build) time;
  - RSS of this process after the build, and the collection's size on disk;
  - p50 / p99 latency of one query at a time, k=10, ids only, for dense / sparse / hybrid (dbsf);
  - recall@10: dense against exact brute force (numpy), hybrid against the engine's exact=True hybrid;
  - the same recalls and the dense p50 for hnsw_ef in EF_SWEEP on that collection (a search-time knob:
    no rebuild), so the JSON shows the whole speed / recall trade, not one point of it; `recall_target`
    reads off it the narrowest hnsw_ef reaching dense recall@10 >= 0.95 per size and setting.

The ladder stops at the first size whose estimated memory or disk does not fit, or after a size whose
build ran past --max-build-s; the JSON line says where and why ("stopped"). A PNG plot of latency and
recall against size goes to --plot.

    python benchmarks/scale.py [--sizes 10000,100000,1000000] [--data fitted|random] [--queries 200] [--url URL]
    python benchmarks/scale.py --replot benchmarks/results/scale.json   # the plot again, from a saved run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from common import machine

ROOT = Path(__file__).resolve().parents[1]
REAL_VECTORS = ROOT / "data" / "quickstart" / "scifact-minilm-vectors.safetensors"
DIM, VOCAB, QUERY_NNZ = 384, 30522, 8
CHUNK = 5000
TUNED = {"index": {"m": 32, "ef_construct": 256}, "search": {"hnsw_ef": 256}}
MODES = ("dense", "sparse", "hybrid")
RECALL_TARGET = 0.95
EF_SWEEP = (64, 128, 256, 512)  # hnsw_ef per search, on each collection: the recall a search-time knob buys


class RandomPoints:
    """No structure: i.i.d. Gaussian directions, uniform token ids (HNSW's worst case)."""

    name = "random: i.i.d. unit 384-d dense, 24 uniform token ids with uniform weights"
    document_terms = 24

    def dense(self, rng, n: int) -> np.ndarray:
        rows = rng.standard_normal((n, DIM)).astype(np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def sparse(self, rng, n: int, terms: int) -> list:
        from lightretriever.components.sparse import SparseVector

        return [SparseVector(np.sort(rng.choice(VOCAB, terms, replace=False)).astype(np.int64),
                             rng.random(terms, dtype=np.float32) + 0.1) for _ in range(n)]


class FittedPoints:
    """Drawn from the mean / covariance, term counts, document frequencies and weights of real vectors."""

    def __init__(self, path: Path = REAL_VECTORS):
        from lightretriever.components.vector_file import read_vector_file

        real = read_vector_file(path)
        dense = real.dense
        self.mean = dense.mean(axis=0)
        eigenvalues, eigenvectors = np.linalg.eigh(np.cov(dense, rowvar=False))
        self.mixing = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))).astype(np.float32)
        self.participation = float(eigenvalues.sum() ** 2 / (eigenvalues ** 2).sum())
        indices = real.tensors["sparse_indices"].astype(np.int64)
        self.document_terms = int(np.median(np.diff(real.tensors["sparse_indptr"])))
        frequency = np.bincount(indices, minlength=VOCAB).astype(np.float64)
        self.term_p = frequency / frequency.sum()
        self.weights = real.tensors["sparse_values"].astype(np.float32)
        self.name = (f"fitted to {len(dense)} real SciFact document vectors (MiniLM): dense ~ N(mean, cov), "
                     f"participation ratio {self.participation:.0f} of {DIM}; sparse {self.document_terms} "
                     "term draws by real document frequency, real weights")

    def dense(self, rng, n: int) -> np.ndarray:
        rows = self.mean + rng.standard_normal((n, DIM), dtype=np.float32) @ self.mixing.T
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)

    def sparse(self, rng, n: int, terms: int) -> list:
        from lightretriever.components.sparse import SparseVector

        draws = rng.choice(VOCAB, size=(n, terms), p=self.term_p)  # with replacement: frequent terms repeat
        rows = []
        for row in draws:
            ids = np.unique(row)
            rows.append(SparseVector(ids, rng.choice(self.weights, len(ids))))
        return rows


DATA = {"fitted": FittedPoints, "random": RandomPoints}


def bytes_per_point(data) -> int:
    """Vectors (engine copy + HNSW links + our copy for the truth) and the sparse terms (engine + index)."""
    return DIM * 4 * 3 + data.document_terms * 8 * 3 + 400


def build(store, data, n: int, seed: int) -> tuple[dict, np.ndarray]:
    """Upsert n synthetic points in chunks, then optimize; (timings, the dense matrix for exact truth)."""
    from lightretriever.components.store import StoredDocument

    rng = np.random.default_rng(seed)
    dense = np.empty((n, DIM), dtype=np.float32)
    upsert_s = 0.0
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        dense[start:start + size] = data.dense(rng, size)
        sparse = data.sparse(rng, size, data.document_terms)
        docs = [StoredDocument(id=f"p{start + i}") for i in range(size)]
        began = time.perf_counter()
        store.upsert(docs, dense[start:start + size], sparse)
        upsert_s += time.perf_counter() - began
    began = time.perf_counter()
    store.optimize()
    return {"upsert_points_per_s": n / upsert_s, "upsert_s": upsert_s,
            "optimize_s": time.perf_counter() - began}, dense


def latencies(store, queries, search: dict, modes: tuple[str, ...] = MODES) -> dict:
    """p50 / p99 ms of one query at a time per mode (k=10, ids only), after a short warm-up."""
    dense, sparse = queries
    out = {}
    for mode in modes:
        for i in range(min(5, len(dense))):
            store.search(dense[i], sparse[i], k=10, mode=mode, with_payload=False, **search)
        times = []
        for d, s in zip(dense, sparse):
            began = time.perf_counter()
            store.search(d, s, k=10, mode=mode, with_payload=False, **search)
            times.append(1e3 * (time.perf_counter() - began))
        times.sort()
        out[mode] = {"p50_ms": statistics.median(times), "p99_ms": times[int(0.99 * (len(times) - 1))]}
    return out


def exact_truth(store, queries, points: np.ndarray) -> tuple[np.ndarray, list[set]]:
    """The exact top 10 per query: dense by numpy brute force (in query chunks: a [200, 1M] score matrix
    is 800 MB), hybrid by the engine's own exact=True search (the same fusion without HNSW)."""
    dense, sparse = queries
    truth = np.concatenate([np.argpartition(-(dense[i:i + 20] @ points.T), 10, axis=1)[:, :10]
                            for i in range(0, len(dense), 20)])
    exact = store.search_batch(dense, sparse, k=10, with_payload=False, exact=True)
    return truth, [{h.id for h in hits} for hits in exact]


def recalls(store, queries, truth, search: dict) -> dict:
    dense, sparse = queries
    dense_truth, hybrid_truth = truth
    found = store.search_batch(dense, None, k=10, mode="dense", with_payload=False, **search)
    dense_recall = np.mean([len({int(h.id[1:]) for h in hits} & set(t)) / 10 for hits, t in zip(found, dense_truth)])
    hybrid = store.search_batch(dense, sparse, k=10, with_payload=False, **search)
    hybrid_recall = np.mean([len({h.id for h in a} & b) / max(len(b), 1) for a, b in zip(hybrid, hybrid_truth)])
    return {"dense_recall_at_10": float(dense_recall), "hybrid_recall_at_10_vs_exact": float(hybrid_recall)}


def ef_sweep(store, queries, truth) -> dict:
    """Search-time breadth on the same collection (no rebuild): recall and dense p50 per hnsw_ef."""
    out = {}
    for ef in EF_SWEEP:
        search = {"hnsw_ef": ef}
        dense_p50 = latencies(store, queries, search, modes=("dense",))["dense"]["p50_ms"]
        out[str(ef)] = {**recalls(store, queries, truth, search), "dense_p50_ms": dense_p50}
    return out


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def disk_mb(folder: Path) -> float:
    """Blocks actually allocated (the engine's preallocated, still sparse WAL files count only what they hold)."""
    return sum(f.stat().st_blocks * 512 for f in folder.rglob("*") if f.is_file()) / 2**20


def one_setting(open_store, data, n: int, setting: str, queries, where: Path | None) -> dict:
    """Build a fresh collection of n points with `setting`, then measure it."""
    from lightretriever.components.store import IndexSettings

    index = IndexSettings(**TUNED["index"]) if setting == "tuned" else None
    search = TUNED["search"] if setting == "tuned" else {}
    store = open_store(f"scale-{n}-{setting}", index)
    try:
        timings, points = build(store, data, n, seed=n)
        truth = exact_truth(store, queries, points)
        del points
        figures = {**timings, "rss_mb": rss_mb(), "peak_rss_mb": peak_rss_mb(), "latency": latencies(store, queries, search),
                   **recalls(store, queries, truth, search), "hnsw_ef_sweep": ef_sweep(store, queries, truth)}
    finally:
        store.close()
    if where is not None:
        figures["disk_mb"] = disk_mb(where / f"scale-{n}-{setting}")
    return figures


def available_memory() -> int:
    """MemAvailable: free memory plus the page cache the kernel can drop (free RAM alone undercounts a
    machine that has read files lately); the engine's memory-mapped segments are such pages too."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def fits(n: int, data, work: Path) -> str | None:
    """Why n points would not fit (memory or disk), or None."""
    need = n * bytes_per_point(data) * 2  # two collections' worth of headroom: the engine merges beside the old
    available_ram = available_memory()
    free_disk = shutil.disk_usage(work).free
    if need > available_ram:
        return f"{n} points need ~{need / 2**30:.1f} GiB of memory; {available_ram / 2**30:.1f} GiB is available"
    if need > free_disk:
        return f"{n} points need ~{need / 2**30:.1f} GiB on disk; {free_disk / 2**30:.1f} GiB is free at {work}"
    return None


def ladder(open_store, data, sizes: list[int], n_queries: int, work: Path, where: Path | None,
           max_build_s: float) -> tuple[list[dict], str | None]:
    rng = np.random.default_rng(12345)
    queries = (data.dense(rng, n_queries), data.sparse(rng, n_queries, QUERY_NNZ))
    rows = []
    for n in sizes:
        problem = fits(n, data, work)
        if problem:
            return rows, problem
        row = {"points": n, **{setting: one_setting(open_store, data, n, setting, queries, where)
                               for setting in ("default", "tuned")}}
        rows.append(row)
        print(json.dumps(row), flush=True)
        build_s = max(row[s]["upsert_s"] + row[s]["optimize_s"] for s in ("default", "tuned"))
        if build_s > max_build_s and n != sizes[-1]:
            return rows, f"the build at {n} points took {build_s:.0f} s (> --max-build-s {max_build_s:.0f})"
    return rows, None


def recall_target(rows: list[dict], target: float = RECALL_TARGET) -> list[dict]:
    """Per size and setting, the narrowest swept hnsw_ef whose dense recall@10 reaches `target`, with that
    search's recalls and dense p50 (None: no swept breadth reaches it). Read off the sweep, not re-measured."""
    out = []
    for row in rows:
        for setting in ("default", "tuned"):
            sweep = row[setting]["hnsw_ef_sweep"]
            reached = [ef for ef in sorted(sweep, key=int) if sweep[ef]["dense_recall_at_10"] >= target]
            out.append({"points": row["points"], "setting": setting, "target": target,
                        "hnsw_ef": int(reached[0]) if reached else None, **(sweep[reached[0]] if reached else {})})
    return out


def plot(rows: list[dict], path: Path, data_kind: str) -> None:
    """Latency and recall against size; and, per size, dense recall against dense p50 along the sweep."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["points"] for r in rows]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.2))
    for setting, style in (("default", "-"), ("tuned", "--")):
        for mode in MODES:
            left.plot(sizes, [r[setting]["latency"][mode]["p50_ms"] for r in rows], style, marker="o",
                      label=f"{mode} ({setting})")
        middle.plot(sizes, [r[setting]["dense_recall_at_10"] for r in rows], style, marker="o",
                    label=f"dense ({setting})")
        middle.plot(sizes, [r[setting]["hybrid_recall_at_10_vs_exact"] for r in rows], style, marker="s",
                    label=f"hybrid ({setting})")
        for number, row in enumerate(rows):  # one colour per size, the line style tells the setting
            sweep = row[setting]["hnsw_ef_sweep"]
            efs = sorted(sweep, key=int)
            right.plot([sweep[ef]["dense_p50_ms"] for ef in efs], [sweep[ef]["dense_recall_at_10"] for ef in efs],
                       style, marker="o", color=f"C{number}", label=f"{row['points']:,} ({setting})")
    right.axhline(RECALL_TARGET, color="grey", linewidth=0.8)
    for axis, xlabel, ylabel in ((left, "points (synthetic, 384-d)", "p50 latency, ms (one query, k=10)"),
                                 (middle, "points (synthetic, 384-d)", "recall@10 vs exact"),
                                 (right, f"dense p50, ms (hnsw_ef {', '.join(map(str, EF_SWEEP))})",
                                  "dense recall@10")):
        axis.set_xscale("log")
        axis.set_xlabel(xlabel)
        axis.set_ylabel(ylabel)
        axis.legend(fontsize=7)
    fig.suptitle(f"Embedded qdrant-edge store at scale (synthetic points, --data {data_kind})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def replot(results: Path, path: Path) -> None:
    """Draw the plot again from a saved JSON line of this script (no measuring)."""
    run = json.loads(results.read_text().strip().splitlines()[-1])
    plot(run["rows"], path, "random" if run["data"].startswith("synthetic, random") else "fitted")


def embedded_opener(work: Path):
    from lightretriever.components.store import CollectionSchema, QdrantHybridStore

    schema = CollectionSchema(dense_dim=DIM, vocab_size=VOCAB, document_fingerprint="synthetic")
    return lambda name, index: QdrantHybridStore(work, collection=name, schema=schema, index=index)


def server_opener(url: str):
    from lightretriever.components.store import CollectionSchema, QdrantHybridStore

    schema = CollectionSchema(dense_dim=DIM, vocab_size=VOCAB, document_fingerprint="synthetic")
    return lambda name, index: QdrantHybridStore(url=url, collection=f"{name}-{int(time.time())}", schema=schema,
                                                 index=index)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated point counts")
    parser.add_argument("--data", choices=sorted(DATA), default="fitted",
                        help="fitted: drawn from real document vectors' statistics; random: no structure")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--work", help="directory for the embedded collections (default: a temporary one, removed)")
    parser.add_argument("--url", help="also measure a Qdrant server at this URL (skipped when absent)")
    parser.add_argument("--max-build-s", type=float, default=3600.0,
                        help="stop the ladder after a size whose build took longer than this")
    parser.add_argument("--plot", default=str(ROOT / "benchmarks" / "results" / "scale.png"))
    parser.add_argument("--replot", metavar="JSON", help="only redraw --plot from a saved JSON line of this script")
    args = parser.parse_args(argv)
    if args.replot:
        return replot(Path(args.replot), Path(args.plot))
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    data = DATA[args.data]()

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="lightretriever-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        rows, stopped = ladder(embedded_opener(work), data, sizes, args.queries, work, work, args.max_build_s)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    server = "skipped: no --url given"
    if args.url:
        server_rows, server_stopped = ladder(server_opener(args.url), data, sizes, args.queries,
                                             Path(tempfile.gettempdir()), None, args.max_build_s)
        server = {"rows": server_rows, "stopped": server_stopped}
    if rows:
        plot(rows, Path(args.plot), args.data)
    print(json.dumps({"benchmark": "scale", "data": f"synthetic, {data.name}",
                      "tuned": TUNED, "rows": rows, "recall_target": recall_target(rows), "stopped": stopped,
                      "server": server,
                      "plot": args.plot if rows else None, "machine": machine()}))


if __name__ == "__main__":
    main()
