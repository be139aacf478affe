"""The `lightretriever` command line."""

from __future__ import annotations

import argparse
import json
import sys
import time

from lightretriever.components.errors import LightRetrieverError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except LightRetrieverError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


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
    build.add_argument("--max-query-length", type=int, default=512)
    build.add_argument("--max-document-length", type=int, default=512)
    build.add_argument("--sparse-threshold", type=float, default=0.01)
    build.add_argument("--sparse-top-k", type=int, default=256,
                       help="keep the k largest weights per document (untrained heads are dense; 0 keeps all)")
    build.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    build.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    build.set_defaults(run=_build)

    export = sub.add_parser("export-table", help="(re-)export a query table of an artifact")
    export.add_argument("artifact")
    export.add_argument("--instruction", default=None, help="default: the instruction of the table being replaced")
    export.add_argument("--name", default=None, help="table name (default: the artifact's default table)")
    export.add_argument("--dtype", default=None, choices=["float32", "float16", "int8"])
    export.add_argument("--method", default="auto", choices=["auto", "prefix-kv", "naive"])
    export.add_argument("--batch-size", type=int, default=512)
    export.add_argument("--set-default", action="store_true", help="make this table the default")
    export.add_argument("--device", default=None)
    export.set_defaults(run=_export)

    encode = sub.add_parser("encode", help="encode queries and documents; print sizes, scores and top sparse terms")
    encode.add_argument("artifact")
    encode.add_argument("--query", "-q", action="append", default=[], help="a query (repeatable)")
    encode.add_argument("--doc", "-d", action="append", default=[], help="a document (repeatable)")
    encode.add_argument("--json", action="store_true", help="print JSON instead of text")
    encode.set_defaults(run=_encode)
    return parser


def _build(args) -> None:
    from lightretriever.components.artifact import SparseSettings
    from lightretriever.training.build import build_artifact

    artifact = build_artifact(
        args.base, args.out, instruction=args.instruction, table_dtype=args.dtype, backbone=args.backbone,
        pooling=args.pooling, sparse_head=args.sparse_head, lowercase=args.lowercase,
        max_query_length=args.max_query_length, max_document_length=args.max_document_length,
        sparse=SparseSettings(threshold=args.sparse_threshold, top_k=args.sparse_top_k or None), device=args.device,
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
    write_query_table(backbone, artifact, name, instruction, dtype=dtype, method=args.method,
                      batch_size=args.batch_size, make_default=args.set_default)
    print(f"exported table {name!r} ({dtype}) to {artifact.table_file(name)}")


def _encode(args) -> None:
    import numpy as np

    from lightretriever.components import DocumentEncoder, QueryEncoder

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

    common, ia, ib = np.intersect1d(a.indices, b.indices, assume_unique=True, return_indices=True)
    return float(np.dot(a.values[ia], b.values[ib]))


if __name__ == "__main__":
    sys.exit(main())
