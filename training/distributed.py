"""Cross-device negatives: every rank scores its queries against every rank's passages.

`torch.distributed.nn.functional.all_gather` is differentiable: each rank's loss sends gradient back
to the rank that produced a vector, so after DDP averages gradients the step is the gradient of the
global loss. (The reference keeps only local gradients, which scales the step by 1/world_size; we
prefer the exact gradient.) Ranks must hold equal batches: the trainer drops the last partial batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` from all ranks along dim 0 (rank order), keeping autograd."""
    if world_size() == 1:
        return tensor
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor.contiguous()), dim=0)
