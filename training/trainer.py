"""The transformers `Trainer`, taught LightRetriever's loss — distributed, checkpoints, resume for free.

`accelerate launch` / `torchrun` run it unchanged (DDP; cross-device negatives in `distributed.py`).
What this file adds: the FLOPS warm-up step, loss parts in the logs and the progress bar, a JSONL log,
safetensors checkpoints of a module with tied weights, and a hard stop on a non-finite loss that keeps
the last good checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_model
from transformers import Trainer, TrainerCallback

from lightretriever.components.errors import LightRetrieverError


class NonFiniteLoss(LightRetrieverError, RuntimeError):
    """The loss became NaN/inf: training stopped, nothing after the last checkpoint was saved."""


class LightRetrieverTrainer(Trainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        module = self.accelerator.unwrap_model(model)
        module.step = self.state.global_step
        outputs = model(**inputs)
        loss = outputs["loss"]
        if not torch.isfinite(loss.detach()).all():
            raise NonFiniteLoss(
                f"the training loss became {float(loss.detach())} at step {self.state.global_step + 1} "
                f"(parts: {getattr(module, 'last_parts', {})}); stopped without saving this step. "
                f"{_last_checkpoint_hint(self.args.output_dir)} Lower --learning-rate or use float32.")
        return (loss, outputs) if return_outputs else loss

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        """safetensors' `save_model` handles tied weights (SmolLM2's embeddings = LM head), which
        the Trainer's plain `save_file` refuses."""
        output_dir = Path(output_dir or self.args.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        save_model(self.accelerator.unwrap_model(self.model), str(output_dir / "model.safetensors"))
        torch.save(self.args, output_dir / "training_args.bin")  # what the Trainer expects in a checkpoint


def _last_checkpoint_hint(output_dir: str) -> str:
    checkpoints = sorted(Path(output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    if not checkpoints:
        return "No checkpoint was written before it."
    return f"The last good checkpoint is {checkpoints[-1]} (resume from it with --resume)."


class LossPartsCallback(TrainerCallback):
    """Adds the loss parts (emb, symmetric, token, flops, distill…) to every log and the bar."""

    def __init__(self, module, log_file: Path | None):
        self.module = module
        self.log_file = log_file
        self.handler = None  # the trainer's callback handler (holds the progress bar), set after construction

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None:
            return
        for name, value in self.module.last_parts.items():
            logs.setdefault(f"loss_{name}", round(value, 5))
        logs.update(getattr(self.module, "last_stats", {}))
        if self.log_file is not None and state.is_world_process_zero:
            with self.log_file.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"step": state.global_step, "epoch": state.epoch, **logs}) + "\n")

    def on_step_end(self, args, state, control, **kwargs):
        bar = _training_bar(self.handler)
        parts = self.module.last_parts
        if bar is not None and parts:
            bar.set_postfix(loss=f"{sum(parts.values()):.4f}", refresh=False)


def _training_bar(handler):
    for callback in getattr(handler, "callbacks", []):
        bar = getattr(callback, "training_bar", None)
        if bar is not None:
            return bar
    return None


def read_log(path: Path) -> list[dict]:
    """The JSONL log as a list (tests and the report read it)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
