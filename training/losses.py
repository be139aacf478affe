"""Training losses: contrastive InfoNCE, the FLOPS sparsity regulariser and its warm-up, distillation.

Decisions (method.md section 10):
* InfoNCE scores each query against every passage of the (global) batch — its own positive at
  `i * group`, its hard negatives, and all other queries' passages — mean cross-entropy.
* FLOPS is computed on the local passage batch (positives and negatives), as the reference does;
  its weight ramps up quadratically, `λ · min(1, (step / warmup)²)`, with `step` the optimiser steps
  already taken (the trainer's `global_step`, i.e. 0 on the first step).
* Distillation is KL(teacher ‖ student) over the same score matrix, the teacher detached.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(queries: torch.Tensor, passages: torch.Tensor, temperature: float, group: int,
             row_weights: torch.Tensor | None = None) -> torch.Tensor:
    """queries [B, D], passages [B * group, D] grouped `[pos, neg…]` per query; query i's positive
    is passage `i * group`. `row_weights` (0/1) leaves unlabelled queries out of the mean."""
    scores = queries @ passages.T / temperature
    targets = torch.arange(queries.shape[0], device=queries.device) * group
    losses = F.cross_entropy(scores.float(), targets, reduction="none")
    return _weighted_mean(losses, row_weights)


def flops(sparse: torch.Tensor) -> torch.Tensor:
    """Σ_v (mean_i |w_iv|)²: penalises vocabulary entries that many documents use (SPLADE's FLOPS)."""
    return sparse.abs().mean(dim=0).pow(2).sum()


def flops_weight(step: int, weight: float, warmup_steps: int) -> float:
    """The quadratic warm-up: a dense start lets the head learn before sparsity bites."""
    if warmup_steps <= 0 or step >= warmup_steps:
        return weight
    return weight * (step / warmup_steps) ** 2


def score_kl(student: torch.Tensor, teacher: torch.Tensor, student_temperature: float,
             teacher_temperature: float, row_weights: torch.Tensor | None = None) -> torch.Tensor:
    """KL(softmax(teacher/τt) ‖ softmax(student/τs)) per row, averaged: the student learns the
    teacher's whole ranking of the batch, not just its top passage."""
    log_student = F.log_softmax(student.float() / student_temperature, dim=-1)
    log_teacher = F.log_softmax(teacher.detach().float() / teacher_temperature, dim=-1)
    per_row = (log_teacher.exp() * (log_teacher - log_student)).sum(dim=-1)
    return _weighted_mean(per_row, row_weights)


def cosine_distance(student: torch.Tensor, teacher: torch.Tensor, row_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean 1 − cos(student, teacher), teacher detached."""
    per_row = 1.0 - F.cosine_similarity(student.float(), teacher.detach().float(), dim=-1)
    return _weighted_mean(per_row, row_weights)


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if weights is None:
        return values.mean()
    return (values * weights).sum() / weights.sum().clamp(min=1.0)
