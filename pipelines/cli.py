"""The `lightretriever` command line.

Exit status: 0 done; 2 refused (a bad input, argument or environment: one `error:` line naming it and the
fix, never a traceback); 130 interrupted (Ctrl-C; the line says what was kept); 141 the output pipe closed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from lightretriever.components.artifact import SPARSE_VOCABULARIES
from lightretriever.components.errors import InvalidArgumentError, LightRetrieverError
from lightretriever.components.store.fusion import DEFAULT_FUSION, DEFAULT_RRF_K, FUSIONS, check_weights
from lightretriever.components.texts import check_texts

from .arguments import non_negative_float, non_negative_int, positive_int
from .corpus import add_field_arguments

EXIT_ERROR, EXIT_BROKEN_PIPE, EXIT_INTERRUPTED = 2, 141, 130  # 141/130: as a shell reports SIGPIPE/SIGINT


def main(argv: list[str] | None = None) -> int:
    """Run one command. A user's mistake or a fault of the environment (LightRetrieverError, OSError) is
    one `error:` line and exit 2; Ctrl-C is one line and exit 130; a closed pipe (`| head`) exits quietly."""
    args = None
    try:
        args = _parser().parse_args(argv)
        _show_library_warnings()
        return args.run(args) or 0
    except LightRetrieverError as exc:
        return _fail(str(exc))
    except ModuleNotFoundError as exc:  # a command of an extra the install left out: say which one
        from lightretriever.components.extras import missing_extra

        missing = missing_extra(exc, f"`lightretriever {_command_of(argv)}`")
        if missing is None:
            raise
        return _fail(str(missing))
    except KeyboardInterrupt:
        print(f"interrupted{_interrupted_note(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # permission denied, a missing directory, a read-only disk: not a bug to trace
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}; check the path, its directory and their permissions")


def _command_of(argv: list[str] | None) -> str:
    """The command's name as typed (the first word that is not an option), for messages."""
    words = sys.argv[1:] if argv is None else argv
    return next((word for word in words if not word.startswith("-")), "COMMAND")


def _fail(message: str) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)  # one line, whatever the message holds
    return EXIT_ERROR


def _interrupted_note(args) -> str:
    note = getattr(args, "interrupted", None)
    return f": {note}" if note else ""


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush does not complain again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _show_library_warnings() -> None:
    """Warnings logged by lightretriever (e.g. documents without text) as `warning: ...` lines on stderr."""
    logger = logging.getLogger("lightretriever")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("warning: %(message)s"))
        handler.setLevel(logging.WARNING)
        logger.addHandler(handler)
        logger.propagate = False


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lightretriever", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    build = sub.add_parser("build", help="make a zero-shot artifact from a base model (HF directory or .gguf file)")
    build.add_argument("base", help="HF model directory, .gguf file, or hub id")
    build.add_argument("out", help="artifact directory to create")
    build.add_argument("--instruction", default="", help="query instruction baked into the default table")
    build.add_argument("--dtype", default="float32", choices=["float32", "float16", "int8"], help="table dtype")
    build.add_argument("--backbone", choices=["decoder", "encoder"], help="override auto-detection")
    build.add_argument("--pooling", choices=["last", "mean", "cls"], help="override the default pooling")
    build.add_argument("--sparse-head", choices=["lm_head", "mlm_head", "tied_embeddings"])
    build.add_argument("--lowercase", action="store_true", help="lowercase every text (baked into the tokenizer)")
    build.add_argument("--max-query-length", type=positive_int, default=512)
    build.add_argument("--max-document-length", type=positive_int, default=None,
                       help="document truncation in tokens (default: the checkpoint's sentence-transformers "
                            "max_seq_length, else min(512, max positions))")
    build.add_argument("--sparse-threshold", type=non_negative_float, default=0.01)
    build.add_argument("--sparse-top-k", type=non_negative_int, default=0,
                       help="keep at most the k largest weights per document (0 keeps all above the threshold)")
    build.add_argument("--sparse-vocabulary", choices=list(SPARSE_VOCABULARIES), default="input",
                       help="input: score only each document's own tokens (right for an untrained head); "
                            "all: every vocabulary entry (a head trained to expand documents)")
    build.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    build.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    build.set_defaults(run=_build)

    export = sub.add_parser("export-table", help="(re-)export a query table of an artifact")
    export.add_argument("artifact")
    export.add_argument("--instruction", default=None, help="default: the instruction of the table being replaced")
    export.add_argument("--name", default=None, help="table name (default: the artifact's default table)")
    export.add_argument("--dtype", default=None, choices=["float32", "float16", "int8"])
    export.add_argument("--method", default="auto", choices=["auto", "prefix-kv", "naive"])
    export.add_argument("--batch-size", type=positive_int, default=512)
    export.add_argument("--set-default", action="store_true", help="make this table the default")
    export.add_argument("--zero-shot", action=argparse.BooleanOptionalAction, default=None,
                        help="centre the rows and apply the Zipf prior (training/zero_shot.py); default: as the "
                             "table it replaces, else when the artifact is untrained")
    export.add_argument("--device", default=None)
    export.set_defaults(run=_export)

    encode = sub.add_parser("encode", help="encode queries and documents; print sizes, scores and top sparse terms")
    encode.add_argument("artifact")
    encode.add_argument("--query", "-q", action="append", default=[], help="a query (repeatable)")
    encode.add_argument("--doc", "-d", action="append", default=[], help="a document (repeatable)")
    encode.add_argument("--json", action="store_true", help="print JSON instead of text")
    encode.set_defaults(run=_encode)

    index = sub.add_parser("index", help="encode a JSONL corpus and store it in a Qdrant collection (dense + sparse)")
    index.add_argument("artifact")
    index.add_argument("--corpus", required=True, help="JSONL, one document per line (BEIR corpus.jsonl works)")
    _store_arguments(index)
    index.add_argument("--resume", action="store_true", help="skip documents already stored (after an interruption)")
    index.add_argument("--limit", type=positive_int, help="index only the first N documents (to try things out)")
    index.add_argument("--batch-size", type=positive_int, default=256,
                       help="documents read, encoded and written per step")
    add_field_arguments(index)
    index.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    index.add_argument("--on-disk", action="store_true", help="keep vectors on disk (large collections)")
    index.add_argument("--shard-number", type=positive_int, help="server/cluster only: shards of a new collection")
    index.add_argument("--replication-factor", type=positive_int,
                       help="server/cluster only: replicas of a new collection")
    index.add_argument("--vectors", metavar="FILE",
                       help="take each document's vectors from this file (made by `encode-corpus` with the same "
                            "document encoder) instead of running the model")
    index.add_argument("--json", action="store_true", help='print {"read", "written", "skipped", "count"} at the end '
                                                           '(and "empty": documents without text, when there are any)')
    index.set_defaults(run=_index, interrupted="every batch written so far is stored; rerun the same command with "
                                               "--resume to continue")

    encode_corpus = sub.add_parser("encode-corpus", help="encode a JSONL corpus once into a document-vector file "
                                                         "(for `index --vectors`)")
    encode_corpus.add_argument("artifact")
    encode_corpus.add_argument("--corpus", required=True, help="JSONL, one document per line (BEIR corpus.jsonl works)")
    encode_corpus.add_argument("--out", required=True, help="the .safetensors file to write")
    encode_corpus.add_argument("--batch-size", type=positive_int, default=32, help="documents per forward pass")
    add_field_arguments(encode_corpus)
    encode_corpus.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    encode_corpus.set_defaults(run=_encode_corpus, interrupted="nothing was written (the file is written whole, "
                                                                 "at the end); rerun the command")

    from .train_cli import add_train_parser  # argparse only; the training package loads on use

    add_train_parser(sub)

    from .adapt_cli import add_adapt_parser  # argparse only; the training package loads on use

    add_adapt_parser(sub)

    search = sub.add_parser("search", help="search a collection with the artifact's light query encoder")
    search.add_argument("artifact")
    search.add_argument("query")
    _store_arguments(search)
    _search_option_arguments(search)
    search.add_argument("--filter", type=_json_filter, help='Haystack-style filter JSON, e.g. \'{"field": "meta.year", '
                                                          '"operator": ">=", "value": 2020}\'')
    search.add_argument("--table", help="query table name (default: the artifact's default table)")
    search.add_argument("--json", action="store_true", help='print {"hits": [...], "encode_ms", "search_ms"}')
    search.set_defaults(run=_search)

    evaluate = sub.add_parser("evaluate", help="nDCG@10 / recall@100 / MRR@10 and query cost on a BEIR dataset "
                                               "(full model, dense, sparse, hybrid, BM25)")
    evaluate.add_argument("artifact")
    evaluate.add_argument("--dataset", required=True, help="BEIR directory: corpus.jsonl[.gz], queries.jsonl, "
                                                           "qrels/<split>.tsv")
    evaluate.add_argument("--split", default="test", help="qrels split (qrels/<split>.tsv)")
    evaluate.add_argument("--modes", default="full,dense,sparse,hybrid,bm25",
                          help="comma-separated subset of full,dense,sparse,hybrid,bm25")
    evaluate.add_argument("--fusion", default=DEFAULT_FUSION, choices=list(FUSIONS), help="hybrid fusion")
    evaluate.add_argument("--store", default=None,
                          help="directory or Qdrant URL holding the collection {dataset}-{document fingerprint}, "
                               "indexed on first use (default: $LIGHTRETRIEVER_HOME/stores, "
                               "LIGHTRETRIEVER_HOME=~/.cache/lightretriever)")
    evaluate.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    evaluate.add_argument("--batch-size", type=positive_int, default=64, help="queries per forward pass / search request")
    evaluate.add_argument("--max-queries", type=positive_int, help="evaluate only the split's first N queries")
    evaluate.add_argument("--device", default=None, help="full model / indexing: cpu, cuda, ... (default: cuda "
                                                         "when available)")
    evaluate.set_defaults(run=_evaluate)

    from .report import add_report_parser  # argparse only; matplotlib loads on use

    add_report_parser(sub)

    from .quickstart import add_quickstart_parser

    add_quickstart_parser(sub)
    return parser


def _search_option_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of SearchOptions, its defaults read from where they are defined (store/options.py)."""
    from lightretriever.components.store.fusion import DEFAULT_LINEAR_WEIGHTS, MODES
    from lightretriever.components.store.options import DEFAULT_K, DEFAULT_MODE, DEFAULT_PREFETCH

    parser.add_argument("-k", type=positive_int, default=DEFAULT_K, help="number of hits (default %(default)s)")
    parser.add_argument("--mode", default=DEFAULT_MODE, choices=list(MODES), help="default %(default)s")
    parser.add_argument("--fusion", default=DEFAULT_FUSION, choices=list(FUSIONS), help="default %(default)s")
    parser.add_argument("--rrf-k", type=non_negative_int, default=DEFAULT_RRF_K,
                        help="RRF constant k (score = sum 1/(rank + k); default %(default)s)")
    linear = ",".join(f"{w:g}" for w in DEFAULT_LINEAR_WEIGHTS)
    parser.add_argument("--weights", type=_weights,
                        help=f"dense,sparse weights for rrf/linear (linear default {linear})")
    parser.add_argument("--prefetch", type=positive_int,
                        help=f"candidates per leg before fusion (default max({DEFAULT_PREFETCH}, k))")


def _search_options(args):
    """One SearchOptions from the `search` flags (checked here, before any store opens)."""
    from lightretriever.components.store.options import SearchOptions

    return SearchOptions(mode=args.mode, fusion=args.fusion, rrf_k=args.rrf_k, weights=args.weights,
                         prefetch=args.prefetch, k=args.k, filters=args.filter)


def _store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True,
                        help="a directory (embedded Qdrant engine), a Qdrant URL http(s)://… (API key from "
                             "QDRANT_API_KEY), or :memory: (qdrant-client local mode, tests only)")
    parser.add_argument("--collection", default="lightretriever", help="collection name")


def _weights(text: str) -> tuple[float, float]:
    try:
        return check_weights(tuple(float(x) for x in text.split(",")))
    except ValueError as exc:  # not numbers, or InvalidArgumentError from the one weights check
        raise argparse.ArgumentTypeError(str(exc) if isinstance(exc, InvalidArgumentError)
                                         else f"expected two numbers 'DENSE,SPARSE', got {text!r}") from None


def _json_filter(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg} at character {exc.pos}): {text[:80]!r}") from None


def _check_output_file(path: str, flag: str, example: str) -> Path:
    """An output file is checked (and its directory made) before the work that fills it: a missing or
    read-only directory found only at the end would throw the work away."""
    out = Path(path)
    if out.is_dir():
        raise InvalidArgumentError(f"{flag} {out} is a directory; pass a file name, e.g. {out / example}")
    blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise InvalidArgumentError(f"{flag} {out}: {blocking} is a file, not a directory; pick another location")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidArgumentError(f"{flag} {out}: cannot create its directory ({exc.strerror or exc}); "
                                   "pick a writable location") from None
    if not os.access(out.parent, os.W_OK):
        raise InvalidArgumentError(f"{flag} {out}: {out.parent} is not writable; pick a writable location")
    return out


def _index(args) -> int | None:
    from lightretriever.components import Artifact, DocumentEncoder
    from lightretriever.components.store import CollectionSchema, QdrantHybridStore

    from .corpus import FieldMap, count_documents
    from .indexing import index_corpus
    from .vectors import load_vectors

    total = count_documents(args.corpus)  # a missing or undecodable corpus: refused before the model or the store
    # with --vectors the model is never run: the query side (tokenizer, table) and the fingerprint suffice
    artifact = Artifact.load(args.artifact, need_document_model=not args.vectors)
    vectors = load_vectors(args.vectors, artifact) if args.vectors else None
    fields = FieldMap.with_overrides(args.id_field, args.text_field, args.title_field)
    store = QdrantHybridStore.from_location(
        args.store, args.collection, schema=CollectionSchema.from_artifact(artifact), on_disk=args.on_disk,
        **{k: v for k, v in (("shard_number", args.shard_number), ("replication_factor", args.replication_factor))
           if v is not None})
    try:
        encoder = None if vectors else DocumentEncoder(artifact, device=args.device)
        report = index_corpus(args.corpus, store, encoder, batch_size=args.batch_size, resume=args.resume,
                              fields=fields, limit=args.limit, vectors=vectors,
                              show_progress=not args.json or sys.stderr.isatty(), total=total)
    finally:
        store.close()
    if report.duplicate_ids:
        print(f"warning: {report.duplicate_ids} documents repeat an earlier id; the last copy is stored",
              file=sys.stderr)
    if args.json:
        keys = ("read", "written", "skipped", "count") + (("empty",) if report.empty else ())
        print(json.dumps({k: getattr(report, k) for k in keys}))
    else:
        print(f"indexed {args.corpus} into {store}: read {report.read}, written {report.written}, "
              f"skipped {report.skipped}; the collection holds {report.count} documents ({report.seconds:.1f} s)")


def _encode_corpus(args) -> None:
    from lightretriever.components import Artifact

    from .corpus import FieldMap, count_documents
    from .vectors import encode_corpus, load_vectors

    count_documents(args.corpus)  # the corpus and --out are checked before the model loads
    _check_output_file(args.out, "--out", "vectors.safetensors")
    artifact = Artifact.load(args.artifact, need_document_model=True)
    fields = FieldMap.with_overrides(args.id_field, args.text_field, args.title_field)
    started = time.perf_counter()
    out = encode_corpus(artifact, args.corpus, args.out, batch_size=args.batch_size, device=args.device, fields=fields)
    vectors = load_vectors(out)
    print(f"wrote {out}: {len(vectors)} documents, document encoder {vectors.fingerprint}, "
          f"{out.stat().st_size / 1e6:.1f} MB ({time.perf_counter() - started:.0f} s)")


def _search(args) -> None:
    from lightretriever.components.searcher import HybridSearcher

    check_texts([args.query], "query")  # bytes that are not UTF-8: refused before a store is opened
    searcher = HybridSearcher.open(args.artifact, args.store, args.collection, table=args.table,
                                   options=_search_options(args))
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
    print(f"encode {result.encode_ms:.3f} ms, search {result.search_ms:.3f} ms ({args.mode}"
          + (f", {args.fusion}" if args.mode == "hybrid" else "") + ")")


def _evaluate(args) -> None:
    from pathlib import Path

    from .evaluate import evaluate, format_table

    if args.json:
        _check_output_file(args.json, "--json", "results.json")
    result = evaluate(args.artifact, args.dataset, split=args.split, modes=args.modes, fusion=args.fusion,
                      store=args.store, batch_size=args.batch_size, max_queries=args.max_queries,
                      device=args.device)
    print(format_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)


def _build(args) -> None:
    from lightretriever.components.artifact import SparseSettings
    from lightretriever.training.build import build_artifact

    artifact = build_artifact(
        args.base, args.out, instruction=args.instruction, table_dtype=args.dtype, backbone=args.backbone,
        pooling=args.pooling, sparse_head=args.sparse_head, lowercase=args.lowercase,
        max_query_length=args.max_query_length, max_document_length=args.max_document_length,
        sparse=SparseSettings(threshold=args.sparse_threshold, top_k=args.sparse_top_k or None,
                              vocabulary=args.sparse_vocabulary), device=args.device,
        overwrite=args.overwrite)
    c = artifact.config
    print(f"built {artifact.root}: {c.backbone} backbone, {c.pooling} pooling, sparse head {c.sparse_head}, "
          f"dim {c.dense_dim}, vocab {c.vocab_size}, table {c.tables[c.default_table].file}")


def _export(args) -> None:
    from lightretriever.components.artifact import Artifact
    from lightretriever.components.backbones import load_backbone, resolve_device
    from lightretriever.training.export import write_query_table

    artifact = Artifact.load(args.artifact, need_document_model=True)
    name = args.name or artifact.config.default_table
    old = artifact.config.tables.get(name)
    instruction = args.instruction if args.instruction is not None else (old.instruction if old else "")
    dtype = args.dtype or (old.dtype if old else "float32")
    backbone = load_backbone(artifact, resolve_device(args.device))
    zero_shot = args.zero_shot if args.zero_shot is not None else _zero_shot_rows(artifact, old)
    write_query_table(backbone, artifact, name, instruction, dtype=dtype, method=args.method,
                      batch_size=args.batch_size, make_default=args.set_default, zero_shot=zero_shot)
    print(f"exported table {name!r} ({dtype}) to {artifact.table_file(name)}")


def _zero_shot_rows(artifact, replaced) -> bool:
    """A re-export keeps the kind of rows it replaces; a new table is zero-shot on an untrained model."""
    if replaced is not None:
        return str(replaced.notes.get("weights", "")).startswith("zipf")
    provenance = artifact.config.provenance
    return not provenance.get("trained") and "adapted" not in provenance


def _encode(args) -> None:
    import numpy as np

    from lightretriever.components import DocumentEncoder, QueryEncoder

    check_texts(args.query, "query")  # before any model loads
    check_texts(args.doc, "document")
    result: dict = {}
    query_encoder = QueryEncoder.from_pretrained(args.artifact)
    started = time.perf_counter()  # encoding only: loading is a one-off
    queries = query_encoder.encode(args.query) if args.query else None
    result["query_encode_ms"] = round((time.perf_counter() - started) * 1000, 3)
    docs = None
    if args.doc:
        encoder = DocumentEncoder.from_pretrained(args.artifact)
        started = time.perf_counter()
        docs = encoder.encode(args.doc, show_progress=False)
        result["doc_encode_ms"] = round((time.perf_counter() - started) * 1000, 3)
        tok = encoder.artifact.tokenizer()
        result["documents"] = [
            {"text": text[:80], "dense_norm": float(np.linalg.norm(d)), "sparse_nnz": len(s),
             "top_terms": [tok.id_to_token(int(i)) for i in s.indices[np.argsort(-s.values)[:8]]]}
            for text, d, s in zip(args.doc, docs.dense, docs.sparse)]
    if queries is not None:
        result["queries"] = []
        for i, text in enumerate(args.query):
            entry = {"text": text, "dense_norm": float(np.linalg.norm(queries.dense[i])),
                     "sparse": {int(k): float(v) for k, v in queries.sparse[i].to_dict().items()}}
            if docs is not None:
                entry["dense_scores"] = [round(float(x), 4) for x in docs.dense @ queries.dense[i]]
                entry["sparse_scores"] = [round(_sparse_dot(queries.sparse[i], d), 4) for d in docs.sparse]
            result["queries"].append(entry)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    for d in result.get("documents", []):
        print(f"doc   {d['text']!r}: sparse nnz {d['sparse_nnz']}, top terms {d['top_terms']}")
    for q in result.get("queries", []):
        print(f"query {q['text']!r}: {len(q['sparse'])} sparse terms"
              + (f", dense scores {q['dense_scores']}, sparse scores {q['sparse_scores']}" if "dense_scores" in q else ""))
    print(f"query encode {result['query_encode_ms']} ms" + (f", document encode {result['doc_encode_ms']} ms" if docs else ""))


def _sparse_dot(a, b) -> float:
    import numpy as np

    _, ia, ib = np.intersect1d(a.indices, b.indices, assume_unique=True, return_indices=True)
    return float(np.dot(a.values[ia], b.values[ib]))


if __name__ == "__main__":
    sys.exit(main())
