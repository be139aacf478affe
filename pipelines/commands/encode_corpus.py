"""Encode a JSONL corpus once into a document-vector file (safetensors: dense, sparse and a digest of
each text), for `index --vectors`: index into several stores, or again, without running the model.

Under `torchrun --nproc_per_node N` or `accelerate launch` every process encodes only its share of the
corpus (a document goes to rank blake2b(id) % N; no communication) on its own GPU (LOCAL_RANK) and writes
OUT.rankR-of-N.safetensors (OUT = vectors.safetensors: vectors.rank0-of-2.safetensors, ...); a rerun keeps
the shards already finished. `index --vectors OUT` (one process) merges them."""

from __future__ import annotations

import json
import sys
import time

from ..arguments import positive_int
from .options import (add_artifact_argument, add_corpus_option, add_device_option, add_dtype_option,
                      add_field_options, field_map)
from .output_file import check_output_file

NAME = "encode-corpus"
HELP = "encode a JSONL corpus once into a document-vector file (for `index --vectors`)"
INTERRUPTED = ("nothing was written (the file is written whole, at the end); rerun the command (under torchrun, "
               "the shards already finished are kept)")


def add_arguments(parser) -> None:
    add_artifact_argument(parser)
    parser.add_argument("--out", required=True, help="the .safetensors file to write")
    add_corpus_option(parser)
    parser.add_argument("--batch-size", type=positive_int, default=32, help="documents per forward pass")
    add_field_options(parser)
    add_device_option(parser, "the device (under torchrun on CUDA: each process uses cuda:LOCAL_RANK): ")
    add_dtype_option(parser)
    parser.add_argument("--json", action="store_true",
                        help='print {"rank", "world_size", "documents"} at the end (one line per process)')


def run(args) -> None:
    from lightretriever.components import Artifact, DocumentEncoder  # noqa: F401  (without torch: names the extra)
    from lightretriever.components.corpus import count_documents
    from lightretriever.components.fingerprint import document_fingerprint

    from ..sharding import Shard
    from ..vectors import encode_corpus

    shard = Shard.from_environment()
    count_documents(args.corpus)  # the corpus and --out are checked before the model loads
    check_output_file(args.out, "--out", "vectors.safetensors")
    artifact = Artifact.load(args.artifact, need_document_model=True)
    started = time.perf_counter()
    result = encode_corpus(artifact, args.corpus, args.out, batch_size=args.batch_size, device=args.device,
                           fields=field_map(args), shard=shard, show_progress=not args.json or sys.stderr.isatty(),
                           dtype=args.dtype)
    if args.json:
        print(json.dumps({"rank": shard.rank, "world_size": shard.world_size, "documents": result.documents}))
        return
    done = "kept (finished by an earlier run)" if result.kept else "wrote"
    print(f"{done} {result.path}: {result.documents} documents, document encoder {document_fingerprint(artifact)}, "
          f"{result.path.stat().st_size / 1e6:.1f} MB ({time.perf_counter() - started:.0f} s)")
