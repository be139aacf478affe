"""Fitting an adapt table: the rows are the parameters, the table lookup is the student.

Per query: `cosine · (1 − cos(student, teacher))` + `distill · KL(teacher ‖ student)` over the scores against
the sampled documents' vectors + `source · InfoNCE(student, the query's own document)` (training/adapt.py says
why). Adam over the rows, a seeded order per epoch (a resumed run sees the same batches), a checkpoint after
each epoch (safetensors: the rows and Adam's moments; never a pickle).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from lightretriever.components.artifact import Artifact, special_token_ids
from lightretriever.components.errors import ArtifactError
from lightretriever.components.progress import progress
from lightretriever.components.query_encoder import QueryTokenizer
from lightretriever.components.tables import dequantize, load_table

from .zero_shot import centred_rows, exported_rows, stored_common

if TYPE_CHECKING:
    from .adapt_config import AdaptConfig


@dataclass
class TrainingQuery:
    text: str
    source: str | None  # id of a document this query belongs to (pseudo: the one it was cut from)
    kind: str  # "pseudo" | "user" | "labelled"


def initial_rows(artifact: Artifact) -> np.ndarray:
    """The base rows as the model exported them (a zero-shot table's Zipf prior undone), centred.
    Measured on SciFact's train queries (never the test split): this start beat the same rows also
    weighted by IDF (dense nDCG@10 0.642 vs 0.631) and the uncentred rows (0.636)."""
    stored, scale = load_table(artifact.table_file())
    rows = dequantize(stored, scale)
    rows = exported_rows(rows, np.arange(len(rows)), len(rows), stored_common(artifact.table_file()))
    return centred_rows(rows, special_token_ids(artifact.tokenizer()))


def train_rows(rows: np.ndarray, tokenizer: QueryTokenizer, training: list[TrainingQuery], teacher: torch.Tensor,
               documents: torch.Tensor, doc_row: dict[str, int], config: AdaptConfig, checkpoint: Path | None,
               resume: bool, show_progress: bool) -> tuple[np.ndarray, int, float | None]:
    torch.manual_seed(config.seed)
    tokens = tokenizer([q.text for q in training])
    ids = torch.from_numpy(tokens.ids.astype(np.int64))
    offsets = torch.from_numpy(tokens.offsets)
    source = torch.tensor([doc_row.get(q.source, -100) if q.source else -100 for q in training])
    table = torch.nn.Parameter(torch.from_numpy(np.array(rows, dtype=np.float32)))
    optimizer = torch.optim.Adam([table], lr=config.learning_rate)
    first_epoch = _load_checkpoint(checkpoint, table, optimizer) if resume and checkpoint else 0
    rng = np.random.default_rng(config.seed)
    permutations = [rng.permutation(len(training)) for _ in range(config.epochs)]  # same order when resumed
    per_epoch = -(-len(training) // config.batch_size)
    steps, loss_value = first_epoch * per_epoch, None
    with progress(config.epochs * per_epoch, initial=steps, desc="Training the table", unit="step",
                  enabled=show_progress) as bar:
        for epoch in range(first_epoch, config.epochs):
            for start in range(0, len(training), config.batch_size):
                batch = torch.from_numpy(permutations[epoch][start:start + config.batch_size])
                loss = _loss(_student(table, ids, offsets, batch), teacher[batch], documents, source[batch], config)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                steps, loss_value = steps + 1, float(loss.detach())
                if not np.isfinite(loss_value):
                    raise ArithmeticError(f"adapt: the loss became {loss_value} at step {steps}; lower "
                                          "--learning-rate (or --resume from the last epoch with a lower one)")
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.4f}", epoch=epoch + 1)
            if checkpoint is not None:
                _save_checkpoint(checkpoint, table, optimizer, epoch + 1)
    return table.detach().numpy(), steps, loss_value


def _student(table: torch.Tensor, ids: torch.Tensor, offsets: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """The table lookup for the batch's queries: normalised sum (= normalised mean) of their rows."""
    starts, ends = offsets[batch], offsets[batch + 1]
    lengths = ends - starts
    positions = torch.repeat_interleave(starts - torch.cumsum(lengths, 0) + lengths, lengths) + torch.arange(int(lengths.sum()))
    owner = torch.repeat_interleave(torch.arange(len(batch)), lengths)
    sums = table.new_zeros(len(batch), table.shape[1]).index_add_(0, owner, table[ids[positions]])
    return torch.nn.functional.normalize(sums, dim=-1)


def _loss(student: torch.Tensor, teacher: torch.Tensor, documents: torch.Tensor, source: torch.Tensor,
          config: AdaptConfig) -> torch.Tensor:
    loss = config.cosine_weight * (1 - (student * teacher).sum(-1)).mean()
    logits = student @ documents.T / config.temperature
    if config.distill_weight:
        target = (teacher @ documents.T / config.temperature).log_softmax(-1)
        loss = loss + config.distill_weight * torch.nn.functional.kl_div(
            logits.log_softmax(-1), target, log_target=True, reduction="batchmean")
    if config.source_weight and bool((source >= 0).any()):
        loss = loss + config.source_weight * torch.nn.functional.cross_entropy(logits, source, ignore_index=-100)
    return loss


def _save_checkpoint(path: Path, table: torch.Tensor, optimizer: torch.optim.Adam, epochs_done: int) -> None:
    state = optimizer.state[table]
    tensors = {"table": table.detach().numpy(), "exp_avg": state["exp_avg"].numpy(),
               "exp_avg_sq": state["exp_avg_sq"].numpy()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"epochs_done": str(epochs_done), "step": str(int(state["step"]))})
    tmp.replace(path)


def _load_checkpoint(path: Path, table: torch.Tensor, optimizer: torch.optim.Adam) -> int:
    if not path.is_file():
        return 0
    from safetensors import safe_open

    with safe_open(path, framework="numpy") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    if tensors["table"].shape != tuple(table.shape):
        raise ArtifactError(f"{path}: a checkpoint of another table shape; drop --resume to start over")
    with torch.no_grad():
        table.copy_(torch.from_numpy(tensors["table"]))
    optimizer.state[table] = {"step": torch.tensor(float(meta["step"])),
                              "exp_avg": torch.from_numpy(tensors["exp_avg"].copy()),
                              "exp_avg_sq": torch.from_numpy(tensors["exp_avg_sq"].copy())}
    return int(meta["epochs_done"])
