"""Index a JSONL corpus into a QdrantHybridStore: stream, encode, upsert — safe to interrupt.

Safety comes from the store: point ids are UUIDv5 of document ids, so writing a batch again replaces
it. A run killed at any point leaves every batch either fully written or absent; rerunning (with
`resume=True` to skip what is stored instead of re-encoding it) ends with exactly one point per id.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

from lightretriever.components.store import QdrantHybridStore

from .corpus import FieldMap, count_documents, read_corpus
from .vectors import DocumentVectors


@dataclass
class IndexReport:
    read: int = 0          # documents read from the corpus
    written: int = 0       # documents encoded and upserted in this run
    skipped: int = 0       # already stored (resume)
    count: int = 0         # documents in the collection at the end
    duplicate_ids: int = 0  # ids seen more than once in the corpus (the last one wins)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def index_corpus(corpus: str | Path, store: QdrantHybridStore, encoder=None, *, batch_size: int = 256,
                 resume: bool = False, fields: FieldMap | None = None, limit: int | None = None,
                 vectors: DocumentVectors | None = None, show_progress: bool = True) -> IndexReport:
    """`encoder` is a DocumentEncoder (anything with `encode(texts, show_progress=...)`), or None when
    `vectors` (a document-vector file made by the same document encoder, `pipelines/vectors.py`)
    supplies every document's vectors; `limit` indexes only the first documents (to try things out)."""
    if (encoder is None) == (vectors is None):
        raise ValueError("index_corpus needs exactly one of encoder= (encode the documents) or vectors= (stored ones)")
    report = IndexReport()
    started = time.perf_counter()
    seen: set[str] = set()
    total = count_documents(corpus)
    bar = tqdm(total=min(total, limit) if limit else total, unit="doc", desc="indexing", disable=not show_progress,
               dynamic_ncols=True)
    try:
        documents = itertools.islice(read_corpus(corpus, fields or FieldMap()), limit)
        while batch := list(itertools.islice(documents, batch_size)):
            report.read += len(batch)
            for doc in batch:
                report.duplicate_ids += doc.id in seen
                seen.add(doc.id)
            if resume:
                stored = store.existing_ids([d.id for d in batch])
                report.skipped += sum(d.id in stored for d in batch)
                batch = [d for d in batch if d.id not in stored]
            if batch:
                if vectors is not None:
                    dense, sparse = vectors.take(vectors.rows_for(batch, source=f"the vector file of {corpus}"))
                else:
                    embeddings = encoder.encode([d.encoder_text() for d in batch], show_progress=False)
                    dense, sparse = embeddings.dense, embeddings.sparse
                store.upsert(batch, dense, sparse)
                report.written += len(batch)
            bar.set_postfix(written=report.written, skipped=report.skipped, refresh=False)
            bar.update(report.read - bar.n)
    finally:
        bar.close()
        store.flush()
    if report.written:
        store.optimize()  # a bulk load leaves small segments; merging them now makes the first searches fast
    report.count = store.count()
    report.seconds = round(time.perf_counter() - started, 3)
    return report
