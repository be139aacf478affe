"""Encode a JSONL corpus once into a document-vector file (safetensors: dense, sparse and a digest of
each text), for `index --vectors`: index into several stores, or again, without running the model."""

from __future__ import annotations

import time

from ..arguments import positive_int
from .options import add_artifact_argument, add_corpus_option, add_device_option, add_field_options, field_map
from .output_file import check_output_file

NAME = "encode-corpus"
HELP = "encode a JSONL corpus once into a document-vector file (for `index --vectors`)"
INTERRUPTED = "nothing was written (the file is written whole, at the end); rerun the command"


def add_arguments(parser) -> None:
    add_artifact_argument(parser)
    parser.add_argument("--out", required=True, help="the .safetensors file to write")
    add_corpus_option(parser)
    parser.add_argument("--batch-size", type=positive_int, default=32, help="documents per forward pass")
    add_field_options(parser)
    add_device_option(parser)


def run(args) -> None:
    from lightretriever.components import Artifact, DocumentEncoder  # noqa: F401  (without torch: names the extra)
    from lightretriever.components.corpus import count_documents

    from ..vectors import encode_corpus, load_vectors

    count_documents(args.corpus)  # the corpus and --out are checked before the model loads
    check_output_file(args.out, "--out", "vectors.safetensors")
    artifact = Artifact.load(args.artifact, need_document_model=True)
    started = time.perf_counter()
    out = encode_corpus(artifact, args.corpus, args.out, batch_size=args.batch_size, device=args.device,
                        fields=field_map(args))
    vectors = load_vectors(out)
    print(f"wrote {out}: {len(vectors)} documents, document encoder {vectors.fingerprint}, "
          f"{out.stat().st_size / 1e6:.1f} MB ({time.perf_counter() - started:.0f} s)")
