"""Index a JSONL corpus into a QdrantHybridStore: stream, encode, upsert — safe to interrupt.

Safety comes from the store: point ids are UUIDv5 of document ids, so writing a batch again replaces
it. A run killed at any point leaves every batch either fully written or absent; rerunning (with
`resume=True` to skip what is stored instead of re-encoding it) ends with exactly one point per id.

Before the first write the whole corpus file is read once (`count_documents`: exists, decompresses, is
UTF-8), so such a fault refuses the run with nothing written. A line that is not a valid document
(corpus.py's rules) stops the run at that line, with the batches before it stored (--resume continues);
metadata the store cannot hold (PayloadError, store/payload.py) is checked as each document is read
and reported with its file:line before its batch is encoded or written. Documents without text are indexed (their title alone, or nothing) and counted in
`IndexReport.empty`, with a warning (logger `lightretriever.pipelines.indexing`) naming the first ones.

Under torchrun against a Qdrant server every rank calls this with its `shard` (pipelines/sharding.py) and
writes only the documents it holds; the ranks together write the corpus, each id by one rank.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


from lightretriever.components.corpus import FieldMap, count_documents, numbered_documents
from lightretriever.components.errors import InvalidArgumentError, PayloadError
from lightretriever.components.progress import progress
from lightretriever.components.store import QdrantHybridStore, StoredDocument
from lightretriever.components.store.payload import check_documents

from .sharding import Shard
from .vectors import DocumentVectors

log = logging.getLogger(__name__)
EMPTY_EXAMPLES = 5  # documents without text named in the warning
RESUME_FIX = " and rerun with --resume"  # a bad line stops a run that --resume continues


@dataclass
class IndexReport:
    read: int = 0          # documents read from the corpus
    written: int = 0       # documents encoded and upserted in this run
    skipped: int = 0       # already stored (resume)
    count: int = 0         # documents in the collection at the end
    duplicate_ids: int = 0  # ids seen more than once in the corpus (the last one wins)
    empty: int = 0         # documents read without text (absent, null or blank text field)
    empty_examples: list[str] = field(default_factory=list)  # "file:line (id 'x')" of the first few
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def index_corpus(corpus: str | Path, store: QdrantHybridStore, encoder=None, *, batch_size: int = 256,
                 resume: bool = False, fields: FieldMap | None = None, limit: int | None = None,
                 vectors: DocumentVectors | None = None, show_progress: bool = True,
                 total: int | None = None, shard: Shard = Shard()) -> IndexReport:
    """`encoder` is a DocumentEncoder (anything with `encode(texts, show_progress=...)`), or None when
    `vectors` (a document-vector file made by the same document encoder, `pipelines/vectors.py`)
    supplies every document's vectors; `limit` indexes only the first documents (to try things out);
    `total` is `count_documents(corpus)` when the caller has already checked the file with it; `shard`:
    only the documents this rank holds are read into the report and written (`limit` counts corpus lines)."""
    if (encoder is None) == (vectors is None):
        raise ValueError("index_corpus needs exactly one of encoder= (encode the documents) or vectors= (stored ones)")
    _check_positive(batch_size=batch_size, limit=limit)
    report = IndexReport()
    started = time.perf_counter()
    seen: set[str] = set()
    total = count_documents(corpus) if total is None else total  # refuses a bad file before any write
    expected = -(-(min(total, limit) if limit else total) // shard.world_size)  # about this rank's share
    bar = progress(expected, unit="doc", desc="indexing", enabled=show_progress)
    try:
        corpus_lines = itertools.islice(numbered_documents(corpus, fields or FieldMap(), json_fix=RESUME_FIX), limit)
        documents = (numbered for numbered in corpus_lines if shard.holds(numbered[1].id))
        while numbered := list(itertools.islice(documents, batch_size)):
            lines = {doc.id: number for number, doc in numbered}  # a repeated id: its last line, as stored
            batch = [doc for _, doc in numbered]
            report.read += len(batch)
            for number, doc in numbered:
                report.duplicate_ids += doc.id in seen
                seen.add(doc.id)
                _check_payload(doc, f"{corpus}:{number}")  # before the batch is encoded, with its line
                _count_empty(report, doc, f"{corpus}:{number}")
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
                _upsert(store, batch, dense, sparse, corpus, lines)
                report.written += len(batch)
            bar.set_postfix(written=report.written, skipped=report.skipped, refresh=False)
            bar.update(report.read - bar.n)
    finally:
        bar.close()
        store.flush()
    _warn_empty(report)
    if report.written:
        store.optimize()  # a bulk load leaves small segments; merging them now makes the first searches fast
    report.count = store.count()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _check_positive(**values: int | None) -> None:
    for name, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InvalidArgumentError(f"{name}={value!r} must be a positive integer"
                                       + (" (or None for the whole corpus)" if name == "limit" else ""))


def _check_payload(doc: StoredDocument, where: str) -> None:
    try:
        check_documents([doc])
    except PayloadError as exc:
        raise PayloadError(f"{where}: {exc}; the batches before this line are stored: fix the line and rerun "
                           "with --resume") from None


def _count_empty(report: IndexReport, doc: StoredDocument, where: str) -> None:
    if doc.text.strip():
        return
    report.empty += 1
    if len(report.empty_examples) < EMPTY_EXAMPLES:
        report.empty_examples.append(f"{where} (id {doc.id!r})")


def _warn_empty(report: IndexReport) -> None:
    if report.empty:
        more = ", ..." if report.empty > len(report.empty_examples) else ""
        log.warning(f"{report.empty} documents have no text and were indexed with their title only (or nothing): "
                    f"{', '.join(report.empty_examples)}{more}; pass --text-field NAME if the text is under another key")


def _upsert(store: QdrantHybridStore, batch: list[StoredDocument], dense, sparse, corpus, lines: dict[str, int]) -> None:
    """store.upsert, with a refused payload pointed back at its corpus line (the store names only the id)."""
    try:
        store.upsert(batch, dense, sparse)
    except PayloadError as exc:
        where = _payload_lines(exc, batch, lines)
        raise PayloadError(f"{corpus}:{where}: {exc}; the batches before it are stored: fix the line and rerun "
                           "with --resume") from exc


def _payload_lines(exc: PayloadError, batch: list[StoredDocument], lines: dict[str, int]) -> str:
    document_id = getattr(exc, "document_id", None)
    if document_id is None:  # otherwise the first id of the batch that the message names
        document_id = next((d.id for d in batch if repr(d.id) in str(exc)), None)
    if document_id in lines:
        return str(lines[document_id])
    numbers = sorted(lines[d.id] for d in batch)
    return f"{numbers[0]}-{numbers[-1]}"
