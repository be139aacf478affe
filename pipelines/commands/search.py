"""Search a collection with the artifact's light query encoder (a table lookup, no model): dense,
sparse or hybrid (fused by Qdrant's own rrf / dbsf, or a linear mix), with an optional filter."""

from __future__ import annotations

import json

from lightretriever.components.texts import check_texts

from .options import add_artifact_argument, add_search_options, add_store_options, search_options

NAME = "search"
HELP = "search a collection with the artifact's light query encoder"


def add_arguments(parser) -> None:
    add_artifact_argument(parser)
    parser.add_argument("query", help="the query text")
    add_store_options(parser)
    add_search_options(parser)
    parser.add_argument("--table", help="query table name (default: the artifact's default table)")
    parser.add_argument("--json", action="store_true", help='print {"hits": [...], "encode_ms", "search_ms"}')


def run(args) -> None:
    from lightretriever.components.searcher import HybridSearcher

    check_texts([args.query], "query")  # bytes that are not UTF-8: refused before a store is opened
    options = search_options(args)
    searcher = HybridSearcher.open(args.artifact, args.store, args.collection, table=args.table, options=options)
    try:
        result = searcher.search(args.query)
    finally:
        searcher.store.close()
    if args.json:
        out = result.to_dict()
        for hit in out["hits"]:
            hit.pop("meta")
        print(json.dumps(out, ensure_ascii=False))
        return
    for rank, hit in enumerate(result.hits, start=1):
        title = f"{hit.title} — " if hit.title else ""
        print(f"{rank:>3}. {hit.score:.4f}  [{hit.id}] {title}{hit.text[:100]}")
    fusion = f", {options.fusion}" if options.mode == "hybrid" else ""
    print(f"encode {result.encode_ms:.3f} ms, search {result.search_ms:.3f} ms ({options.mode}{fusion})")
