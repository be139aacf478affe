"""lightretriever.training: produces artifacts — zero-shot builds, table export, and training.

`train_artifact(base, data, out, TrainConfig(...))` (CLI: `lightretriever train`) is the entry point;
the pieces it joins: `inputs` (a path -> examples: `data` read, `negatives` mined) / `pseudo_queries`,
`query_batch` (the block-masked light query path), `model` + `losses` (what is optimised), `trainer`
(transformers Trainer), `document_cache` (frozen documents), `table_only` (row distillation), `export` (the table).
Everything loads on first use, so `lightretriever.training.data` can be read without torch.
"""

from importlib import import_module

_EXPORTS = {
    "build_artifact": ".build", "export_query_table": ".export", "write_query_table": ".export",
    "train_artifact": ".train", "TrainConfig": ".config", "LossSettings": ".config",
    "Variant": ".variants", "VARIANTS": ".variants", "variant_named": ".variants",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
