"""(Re-)export a query table of an artifact: row t is the document model's output for
`[bos] + instruction + [t] + [eos]`. Use it after changing the instruction, for a second table
(`--name`), or when a table's row count no longer matches the tokenizer."""

from __future__ import annotations

import argparse

from lightretriever.components.artifact import TABLE_DTYPES
from lightretriever.components.tables import EXPORT_METHODS

from ..arguments import positive_int
from .options import add_artifact_argument, add_device_option

NAME = "export-table"
HELP = "(re-)export a query table of an artifact"


def add_arguments(parser) -> None:
    add_artifact_argument(parser)
    parser.add_argument("--instruction", default=None, help="default: the instruction of the table being replaced")
    parser.add_argument("--name", default=None, help="table name (default: the artifact's default table)")
    parser.add_argument("--dtype", default=None, choices=TABLE_DTYPES,
                        help="default: the replaced table's dtype, else float32")
    parser.add_argument("--method", default="auto", choices=EXPORT_METHODS,
                        help="how rows are computed (components/tables.py: EXPORT_METHODS)")
    parser.add_argument("--batch-size", type=positive_int, default=512, help="tokens per forward pass")
    parser.add_argument("--set-default", action="store_true", help="make this table the default")
    parser.add_argument("--zero-shot", action=argparse.BooleanOptionalAction, default=None,
                        help="centre the rows and apply the Zipf prior (training/zero_shot.py); default: as the "
                             "table it replaces, else when the artifact is untrained")
    add_device_option(parser)


def run(args) -> None:
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
