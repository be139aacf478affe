"""`lightretriever train BASE --data PATH --out ART`: data -> trained model -> a complete artifact.

Variants (method.md: "training is full, inference is light"; each is a `Variant` in `training/variants.py`):

* `full` — the reference recipe: one backbone (LoRA for decoders, full fine-tuning for encoders)
  trained on documents (dense + sparse, FLOPS), the symmetric full query, the light query path
  (instruction + one token, block-masked) and token counts; the artifact gets the trained encoder
  and a freshly exported table. Indexes of the base model must be rebuilt.
* `freeze-documents` — the same query-side training against document vectors of the frozen base
  encoder (computed once); the artifact keeps the base document encoder, so its index stays valid.
* `table-only` — only the exported table rows are trained (distillation from the full model's query
  vectors); the cheapest upgrade, index also stays valid.

Work files live in `OUT.train/` (base build, checkpoints, `log.jsonl`); the artifact appears at OUT
only when complete. `resume=True` continues from the last checkpoint there.
"""

from __future__ import annotations

import dataclasses
import datetime
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from lightretriever.components.artifact import CONFIG_NAME, Artifact
from lightretriever.components.backbones import resolve_device
from lightretriever.components.errors import ArtifactError

from .artifact_writer import ArtifactWriter
from .build import build_artifact
from .collator import GroupDataset, Item
from .config import TrainConfig
from .data import TrainExample, read_beir
from .inputs import load_training_data
from .trainer import LightRetrieverTrainer, LossPartsCallback
from .variants import VARIANTS, Variant, variant_named

__all__ = ["VARIANTS", "TrainResult", "train_artifact"]  # VARIANTS: re-exported for older importers


@dataclass
class TrainResult:
    artifact: Path
    steps: int
    seconds: float
    examples: int
    final_loss: float | None


def train_artifact(base: str | Path, data: str | Path, out: str | Path, config: TrainConfig | None = None, *,
                   resume: bool = False, overwrite: bool = False, show_progress: bool = True,
                   callbacks: list | None = None) -> TrainResult:
    """`callbacks`: extra transformers TrainerCallbacks (e.g. early stopping, custom logging)."""
    config = config or TrainConfig()
    variant = variant_named(config.variant)  # an unknown name fails before any work
    config = dataclasses.replace(config, losses=variant.resolved_losses(config))  # the provenance records real weights
    out = Path(out).expanduser()
    ArtifactWriter(out, overwrite=overwrite).check_target()  # before the hours of training
    work = out.with_name(out.name + ".train")
    if not resume:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    torch.manual_seed(config.seed)

    base_artifact = _base_artifact(base, work / "base", config, show_progress)
    items = _items(data, config, show_progress)
    module, collator = variant.module_and_collator(base_artifact, items, config, show_progress)
    dataset = GroupDataset(items, config.hard_negatives, config.seed)
    trainer = _trainer(module, collator, dataset, work, config, variant, show_progress)
    for callback in callbacks or []:
        trainer.add_callback(callback)
    last = _last_checkpoint(work / "checkpoints") if resume else None
    output = trainer.train(resume_from_checkpoint=str(last) if last else None)
    if trainer.is_world_process_zero():  # under torchrun / accelerate, one process writes the artifact
        _write_artifact(variant, base_artifact, module, out, config, overwrite, show_progress)
    return TrainResult(artifact=out, steps=trainer.state.global_step, seconds=round(time.perf_counter() - started, 1),
                       examples=len(items), final_loss=getattr(output, "training_loss", None))


# -- inputs ------------------------------------------------------------------------------------

def _base_artifact(base: str | Path, target: Path, config: TrainConfig, show_progress: bool) -> Artifact:
    """An existing artifact is used as is; a base model is built once into OUT.train/base."""
    given = Path(base).expanduser()
    if (given / CONFIG_NAME).is_file():
        artifact = Artifact.load(given, need_document_model=True)
        if config.instruction and config.instruction != artifact.table_spec().instruction:
            raise ArtifactError(
                f"{given} is an artifact whose table was built with instruction "
                f"{artifact.table_spec().instruction!r}, not {config.instruction!r}: drop --instruction, or re-export "
                f"its table first (`lightretriever export-table {given} --instruction TEXT`)")
        return artifact
    if (target / CONFIG_NAME).is_file():
        return Artifact.load(target, need_document_model=True)
    return build_artifact(base, target, instruction=config.instruction, show_progress=show_progress)


def _items(data: str | Path, config: TrainConfig, show_progress: bool) -> list[Item]:
    labelled = load_training_data(data, config.split, hard_negatives=config.hard_negatives,
                                  negative_depth=config.negative_depth, seed=config.seed, show_progress=show_progress)
    items = [Item(e, labelled=True) for e in labelled]
    if config.distill_pseudo_queries > 0:
        from .pseudo_queries import pseudo_queries

        if not Path(data).is_dir():
            raise ValueError("--distill-pseudo-queries draws queries from a corpus: pass a BEIR directory as --data")
        corpus = read_beir(data, config.split).corpus
        for q in pseudo_queries(corpus, config.distill_pseudo_queries, seed=config.seed):
            items.append(Item(TrainExample(q.text, [corpus[q.doc_id].encoder_text()], [], None), labelled=False))
    return items


# -- training ------------------------------------------------------------------------------------

def _trainer(module, collator, dataset, work: Path, config: TrainConfig, variant: Variant, show_progress: bool):
    from transformers import TrainingArguments

    device = resolve_device(config.device)
    args = TrainingArguments(
        output_dir=str(work / "checkpoints"), per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation, learning_rate=variant.learning_rate(config),
        num_train_epochs=config.epochs, max_steps=config.max_steps, lr_scheduler_type="cosine",
        warmup_steps=config.warmup_ratio,
        weight_decay=variant.weight_decay(config), bf16=config.bf16,
        logging_steps=config.logging_steps, save_steps=config.save_steps, save_total_limit=2, seed=config.seed,
        data_seed=config.seed, dataloader_drop_last=True, remove_unused_columns=False, report_to=config.report_to,
        disable_tqdm=not show_progress, use_cpu=device.type == "cpu", save_only_model=False,
    )
    parts = LossPartsCallback(module, work / "log.jsonl")
    trainer = LightRetrieverTrainer(model=module, args=args, train_dataset=dataset, data_collator=collator,
                                    callbacks=[parts])
    parts.handler = trainer.callback_handler
    return trainer


def _last_checkpoint(folder: Path) -> Path | None:
    checkpoints = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return checkpoints[-1] if checkpoints else None


# -- the artifact ----------------------------------------------------------------------------------

def _write_artifact(variant: Variant, base: Artifact, module, out: Path, config: TrainConfig, overwrite: bool,
                    show_progress: bool) -> None:
    with ArtifactWriter(out, overwrite=overwrite) as writer:
        writer.copy_tree(base.root)
        artifact = Artifact.load(writer.root, need_document_model=True)
        variant.write(base, module, artifact, config, show_progress)
        _record_provenance(artifact, config)
        writer.write_config(artifact.config)


def _record_provenance(artifact: Artifact, config: TrainConfig) -> None:
    artifact.config.provenance.update({
        "trained": True, "variant": config.variant, "trained_at": datetime.datetime.now(datetime.UTC).isoformat(
            timespec="seconds"), "training": config.to_dict()})
