"""TrainConfig and LossSettings: every option of `lightretriever train`, with the reasons for its default.

Each field's `metadata` feeds the CLI generator: `help` (never the default: the generator appends it),
optional `range` ("positive": > 0, >= 1 for ints; "non_negative": >= 0; "fraction": [0, 1]),
optional `choices`, and `cli: False` for fields that are not flags.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# torch-free on purpose: the CLI builds its flags from these fields without importing torch, so
# the variant's policy (learning rate, loss weights) lives in training/variants.py (torch), not here
VARIANT_NAMES = ("full", "freeze-documents", "table-only")  # == tuple(variants.VARIANTS), checked by a test


@dataclass
class LossSettings:
    """Weights and temperatures (defaults: the reference recipe, plus optional distillation).

    `metadata` as in `TrainConfig`; `by_variant`: the CLI leaves the field unset (None) and
    `Variant.resolved_losses` (training/variants.py) takes it from the variant's `loss_weights`.
    """

    dense_temperature: float = field(default=0.02, metadata={"help": "τ of the dense InfoNCE", "range": "positive"})
    sparse_temperature: float = field(default=1.0, metadata={
        "help": "τ of the token-count InfoNCE", "range": "positive"})
    # InfoNCE of the full query vs documents (the teacher's own training)
    symmetric_weight: float = field(default=1.0, metadata={"help": "full query InfoNCE", "range": "non_negative"})
    # InfoNCE of the table query vs document dense
    emb_weight: float | None = field(default=1.0, metadata={
        "help": "table query InfoNCE", "range": "non_negative", "by_variant": True})
    # InfoNCE of token counts vs document sparse
    token_weight: float = field(default=1.0, metadata={"help": "token-count InfoNCE", "range": "non_negative"})
    # FLOPS on document sparse vectors
    flops_weight: float = field(default=1e-3, metadata={"help": "FLOPS regulariser", "range": "non_negative"})
    # quadratic warm-up of the FLOPS weight
    flops_warmup_steps: int = field(default=4000, metadata={
        "help": "quadratic FLOPS warm-up", "range": "non_negative"})
    # KL of the emb scores towards the (detached) full-query scores
    distill_weight: float | None = field(default=0.0, metadata={
        "help": "KL of table-query scores towards full-query scores", "range": "non_negative", "by_variant": True})
    # 1 − cos(emb query, full query)
    cosine_weight: float | None = field(default=0.0, metadata={
        "help": "1 - cos(table query, full query)", "range": "non_negative", "by_variant": True})


@dataclass
class TrainConfig:
    # data
    split: str = field(default="train", metadata={"help": "the BEIR split whose qrels are the training labels"})
    # the query instruction (one per dataset; the table is built with it)
    instruction: str = field(default="", metadata={
        "help": "query instruction (when BASE is a model, not an artifact)"})
    # BM25-mined negatives per query (the reference uses 7 on GPUs)
    hard_negatives: int = field(default=3, metadata={
        "help": "BM25-mined negatives per query (the reference uses 7 on GPUs)", "range": "non_negative"})
    negative_depth: int = field(default=50, metadata={
        "help": "BM25 ranking depth the hard negatives are drawn from", "range": "positive"})
    # label-free pseudo-queries drawn from the corpus (0 = none)
    distill_pseudo_queries: int = field(default=0, metadata={
        "help": "add N label-free pseudo-queries from the corpus, trained by distillation",
        "range": "non_negative"})
    # None: the base artifact's max_document_length
    max_passage_length: int | None = field(default=None, metadata={
        "help": "tokens per training passage (unset: the artifact's document length)", "range": "positive"})
    # what is trained
    variant: str = field(default="full", metadata={  # a str: it is serialised into the artifact's provenance
        "help": "what is trained: full (documents and queries), freeze-documents (query side only, the index "
                "stays valid) or table-only (only the table rows; cheapest, the index stays valid)",
        "choices": VARIANT_NAMES})
    # None: LoRA for decoders, full fine-tuning for encoders
    lora: bool | None = field(default=None, metadata={
        "help": "LoRA adapters (unset: on for decoders, off for encoders)"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank", "range": "positive"})
    # None: 2 × lora_r
    lora_alpha: int | None = field(default=None, metadata={
        "help": "LoRA scaling alpha (unset: 2 × lora_r)", "range": "positive"})
    lora_dropout: float = field(default=0.1, metadata={"help": "dropout on the LoRA adapters", "range": "fraction"})
    # optimisation (transformers Trainer)
    epochs: float = field(default=1.0, metadata={"help": "passes over the training queries", "range": "positive"})
    max_steps: int = field(default=-1, metadata={"help": "optimiser steps; overrides epochs when > 0"})
    # queries per device per step
    batch_size: int = field(default=16, metadata={"help": "queries per device per step", "range": "positive"})
    gradient_accumulation: int = field(default=1, metadata={
        "help": "steps whose gradients are summed before each optimiser update", "range": "positive"})
    # None: the variant's (2e-5 for LoRA/full, 3e-3 for table-only)
    learning_rate: float | None = field(default=None, metadata={
        "help": "peak learning rate (unset: the variant's: 2e-5, or 3e-3 for table-only)", "range": "positive"})
    warmup_ratio: float = field(default=0.05, metadata={
        "help": "share of the steps spent warming up the learning rate", "range": "fraction"})
    weight_decay: float = field(default=0.01, metadata={
        "help": "AdamW weight decay (table-only always uses 0)", "range": "non_negative"})
    bf16: bool = field(default=False, metadata={"help": "bfloat16 mixed precision"})
    gradient_checkpointing: bool = field(default=False, metadata={
        "help": "recompute activations in the backward pass (less memory, slower)"})
    seed: int = field(default=42, metadata={"help": "seed of the model, the data order and the negatives"})
    save_steps: int = field(default=200, metadata={
        "help": "steps between checkpoints (what resume continues from)", "range": "positive"})
    logging_steps: int = field(default=10, metadata={"help": "steps between log lines", "range": "positive"})
    # e.g. ["tensorboard"]
    report_to: list[str] = field(default_factory=list, metadata={
        "help": "trackers to report to: tensorboard, ... (a JSONL log is always written)"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ... (unset: cuda when available)"})
    losses: LossSettings = field(default_factory=LossSettings, metadata={
        "help": "loss weights and temperatures (their own flags)", "cli": False})

    def resolved_lora_alpha(self) -> int:
        return self.lora_alpha if self.lora_alpha is not None else 2 * self.lora_r

    def to_dict(self) -> dict:
        return asdict(self)
