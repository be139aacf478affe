"""Which *document encoder* wrote an index.

A collection stores document vectors; they stay valid as long as the document side is the same:
the same weights, tokenizer and document settings. The query tables are not part of it, so a
retrained table (e.g. `train --freeze-documents` or `--table-only`) keeps the old index usable.

fingerprint = sha256(document settings as JSON + tokenizer.json bytes + weights digest).
The weights digest (a hash of the weight files) is expensive for LLMs, so `build`/`train` store it
in `lightretriever.json` (`document_weights_digest`); it is computed from the files when absent.
No torch here: the query path checks the fingerprint of an index too.

The stored digest is a claim, so the files are checked against it wherever document weights are
loaded (`backbones.load_backbone`: DocumentEncoder and so `index`, `encode-corpus`, the Haystack and
LlamaIndex document embedders, `adapt`'s document vectors, `export-table`, `train` loading its base).
A replaced `model.safetensors` with the old digest left in place would otherwise keep the old
fingerprint and mix an unrelated encoder's vectors into a collection. What is checked:

* the files hashed: `config.json`, every `*.safetensors` (all shards, the adapter's), `*.gguf`,
  `adapter_config.json`: everything `from_pretrained` reads that decides the vectors. A
  `pytorch_model.bin` beside them is never loaded (`use_safetensors=True`), so it is not hashed and
  changes nothing; a sharded checkpoint's `*.safetensors.index.json` must name exactly the shards
  present, by plain file name (a shard dropped from it would leave weights randomly initialised; a
  `../` name would load a file outside the artifact);
* the tokenizer is not part of the weights digest but of the fingerprint itself (its bytes), so a
  replaced `tokenizer.json` gets a new fingerprint: a collection of the old one refuses it.

Cost, for multi-GB LLMs: the full sha256 runs once per version of the files per machine (about one
extra sequential read of the weights, ~1-2 GB/s); its result is cached in
`$LIGHTRETRIEVER_HOME/cache/weights-digests.json` under a key of each file's (resolved path, device,
inode, size, mtime, ctime). Every later load costs a few `stat` calls. The key cannot be forged from
user space: an in-place rewrite keeps path, inode and size, and `touch -r` / `os.utime` can restore
the mtime, but every write, `utime`, rename or link count change sets the ctime to the current time,
and no unprivileged call sets it back. A sampled or partial hash was considered and not used: bytes
outside the sample can be edited unseen (one tensor is enough to change the encoder), and the
cached full hash is already as cheap after the first load. `verify_document_weights(artifact,
recheck=True)` re-hashes on demand, ignoring the cache (e.g. after restoring files from a backup).
Not covered: a hub id as LoRA base (only its name is hashed: the hub's files are not ours to pin).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ArtifactError
from .home import lightretriever_home

if TYPE_CHECKING:  # annotations only: artifact.py imports this module (Artifact.document_fingerprint)
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


def verify_document_weights(artifact: Artifact, recheck: bool = False) -> None:
    """Refuse an artifact whose weight files are not the ones its stored digest names (a replaced
    `model.safetensors` must never pass as the old encoder and mix foreign vectors into an index).
    Called where document weights are loaded (`backbones.load_backbone`). The digest of unchanged
    files is cached (see the module docstring: the key includes the ctime, which no user can set
    back); `recheck=True` ignores the cache and re-hashes every byte."""
    stored = artifact.config.document_weights_digest
    if stored is None:
        return  # nothing claimed: the fingerprint itself is then computed from the files
    files = _weight_files(artifact)
    _check_shard_index(artifact, files)
    key = hashlib.sha256(json.dumps([_stat_key(f) for f in files]).encode()).hexdigest()
    cache_file = lightretriever_home() / "cache" / "weights-digests.json"
    cache = {} if recheck else _read_json(cache_file)
    actual = cache.get(key)
    if actual is None:
        actual = weights_digest(artifact)
        _remember(cache_file, key, actual)
    if actual != stored:
        names = ", ".join(sorted({f.name for f in files}))
        raise ArtifactError(
            f"{artifact.root}: the document model's weight files do not match the digest recorded in "
            f"lightretriever.json (recorded {stored[:12]}…, files now {actual[:12]}…; hashed: {names}): they "
            "changed since the digest was recorded (replaced, edited or damaged), so their vectors would not "
            "match an index of this artifact. Restore the original files, or make a new artifact from these "
            "weights with `lightretriever build MODEL_DIR NEW_ARTIFACT` and index with it")


_CACHE_ENTRIES = 512  # newest kept: one per version of an artifact's files, so a few KB at most


def _remember(cache_file: Path, key: str, digest: str) -> None:
    cache = _read_json(cache_file)
    cache.pop(key, None)
    cache[key] = digest
    _write_json(cache_file, dict(list(cache.items())[-_CACHE_ENTRIES:]))


def _check_shard_index(artifact: Artifact, files: list[Path]) -> None:
    """A sharded checkpoint (no `model.safetensors`, a `*.safetensors.index.json`) loads the shards its
    index names; the index is not hashed (older digests never covered it), so it must name exactly the
    hashed shards, by plain file name."""
    for folder in {f.parent for f in files}:
        if (folder / "model.safetensors").is_file():
            continue  # transformers loads it and never reads an index
        shards = {f.name for f in files if f.parent == folder and f.name.endswith(".safetensors")}
        for index in sorted(folder.glob("*.safetensors.index.json")):
            try:
                named = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ArtifactError(f"{index}: not a readable safetensors shard index ({exc}); restore it, or "
                                    "rebuild the artifact with `lightretriever build`") from exc
            if named != shards:
                raise ArtifactError(
                    f"{index}: the shard index names {sorted(map(str, named))} but the directory holds the shards "
                    f"{sorted(shards)}: it was edited or the shards changed; restore the original files, or "
                    "rebuild the artifact with `lightretriever build`")


def _weight_files(artifact: Artifact) -> list[Path]:
    dm = artifact.config.document_model
    if dm.path is not None:
        return _dir_files(artifact.document_model_dir())
    base = Path(dm.base).expanduser()
    files = _dir_files(base, only=dm.base_gguf_file) if base.is_dir() else []
    return files + _dir_files(artifact.adapter_dir())


def _stat_key(file: Path) -> list:
    """What changes whenever the file's bytes may have: ctime is set by the kernel on every write,
    utime, rename or link, and cannot be set back (mtime can: `touch -r`)."""
    st = os.stat(file)
    return [str(file.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


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
