"""Examples -> tensors: one training batch = queries, their passage groups, and three query forms.

Each item is a `TrainExample` plus a `labelled` flag (pseudo-queries are unlabelled: they train only
through distillation). Sampling is deterministic per (seed, item index): one positive at random and
`n_negatives` hard negatives (random corpus passages fill in where an example has too few), so a
resumed run sees the same groups.

Tokenisation follows the serving code exactly:
* token path and counts: `QueryTokenizer` (the tokenisation `QueryEncoder` looks rows up with);
* full query: `instruction + " " + query` with the model's specials, like a document;
* passages: the artifact tokenizer with specials, truncated at the training passage length.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from lightretriever.components.artifact import Artifact
from lightretriever.components.backbones import config_prefix_ids
from lightretriever.components.query_encoder import QueryTokenizer

from .data import TrainExample, sample_group
from .query_batch import pack_queries, token_rows
from .teacher_text import full_query_text


@dataclass
class Item:
    example: TrainExample
    labelled: bool = True


class GroupDataset(Dataset):
    """Items -> (query, positive, negatives, labelled), sampled deterministically per index."""

    def __init__(self, items: list[Item], n_negatives: int, seed: int):
        self.items, self.n_negatives, self.seed = items, n_negatives, seed
        self._pool = sorted({p for it in items for p in it.example.positives + it.example.negatives})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        rng = random.Random(f"{self.seed}-{index}")
        item = self.items[index]
        positive, negatives = sample_group(item.example, self.n_negatives, rng)
        excluded = set(item.example.positives)
        while len(negatives) < self.n_negatives:  # random corpus passages fill in
            candidate = self._pool[rng.randrange(len(self._pool))]
            if candidate not in excluded or len(self._pool) <= len(excluded):
                negatives.append(candidate)
        return {"query": item.example.query, "passages": [positive] + negatives, "labelled": item.labelled}


class Collator:
    """List of `GroupDataset` items -> the keyword arguments of `LightRetrieverModule.forward`."""

    def __init__(self, artifact: Artifact, instruction: str, max_passage_length: int, document_vectors=None):
        config = artifact.config
        self.config = config
        self.instruction = instruction
        self.prefix = config_prefix_ids(config, artifact.tokenizer(), instruction)
        self.query_tokenizer = QueryTokenizer(artifact)
        self.full_tokenizer = artifact.tokenizer()
        self.full_tokenizer.enable_truncation(config.max_query_length)
        self.passage_tokenizer = artifact.tokenizer()
        self.passage_tokenizer.enable_truncation(max_passage_length)
        self.document_vectors = document_vectors  # frozen documents: text -> cached dense vector

    def __call__(self, features: list[dict]) -> dict:
        queries = [f["query"] for f in features]
        group = len(features[0]["passages"])
        passages = [p for f in features for p in f["passages"]]
        tokens = self.query_tokenizer(queries)
        token_lists = [tokens.ids[a:b].tolist() for a, b in zip(tokens.offsets[:-1], tokens.offsets[1:])]
        special = self.config.special_tokens
        batch = {
            "query_tokens": (pack_queries(token_lists, self.prefix, special.eos_id, special.pad_id)
                             if self.config.backbone == "decoder" else token_rows(token_lists, self.prefix, special.eos_id)),
            "query_counts": self._counts(token_lists),
            "group": group,
            "labelled": torch.tensor([float(f["labelled"]) for f in features]),
        }
        batch["full_query_ids"], batch["full_query_mask"] = self._pad(
            self.full_tokenizer, [full_query_text(self.instruction, q) for q in queries])
        if self.document_vectors is not None:
            batch["passage_dense"] = self.document_vectors.lookup(passages)
        else:
            batch["passage_ids"], batch["passage_mask"] = self._pad(self.passage_tokenizer, passages)
        return batch

    def _counts(self, token_lists: list[list[int]]) -> torch.Tensor:
        counts = np.zeros((len(token_lists), self.config.vocab_size), dtype=np.float32)
        for row, ids in enumerate(token_lists):
            np.add.at(counts[row], ids, 1.0)
        return torch.from_numpy(counts)

    def _pad(self, tokenizer, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        encodings = tokenizer.encode_batch([t.strip() for t in texts], add_special_tokens=True)
        length = max(len(e.ids) for e in encodings)
        ids = torch.full((len(texts), length), self.config.special_tokens.pad_id, dtype=torch.long)
        mask = torch.zeros((len(texts), length), dtype=torch.long)
        for row, e in enumerate(encodings):
            ids[row, :len(e.ids)] = torch.tensor(e.ids, dtype=torch.long)
            mask[row, :len(e.ids)] = 1
        return ids, mask
