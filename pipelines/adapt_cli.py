"""`lightretriever adapt BASE --corpus CORPUS --out ART`: the query side fitted to a corpus, no labels needed.

CORPUS is a JSONL corpus (`.jsonl` / `.jsonl.gz`, the field rules of `index`) or a BEIR directory (its
corpus file is read; its queries only serve as texts for `--qrels` ids, never as training queries).
`--queries FILE`: unlabelled real queries (a query log) — JSONL (`_id`/`id` + `text`/`query`) or plain
text, one per line. `--qrels FILE`: labels (BEIR TSV), query texts from `--queries` or the BEIR directory.
The training package (torch) is imported on use.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lightretriever.components.errors import LightRetrieverError

from .arguments import non_negative_int, positive_float, positive_int
from .corpus import add_field_arguments


class AdaptInputError(LightRetrieverError, ValueError):
    """An input of `adapt` cannot be read."""


def add_adapt_parser(sub) -> None:
    adapt = sub.add_parser("adapt", help="fit an artifact's query side to your corpus, no labels needed (minutes on "
                                         "a CPU; the document encoder, and so any index of it, stays as it is)",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    adapt.add_argument("base", help="HF model directory, .gguf file, hub id, or an artifact (e.g. from `build`)")
    adapt.add_argument("--corpus", required=True, help="JSONL corpus (.jsonl / .jsonl.gz) or a BEIR directory")
    adapt.add_argument("--out", required=True, help="adapted artifact directory to create")
    adapt.add_argument("--queries", metavar="FILE", help="unlabelled real queries (JSONL or one per line)")
    adapt.add_argument("--qrels", metavar="FILE", help="relevance labels (BEIR TSV: query-id, corpus-id, score)")
    adapt.add_argument("--index", metavar="STORE", help="read the documents' vectors from this index of BASE (a store "
                       "directory or URL, with --collection) instead of encoding them: no document forward pass")
    adapt.add_argument("--collection", default=None, help="the collection of --index")
    add_field_arguments(adapt)
    adapt.add_argument("--pseudo-queries", type=non_negative_int, default=24000, metavar="N", help="label-free queries cut from the corpus")
    adapt.add_argument("--max-documents", type=positive_int, default=20000, metavar="N",
                       help="corpus sample the table is trained to rank (its dense vectors are the main cost)")
    adapt.add_argument("--document-seconds", type=positive_float, default=300.0, metavar="S",
                       help="time budget for encoding that sample: it is cut to what fits (cached vectors are free)")
    adapt.add_argument("--document-length", type=positive_int, default=128, metavar="TOKENS",
                       help="truncate the sampled documents at this many tokens for their (training-only) vectors")
    adapt.add_argument("--epochs", type=positive_int, default=4)
    adapt.add_argument("--batch-size", type=positive_int, default=128)
    adapt.add_argument("--learning-rate", type=positive_float, default=1e-2)
    adapt.add_argument("--table-dtype", choices=["float32", "float16", "int8"], default=None,
                       help="default: the base table's dtype")
    adapt.add_argument("--dtype", choices=["auto", "float32", "bfloat16"], default="auto",
                       help="forward passes (document sample, teacher); auto = bfloat16 where the CPU has native bf16")
    adapt.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    adapt.add_argument("--seed", type=int, default=42)
    adapt.add_argument("--resume", action="store_true", help="continue an interrupted run from its last epoch")
    adapt.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    adapt.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    adapt.set_defaults(run=run_adapt, interrupted="rerun the same command with --resume to continue from the last "
                                                   "finished epoch")


def run_adapt(args) -> int:
    from lightretriever.training.adapt import AdaptConfig, adapt_artifact, summary_json

    from .corpus import FieldMap

    corpus_file, beir_queries = _corpus_location(Path(args.corpus))
    fields = FieldMap.with_overrides(args.id_field, args.text_field, args.title_field)
    documents = _documents(corpus_file, fields)  # read whole (a bad line: CorpusError) before any model loads
    queries = _read_queries(Path(args.queries)) if args.queries else {}
    qrels, labelled = None, None
    if args.qrels:
        from lightretriever.training.data import read_qrels

        qrels = read_qrels(args.qrels)
        texts = dict(_read_queries(beir_queries)) if beir_queries else {}
        texts.update(queries)
        labelled = {q: texts[q] for q in qrels if q in texts}
        if not labelled:
            raise AdaptInputError(f"none of the {len(qrels)} query ids of {args.qrels} has a text: pass the queries "
                                  "with --queries FILE (JSONL with _id and text), or a BEIR directory as --corpus")
        queries = {q: t for q, t in queries.items() if q not in qrels}
    config = AdaptConfig(pseudo_queries=args.pseudo_queries, max_documents=args.max_documents,
                         document_seconds=args.document_seconds, document_length=args.document_length,
                         epochs=args.epochs,
                         batch_size=args.batch_size, learning_rate=args.learning_rate, table_dtype=args.table_dtype,
                         dtype=args.dtype, device=args.device, seed=args.seed)
    _check(config)
    say = lambda message: print(message, file=sys.stderr)  # noqa: E731 - stdout is kept for --json
    stored = _index_reader(args.index, args.collection) if args.index else None
    result = adapt_artifact(args.base, documents, args.out, config, queries=list(queries.values()), qrels=qrels,
                            labelled_queries=labelled, stored_vectors=stored, resume=args.resume,
                            overwrite=args.overwrite, say=say)
    if args.json:
        print(summary_json(result))
    else:
        print(f"adapted {result.artifact} in {result.seconds:.0f} s: {result.documents} documents "
              f"({result.sampled_documents} sampled), queries {result.queries}, {result.steps} steps; "
              f"document fingerprint {result.document_fingerprint} (an index of the base is used as it is)")
    return 0


def _index_reader(store: str, collection: str | None):
    """The document vectors of an existing index, opened with the base artifact's schema: an index of
    another document encoder is refused (the fingerprint check), never silently learned from."""
    if not collection:
        raise AdaptInputError("--index needs --collection NAME (the collection the corpus was indexed into)")

    def read(artifact, ids: list[str]) -> dict:
        from lightretriever.components.store import CollectionSchema, QdrantHybridStore

        with QdrantHybridStore.from_location(store, collection, schema=CollectionSchema.from_artifact(artifact),
                                             create=False) as index:
            found: dict = {}
            for start in range(0, len(ids), 512):
                found.update({i: v["dense"] for i, v in index.get_vectors(ids[start:start + 512]).items()
                              if v.get("dense") is not None})
            return found

    return read


def _check(config) -> None:
    for name in ("max_documents", "document_length", "epochs", "batch_size"):
        if getattr(config, name) < 1:
            raise AdaptInputError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(config, name)})")
    if config.pseudo_queries < 0 or not config.learning_rate > 0 or not config.document_seconds > 0:
        raise AdaptInputError("--pseudo-queries must be >= 0, --learning-rate and --document-seconds > 0")


def _corpus_location(path: Path) -> tuple[Path, Path | None]:
    """(corpus file, the BEIR directory's queries.jsonl or None)."""
    if path.is_dir():
        from .beir import BeirDataset

        data = BeirDataset.open(path)
        return data.corpus, data.queries_file
    if not path.is_file():
        raise AdaptInputError(f"corpus {path} does not exist; pass a JSONL corpus file or a BEIR directory")
    return path, None


def _documents(path: Path, fields):
    from .corpus import read_corpus

    return list(read_corpus(path, fields))


def _read_queries(path: Path) -> dict[str, str]:
    """id -> text. JSONL lines with `_id`/`id` and `text`/`query`; other lines are a query each (id = line number)."""
    from lightretriever.components.jsonl import numbered_lines

    if not path.is_file():
        raise AdaptInputError(f"queries file {path} does not exist")
    queries: dict[str, str] = {}
    for number, line in numbered_lines(path, AdaptInputError):  # not UTF-8, a broken .gz: file:line
        line = line.strip()
        if not line:
            continue
        record = _json_object(line)
        if record is None:
            queries[str(number)] = line
            continue
        text = record.get("text", record.get("query"))
        if not isinstance(text, str):
            raise AdaptInputError(f"{path}:{number}: a JSON query needs a string `text` (or `query`) field")
        queries[str(record.get("_id", record.get("id", number)))] = text
    return queries


def _json_object(line: str) -> dict | None:
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return None
    return record if isinstance(record, dict) else None
