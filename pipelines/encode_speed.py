"""The query encode step, LightRetriever vs the full model, on the same queries (tokenisation excluded).

What is compared (the paper's framing, and `benchmarks/query_speed.py`'s at 65,536 queries):
  light            `QueryEncoder.encode_tokenized`: token ids -> dense (table rows, mean, normalise) + sparse
                   (token counts); best of `repeats`;
  full, dense head the symmetric full model's forward pass on `instruction + query`, pooled and normalised
                   (what the `full` evaluation mode searches with); best of 2;
  full, both heads the same forward plus the vocabulary head: the dense *and* sparse query vectors a full
                   hybrid model needs, i.e. the same output as the light step; best of 2.
Token ids for each side are made before the clock starts.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from lightretriever.components.artifact import Artifact


@dataclass
class EncodeSpeed:
    queries: int
    light_s: float
    full_dense_s: float
    full_dense_sparse_s: float

    @property
    def speedup_vs_dense_head(self) -> float:
        return self.full_dense_s / self.light_s

    @property
    def speedup_vs_both_heads(self) -> float:
        return self.full_dense_sparse_s / self.light_s

    def to_dict(self) -> dict:
        return {**asdict(self), "speedup_vs_dense_head": self.speedup_vs_dense_head,
                "speedup_vs_both_heads": self.speedup_vs_both_heads}


def measure_encode_speed(artifact: Artifact, texts: list[str], document_encoder, *, batch_size: int = 64,
                         repeats: int = 10) -> EncodeSpeed:
    from lightretriever.components.query_encoder import QueryEncoder

    from lightretriever.training.teacher_text import teacher_query_texts

    from .evaluate import full_forward

    light = QueryEncoder(artifact)
    tokens = light.tokenize(texts)
    light.encode_tokenized(tokens)  # warm-up: first-call allocations are not per-query cost
    light_s = _best(lambda: light.encode_tokenized(tokens), repeats)

    tokenizer = document_encoder._tokenizer  # the encoder's own, with its truncation
    ids = [e.ids for e in tokenizer.encode_batch(teacher_query_texts(artifact, texts),
                                                 add_special_tokens=True)]
    full_forward(document_encoder, ids[:8], batch_size, with_sparse=True)  # warm-up
    dense_s = _best(lambda: full_forward(document_encoder, ids, batch_size), 2)
    both_s = _best(lambda: full_forward(document_encoder, ids, batch_size, with_sparse=True), 2)
    return EncodeSpeed(len(texts), light_s, dense_s, both_s)


def _best(run, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best
