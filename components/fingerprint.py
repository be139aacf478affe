"""Which *document encoder* wrote an index.

A collection stores document vectors; they stay valid as long as the document side is the same:
the same weights, tokenizer and document settings. The query tables are not part of it, so a
retrained table (e.g. `train --freeze-documents` or `--table-only`) keeps the old index usable.

fingerprint = sha256(document settings as JSON + tokenizer.json bytes + weights digest).
The weights digest (a hash of the weight files) is expensive for LLMs, so `build`/`train` store it
in `lightretriever.json` (`document_weights_digest`); it is computed from the files when absent.
No torch here: the query path checks the fingerprint of an index too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .artifact import Artifact

_CHUNK = 1 << 22
_WEIGHT_PATTERNS = ("config.json", "*.safetensors", "*.gguf", "adapter_config.json")


def document_fingerprint(artifact: Artifact) -> str:
    """A short stable id of the document side of `artifact` (hex, 16 chars)."""
    cfg = artifact.config
    settings = {
        "backbone": cfg.backbone, "pooling": cfg.pooling, "sparse_head": cfg.sparse_head,
        "dense_dim": cfg.dense_dim, "vocab_size": cfg.vocab_size, "lowercase": cfg.lowercase,
        "max_document_length": cfg.max_document_length, "special_tokens": vars(cfg.special_tokens),
        "sparse": vars(cfg.sparse),
    }
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    digest.update(artifact.tokenizer_file.read_bytes())
    digest.update((cfg.document_weights_digest or weights_digest(artifact)).encode())
    return digest.hexdigest()[:16]


def weights_digest(artifact: Artifact) -> str:
    """sha256 over the document model's weight files (full model dir, or base + LoRA adapter)."""
    dm = artifact.config.document_model
    digest = hashlib.sha256()
    if dm.path is not None:
        _hash_dir(digest, artifact.root / dm.path)
    else:
        base = Path(dm.base).expanduser()
        if base.is_dir():
            _hash_dir(digest, base, only=dm.base_gguf_file)
        else:  # a hub id: its name (and revision in the id, if any) is all we can see offline
            digest.update(dm.base.encode())
        _hash_dir(digest, artifact.root / dm.adapter)
    return digest.hexdigest()


def files_digest(files: list[Path]) -> str:
    """sha256 of files as `weights_digest` hashes them (name, then bytes, in the given order): what a
    model/ directory holding exactly these files (sorted by name) would get."""
    digest = hashlib.sha256()
    _hash_files(digest, files)
    return digest.hexdigest()


def _hash_dir(digest, folder: Path, only: str | None = None) -> None:
    _hash_files(digest, [folder / only] if only else sorted({p for pat in _WEIGHT_PATTERNS for p in folder.glob(pat)}))


def _hash_files(digest, files: list[Path]) -> None:
    for file in files:
        digest.update(file.name.encode())
        with open(file, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
