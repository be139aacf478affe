"""`lightretriever train BASE --data PATH --out ART [options]` (the training package is imported on use)."""

from __future__ import annotations

import argparse
import json
import sys

from .arguments import fraction, non_negative_float, non_negative_int, positive_float, positive_int

VARIANT_DEFAULTS = {
    # table-only: cosine to the full query + in-batch score KL (label-free), plus InfoNCE on the labelled
    # queries (SciFact: dense nDCG@10 0.61 without it, 0.76 with it)
    "table-only": {"cosine_weight": 1.0, "distill_weight": 1.0, "emb_weight": 1.0},
}


def add_train_parser(sub) -> None:
    train = sub.add_parser("train", help="train a LightRetriever from a base model (or artifact) on BEIR data or triples",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("base", help="HF model directory, .gguf file, hub id, or an existing artifact")
    train.add_argument("--data", required=True, help="BEIR directory (corpus/queries/qrels) or JSONL triples file")
    train.add_argument("--out", required=True, help="artifact directory to create")
    what = train.add_mutually_exclusive_group()
    what.add_argument("--freeze-documents", action="store_true",
                      help="train the query side only against the frozen base document encoder (its index stays valid)")
    what.add_argument("--table-only", action="store_true",
                      help="train only the query table rows by distillation (cheapest; the index stays valid)")
    train.add_argument("--split", default="train")
    train.add_argument("--instruction", default="", help="query instruction (when BASE is a model, not an artifact)")
    train.add_argument("--hard-negatives", type=non_negative_int, default=3, help="BM25-mined negatives per query")
    train.add_argument("--negative-depth", type=positive_int, default=50)
    train.add_argument("--distill-pseudo-queries", type=non_negative_int, default=0, metavar="N",
                       help="add N label-free pseudo-queries from the corpus, trained by distillation")
    train.add_argument("--max-passage-length", type=positive_int, default=None, help="default: the artifact's document length")
    train.add_argument("--lora", action=argparse.BooleanOptionalAction, default=None,
                       help="LoRA adapters (default: on for decoders, off for encoders)")
    train.add_argument("--lora-r", type=positive_int, default=16)
    train.add_argument("--epochs", type=positive_float, default=1.0)
    train.add_argument("--max-steps", type=int, default=-1, help="overrides --epochs when > 0")
    train.add_argument("--batch-size", type=positive_int, default=16, help="queries per device per step")
    train.add_argument("--gradient-accumulation", type=positive_int, default=1)
    train.add_argument("--learning-rate", type=positive_float, default=None, help="default: 2e-5, or 3e-3 with --table-only")
    train.add_argument("--warmup-ratio", type=fraction, default=0.05)
    train.add_argument("--bf16", action="store_true")
    train.add_argument("--gradient-checkpointing", action="store_true")
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--save-steps", type=positive_int, default=200)
    train.add_argument("--logging-steps", type=positive_int, default=10)
    train.add_argument("--report-to", default="none", help="none, tensorboard, ... (a JSONL log is always written)")
    for name, default, text in (("dense-temperature", 0.02, "τ of the dense InfoNCE"),
                                ("sparse-temperature", 1.0, "τ of the token-count InfoNCE"),
                                ("symmetric-weight", 1.0, "full query InfoNCE"), ("emb-weight", None, "table query InfoNCE"),
                                ("token-weight", 1.0, "token-count InfoNCE"), ("flops-weight", 1e-3, "FLOPS regulariser"),
                                ("flops-warmup-steps", 4000, "quadratic FLOPS warm-up"),
                                ("distill-weight", None, "KL of table-query scores towards full-query scores"),
                                ("cosine-weight", None, "1 - cos(table query, full query)")):
        kind = (non_negative_int if name == "flops-warmup-steps" else positive_float if "temperature" in name
                else non_negative_float)
        train.add_argument(f"--{name}", type=kind, default=default, help=text)
    train.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint in OUT.train/")
    train.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    train.add_argument("--json", action="store_true", help="print the result as JSON")
    train.set_defaults(run=run_train, interrupted="rerun the same command with --resume to continue from the last "
                                                   "checkpoint")


def config_from_args(args):
    from lightretriever.training.config import TrainConfig
    from lightretriever.training.model import LossSettings

    variant = "table-only" if args.table_only else "freeze-documents" if args.freeze_documents else "full"
    weights = {"emb_weight": 1.0, "distill_weight": 1.0 if args.distill_pseudo_queries else 0.0,
               "cosine_weight": 1.0 if args.distill_pseudo_queries else 0.0, **VARIANT_DEFAULTS.get(variant, {})}
    for key in weights:
        given = getattr(args, key)
        if given is not None:
            weights[key] = given
    losses = LossSettings(dense_temperature=args.dense_temperature, sparse_temperature=args.sparse_temperature,
                          symmetric_weight=args.symmetric_weight, token_weight=args.token_weight,
                          flops_weight=args.flops_weight, flops_warmup_steps=args.flops_warmup_steps, **weights)
    return TrainConfig(
        split=args.split, instruction=args.instruction, hard_negatives=args.hard_negatives,
        negative_depth=args.negative_depth, distill_pseudo_queries=args.distill_pseudo_queries,
        max_passage_length=args.max_passage_length, variant=variant, lora=args.lora, lora_r=args.lora_r,
        lora_alpha=2 * args.lora_r, epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size,
        gradient_accumulation=args.gradient_accumulation, learning_rate=args.learning_rate,
        warmup_ratio=args.warmup_ratio, bf16=args.bf16, gradient_checkpointing=args.gradient_checkpointing,
        seed=args.seed, save_steps=args.save_steps, logging_steps=args.logging_steps,
        report_to=[] if args.report_to == "none" else args.report_to.split(","), device=args.device, losses=losses)


def run_train(args) -> int:
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
