"""Encode a JSONL corpus (one document per line; BEIR corpus.jsonl works, .jsonl.gz too) and store
each document's dense and sparse vectors with its text and metadata in a Qdrant collection. The
corpus is checked whole before the model loads; an interrupted run continues with `--resume`.

`--vectors OUT` also takes what `encode-corpus --out OUT` wrote under torchrun: the shard files
OUT.rankR-of-N.safetensors, checked complete and merged (the embedded engine has one writer: index them in
one process). Under `torchrun` / `accelerate launch` with a Qdrant URL (`--store http://…`) every process
upserts its own share of the corpus (each id by one rank; with --vectors, its vectors from the file)."""

from __future__ import annotations

import json
import sys
import time

from ..arguments import positive_int
from .options import (add_artifact_argument, add_corpus_option, add_device_option, add_dtype_option, add_field_options,
                      add_store_options, field_map)

NAME = "index"
HELP = "encode a JSONL corpus and store it in a Qdrant collection (dense + sparse)"
INTERRUPTED = "every batch written so far is stored; rerun the same command with --resume to continue"


def add_arguments(parser) -> None:
    add_artifact_argument(parser)
    add_corpus_option(parser)
    add_store_options(parser)
    parser.add_argument("--resume", action="store_true", help="skip documents already stored (after an interruption)")
    parser.add_argument("--limit", type=positive_int, help="index only the first N documents (default: all)")
    parser.add_argument("--batch-size", type=positive_int, default=256, help="documents read, encoded and written per step")
    add_field_options(parser)
    add_device_option(parser)
    add_dtype_option(parser)
    parser.add_argument("--on-disk", action="store_true", help="keep vectors on disk (large collections)")
    add_index_settings_options(parser)
    parser.add_argument("--shard-number", type=positive_int,
                        help="server/cluster only: shards of a new collection (default: the server's)")
    parser.add_argument("--replication-factor", type=positive_int,
                        help="server/cluster only: replicas of a new collection (default: the server's)")
    parser.add_argument("--vectors", metavar="FILE",
                        help="take each document's vectors from this file (made by `encode-corpus` with the same "
                             "document encoder) instead of running the model")
    parser.add_argument("--json", action="store_true", help='print {"read", "written", "skipped", "count"} at the end '
                                                            '(and "empty": documents without text, when there are any)')


def run(args) -> None:
    from lightretriever.components import Artifact
    from lightretriever.components.corpus import count_documents

    from ..sharding import Shard
    from ..vectors import load_vectors

    shard = Shard.from_environment()
    _check_one_writer(args.store, shard)
    if not args.vectors:  # the model will run: without torch, say which extra to install before reading anything
        from lightretriever.components import DocumentEncoder  # noqa: F401
    total = count_documents(args.corpus)  # a missing or undecodable corpus: refused before the model or the store
    # with --vectors the model is never run: the query side (tokenizer, table) and the fingerprint suffice
    artifact = Artifact.load(args.artifact, need_document_model=not args.vectors)
    vectors = load_vectors(args.vectors, artifact) if args.vectors else None
    report, store = _index(args, artifact, vectors, total, shard)
    if report.duplicate_ids:
        print(f"warning: {report.duplicate_ids} documents repeat an earlier id; the last copy is stored",
              file=sys.stderr)
    if args.json:
        keys = ("read", "written", "skipped", "count") + (("empty",) if report.empty else ())
        print(json.dumps({k: getattr(report, k) for k in keys}))
    else:
        print(f"indexed {args.corpus} into {store}: read {report.read}, written {report.written}, "
              f"skipped {report.skipped}; the collection holds {report.count} documents ({report.seconds:.1f} s)")


def _check_one_writer(location: str, shard) -> None:
    """Several processes may share a Qdrant server; an embedded store (or :memory:) has one writer."""
    from lightretriever.components.errors import InvalidArgumentError

    if shard.distributed and not str(location).startswith(("http://", "https://")):
        raise InvalidArgumentError(
            f"--store {location} under {shard.world_size} processes (torchrun / accelerate): the embedded engine has "
            "one writer; run `encode-corpus --out OUT` under torchrun, then `index --vectors OUT` in one process, or "
            "give a Qdrant URL (--store http://...) that every process writes to")


def _open_store(args, artifact, shard):
    from lightretriever.components.errors import StoreError
    from lightretriever.components.store import CollectionSchema, QdrantHybridStore

    cluster = {k: v for k, v in (("shard_number", args.shard_number), ("replication_factor", args.replication_factor))
               if v is not None}
    for attempt in range(6 if shard.rank else 1):  # the other ranks may race rank 0 creating the collection
        try:
            return QdrantHybridStore.from_location(args.store, args.collection, on_disk=args.on_disk,
                                                   index=index_settings(args),
                                                   schema=CollectionSchema.from_artifact(artifact), **cluster)
        except StoreError:
            if attempt == 5 or not shard.rank:
                raise
            time.sleep(1 + attempt)


def _index(args, artifact, vectors, total: int, shard):
    from lightretriever.components import DocumentEncoder

    from ..indexing import index_corpus

    store = _open_store(args, artifact, shard)
    try:
        encoder = None if vectors else DocumentEncoder(artifact, device=shard.device(args.device), dtype=args.dtype)
        report = index_corpus(args.corpus, store, encoder, batch_size=args.batch_size, resume=args.resume,
                              fields=field_map(args), limit=args.limit, vectors=vectors,
                              show_progress=not args.json or sys.stderr.isatty(), total=total, shard=shard)
    finally:
        store.close()
    return report, store


def add_index_settings_options(parser) -> None:
    """A new collection's HNSW and quantization settings (components/store/tuning.py: help and checks there)."""
    from lightretriever.components.store.tuning import IndexSettings

    from .options import add_dataclass_options

    add_dataclass_options(parser, IndexSettings, skip=("on_disk",), flags={"m": ["--hnsw-m"]})


def index_settings(args):
    """IndexSettings from the flags, or None when none is given (a resumed run then keeps the collection's own)."""
    from lightretriever.components.store.tuning import IndexSettings

    from .options import dataclass_values

    values = {name: value for name, value in dataclass_values(args, IndexSettings, skip=("on_disk",)).items()
              if value is not None}
    return IndexSettings(**values) if values else None
