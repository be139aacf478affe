"""DocumentEncoder: the full transformer, one forward pass per batch -> dense + sparse."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .artifact import Artifact, SparseSettings, special_token_ids
from .backbones import document_vectors, load_backbone, resolve_device, resolve_dtype
from .batching import length_sorted_batches
from .progress import progress
from .texts import check_texts
from .sparse import SparseBatch


@dataclass
class DocumentEmbeddings:
    dense: np.ndarray  # float32 [n, dim], L2-normalised; all-zero for a text with no content token
    sparse: SparseBatch  # per document: vocabulary ids + float weights, pruned by SparseSettings


class DocumentEncoder:
    """Encodes documents with an artifact's document model.

    Texts are tokenised with the artifact's tokenizer (`[bos] text [eos]` for decoders,
    `[CLS] text [SEP]` for BERT-like encoders), truncated to `max_document_length` tokens
    (specials kept), sorted by length into batches (output order preserved), and run once.
    Surrounding whitespace is stripped; a text with no token besides specials (empty,
    whitespace-only, only special tokens) gets a zero dense vector and an empty sparse vector, so
    it can never match.
    """

    def __init__(self, artifact: Artifact, device: str | torch.device | None = None,
                 dtype: str | torch.dtype | None = None, sparse: SparseSettings | None = None,
                 max_length: int | None = None):
        """`dtype`: "auto" = bfloat16 where it is native (CUDA with bf16; a CPU with AMX / AVX512-BF16 whose
        bf16 matmul measures faster: 2-3x docs/s, dense cosine >= 0.995 vs float32), float32 elsewhere;
        None is "auto"; or an explicit "float32" / "bfloat16" / "float16" ("float32" where vectors must
        not move with batching). Vectors come out float32 whatever the forward dtype.
        `max_length` truncates documents at fewer tokens than the artifact's `max_document_length`
        (for cheap approximate vectors, e.g. `adapt`'s training targets; never for an index)."""
        self.artifact = artifact
        self.config = artifact.config
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.sparse_settings = sparse or self.config.sparse
        self.backbone = load_backbone(artifact, self.device, self.dtype)  # checks the weights against their digest
        self._tokenizer = artifact.tokenizer()
        self._tokenizer.enable_truncation(min(max_length or self.config.max_document_length,
                                              self.config.max_document_length))
        self._special = torch.tensor(special_token_ids(self._tokenizer), dtype=torch.long, device=self.device)

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device | None = None,
                        dtype: str | torch.dtype | None = None, sparse: SparseSettings | None = None) -> "DocumentEncoder":
        return cls(Artifact.load(path, need_document_model=True), device=device, dtype=dtype, sparse=sparse)

    @property
    def dim(self) -> int:
        return self.config.dense_dim

    def encode(self, texts: list[str], batch_size: int = 32, show_progress: bool = True) -> DocumentEmbeddings:
        texts = check_texts(texts, kind="document")
        ids = self.token_ids(texts)
        dense = np.zeros((len(ids), self.dim), dtype=np.float32)
        rows: list = [None] * len(ids)
        with progress(len(ids), unit="doc", desc="Encoding documents", enabled=show_progress) as bar:
            for batch in length_sorted_batches([len(x) for x in ids], batch_size):
                batch_dense, batch_sparse = self.encode_ids([ids[i] for i in batch])
                dense[batch] = batch_dense
                for i, row in zip(batch, batch_sparse):
                    rows[i] = row
                bar.update(len(batch))
        return DocumentEmbeddings(dense=dense, sparse=SparseBatch.from_rows(rows))

    def encode_dense(self, texts: list[str], batch_size: int = 32, show_progress: bool = True,
                     description: str = "Encoding documents (dense)") -> np.ndarray:
        """Dense vectors only, float32 [n, dim]: the vocabulary head is half of a document pass, and
        training against frozen documents (or a full-model query teacher) never uses it."""
        texts = check_texts(texts, kind="document")
        ids = self.token_ids(texts)
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        with progress(len(ids), unit="text", desc=description, enabled=show_progress) as bar:
            for batch in length_sorted_batches([len(x) for x in ids], batch_size):
                out[batch] = self.encode_ids([ids[i] for i in batch], with_sparse=False)[0]
                bar.update(len(batch))
        return out

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Each text's token ids as this encoder feeds them (specials added, truncated), e.g. to plan batches."""
        # Surrounding whitespace is dropped first: byte-level BPE would turn it into tokens.
        return [e.ids for e in self._tokenizer.encode_batch([t.strip() for t in texts], add_special_tokens=True)]

    @torch.inference_mode()
    def encode_ids(self, batch_ids: list[list[int]], with_sparse: bool = True
                   ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]] | None]:
        """One forward pass over already tokenised texts (with specials): (dense, sparse rows or None).
        `with_sparse=False` skips the vocabulary head (about half of the pass)."""
        input_ids, attention = self._pad(batch_ids)
        dense, weights = document_vectors(self.backbone, input_ids, attention, self._special, self.config.pooling,
                                          self.config.vocab_size, with_sparse=with_sparse,
                                          vocabulary=self.sparse_settings.vocabulary)
        return dense.float().cpu().numpy(), self._prune(weights.float()) if with_sparse else None

    def _pad(self, batch_ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        length = max(len(x) for x in batch_ids)
        pad = self.config.special_tokens.pad_id
        input_ids = torch.full((len(batch_ids), length), pad, dtype=torch.long)
        attention = torch.zeros((len(batch_ids), length), dtype=torch.long)
        for row, ids in enumerate(batch_ids):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention[row, : len(ids)] = 1
        return input_ids.to(self.device), attention.to(self.device)

    def _prune(self, weights: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
        keep = weights > self.sparse_settings.threshold
        top_k = self.sparse_settings.top_k
        if top_k is not None and top_k < weights.shape[1]:
            top = torch.zeros_like(keep).scatter_(1, weights.topk(top_k, dim=1).indices, True)
            keep &= top
        rows, cols = keep.nonzero(as_tuple=True)  # row-major: cols ascending within a row
        values = weights[rows, cols].cpu().numpy()
        cols = cols.cpu().numpy()
        bounds = np.searchsorted(rows.cpu().numpy(), np.arange(weights.shape[0] + 1))
        return [(cols[a:b], values[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
