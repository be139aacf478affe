"""Document-vector files: a corpus encoded once, indexed anywhere.

`lightretriever encode-corpus ART --corpus C --out FILE` runs the document encoder over a corpus and
writes every document's dense and sparse vector to one safetensors file; `lightretriever index ART
--corpus C --vectors FILE` then fills a collection from it without running the model (a Qdrant server,
another machine, or the quickstart, whose 2-core budget cannot afford the 15-minute SciFact encode).

What keeps such a file honest:
  - it records the document fingerprint of the encoder that wrote it, and is refused by an artifact
    with another document side (other weights, tokenizer or document settings);
  - it records an 8-byte digest of each document's encoder text, so a document whose title or text
    changed since is refused by id, not silently indexed with stale vectors;
  - `check_against_encoder` re-encodes a random sample with the live model and compares.

The file format, its atomic write and `text_digest` are components/vector_file.py (training's
document cache uses the same). Layout: `dense` float16 [n, dim]; sparse CSR `sparse_indptr` int64 [n+1], `sparse_indices` uint16 (int32
when the vocabulary is larger) and `sparse_values` float16; `text_digest` uint8 [n, 8]; metadata: format,
document_fingerprint, ids (JSON), dim, vocab_size, created, source. float16 keeps a SciFact-sized file
small (~10 MB) and costs < 1e-3 of cosine (checked by the sample comparison).

Under `torchrun` / `accelerate launch` each rank encodes its share of the corpus (pipelines/sharding.py)
into its own file, `OUT.rankR-of-N.safetensors`, kept on a rerun when it is finished and made from the
same corpus file by the same encoder; `load_vectors(OUT)` finds the N files, checks they are one complete
run and merges them into one `DocumentVectors`, the same a single-process run would have written.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from lightretriever.components.artifact import Artifact
from lightretriever.components.document import StoredDocument
from lightretriever.components.fingerprint import document_fingerprint
from lightretriever.components.sparse import SparseBatch
from lightretriever.components.vector_file import (FORMAT, VectorsError, read_vector_file, text_digest,
                                                   text_digests, write_vector_file)

from .sharding import Shard, corpus_key, shard_files, shard_path

__all__ = ["FORMAT", "DocumentVectors", "EncodedShard", "SampleCheck", "VectorsError", "check_against_encoder",
           "encode_corpus", "load_vectors", "save_vectors", "text_digest"]
# live vs stored agreement the sample check demands: float16 rounding alone gives ~1e-6 of cosine
MIN_DENSE_COSINE = 0.999
MIN_SPARSE_COSINE = 0.99


@dataclass
class DocumentVectors:
    ids: list[str]
    dense: np.ndarray  # float32 [n, dim]
    sparse: SparseBatch
    digests: np.ndarray  # uint8 [n, 8]
    fingerprint: str
    meta: dict = field(default_factory=dict)
    _row: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self._row = {doc_id: i for i, doc_id in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def rows_for(self, documents: list[StoredDocument], source: str = "the vector file") -> np.ndarray:
        """Row numbers of `documents`, checking that each is present with the same encoder text."""
        rows = np.empty(len(documents), dtype=np.int64)
        for n, doc in enumerate(documents):
            row = self._row.get(doc.id)
            if row is None:
                raise VectorsError(f"document {doc.id!r} is not in {source}: the corpus has documents the file was "
                                   "not made from; re-create it with `lightretriever encode-corpus`, or index without "
                                   "--vectors")
            if self.digests[row].tobytes() != text_digest(doc.encoder_text()):
                raise VectorsError(f"document {doc.id!r} changed since {source} was made (its title/text differ); "
                                   "re-create the file with `lightretriever encode-corpus`, or index without --vectors")
            rows[n] = row
        return rows

    def take(self, rows: np.ndarray) -> tuple[np.ndarray, SparseBatch]:
        """(dense [len(rows), dim], sparse) of the given rows."""
        pairs = [(self.sparse.indices[a:b], self.sparse.values[a:b])
                 for a, b in zip(self.sparse.indptr[rows], self.sparse.indptr[rows + 1])]
        return self.dense[rows], SparseBatch.from_rows(pairs)


# -- writing --------------------------------------------------------------------------------------

def save_vectors(path: str | Path, documents: list[StoredDocument], dense: np.ndarray, sparse: SparseBatch,
                 fingerprint: str, vocab_size: int, source: str = "", extra: dict[str, str] | None = None) -> Path:
    path = Path(path)
    if len(documents) != len(dense) or len(documents) != len(sparse):
        raise ValueError(f"{len(documents)} documents but {len(dense)} dense and {len(sparse)} sparse vectors")
    ids = [d.id for d in documents]
    if len(set(ids)) != len(ids):
        raise VectorsError("the corpus repeats document ids; a vector file keeps one vector per id")
    index_dtype = np.uint16 if vocab_size <= np.iinfo(np.uint16).max + 1 else np.int32
    sparse_tensors = {
        "sparse_indptr": np.asarray(sparse.indptr, dtype=np.int64),
        "sparse_indices": np.asarray(sparse.indices).astype(index_dtype),
        "sparse_values": np.asarray(sparse.values, dtype=np.float16),
    }
    metadata = {"ids": json.dumps(ids), "dim": str(dense.shape[1]), "vocab_size": str(vocab_size), "source": source,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **(extra or {})}
    return write_vector_file(path, np.asarray(dense, dtype=np.float16),
                             text_digests(d.encoder_text() for d in documents), fingerprint,
                             tensors=sparse_tensors, metadata=metadata)


@dataclass
class EncodedShard:
    path: Path      # the file this process wrote (OUT itself in a single process)
    documents: int  # documents in it
    kept: bool      # a finished shard of an earlier run of the same job, not encoded again


def encode_corpus(artifact: Artifact, corpus: str | Path, out: str | Path, *, batch_size: int = 32,
                  device: str | None = None, fields=None, show_progress: bool = True,
                  shard: Shard = Shard(), dtype: str | None = None) -> EncodedShard:
    """Encode the documents of `corpus` that are `shard`'s (all of them in a single process) with the
    artifact's document encoder and save their vectors to `shard_path(out, shard)`."""
    from lightretriever.components.corpus import read_corpus
    from lightretriever.components.document_encoder import DocumentEncoder

    path, fingerprint = shard_path(out, shard), document_fingerprint(artifact)
    # a kept shard must come from the same forward dtype: bf16 and float32 vectors differ by ~1e-3
    extra = {**shard.metadata(corpus_key(corpus), batch_size), "dtype": dtype or "default"} if shard.distributed else {}
    if extra and (documents := _finished_shard(path, fingerprint, extra)) is not None:
        return EncodedShard(path, documents, kept=True)
    documents = _unique(read_corpus(corpus, fields))
    encoder = DocumentEncoder(artifact, device=shard.device(device), dtype=dtype)
    if shard.distributed:
        documents = [documents[i] for i in shard.batch_rows(_token_lengths(encoder, documents), batch_size)]
    vectors = encoder.encode([d.encoder_text() for d in documents], batch_size=batch_size, show_progress=show_progress)
    save_vectors(path, documents, vectors.dense, vectors.sparse, fingerprint, artifact.config.vocab_size,
                 source=Path(corpus).name, extra=extra)
    return EncodedShard(path, len(documents), kept=False)


def _token_lengths(encoder, documents: list[StoredDocument], chunk: int = 4096) -> np.ndarray:
    """Each document's length in tokens as the encoder batches it (its own tokenisation: truncation,
    specials, stripping), a chunk at a time so that only the lengths are kept."""
    lengths = np.zeros(len(documents), dtype=np.int64)
    for start in range(0, len(documents), chunk):
        texts = [d.encoder_text() for d in documents[start:start + chunk]]
        lengths[start:start + len(texts)] = [len(ids) for ids in encoder.token_ids(texts)]
    return lengths


def _finished_shard(path: Path, fingerprint: str, extra: dict[str, str]) -> int | None:
    """The document count of a shard file an earlier run finished for the same job, else None (encode it).
    Files are written whole (`.partial` → rename), so one that reads back is finished."""
    if not path.is_file():
        return None
    try:
        file = read_vector_file(path)
    except VectorsError:
        return None  # damaged: encoded again
    same = file.fingerprint == fingerprint and all(file.meta.get(k) == v for k, v in extra.items())
    return len(json.loads(file.meta["ids"])) if same and "ids" in file.meta else None


def _unique(documents) -> list[StoredDocument]:
    """Last one wins for a repeated id, as indexing does (the store replaces a point with the same id)."""
    return list({d.id: d for d in documents}.values())


# -- reading --------------------------------------------------------------------------------------

def load_vectors(path: str | Path, artifact: Artifact | None = None) -> DocumentVectors:
    """Read a vector file, or the shard files `encode-corpus --out PATH` wrote under torchrun (merged);
    with `artifact`, refuse it unless the artifact's document side wrote it."""
    path = Path(path)
    shards = shard_files(path)
    if shards and path.exists():
        raise VectorsError(f"both {path} and its shard files ({shards[0].name} ...) exist, from two runs of "
                           "encode-corpus; delete the one of the older run")
    if shards:
        return _merge([_load_file(p, artifact) for p in shards], path)
    vectors = _load_file(path, artifact)
    world = vectors.meta.get("shard_world_size")
    if world is not None:
        raise VectorsError(f"{path} is one shard of {world} (rank {vectors.meta['shard_rank']}); pass the --out name "
                           "encode-corpus was given, which reads all the shards")
    return vectors


def _load_file(path: Path, artifact: Artifact | None) -> DocumentVectors:
    if not path.is_file():
        raise VectorsError(f"document-vector file {path} does not exist; make one with `lightretriever encode-corpus`")
    file = read_vector_file(path)
    tensors, meta, fingerprint = file.tensors, file.meta, file.fingerprint
    if "ids" not in meta or "sparse_indptr" not in tensors:
        raise VectorsError(f"{path} holds dense vectors only (a training cache?), not an `encode-corpus` file; "
                           "make one with `lightretriever encode-corpus`")
    if artifact is not None and fingerprint != document_fingerprint(artifact):
        raise VectorsError(
            f"{path} was written by the document encoder {fingerprint}, but {artifact.root} has "
            f"{document_fingerprint(artifact)} (other weights, tokenizer or document settings): re-create it with "
            f"`lightretriever encode-corpus {artifact.root} --corpus CORPUS --out {path}`")
    sparse = SparseBatch(tensors["sparse_indptr"], tensors["sparse_indices"].astype(np.int64),
                         tensors["sparse_values"].astype(np.float32))
    return DocumentVectors(ids=json.loads(meta["ids"]), dense=file.dense, sparse=sparse, digests=file.digests,
                           fingerprint=fingerprint, meta=meta)


def _merge(parts: list[DocumentVectors], out: Path) -> DocumentVectors:
    """One DocumentVectors of the shards of one run (rank order), checked to be that run's."""
    first = parts[0].meta
    for rank, part in enumerate(parts):
        for key, expected in (("shard_rank", str(rank)), ("corpus_key", first.get("corpus_key")),
                              ("shard_batch_size", first.get("shard_batch_size")), ("dtype", first.get("dtype")),
                              ("document_fingerprint", first["document_fingerprint"])):
            if part.meta.get(key) != expected:
                raise VectorsError(f"shard {rank} of {out} does not belong with shard 0 (its {key} differs: another "
                                   "corpus, encoder or run); rerun encode-corpus with all processes")
    ids = [doc_id for part in parts for doc_id in part.ids]
    if len(set(ids)) != len(ids):
        raise VectorsError(f"the shard files of {out} repeat document ids; rerun encode-corpus with all processes")
    offsets = np.cumsum([0] + [len(part.sparse.indices) for part in parts[:-1]])
    indptr = np.concatenate([[0]] + [part.sparse.indptr[1:] + o for part, o in zip(parts, offsets)])
    sparse = SparseBatch(indptr, np.concatenate([p.sparse.indices for p in parts]),
                         np.concatenate([p.sparse.values for p in parts]))
    meta = {k: v for k, v in first.items() if k not in ("shard_rank", "ids")}
    return DocumentVectors(ids=ids, dense=np.concatenate([p.dense for p in parts]), sparse=sparse,
                           digests=np.concatenate([p.digests for p in parts]), fingerprint=parts[0].fingerprint,
                           meta=meta)


# -- the live check -------------------------------------------------------------------------------

@dataclass
class SampleCheck:
    documents: int
    min_dense_cosine: float
    min_sparse_cosine: float
    seconds: float


def check_against_encoder(vectors: DocumentVectors, documents: list[StoredDocument], encoder, *, sample: int = 64,
                          seed: int = 0, show_progress: bool = True) -> SampleCheck:
    """Re-encode `sample` random documents live and compare them with the stored vectors.

    Raises VectorsError when any dense or sparse cosine falls under MIN_DENSE_COSINE / MIN_SPARSE_COSINE:
    then the file was not made by this encoder (whatever its metadata says)."""
    chosen = random.Random(seed).sample(documents, min(sample, len(documents)))
    started = time.perf_counter()
    live = encoder.encode([d.encoder_text() for d in chosen], show_progress=show_progress)
    stored_dense, stored_sparse = vectors.take(vectors.rows_for(chosen))
    dense_cos = [_cosine(a, b) for a, b in zip(live.dense, stored_dense)]
    sparse_cos = [_sparse_cosine(a.to_dict(), b.to_dict()) for a, b in zip(live.sparse, stored_sparse)]
    check = SampleCheck(len(chosen), min(dense_cos, default=1.0), min(sparse_cos, default=1.0),
                        time.perf_counter() - started)
    worst = chosen[int(np.argmin(dense_cos))].id if dense_cos else None
    if check.min_dense_cosine < MIN_DENSE_COSINE or check.min_sparse_cosine < MIN_SPARSE_COSINE:
        raise VectorsError(
            f"the stored vectors disagree with the live encoder (min dense cosine {check.min_dense_cosine:.4f}, "
            f"min sparse cosine {check.min_sparse_cosine:.4f} over {check.documents} documents, e.g. {worst!r}): the "
            "file was made by another model; re-create it with `lightretriever encode-corpus`")
    return check


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0  # two empty documents agree
    return float(a @ b) / (na * nb)


def _sparse_cosine(a: dict[int, float], b: dict[int, float]) -> float:
    na, nb = sum(v * v for v in a.values()) ** 0.5, sum(v * v for v in b.values()) ** 0.5
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return sum(v * b.get(k, 0.0) for k, v in a.items()) / (na * nb)
