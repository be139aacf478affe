"""Which optional extra brings which module, and the error that says which one to install.

The core install is the query path (numpy, tokenizers, safetensors, the Qdrant engines); torch and the
framework integrations come from extras (pyproject's `[project.optional-dependencies]`). A command or class
that imports one of them without the extra would otherwise end in a bare `ModuleNotFoundError: torch`;
`missing_extra` turns that into a `MissingExtraError` naming the extra. It maps an import failure after the
fact (rather than checking before each import) so the modules keep plain `import torch` lines.
"""

from __future__ import annotations

from .errors import MissingExtraError

# top-level module -> the extra that installs it (one extra per module: the one a user most likely lacks)
MODULE_EXTRAS = {
    "torch": "documents", "transformers": "documents",
    "gguf": "gguf", "peft": "peft", "accelerate": "train",
    "haystack": "haystack", "haystack_integrations": "haystack", "llama_index": "llama-index",
    "bm25s": "eval", "Stemmer": "eval", "pytrec_eval": "eval", "matplotlib": "eval",
}
TORCH_NOTE = "install the CPU build of torch first: pip install torch==2.13.0"  # else pip pulls a CUDA build


def missing_extra(error: ImportError, purpose: str) -> MissingExtraError | None:
    """The error naming the extra that provides the module `error` could not import, or None when that
    module belongs to no extra (a genuine bug or a broken install: re-raise it as it is)."""
    module = (getattr(error, "name", None) or "").split(".")[0]
    extra = MODULE_EXTRAS.get(module)
    if extra is None:
        return None
    note = f"; {TORCH_NOTE}" if extra == "documents" else ""
    return MissingExtraError(f"{purpose} needs {module}, which the core install leaves out: "
                             f"install lightretriever[{extra}] (pip install 'lightretriever[{extra}]'{note})")
