"""TrainConfig: every option of `lightretriever train`, with the reasons for its default."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .model import LossSettings


@dataclass
class TrainConfig:
    # data
    split: str = "train"
    instruction: str = ""                # the query instruction (one per dataset; the table is built with it)
    hard_negatives: int = 3              # BM25-mined negatives per query (the reference uses 7 on GPUs)
    negative_depth: int = 50
    distill_pseudo_queries: int = 0      # label-free pseudo-queries drawn from the corpus (0 = none)
    max_passage_length: int | None = None  # None: the base artifact's max_document_length
    # what is trained
    variant: str = "full"                # "full" | "freeze-documents" | "table-only"
    lora: bool | None = None             # None: LoRA for decoders, full fine-tuning for encoders
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    # optimisation (transformers Trainer)
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 16                 # queries per device per step
    gradient_accumulation: int = 1
    learning_rate: float | None = None   # None: 2e-5 (LoRA/full) or 3e-3 (table-only)
    warmup_ratio: float = 0.05
    weight_decay: float = 0.01
    bf16: bool = False
    gradient_checkpointing: bool = False
    seed: int = 42
    save_steps: int = 200
    logging_steps: int = 10
    report_to: list[str] = field(default_factory=list)  # e.g. ["tensorboard"]
    device: str | None = None
    losses: LossSettings = field(default_factory=LossSettings)

    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 3e-3 if self.variant == "table-only" else 2e-5

    def to_dict(self) -> dict:
        return asdict(self)
