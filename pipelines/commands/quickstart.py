"""The repository's main demo on SciFact: fetch (or adapt) a trained artifact, index the corpus into
the embedded Qdrant engine, search three test claims, and print the evaluation table (full model,
dense, sparse, hybrid, BM25: quality and query cost) and the light-vs-full query encode step.
A second run reuses the artifact and the collection."""

from __future__ import annotations

from lightretriever.components.store.fusion import DEFAULT_FUSION, FUSIONS

from ..arguments import non_negative_int, positive_int

NAME = "quickstart"
HELP = "adapt-or-fetch, index, search and evaluate LightRetriever on SciFact (the main demo; ~3 min on 2 cores)"
INTERRUPTED = ("what is finished in the workdir is kept (the artifact appears only when complete, the index keeps "
               "every written batch); rerun the same command to continue")


def add_arguments(parser) -> None:
    parser.add_argument("--workdir", default="artifacts/quickstart",
                        help="where the artifact, the store and results.json go (reused by the next run)")
    parser.add_argument("--data", default=None, help="BEIR directory (default: the repository's data/scifact)")
    parser.add_argument("--assets", default=None, help="committed artifact/vectors (default: data/quickstart)")
    parser.add_argument("--adapt", action="store_true",
                        help="adapt the table here (`lightretriever adapt`, a few minutes) instead of using the "
                             "committed one")
    parser.add_argument("--encode-documents", action="store_true",
                        help="encode all documents here (~15 min on 2 cores) instead of the committed vectors")
    parser.add_argument("--fusion", default=DEFAULT_FUSION, choices=FUSIONS, help="hybrid fusion")
    parser.add_argument("--check-sample", type=non_negative_int, default=64,
                        help="documents re-encoded live to check the committed vectors")
    parser.add_argument("--max-queries", type=positive_int, default=None,
                        help="evaluate only the first N test queries (default: all)")


def run(args) -> None:
    from ..quickstart import quickstart

    quickstart(args.workdir, args.data, args.assets, adapt=args.adapt, encode_documents=args.encode_documents,
               fusion=args.fusion, check_sample=args.check_sample, max_queries=args.max_queries)
