"""Train a LightRetriever from a base model (or an artifact) on a BEIR directory or a JSONL triples
file, with transformers' Trainer (so `torchrun` / `accelerate launch` spread it over devices).
Variants: `full` trains the document encoder and the query side together (indexes of the base must be
rebuilt); `freeze-documents` (`--freeze-documents`) trains the query side against the frozen base
documents; `table-only` (`--table-only`) trains only the table rows (cheapest). With the last two the
index of the base stays valid. Loss weights left unset take the variant's defaults."""

from __future__ import annotations

import dataclasses
import json
import sys

from lightretriever.training.config import LossSettings, TrainConfig

from .options import add_dataclass_options, dataclass_values

NAME = "train"
HELP = "train a LightRetriever from a base model (or artifact) on BEIR data or triples"
INTERRUPTED = "rerun the same command with --resume to continue from the last checkpoint"


def add_arguments(parser) -> None:
    parser.add_argument("base", help="HF model directory, .gguf file, hub id, or an existing artifact")
    parser.add_argument("--data", required=True, help="BEIR directory (corpus/queries/qrels) or JSONL triples file")
    parser.add_argument("--out", required=True, help="artifact directory to create")
    variant = parser.add_mutually_exclusive_group()
    add_dataclass_options(variant, TrainConfig, only=("variant",))
    variant.add_argument("--freeze-documents", dest="variant", action="store_const", const="freeze-documents",
                         default=None, help="= --variant freeze-documents")
    variant.add_argument("--table-only", dest="variant", action="store_const", const="table-only", default=None,
                         help="= --variant table-only")
    add_dataclass_options(parser.add_argument_group("training"), TrainConfig, skip=("variant",))
    add_dataclass_options(parser.add_argument_group("losses (unset weights: the variant's defaults)"), LossSettings)
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in OUT.train/")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def config_from_args(args) -> TrainConfig:
    """TrainConfig from the flags; loss weights not given come from the variant."""
    from lightretriever.training.variants import variant_named

    config = TrainConfig(**dataclass_values(args, TrainConfig), losses=LossSettings(**dataclass_values(args, LossSettings)))
    return dataclasses.replace(config, losses=variant_named(config.variant).resolved_losses(config))


def run(args) -> int:
    from lightretriever.training.train import train_artifact

    result = train_artifact(args.base, args.data, args.out, config_from_args(args), resume=args.resume,
                            overwrite=args.overwrite)
    summary = {"artifact": str(result.artifact), "steps": result.steps, "seconds": result.seconds,
               "examples": result.examples, "final_loss": result.final_loss}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"trained {result.artifact} in {result.seconds:.0f} s ({result.steps} steps, {result.examples} "
              f"examples, final loss {result.final_loss})", file=sys.stderr)
    return 0
