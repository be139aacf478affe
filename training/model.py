"""The training module: one backbone, three query representations, one document side.

Per batch (see `training/collator.py` for the tensors):

* documents — dense + sparse from one forward pass (`components.backbones.document_vectors`, the
  very function `DocumentEncoder` indexes with), or cached vectors when documents are frozen;
* emb query — the light path: every token through the model as the table sees it
  (`training/query_batch.py`), averaged, L2-normalised;
* token-count query — against the document sparse vectors (no parameters of its own);
* symmetric query — the full model on `instruction + query` (the teacher for distillation).

`forward` returns the total loss and its parts (for logging).
"""

from __future__ import annotations

import torch
from torch import nn

from lightretriever.components.backbones import Backbone, document_vectors, pool_dense

from . import losses
from .config import LossSettings  # lives with TrainConfig (torch-free, read by the CLI); re-exported here
from .distributed import gather
from .query_batch import PackedQueries, TokenRows, mean_per_query


class LightRetrieverModule(nn.Module):
    def __init__(self, backbone: Backbone, *, vocab_size: int, special_ids: list[int],
                 settings: LossSettings, freeze_documents: bool = False, sparse_vocabulary: str = "all"):
        super().__init__()
        self.model = backbone.model  # registered: the trainer's optimiser, checkpoints and DDP see it
        self._backbone = backbone
        self.vocab_size = vocab_size
        self.register_buffer("special_ids", torch.tensor(special_ids, dtype=torch.long), persistent=False)
        self.settings = settings
        self.freeze_documents = freeze_documents
        self.sparse_vocabulary = sparse_vocabulary  # the artifact's: train the head its index will use
        self.step = 0  # set by the trainer before each step (FLOPS warm-up)
        self.last_parts: dict[str, float] = {}
        self.last_stats: dict[str, int] = {}  # batch shape after gathering (logged: shows cross-device negatives)

    # -- representations ---------------------------------------------------------------
    def documents(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, with_sparse: bool = True):
        return document_vectors(self._backbone, input_ids, attention_mask, self.special_ids, self._backbone.pooling,
                                self.vocab_size, with_sparse=with_sparse, vocabulary=self.sparse_vocabulary)

    def full_queries(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self._backbone.hidden(input_ids, attention_mask)
        return nn.functional.normalize(pool_dense(hidden, attention_mask, self._backbone.pooling), dim=-1)

    def emb_queries(self, tokens: PackedQueries | TokenRows) -> torch.Tensor:
        """Unnormalised mean of the per-token rows (what the table lookup averages), then L2."""
        if isinstance(tokens, PackedQueries):
            mask = tokens.attention_mask.to(next(self.model.parameters()).dtype)
            hidden = self._backbone.body(input_ids=tokens.input_ids, attention_mask=mask,
                                         position_ids=tokens.position_ids).last_hidden_state
            pooled = (hidden * tokens.pool.unsqueeze(-1)).sum(dim=1) / tokens.pool.sum(dim=1, keepdim=True).clamp(min=1)
        else:
            if tokens.input_ids.shape[0] == 0:
                return torch.zeros(tokens.n_queries, self.model.config.hidden_size, device=tokens.owner.device)
            ones = torch.ones_like(tokens.input_ids)
            rows = pool_dense(self._backbone.hidden(tokens.input_ids, ones), ones, self._backbone.pooling)
            pooled = mean_per_query(rows[tokens.row_of], tokens.owner, tokens.n_queries)
        return nn.functional.normalize(pooled, dim=-1)

    # -- loss ----------------------------------------------------------------------------
    def forward(self, *, full_query_ids, full_query_mask, query_tokens, query_counts, group: int, labelled,
                passage_ids=None, passage_mask=None, passage_dense=None, passage_sparse=None) -> dict:
        s = self.settings
        need_sparse = s.token_weight > 0 or s.flops_weight > 0
        if passage_dense is None:
            p_dense, p_sparse = self.documents(passage_ids, passage_mask, with_sparse=need_sparse)
        else:
            p_dense, p_sparse = passage_dense, passage_sparse
        q_emb = self.emb_queries(query_tokens.to(full_query_ids.device))
        q_full = self.full_queries(full_query_ids, full_query_mask)
        parts = self._parts(q_emb, q_full, query_counts, p_dense, p_sparse, group, labelled)
        total = sum(parts.values())
        self.last_parts = {k: float(v.detach()) for k, v in parts.items()}
        return {"loss": total}

    def _parts(self, q_emb, q_full, counts, p_dense, p_sparse, group, labelled) -> dict[str, torch.Tensor]:
        s = self.settings
        all_emb, all_full, all_dense, all_labelled = gather(q_emb), gather(q_full), gather(p_dense), gather(labelled)
        self.last_stats = {"queries": all_emb.shape[0], "scored_passages": all_dense.shape[0]}
        parts = {}
        if s.emb_weight > 0:
            parts["emb"] = s.emb_weight * losses.info_nce(all_emb, all_dense, s.dense_temperature, group, all_labelled)
        if s.symmetric_weight > 0:
            parts["symmetric"] = s.symmetric_weight * losses.info_nce(all_full, all_dense, s.dense_temperature, group,
                                                                      all_labelled)
        if s.distill_weight > 0:
            parts["distill"] = s.distill_weight * losses.score_kl(all_emb @ all_dense.T, all_full @ all_dense.T,
                                                                  s.dense_temperature, s.dense_temperature)
        if s.cosine_weight > 0:
            parts["cosine"] = s.cosine_weight * losses.cosine_distance(q_emb, q_full)
        if p_sparse is not None and s.token_weight > 0:
            parts["token"] = s.token_weight * losses.info_nce(gather(counts), gather(p_sparse), s.sparse_temperature,
                                                              group, all_labelled)
        if p_sparse is not None and s.flops_weight > 0 and not self.freeze_documents:
            weight = losses.flops_weight(self.step, s.flops_weight, s.flops_warmup_steps)
            parts["flops"] = weight * losses.flops(p_sparse)
        return parts
