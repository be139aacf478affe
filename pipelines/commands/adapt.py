"""Fit an artifact's query side (its table rows and per-token sparse weights) to your corpus, no labels
needed: label-free pseudo-queries cut from the corpus learn to rank its documents as the full model
does. Minutes on a CPU; the document encoder, and so any index of it, stays as it is.

CORPUS is a JSONL corpus (`.jsonl` / `.jsonl.gz`, the field rules of `index`) or a BEIR directory (its
corpus file is read; its queries only serve as texts for `--qrels` ids, never as training queries).
`--queries FILE`: unlabelled real queries (a query log) — JSONL (`_id`/`id` + `text`/`query`) or plain
text, one per line. `--qrels FILE`: labels (BEIR TSV), query texts from `--queries` or the BEIR directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lightretriever.training.adapt_config import AdaptConfig

from .adapt_inputs import corpus_location, labelled_queries, read_queries, stored_vectors_reader
from .options import add_dataclass_options, add_device_option, add_field_options, dataclass_values, field_map

NAME = "adapt"
HELP = ("fit an artifact's query side to your corpus, no labels needed (minutes on a CPU; the document encoder, "
        "and so any index of it, stays as it is)")
INTERRUPTED = "rerun the same command with --resume to continue from the last finished epoch"


def add_arguments(parser) -> None:
    parser.add_argument("base", help="HF model directory, .gguf file, hub id, or an artifact (e.g. from `build`)")
    parser.add_argument("--corpus", required=True, help="JSONL corpus (.jsonl / .jsonl.gz) or a BEIR directory")
    parser.add_argument("--out", required=True, help="adapted artifact directory to create")
    parser.add_argument("--queries", metavar="FILE", help="unlabelled real queries (JSONL or one per line)")
    parser.add_argument("--qrels", metavar="FILE", help="relevance labels (BEIR TSV: query-id, corpus-id, score)")
    parser.add_argument("--index", metavar="STORE", help="read the documents' vectors from this index of BASE (a store "
                        "directory or URL, with --collection) instead of encoding them: no document forward pass")
    parser.add_argument("--collection", default=None, help="the collection of --index")
    add_field_options(parser)
    add_dataclass_options(parser, AdaptConfig, skip=("device",))
    add_device_option(parser)
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from its last epoch")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--json", action="store_true", help="print a JSON summary at the end")


def run(args) -> int:
    from lightretriever.components.corpus import read_corpus
    from lightretriever.training.adapt import adapt_artifact, summary_json

    corpus_file, beir_queries = corpus_location(Path(args.corpus))
    documents = list(read_corpus(corpus_file, field_map(args)))  # read whole (a bad line: CorpusError) before any model loads
    queries = read_queries(Path(args.queries)) if args.queries else {}
    qrels, labelled = None, None
    if args.qrels:
        qrels, labelled, queries = labelled_queries(args.qrels, queries, beir_queries)
    config = AdaptConfig(**dataclass_values(args, AdaptConfig, skip=("device",)), device=args.device)
    stored = stored_vectors_reader(args.index, args.collection) if args.index else None
    result = adapt_artifact(args.base, documents, args.out, config, queries=list(queries.values()), qrels=qrels,
                            labelled_queries=labelled, stored_vectors=stored, resume=args.resume,
                            overwrite=args.overwrite, say=lambda message: print(message, file=sys.stderr))
    if args.json:  # stdout is kept for it; progress and notes go to stderr
        print(summary_json(result))
    else:
        print(f"adapted {result.artifact} in {result.seconds:.0f} s: {result.documents} documents "
              f"({result.sampled_documents} sampled), queries {result.queries}, {result.steps} steps; "
              f"document fingerprint {result.document_fingerprint} (an index of the base is used as it is)")
    return 0

