"""AdaptConfig: every option of `lightretriever adapt`, with the measurement behind each default.

Torch-free on purpose: the command line builds its flags from these fields (`metadata`: help, range,
choices; pipelines/commands/options.py) in installs without torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from lightretriever.components.artifact import TABLE_DTYPES

FORWARD_DTYPES = ("auto", "float32", "bfloat16")


def _option(default, help: str, range: str | None = None, **extra) -> dataclasses.Field:
    return field(default=default, metadata={"help": help, **({"range": range} if range else {}), **extra})


@dataclass
class AdaptConfig:
    # SciFact dev: 12k 0.641, 24k 0.642
    pseudo_queries: int = _option(24000, "label-free queries cut from the corpus (fewer if it runs out of text)",
                                  "non_negative")
    max_query_words: int = _option(32, "pseudo-query length cap in words (the teacher's cost grows with it)",
                                   "positive")
    # The documents whose vectors the losses score against: the main cost (one dense forward pass each)
    # and the main lever (SciFact: all 5,183 documents 0.653 dense nDCG@10, a 2,500 sample 0.61). A seeded
    # random sample of at most `max_documents`, cut further to what `document_seconds` allows (measured
    # while encoding; vectors already in the cache are free, so a rerun gets them all).
    max_documents: int = _option(20000, "corpus sample the table is trained to rank (its dense vectors are the main "
                                        "cost)", "positive")
    document_seconds: float = _option(300.0, "time budget for encoding that sample: it is cut to what fits (cached "
                                             "vectors are free)", "positive")
    # Tokens per document for those vectors: they are training targets, not the index, and a shorter cut
    # is proportionally cheaper. SciFact (abstracts cut at 256 for the index), train-query nDCG@10: 256 tokens
    # 0.642, 128 tokens 0.641 at half the cost.
    document_length: int = _option(128, "truncate the sampled documents at this many tokens for their "
                                         "(training-only) vectors", "positive")
    epochs: int = _option(4, "passes over the queries", "positive")
    batch_size: int = _option(128, "queries per step", "positive")
    learning_rate: float = _option(1e-2, "Adam learning rate of the table rows", "positive")
    temperature: float = _option(0.05, "temperature of the scores against the sampled documents (KL and InfoNCE)", "positive")
    cosine_weight: float = _option(1.0, "weight of 1 - cos(table query, full query)", "non_negative")
    distill_weight: float = _option(1.0, "weight of the KL of table-query scores towards full-query scores",
                                    "non_negative")
    source_weight: float = _option(1.0, "weight of the InfoNCE towards each query's own document (pseudo-query source or label)",
                                   "non_negative")
    # Labelled pairs are few (SciFact train: 919 against 24,000 pseudo-queries) and worth more: each is seen this
    # many times per epoch. Held-out fifth of SciFact's train labels, dense nDCG@10: 1x 0.737, 4x 0.742.
    label_repeats: int = _option(4, "times each labelled pair (--qrels) is seen per epoch", "positive")
    table_dtype: str | None = _option(None, "query table dtype (default: the base table's)", choices=TABLE_DTYPES)
    dtype: str | None = _option("auto", "forward passes (document sample, teacher); auto = bfloat16 where the CPU "
                                        "has native bf16 (AMX / AVX512-BF16)", choices=FORWARD_DTYPES)
    device: str | None = _option(None, "cpu, cuda, ... (default: cuda when available)")
    seed: int = _option(42, "seed of the document sample, the pseudo-queries and the batches")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
