"""nDCG@10, recall@100 and MRR@10 on a BEIR dataset (corpus.jsonl[.gz], queries.jsonl, qrels/<split>.tsv)
for every mode side by side — the full model's query encoder, the light dense / sparse / hybrid query
path, BM25 — with each mode's query-encoding and search cost. The corpus is indexed on first use into
a collection named after the dataset and the document encoder's fingerprint, and reused after (the cost is
printed first; `--max-documents N` evaluates on a seeded subsample for a quick check)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lightretriever.components.store.fusion import DEFAULT_FUSION, FUSIONS

from ..arguments import positive_int
from ..evaluate import MODES
from .options import add_artifact_argument, add_device_option
from .output_file import check_output_file

NAME = "evaluate"
HELP = "nDCG@10 / recall@100 / MRR@10 and query cost on a BEIR dataset (full model, dense, sparse, hybrid, BM25)"


def add_arguments(parser) -> None:
    add_artifact_argument(parser)
    parser.add_argument("--dataset", required=True,
                        help="BEIR directory: corpus.jsonl[.gz], queries.jsonl, qrels/<split>.tsv")
    parser.add_argument("--split", default="test", help="qrels split (qrels/<split>.tsv)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)}")
    parser.add_argument("--fusion", default=DEFAULT_FUSION, choices=FUSIONS, help="hybrid fusion")
    parser.add_argument("--store", default=None,
                        help="directory or Qdrant URL holding the collection {dataset}-{document fingerprint}, "
                             "indexed on first use (default: $LIGHTRETRIEVER_HOME/stores, "
                             "LIGHTRETRIEVER_HOME=~/.cache/lightretriever)")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="queries per forward pass / search request")
    parser.add_argument("--max-queries", type=positive_int, help="evaluate only the split's first N queries (default: all)")
    parser.add_argument("--max-documents", type=positive_int, metavar="N",
                        help="a quick check: evaluate on every document the evaluated queries judge plus random others "
                             "up to N, indexed into its own collection {dataset}-maxN-seedS-{ids digest}-{fingerprint}"
                             " (default: the whole corpus)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --max-documents' random documents")
    add_device_option(parser, "full model and indexing: ")


def run(args) -> None:
    from ..evaluate import evaluate, format_table

    if args.json:
        check_output_file(args.json, "--json", "results.json")
    result = evaluate(args.artifact, args.dataset, split=args.split, modes=args.modes, fusion=args.fusion,
                      store=args.store, batch_size=args.batch_size, max_queries=args.max_queries,
                      device=args.device, max_documents=args.max_documents, seed=args.seed)
    print(format_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)
