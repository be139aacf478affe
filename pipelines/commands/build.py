"""Make a zero-shot artifact from a base model: its document encoder as it is, and a query table
exported from it (`[bos] + instruction + [t] + [eos]` for every token t), ready to index and search.
Next: `lightretriever adapt` fits the query side to your corpus, no labels needed."""

from __future__ import annotations

from lightretriever.components.artifact import (BACKBONES, POOLINGS, SPARSE_HEADS, TABLE_DTYPES, UNTRAINED_SPARSE,
                                                SparseSettings)

from ..arguments import positive_int
from .options import add_dataclass_options, add_device_option, dataclass_values

NAME = "build"
HELP = "make a zero-shot artifact from a base model (HF directory or .gguf file)"


def add_arguments(parser) -> None:
    parser.add_argument("base", help="HF model directory, .gguf file, or hub id")
    parser.add_argument("out", help="artifact directory to create")
    parser.add_argument("--instruction", default="", help="query instruction baked into the default table")
    parser.add_argument("--dtype", default="float32", choices=TABLE_DTYPES, help="table dtype")
    parser.add_argument("--backbone", choices=BACKBONES, help="default: detected from the model's architecture")
    parser.add_argument("--pooling", choices=POOLINGS, help="default: last for decoders; for encoders the checkpoint's "
                        "sentence-transformers pooling, else mean")
    parser.add_argument("--sparse-head", choices=SPARSE_HEADS,
                        help="default: the LM head of a decoder; for an encoder its MLM head when the checkpoint "
                             "has a trained one, else the tied input embeddings")
    parser.add_argument("--lowercase", action="store_true", help="lowercase every text (baked into the tokenizer)")
    parser.add_argument("--max-query-length", type=positive_int, default=512, help="query truncation in tokens")
    parser.add_argument("--max-document-length", type=positive_int, default=None,
                        help="document truncation in tokens (default: the checkpoint's sentence-transformers "
                             "max_seq_length, else min(512, max positions))")
    add_dataclass_options(parser, SparseSettings, prefix="sparse_", defaults=UNTRAINED_SPARSE)
    add_device_option(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")


def run(args) -> None:
    from lightretriever.training.build import build_artifact

    sparse = SparseSettings(**dataclass_values(args, SparseSettings, prefix="sparse_"))
    sparse.top_k = sparse.top_k or None  # 0 keeps every weight above the threshold
    artifact = build_artifact(
        args.base, args.out, instruction=args.instruction, table_dtype=args.dtype, backbone=args.backbone,
        pooling=args.pooling, sparse_head=args.sparse_head, lowercase=args.lowercase,
        max_query_length=args.max_query_length, max_document_length=args.max_document_length,
        sparse=sparse, device=args.device, overwrite=args.overwrite)
    c = artifact.config
    print(f"built {artifact.root}: {c.backbone} backbone, {c.pooling} pooling, sparse head {c.sparse_head}, "
          f"dim {c.dense_dim}, vocab {c.vocab_size}, table {c.tables[c.default_table].file}")
