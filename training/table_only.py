"""`--table-only`: the query table rows themselves are the parameters; the model is not touched.

Rows start from the base model's export. Each training query (labelled or pseudo) has a teacher: the
full model's query vector (`instruction + query`, one forward pass, computed once). The student is
the table lookup (normalised mean of its tokens' rows, as `QueryEncoder` computes it). The loss is
`cosine_weight · (1 − cos(student, teacher)) + distill_weight · KL(teacher ‖ student)` over the
scores against the batch's (frozen, cached) document vectors, plus `emb_weight ·` InfoNCE on the
labelled queries. The document encoder never changes, so an index of the base model stays valid.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lightretriever.components.artifact import Artifact

from . import losses
from .collator import Collator
from .document_cache import DocumentVectors
from .model import LossSettings
from .teacher_text import full_query_text


class TableModule(nn.Module):
    def __init__(self, table: np.ndarray, settings: LossSettings):
        super().__init__()
        self.table = nn.Parameter(torch.from_numpy(np.array(table, dtype=np.float32)))
        self.settings = settings
        self.step = 0
        self.last_parts: dict[str, float] = {}

    def queries(self, token_ids: torch.Tensor, owner: torch.Tensor, n_queries: int) -> torch.Tensor:
        sums = self.table.new_zeros(n_queries, self.table.shape[1]).index_add_(0, owner, self.table[token_ids])
        return nn.functional.normalize(sums, dim=-1)  # normalised sum == normalised mean

    def forward(self, *, token_ids, owner, teacher, passage_dense, group: int, labelled) -> dict:
        s = self.settings
        student = self.queries(token_ids, owner, teacher.shape[0])
        parts = {}
        if s.cosine_weight > 0:
            parts["cosine"] = s.cosine_weight * losses.cosine_distance(student, teacher)
        if s.distill_weight > 0:
            parts["distill"] = s.distill_weight * losses.score_kl(student @ passage_dense.T, teacher @ passage_dense.T,
                                                                  s.dense_temperature, s.dense_temperature)
        if s.emb_weight > 0:
            parts["emb"] = s.emb_weight * losses.info_nce(student, passage_dense, s.dense_temperature, group, labelled)
        self.last_parts = {k: float(v.detach()) for k, v in parts.items()}
        return {"loss": sum(parts.values())}


class TableCollator:
    """Group items -> token ids (flat) + the precomputed teacher vector + cached passage vectors."""

    def __init__(self, collator: Collator, teachers: dict[str, torch.Tensor]):
        self.base = collator
        self.teachers = teachers

    def __call__(self, features: list[dict]) -> dict:
        queries = [f["query"] for f in features]
        tokens = self.base.query_tokenizer(queries)
        owner = np.repeat(np.arange(len(queries)), tokens.lengths)
        passages = [p for f in features for p in f["passages"]]
        return {
            "token_ids": torch.from_numpy(tokens.ids.astype(np.int64)),
            "owner": torch.from_numpy(owner.astype(np.int64)),
            "teacher": torch.stack([self.teachers[q] for q in queries]),
            "passage_dense": self.base.document_vectors.lookup(passages),
            "group": len(features[0]["passages"]),
            "labelled": torch.tensor([float(f["labelled"]) for f in features]),
        }


def teacher_vectors(base: Artifact, instruction: str, queries: list[str], device: str | None = None,
                    show_progress: bool = True) -> dict[str, torch.Tensor]:
    """The full model's query vector for each distinct query: the document forward pass on
    `instruction + query` (dense only) — so the document-vector cache serves them too, and a second
    run with the same queries computes nothing."""
    unique = list(dict.fromkeys(queries))
    texts = [full_query_text(instruction, q) for q in unique]
    vectors = DocumentVectors.compute(base, texts, device=device, show_progress=show_progress,
                                      description="Teacher query vectors")
    return dict(zip(unique, vectors.lookup(texts)))
