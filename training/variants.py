"""The training variants: one object per mode, supplying everything that differs between them.

`train_artifact` asks `variant_named(config.variant)` once and never compares names again. A variant
supplies its module and collator, its trainer settings (learning rate, weight decay), its default
loss weights, and what it writes into the trained artifact:

* `full` — one trainable backbone (LoRA for decoders) on documents and queries; the artifact gets the
  trained document encoder and a freshly exported table (indexes of the base must be rebuilt);
* `freeze-documents` — the same query-side training against cached vectors of the frozen base
  document encoder; the artifact keeps the base document encoder, so its index stays valid;
* `table-only` — only the exported table rows are trained (distillation from the full model's query
  vectors, `training/table_only.py`); the cheapest upgrade, index also stays valid.

A new variant is one class here plus one entry in `VARIANTS` (and `TrainConfig`'s `choices`, which a
test keeps equal to `tuple(VARIANTS)`).
"""

from __future__ import annotations

import dataclasses
import shutil
from typing import TYPE_CHECKING

import torch

from lightretriever.components.artifact import Artifact
from lightretriever.components.backbones import load_backbone, resolve_device, wrap_model
from lightretriever.components.errors import InvalidArgumentError
from lightretriever.components.fingerprint import weights_digest

from .collator import Collator, Item
from .document_cache import DocumentVectors
from .export import write_query_table
from .model import LightRetrieverModule
from .table_only import TableCollator, TableModule, teacher_vectors

if TYPE_CHECKING:
    from .config import LossSettings, TrainConfig


class Variant:
    """What one training mode supplies; the subclasses fill in the parts that differ."""

    name: str = ""
    default_learning_rate: float = 2e-5  # LoRA / full fine-tuning of the backbone

    def weight_decay(self, config: TrainConfig) -> float:
        return config.weight_decay

    def learning_rate(self, config: TrainConfig) -> float:
        return config.learning_rate if config.learning_rate is not None else self.default_learning_rate

    def resolved_losses(self, config: TrainConfig) -> LossSettings:
        """`config.losses` with every unset (None) weight taken from `loss_weights`."""
        defaults = self.loss_weights(config.distill_pseudo_queries)
        unset = {key: value for key, value in defaults.items() if getattr(config.losses, key) is None}
        return dataclasses.replace(config.losses, **unset)

    def loss_weights(self, distill_pseudo_queries: int) -> dict[str, float]:
        """Default `LossSettings` weights: distillation only has something to learn from when
        label-free pseudo-queries are added."""
        distill = 1.0 if distill_pseudo_queries else 0.0
        return {"emb_weight": 1.0, "distill_weight": distill, "cosine_weight": distill}

    def module_and_collator(self, base: Artifact, items: list[Item], config: TrainConfig, show_progress: bool):
        raise NotImplementedError

    def write(self, base: Artifact, module, artifact: Artifact, config: TrainConfig, show_progress: bool) -> None:
        """The trained parts into `artifact` (the staged copy of `base`)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class FullVariant(Variant):
    """Trains documents and queries (the reference recipe); indexes of the base must be rebuilt"""

    name = "full"

    def module_and_collator(self, base: Artifact, items: list[Item], config: TrainConfig, show_progress: bool):
        module = LightRetrieverModule(_trainable_backbone(base, config), vocab_size=base.config.vocab_size,
                                      special_ids=_special_ids(base), settings=config.losses,
                                      sparse_vocabulary=base.config.sparse.vocabulary)
        return module, Collator(base, base.table_spec().instruction, _passage_length(base, config))

    def write(self, base: Artifact, module, artifact: Artifact, config: TrainConfig, show_progress: bool) -> None:
        model = _merged(module.model)
        _replace_document_model(artifact, model)
        _export_table(base, model, artifact, config, show_progress)


class FreezeDocumentsVariant(Variant):
    """Trains the query side only against the frozen base document encoder (its index stays valid)"""

    name = "freeze-documents"

    def module_and_collator(self, base: Artifact, items: list[Item], config: TrainConfig, show_progress: bool):
        module = LightRetrieverModule(_trainable_backbone(base, config), vocab_size=base.config.vocab_size,
                                      special_ids=_special_ids(base), settings=config.losses, freeze_documents=True)
        return module, _cached_collator(base, items, config, show_progress)

    def write(self, base: Artifact, module, artifact: Artifact, config: TrainConfig, show_progress: bool) -> None:
        _export_table(base, _merged(module.model), artifact, config, show_progress)


class TableOnlyVariant(Variant):
    """Trains only the query table rows by distillation (cheapest; the index stays valid)"""

    name = "table-only"
    default_learning_rate = 3e-3

    def weight_decay(self, config: TrainConfig) -> float:
        return 0.0  # table rows are not "weights" to shrink towards zero

    def loss_weights(self, distill_pseudo_queries: int) -> dict[str, float]:
        # cosine to the full query + in-batch score KL (label-free), plus InfoNCE on the labelled
        # queries (SciFact: dense nDCG@10 0.61 without it, 0.76 with it)
        return {"cosine_weight": 1.0, "distill_weight": 1.0, "emb_weight": 1.0}

    def module_and_collator(self, base: Artifact, items: list[Item], config: TrainConfig, show_progress: bool):
        from lightretriever.components.tables import dequantize, load_table

        teachers = teacher_vectors(base, base.table_spec().instruction, [it.example.query for it in items],
                                   device=config.device, show_progress=show_progress)
        module = TableModule(dequantize(*load_table(base.table_file())), config.losses)
        return module, TableCollator(_cached_collator(base, items, config, show_progress), teachers)

    def write(self, base: Artifact, module, artifact: Artifact, config: TrainConfig, show_progress: bool) -> None:
        _save_table_rows(artifact, module.table.detach().cpu().numpy(), base.table_spec().instruction)


VARIANTS: dict[str, Variant] = {v.name: v for v in (FullVariant(), FreezeDocumentsVariant(), TableOnlyVariant())}


def variant_named(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise InvalidArgumentError(
            f"training variant {name!r} does not exist: use one of {', '.join(VARIANTS)} "
            f"(TrainConfig.variant, or the train command's variant flags)") from None


# -- modules and collators ----------------------------------------------------------------------

def _passage_length(base: Artifact, config: TrainConfig) -> int:
    return config.max_passage_length or base.config.max_document_length


def _cached_collator(base: Artifact, items: list[Item], config: TrainConfig, show_progress: bool) -> Collator:
    """Documents frozen: their vectors are computed once, up front, by the base encoder."""
    texts = sorted({p for it in items for p in it.example.positives + it.example.negatives})
    vectors = DocumentVectors.compute(base, texts, device=config.device, show_progress=show_progress)
    return Collator(base, base.table_spec().instruction, _passage_length(base, config), document_vectors=vectors)


def _special_ids(artifact: Artifact) -> list[int]:
    from lightretriever.components.artifact import special_token_ids

    return special_token_ids(artifact.tokenizer())


def _trainable_backbone(base: Artifact, config: TrainConfig):
    backbone = load_backbone(base, device="cpu", dtype=torch.float32)
    backbone.model.train()
    use_lora = config.lora if config.lora is not None else base.config.backbone == "decoder"
    if use_lora:
        from peft import LoraConfig, get_peft_model

        # all-linear: q,k,v,o,gate,up,down — never the LM head, which stays the frozen sparse projection
        lora = LoraConfig(r=config.lora_r, lora_alpha=config.resolved_lora_alpha(), lora_dropout=config.lora_dropout,
                          target_modules="all-linear")
        peft_model = get_peft_model(backbone.model, lora)  # injects adapters in place into backbone's modules
        backbone = dataclasses.replace(backbone, model=peft_model)
    if config.gradient_checkpointing:
        backbone.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return backbone


# -- what is written ------------------------------------------------------------------------------

def _merged(model):
    """A LoRA-wrapped model merged back into plain weights (what the artifact stores)."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def _export_table(base: Artifact, model, artifact: Artifact, config: TrainConfig, show_progress: bool) -> None:
    """The trained query side exported as the artifact's default table."""
    backbone = wrap_model(model.eval(), base.config.backbone, base.config.pooling, base.config.sparse_head)
    backbone.to(resolve_device(config.device))
    write_query_table(backbone, artifact, artifact.config.default_table, base.table_spec().instruction,
                      make_default=True, show_progress=show_progress)


def _replace_document_model(artifact: Artifact, model) -> None:
    target = artifact.root / (artifact.config.document_model.path or "model")
    shutil.rmtree(target, ignore_errors=True)
    model.save_pretrained(str(target), safe_serialization=True)
    artifact.config.document_weights_digest = weights_digest(artifact)


def _save_table_rows(artifact: Artifact, rows, instruction: str) -> None:
    from lightretriever.components.tables import save_table

    spec = artifact.table_spec()
    save_table(artifact.root / spec.file, rows, spec.dtype, instruction)
    spec.notes = {"rows": "trained (table-only), starting from the base table"}
