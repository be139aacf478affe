"""`adapt`: fit the query side to a user's own corpus — no labels, minutes on a CPU, the index kept.

The document encoder is never touched: the adapted artifact holds the base's document files byte for
byte, so its document fingerprint is the base's and an index written with the base is searched as it is.
What changes is the query side, the part a query pays nothing for:

1. **Sparse query weights** = the corpus IDF of each token (`log(1 + (N - df + 0.5) / (df + 0.5))`, BM25's),
   counted with the query tokenisation over every document. A table lookup at query time, like
   Li-LSR's learned query weights; on SciFact it beat weights learned from pseudo-queries (see README).
2. **The dense table**, trained. Start: the base rows as the model exported them, centred (`initial_rows`).
   Training queries: pseudo-queries cut from the corpus (training/pseudo_queries.py), the user's own
   unlabelled queries (`queries`), labelled ones (`qrels`). Teacher: the full model on each query
   (`instruction + query`, one forward pass each, cached). Student: the table lookup. Loss per query:
   `cosine · (1 − cos(student, teacher))`
   `+ distill · KL(teacher ‖ student)` over the scores against a sample of the corpus' document vectors
   `+ source · InfoNCE(student, the query's own document)` — the document a pseudo-query was cut from,
   or a labelled positive — over the same sample.
   Scoring against a corpus sample (not a handful of in-batch passages) is what lets a label-free
   table match or pass its teacher in-domain: it learns which documents *this* corpus holds.

Cost is dominated by forward passes: the document sample (dense only, `max_documents`, cached per
document fingerprint in `$LIGHTRETRIEVER_HOME/cache/document-vectors/`) and the teacher's queries
(short, batched by length, cached alike). A rerun — or `resume` after an interruption — finds
both in the cache and redoes only the table training (a minute), continuing from its last epoch.

The training loop (training/table_fit.py) is plain torch on purpose: the only parameters are the rows
(an embedding table with a softmax over a few thousand cached vectors); transformers' Trainer would add
a data-loader and checkpoint machinery around ~1,000 Adam steps without changing one number.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lightretriever.components.artifact import CONFIG_NAME, Artifact
from lightretriever.components.document import StoredDocument
from lightretriever.components.errors import ArtifactError
from lightretriever.components.progress import track
from lightretriever.components.query_encoder import QueryTokenizer
from lightretriever.components.tables import save_table, save_token_weights

from .adapt_config import AdaptConfig
from .artifact_writer import ArtifactWriter
from .build import build_artifact
from .data import TrainingDataError
from .document_cache import DocumentVectors
from .pseudo_queries import pseudo_queries
from .table_fit import TrainingQuery, initial_rows, train_rows
from .teacher_text import full_query_text

TOKEN_WEIGHTS_FILE = "tables/{name}.token-weights.safetensors"
CHECKPOINT = "checkpoint.safetensors"  # in OUT.adapt/: the table fit's state after each epoch


@dataclass
class AdaptResult:
    artifact: Path
    seconds: float
    documents: int
    sampled_documents: int
    queries: dict[str, int]
    steps: int
    final_loss: float | None
    timings: dict[str, float] = field(default_factory=dict)
    document_fingerprint: str = ""

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["artifact"] = str(self.artifact)
        return data


def adapt_artifact(base: str | Path, documents: Sequence[StoredDocument], out: str | Path,
                   config: AdaptConfig | None = None, *, queries: Sequence[str] = (),
                   qrels: dict[str, dict[str, int]] | None = None, labelled_queries: dict[str, str] | None = None,
                   stored_vectors: Callable[[Artifact, list[str]], dict[str, np.ndarray]] | None = None,
                   resume: bool = False, overwrite: bool = False, show_progress: bool = True,
                   say: Callable[[str], None] = lambda _: None) -> AdaptResult:
    """Adapt BASE (a model directory / .gguf / hub id, built first, or an artifact) to `documents`.
    `queries`: unlabelled real queries (a query log); `qrels` + `labelled_queries`: labels, if any.
    `stored_vectors(base artifact, ids)`: dense vectors the documents already have (an index of the base),
    instead of encoding them."""
    config = config or AdaptConfig()
    out = Path(out).expanduser()
    work = out.with_name(out.name + ".adapt")
    _check_target(out, work, overwrite, resume)
    corpus = _unique_documents(documents)
    if not corpus:
        raise TrainingDataError("the corpus has no document with text; nothing to adapt to")
    started, timings = time.perf_counter(), {}

    def step(name: str, run):
        t = time.perf_counter()
        value = run()
        timings[name] = round(time.perf_counter() - t, 2)
        return value

    say("[adapt] base artifact")
    artifact = step("base", lambda: _base_artifact(base, work / "base", show_progress))
    dtype = config.dtype  # "auto": components/backbones.default_dtype (bf16 where it runs natively)
    say(f"[adapt] corpus: {len(corpus)} documents; IDF over all of them")
    tokenizer = QueryTokenizer(artifact)
    idf = step("idf", lambda: corpus_idf(tokenizer, [d.encoder_text() for d in corpus.values()],
                                         artifact.config.vocab_size, show_progress))
    training = step("queries", lambda: _training_queries(corpus, config, queries, qrels, labelled_queries))
    sample = _document_sample(corpus, training, config)
    if stored_vectors is not None:
        say(f"[adapt] document vectors for up to {len(sample)} documents, read from the index")
    else:
        say(f"[adapt] document vectors for up to {len(sample)} documents (dense only, cached; "
            f"{config.document_seconds:.0f} s budget)")
    sample, documents_tensor = step("document_vectors", lambda: _sample_vectors(
        artifact, corpus, sample, config, dtype, stored_vectors, show_progress))
    instruction = artifact.table_spec().instruction
    say(f"[adapt] teacher vectors for {len(training)} queries (the full model, cached)")
    teacher = step("teacher_vectors", lambda: DocumentVectors.compute(
        artifact, [full_query_text(instruction, q.text) for q in training], device=config.device, dtype=dtype,
        show_progress=show_progress, description="Teacher query vectors", batch_size=64))
    rows = initial_rows(artifact)
    say(f"[adapt] training the table: {config.epochs} epochs over {len(training)} queries")
    rows, steps, loss = step("train", lambda: train_rows(
        rows, tokenizer, training, teacher.lookup([full_query_text(instruction, q.text) for q in training]),
        documents_tensor, {d: n for n, d in enumerate(sample)},
        config, work / CHECKPOINT, resume, show_progress))
    counts = {kind: sum(q.kind == kind for q in training) for kind in ("pseudo", "user", "labelled")}
    counts["labelled"] //= config.label_repeats  # distinct labelled pairs, not their repeats
    step("write", lambda: write_adapted(artifact, out, rows, idf, config, counts, len(corpus), len(sample), overwrite))
    shutil.rmtree(work, ignore_errors=True)
    adapted = Artifact.load(out, need_document_model=True)
    return AdaptResult(artifact=out, seconds=round(time.perf_counter() - started, 1), documents=len(corpus),
                       sampled_documents=len(sample), queries=counts, steps=steps, final_loss=loss,
                       timings=timings, document_fingerprint=adapted.document_fingerprint())


# -- inputs ------------------------------------------------------------------------------------------

def _check_target(out: Path, work: Path, overwrite: bool, resume: bool) -> None:
    ArtifactWriter(out, overwrite=overwrite).check_target()
    if work.exists() and not resume:
        shutil.rmtree(work)  # an earlier, interrupted run: start over (the vector caches are kept)


def _base_artifact(base: str | Path, target: Path, show_progress: bool) -> Artifact:
    given = Path(base).expanduser()
    if (given / CONFIG_NAME).is_file():
        return Artifact.load(given, need_document_model=True)
    if (target / CONFIG_NAME).is_file():
        return Artifact.load(target, need_document_model=True)
    return build_artifact(base, target, show_progress=show_progress)


def _unique_documents(documents: Sequence[StoredDocument]) -> dict[str, StoredDocument]:
    """id -> document, the last copy of a repeated id winning (as the index stores it); empty ones dropped."""
    corpus: dict[str, StoredDocument] = {}
    for doc in documents:
        if doc.encoder_text().strip():
            corpus[doc.id] = doc
    return corpus


def corpus_idf(tokenizer: QueryTokenizer, texts: list[str], vocab_size: int, show_progress: bool = False,
               batch: int = 2048) -> np.ndarray:
    """BM25's IDF per token, document frequencies counted with the query tokenisation (what a sparse
    query vector holds); a token the corpus never contains gets the largest value."""
    df = np.zeros(vocab_size, dtype=np.int64)
    for start in track(range(0, len(texts), batch), desc="Counting tokens", unit="batch", enabled=show_progress):
        tokens = tokenizer(texts[start:start + batch])
        rows = np.repeat(np.arange(len(tokens.lengths)), tokens.lengths)
        pairs = np.unique(rows.astype(np.int64) * vocab_size + tokens.ids)
        df += np.bincount(pairs % vocab_size, minlength=vocab_size)
    n = len(texts)
    return np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)


def _training_queries(corpus: dict[str, StoredDocument], config: AdaptConfig, queries: Sequence[str],
                      qrels: dict[str, dict[str, int]] | None, labelled: dict[str, str] | None) -> list[TrainingQuery]:
    made = pseudo_queries(corpus, config.pseudo_queries, seed=config.seed, max_words=config.max_query_words)
    training = [TrainingQuery(p.text, p.doc_id, "pseudo") for p in made]
    training += [TrainingQuery(q, None, "user") for q in dict.fromkeys(q.strip() for q in queries) if q]
    rng = random.Random(config.seed)
    for query_id, judged in (qrels or {}).items():
        text = (labelled or {}).get(query_id)
        positives = sorted(d for d, grade in judged.items() if grade > 0 and d in corpus)
        if text and positives:  # several positives: one row each, the query repeated
            training += [TrainingQuery(text, d, "labelled") for d in positives] * config.label_repeats
        elif text:
            training.append(TrainingQuery(text, None, "user"))
    rng.shuffle(training)
    return training


def _document_sample(corpus: dict[str, StoredDocument], training: list[TrainingQuery], config: AdaptConfig) -> list[str]:
    """Every labelled positive, then a seeded random sample of the rest, up to `max_documents`."""
    must = list(dict.fromkeys(q.source for q in training if q.kind == "labelled"))
    rest = sorted(set(corpus) - set(must))
    random.Random(config.seed).shuffle(rest)
    return must + rest[:max(0, config.max_documents - len(must))]


def _sample_vectors(artifact: Artifact, corpus: dict[str, StoredDocument], sample: list[str], config: AdaptConfig,
                    dtype: str | None, stored_vectors, show_progress: bool) -> tuple[list[str], torch.Tensor]:
    """(the sampled ids that got a vector, their vectors): from the index when given, else encoded (and
    cached) within the time budget."""
    if stored_vectors is not None:
        found = stored_vectors(artifact, sample)
        sample = [i for i in sample if i in found]
        if not sample:
            raise TrainingDataError("none of the corpus documents is in the index given; index them first")
        return sample, torch.from_numpy(np.stack([np.asarray(found[i], dtype=np.float32) for i in sample]))
    texts = [corpus[i].encoder_text() for i in sample]
    vectors = DocumentVectors.compute(artifact, texts, device=config.device, dtype=dtype, show_progress=show_progress,
                                      description="Document vectors", time_budget_s=config.document_seconds,
                                      max_length=config.document_length)
    kept = [(i, t) for i, t in zip(sample, texts) if vectors.has(t)]  # what the budget allowed
    return [i for i, _ in kept], vectors.lookup([t for _, t in kept])


# -- the artifact ------------------------------------------------------------------------------------

def write_adapted(base: Artifact, out: Path, rows: np.ndarray, idf: np.ndarray, config: AdaptConfig,
                  counts: dict[str, int], documents: int, sampled: int, overwrite: bool) -> None:
    """The base's tokenizer files and document model (byte for byte), the new table and token weights."""
    with ArtifactWriter(out, overwrite=overwrite) as writer:
        dm = base.config.document_model
        skip = {CONFIG_NAME, "tables", dm.path, dm.adapter}
        for item in base.root.iterdir():
            if item.name not in skip and item.is_file():
                writer.copy_file(item, item.name)
        writer.link_document_model(base)
        config_out = dataclasses.replace(base.config, tables={}, provenance=dict(base.config.provenance))
        name = base.config.default_table
        spec = dataclasses.replace(base.table_spec(), file=f"tables/{name}.safetensors",
                                   dtype=config.table_dtype or base.table_spec().dtype,
                                   token_weights=TOKEN_WEIGHTS_FILE.format(name=name),
                                   notes={"rows": "adapted", "weights": "corpus IDF (sparse); trained rows (dense)"})
        save_table(writer.root / spec.file, rows, spec.dtype, spec.instruction)
        save_token_weights(writer.root / spec.token_weights, idf, "corpus IDF (BM25's), query tokenisation")
        config_out.tables = {name: spec}
        config_out.provenance["adapted"] = {
            "adapted_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "base": str(base.root),
            "documents": documents, "sampled_documents": sampled, "queries": counts, "config": config.to_dict()}
        writer.write_config(config_out)
        adapted = Artifact.load(writer.root, need_document_model=True)
        if adapted.document_fingerprint() != base.document_fingerprint():
            raise ArtifactError("internal: the adapted artifact's document side differs from its base's")


def summary_json(result: AdaptResult) -> str:
    return json.dumps(result.to_dict())
