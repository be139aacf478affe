"""lightretriever.training: produces artifacts — zero-shot builds, table export, and training.

`train_artifact(base, data, out, TrainConfig(...))` (CLI: `lightretriever train`) is the entry point;
the pieces it joins: `data` / `negatives` / `pseudo_queries` (inputs), `query_batch` (the block-masked
light query path), `model` + `losses` (what is optimised), `trainer` (transformers Trainer),
`document_cache` (frozen documents), `table_only` (row distillation), `export` (the table).
Heavy modules load on first use.
"""

from .build import build_artifact
from .export import export_query_table, write_query_table

__all__ = ["build_artifact", "export_query_table", "write_query_table", "train_artifact", "TrainConfig", "LossSettings"]


def __getattr__(name: str):
    if name == "train_artifact":
        from .train import train_artifact

        return train_artifact
    if name == "TrainConfig":
        from .config import TrainConfig

        return TrainConfig
    if name == "LossSettings":
        from .model import LossSettings

        return LossSettings
    raise AttributeError(name)
