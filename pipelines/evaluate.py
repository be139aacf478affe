"""`lightretriever evaluate`: retrieval quality and query cost of an artifact on a BEIR dataset.

Modes (top-100 each, over the split's queries that have a relevant document):
  full    the symmetric full model: DocumentEncoder on `instruction + query` (what the table approximates:
          training/teacher_text.py, the very text training's teacher encodes),
          its dense vector searched against the dense index;
  dense / sparse / hybrid   LightRetriever's query side: QueryEncoder (table lookup + token counts) then
          the store's dense leg, sparse leg, or both fused (`fusion`);
  bm25    bm25s over the same document texts (pipelines/bm25.py).
Metrics come from pytrec_eval (pipelines/metrics.py); `retention` = nDCG@10 / nDCG@10 of `full`.

The corpus lives in the collection "{dataset}-{document fingerprint}" of the store; it is indexed only
when that collection holds fewer documents than the corpus (and then resumed, not redone), so every
later evaluation with the same document encoder reuses it — a retrained query table included. Before it
indexes, it prints the cost: the documents to encode and an estimated time from the full model timed on a
few of them. `max_documents=N` (`--max-documents N`) evaluates on a seeded subsample instead: every
document the evaluated queries judge plus random others up to N (pipelines/beir.py), in its own collection
"{dataset}-max{N}-seed{seed}-{ids digest}-{document fingerprint}"; BM25 runs on the same subsample, and
the results record it under "subsample" (None for the full corpus).

Times cover the whole split: `tokenize_s` (text -> ids), `encode_s` (ids -> vectors: the table lookup,
or the full model's forward pass), `search_s` (the store, or bm25s); qps = queries / their sum. Each
path runs once on a few queries before the clock starts (first-call set-up is not per-query cost).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from lightretriever.components.artifact import Artifact
from lightretriever.components.corpus import read_corpus
from lightretriever.components.batching import length_sorted_batches
from lightretriever.components.errors import LightRetrieverError
from lightretriever.components.home import lightretriever_home
from lightretriever.components.progress import progress, track
from lightretriever.components.store.fusion import DEFAULT_FUSION, FUSIONS
from lightretriever.components.store.redact import redact
from lightretriever.training.teacher_text import teacher_query_texts

from .beir import BeirDataset, Subsample, write_subsample
from .metrics import METRICS, relevant_qrels, retrieval_metrics

MODES = ("full", "dense", "sparse", "hybrid", "bm25")
STORE_MODES = ("full", "dense", "sparse", "hybrid")
K = 100
WARM_UP = 4  # queries run once, untimed, before each timed pass
COST_SAMPLE = 16  # documents the full model encodes, timed, to estimate the indexing time


class EvaluationError(LightRetrieverError, ValueError):
    """An evaluation was asked for something that does not exist (a mode, a fusion, an empty split)."""


def evaluate(artifact: str | Path | Artifact, dataset: str | Path, split: str = "test",
             modes: str | Iterable[str] = MODES, fusion: str = DEFAULT_FUSION, store: str | Path | None = None, *,
             batch_size: int = 64, max_queries: int | None = None, device: str | None = None,
             show_progress: bool = True, max_documents: int | None = None, seed: int = 0) -> dict:
    """Evaluate every mode; returns {"dataset", "split", "artifact", "results": {mode: {...}}, ...}.

    `store` is a directory (embedded engine), a Qdrant URL, or None for $LIGHTRETRIEVER_HOME/stores.
    `batch_size` is queries per forward pass / search request; `max_queries` keeps the split's first N;
    `max_documents` evaluates on the judged documents plus random others (`seed`) up to N.
    """
    modes = parse_modes(modes)
    _check_options(fusion, batch_size, max_queries, max_documents)
    data = BeirDataset.open(dataset)
    queries, judged, judged_ids = _split(data, split, max_queries)
    artifact = artifact if isinstance(artifact, Artifact) else Artifact.load(artifact)
    location = store if store is not None else default_store()
    _say(show_progress, f"evaluate: {data.name} {split}, {len(queries)} queries, modes {', '.join(modes)}")

    context = _Context(artifact, list(queries), list(queries.values()), batch_size, device, show_progress)
    results: dict[str, dict] = {}
    index_info = collection = None
    with documents_to_evaluate(data, judged_ids, max_documents, seed, show_progress) as (corpus, subsample):
        if any(m in STORE_MODES for m in modes):
            with open_collection(context, data, location, corpus, subsample) as (context.store, collection, index_info):
                for mode in (m for m in modes if m in STORE_MODES):
                    results[mode] = _scored(RUNNERS[mode](context, mode, fusion), judged)
        if "bm25" in modes:
            results["bm25"] = _scored(run_bm25(context, corpus), judged)
    results = {m: results[m] for m in modes}
    _add_retention(results)
    documents = subsample.documents if subsample else index_info["documents"] if index_info else data.document_count()
    return {"dataset": data.name, "split": split, "artifact": str(artifact.root), "results": results,
            "queries": len(queries), "documents": documents, "subsample": subsample.record() if subsample else None,
            "k": K, "fusion": fusion, "store": redact(str(location)), "collection": collection, "index": index_info,
            "machine": machine()}


def parse_modes(modes: str | Iterable[str]) -> list[str]:
    """'full,dense' or ['full', 'dense'] -> a checked, de-duplicated list in the given order."""
    names = [m.strip().lower() for m in (modes.split(",") if isinstance(modes, str) else modes) if m.strip()]
    unknown = [m for m in names if m not in MODES]
    if unknown or not names:
        raise EvaluationError(f"unknown mode {', '.join(map(repr, unknown)) or '(none given)'}: choose from "
                              f"{', '.join(MODES)}, comma-separated (e.g. --modes full,hybrid,bm25)")
    return list(dict.fromkeys(names))


def _check_options(fusion: str, batch_size: int, max_queries: int | None, max_documents: int | None) -> None:
    if fusion not in FUSIONS:
        raise EvaluationError(f"unknown fusion {fusion!r}: choose one of {', '.join(FUSIONS)}")
    for name, value in (("batch_size", batch_size), ("max_queries", max_queries), ("max_documents", max_documents)):
        if value is not None and value < 1:
            raise EvaluationError(f"{name}={value} must be at least 1")


def _split(data: BeirDataset, split: str, max_queries: int | None) -> tuple[dict[str, str], dict, set[str]]:
    """The split's evaluable queries {id: text}, their relevant judgments, and every document they judge
    (relevant or not: what a subsample keeps)."""
    qrels = data.qrels(split)
    queries = data.split_queries(qrels, max_queries)
    if not queries:
        raise EvaluationError(f"the {split!r} qrels of {data.root} judge no document relevant (score > 0): "
                              "no query to evaluate")
    return queries, relevant_qrels(qrels, queries), {d for q in queries for d in qrels[q]}


def default_store() -> Path:
    return lightretriever_home() / "stores"


# -- the collection -------------------------------------------------------------------------------

class _Context:
    """What every mode shares: the artifact, the queries, and the encoders/store opened once."""

    def __init__(self, artifact: Artifact, ids: list[str], texts: list[str], batch_size: int, device: str | None,
                 show_progress: bool):
        self.artifact, self.ids, self.texts = artifact, ids, texts
        self.batch_size, self.device, self.show_progress = batch_size, device, show_progress
        self.store = None
        self._document_encoder = None

    def document_encoder(self):
        if self._document_encoder is None:
            from lightretriever.components.document_encoder import DocumentEncoder

            self.artifact.validate_document_model()  # names the missing model/ or adapter/ part
            self._document_encoder = DocumentEncoder(self.artifact, device=self.device)
        return self._document_encoder


@contextmanager
def documents_to_evaluate(data: BeirDataset, judged_ids: set[str], max_documents: int | None, seed: int,
                          show_progress: bool) -> Iterator[tuple[Path, Subsample | None]]:
    """Yield (corpus file, subsample or None): the dataset's corpus, or a subsample written to a temporary
    directory (seeded, so a rerun writes the same one and resumes its collection)."""
    if max_documents is None:
        yield data.corpus, None
        return
    with tempfile.TemporaryDirectory(prefix="lightretriever-subsample-") as directory:
        subsample = write_subsample(data, judged_ids, max_documents, seed, Path(directory))
        _say(show_progress, f"subsample: {subsample.documents} of {subsample.corpus_documents} documents "
                            f"({subsample.judged} judged by the evaluated queries + random others, seed {seed})")
        yield subsample.corpus, subsample


@contextmanager
def open_collection(context: _Context, data: BeirDataset, location, corpus: Path | None = None,
                    subsample: Subsample | None = None):
    """Yield (store, collection name, index info); index `corpus` (default: the dataset's) only if the
    collection lacks documents."""
    from lightretriever.components.store import CollectionSchema, QdrantHybridStore

    from lightretriever.components.corpus import count_documents
    from .indexing import index_corpus

    corpus = corpus or data.corpus
    schema = CollectionSchema.from_artifact(context.artifact)
    name = "-".join([data.name, *([subsample.tag] if subsample else []), schema.document_fingerprint])
    store = QdrantHybridStore.from_location(location, name, schema=schema)
    try:
        documents, before = count_documents(corpus), store.count()  # a damaged corpus is refused before the model loads
        info = {"documents": documents, "count_before": before, "written": 0, "count": before, "seconds": 0.0}
        if before < documents:
            _say(context.show_progress, f"indexing {corpus} into {store} ({before}/{documents} stored; "
                                        "resumable: rerun to continue after an interruption)")
            if context.show_progress:
                _say_indexing_cost(context, corpus, documents - before, hint=subsample is None)
            report = index_corpus(corpus, store, context.document_encoder(), resume=True,
                                  show_progress=context.show_progress, total=documents)
            info.update(written=report.written, count=report.count, seconds=report.seconds)
        else:
            _say(context.show_progress, f"reusing {store}: {before} documents already indexed")
        yield store, name, info
    finally:
        store.close()


def _say_indexing_cost(context: _Context, corpus: Path, remaining: int, hint: bool) -> None:
    """Print the documents to encode and an estimated time, from the full model timed on a few of them
    (after one untimed warm-up call: first-call set-up is not per-document cost)."""
    encoder = context.document_encoder()
    texts = [d.encoder_text() for _, d in zip(range(COST_SAMPLE + 2), read_corpus(corpus))]
    encoder.encode(texts[:2], show_progress=False)
    started = time.perf_counter()
    encoder.encode(texts[2:] or texts, show_progress=False)
    rate = len(texts[2:] or texts) / max(time.perf_counter() - started, 1e-9)
    advice = (" For a quick check: --max-documents N (the documents the evaluated queries judge plus random others"
              " up to N; max_documents= from Python).") if hint else ""
    _say(True, f"indexing cost: {remaining:,} documents to encode with the full model, about "
               f"{_duration(remaining / rate)} at {rate:.1f} documents/s (timed on {len(texts[2:] or texts)} of them)."
               f"{advice}")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


# -- the modes ------------------------------------------------------------------------------------

def run_light(context: _Context, mode: str, fusion: str) -> dict:
    """dense / sparse / hybrid with the artifact's QueryEncoder (no torch)."""
    from lightretriever.components.query_encoder import QueryEncoder

    encoder = QueryEncoder(context.artifact)
    encoder.encode(context.texts[:WARM_UP])
    started = time.perf_counter()
    tokens = encoder.tokenize(context.texts)
    tokenized = time.perf_counter()
    encoded = encoder.encode_tokenized(tokens)
    encoded_at = time.perf_counter()
    searcher = _searcher(context, encoder, mode=mode, fusion=fusion)
    rankings, search_s = _search(searcher, context, encoded.dense, encoded.sparse, f"{mode}: search")
    extra = {"fusion": fusion} if mode == "hybrid" else {}
    return {"rankings": rankings, "tokenize_s": tokenized - started, "encode_s": encoded_at - tokenized,
            "search_s": search_s, **extra}


def run_full(context: _Context, mode: str, fusion: str) -> dict:
    """The document encoder on the query text (dense vector, dense index): what the table stands in for."""
    encoder = context.document_encoder()
    texts = teacher_query_texts(context.artifact, context.texts)  # the text training's teacher encodes
    tokenizer = encoder._tokenizer  # the encoder's own (same truncation), so the ids are exactly what encode() uses
    encoder.encode_ids([e.ids for e in tokenizer.encode_batch(texts[:WARM_UP], add_special_tokens=True)],
                       with_sparse=False)
    started = time.perf_counter()
    ids = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=True)]
    tokenized = time.perf_counter()
    dense = full_forward(encoder, ids, context.batch_size, context.show_progress)
    encoded_at = time.perf_counter()
    rankings, search_s = _search(_searcher(context, encoder, mode="dense"), context, dense, None, "full: search")
    return {"rankings": rankings, "tokenize_s": tokenized - started, "encode_s": encoded_at - tokenized,
            "search_s": search_s, "forward": "DocumentEncoder.encode_ids, dense head only"}


def full_forward(encoder, ids: list[list[int]], batch_size: int, show_progress: bool = False,
                 with_sparse: bool = False) -> np.ndarray:
    """The full model's query vectors (dense, in input order) from token ids; batches of similar length
    (less padding), as DocumentEncoder.encode. Only the dense head by default: `full` searches the dense
    index, so the vocabulary head would be cost it never uses; `with_sparse=True` runs it too (what a
    full hybrid model pays per query)."""
    dense = np.zeros((len(ids), encoder.dim), dtype=np.float32)
    with progress(len(ids), unit="query", desc="full: encode", enabled=show_progress) as bar:
        for batch in length_sorted_batches([len(x) for x in ids], batch_size):
            dense[batch] = encoder.encode_ids([ids[i] for i in batch], with_sparse=with_sparse)[0]
            bar.update(len(batch))
    return dense


def _searcher(context: _Context, encoder, **options):
    """The evaluated collection behind `encoder`, with one SearchOptions: top K, the mode's options, and
    no payloads (the metrics read only ids; reading 100 payloads per query cost more than the search)."""
    from lightretriever.components.searcher import HybridSearcher
    from lightretriever.components.store.options import SearchOptions

    return HybridSearcher(encoder, context.store, SearchOptions(k=K, with_payload=False, **options))


def _search(searcher, context: _Context, dense, sparse, label: str) -> tuple[dict[str, list[str]], float]:
    """Top-K ids per query, in batched requests of already-encoded queries (encoding is timed apart);
    (rankings, seconds)."""
    n, step = len(context.ids), context.batch_size
    part = lambda a, b: (dense[a:b] if dense is not None else None, sparse[a:b] if sparse is not None else None)  # noqa: E731
    searcher.search_encoded(*part(0, WARM_UP))
    hits: list = []
    seconds = 0.0
    for start in track(range(0, n, step), desc=label, unit="batch", enabled=context.show_progress):
        began = time.perf_counter()
        hits.extend(searcher.search_encoded(*part(start, start + step)))
        seconds += time.perf_counter() - began
    return {q: [h.id for h in found] for q, found in zip(context.ids, hits)}, seconds


def run_bm25(context: _Context, corpus: Path) -> dict:
    from .bm25 import BM25Baseline

    _say(context.show_progress, f"bm25: indexing {corpus}")
    documents = list(read_corpus(corpus))
    baseline = BM25Baseline([d.id for d in documents], [d.encoder_text() for d in documents],
                            show_progress=context.show_progress)
    baseline.search(baseline.tokenize(context.texts[:WARM_UP]), K, show_progress=False)
    started = time.perf_counter()
    tokens = baseline.tokenize(context.texts)
    tokenized = time.perf_counter()
    ranked = baseline.search(tokens, K, show_progress=context.show_progress)
    searched = time.perf_counter()
    # BM25's whole query side is tokenising (split, stopwords, stem): it is its encode step
    return {"rankings": dict(zip(context.ids, ranked)), "tokenize_s": None, "encode_s": tokenized - started,
            "search_s": searched - tokenized, "stemmer": baseline.stemmer_name, "index_s": baseline.index_s}


RUNNERS = {"full": run_full, "dense": run_light, "sparse": run_light, "hybrid": run_light}


# -- scores and report ----------------------------------------------------------------------------

def _scored(run: dict, judged: dict[str, dict[str, int]]) -> dict:
    rankings = run.pop("rankings")
    spent = (run["tokenize_s"] or 0.0) + run["encode_s"] + run["search_s"]
    return {**retrieval_metrics(judged, rankings), "retention": None, **run, "queries": len(judged),
            "qps": len(judged) / spent if spent > 0 else None}


def _add_retention(results: dict[str, dict]) -> None:
    full = results.get("full", {}).get("ndcg@10")
    for scores in results.values():
        scores["retention"] = scores["ndcg@10"] / full if full else None


def format_table(result: dict) -> str:
    """The result as a plain-text table (one row per mode)."""
    head = (f"{result['dataset']} ({result['split']}, {result['queries']} queries, {result['documents']} documents)"
            f" — {result['artifact']}, top-{result['k']}, hybrid fusion {result['fusion']}")
    columns = ("mode", *METRICS, "retention", "tokenize_s", "encode_s", "search_s", "qps")
    rows = [columns]
    for mode, r in result["results"].items():
        rows.append((mode, *(f"{r[m]:.4f}" for m in METRICS), _fmt(r["retention"], ".3f"),
                     _fmt(r["tokenize_s"], ".4f"), _fmt(r["encode_s"], ".4f"), _fmt(r["search_s"], ".3f"),
                     _fmt(r["qps"], ",.1f")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    notes = [f"bm25 stemmer: {result['results']['bm25']['stemmer']}"] if "bm25" in result["results"] else []
    return "\n".join([head, *lines[:1], "-" * len(lines[0]), *lines[1:], *notes])


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def machine() -> dict:
    """What ran the evaluation: times are only comparable on the same machine."""
    cpu = platform.processor() or "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    torch = sys.modules.get("torch")  # reported when a mode loaded it; never imported just for this
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads() if torch else None,
            "platform": platform.platform(), "python": platform.python_version(),
            "load_avg_1m": os.getloadavg()[0]}  # above `cores`: other processes competed, times are noisy


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(message, file=sys.stderr, flush=True)
