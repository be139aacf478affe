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
import os
from pathlib import Path

from .artifact import Artifact
from .errors import ArtifactError
from .home import lightretriever_home

_CHUNK = 1 << 22
_WEIGHT_PATTERNS = ("config.json", "*.safetensors", "*.gguf", "adapter_config.json")


def document_fingerprint(artifact: Artifact) -> str:
    """A short stable id of the document side of `artifact` (hex, 16 chars)."""
    cfg = artifact.config
    settings = {
        "backbone": cfg.backbone, "pooling": cfg.pooling, "sparse_head": cfg.sparse_head,
        "dense_dim": cfg.dense_dim, "vocab_size": cfg.vocab_size, "lowercase": cfg.lowercase,
        "max_document_length": cfg.max_document_length, "special_tokens": vars(cfg.special_tokens),
        "sparse": _sparse_settings(cfg),
    }
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    digest.update(artifact.tokenizer_file.read_bytes())
    digest.update((cfg.document_weights_digest or weights_digest(artifact)).encode())
    return digest.hexdigest()[:16]


def _sparse_settings(cfg) -> dict:
    """The sparse settings as hashed; `vocabulary` only when not the default "all", so artifacts
    written before the field existed keep their fingerprint (and their indexes)."""
    settings = vars(cfg.sparse).copy()
    if settings.get("vocabulary") == "all":
        del settings["vocabulary"]
    return settings


def weights_digest(artifact: Artifact) -> str:
    """sha256 over the document model's weight files (full model dir, or base + LoRA adapter)."""
    dm = artifact.config.document_model
    digest = hashlib.sha256()
    if dm.path is None and not Path(dm.base).expanduser().is_dir():
        digest.update(dm.base.encode())  # a hub id: its name (and revision in the id, if any) is all we can see offline
    _hash_files(digest, _weight_files(artifact))
    return digest.hexdigest()


def verify_document_weights(artifact: Artifact) -> None:
    """Refuse an artifact whose weight files are not the ones its stored digest names (a replaced
    `model.safetensors` must never pass as the old encoder and mix foreign vectors into an index).
    Called wherever document vectors are produced. The digest of unchanged files (same path, size,
    mtime and inode) is remembered in `$LIGHTRETRIEVER_HOME/cache/weights-digests.json`, so an LLM's
    gigabytes are read once, not on every start."""
    stored = artifact.config.document_weights_digest
    if stored is None:
        return
    files = _weight_files(artifact)
    key = hashlib.sha256(json.dumps([_stat_key(f) for f in files]).encode()).hexdigest()
    cache_file = lightretriever_home() / "cache" / "weights-digests.json"
    cache = _read_json(cache_file)
    actual = cache.get(key)
    if actual is None:
        actual = weights_digest(artifact)
        cache[key] = actual
        _write_json(cache_file, cache)
    if actual != stored:
        raise ArtifactError(
            f"{artifact.root}: the document model's weight files do not match the digest in lightretriever.json "
            f"(stored {stored[:12]}…, files {actual[:12]}…): they were replaced or damaged. Restore the original "
            "files, or make a new artifact from these weights with `lightretriever build` (and re-index)")


def _weight_files(artifact: Artifact) -> list[Path]:
    dm = artifact.config.document_model
    if dm.path is not None:
        return _dir_files(artifact.root / dm.path)
    base = Path(dm.base).expanduser()
    files = _dir_files(base, only=dm.base_gguf_file) if base.is_dir() else []
    return files + _dir_files(artifact.root / dm.adapter)


def _stat_key(file: Path) -> list:
    st = os.stat(file)
    return [str(file.resolve()), st.st_size, st.st_mtime_ns, st.st_ino]


def _read_json(file: Path) -> dict:
    try:
        data = json.loads(file.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_json(file: Path, data: dict) -> None:
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(file)
    except OSError:
        pass  # a read-only home only costs the re-hash next time


def files_digest(files: list[Path]) -> str:
    """sha256 of files as `weights_digest` hashes them (name, then bytes, in the given order): what a
    model/ directory holding exactly these files (sorted by name) would get."""
    digest = hashlib.sha256()
    _hash_files(digest, files)
    return digest.hexdigest()


def _dir_files(folder: Path, only: str | None = None) -> list[Path]:
    return [folder / only] if only else sorted({p for pat in _WEIGHT_PATTERNS for p in folder.glob(pat)})


def _hash_files(digest, files: list[Path]) -> None:
    for file in files:
        digest.update(file.name.encode())
        with open(file, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
