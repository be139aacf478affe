"""The artifact: one directory that fully describes one LightRetriever.

Layout (paths relative to the directory)::

    lightretriever.json          ArtifactConfig below, as JSON
    tokenizer.json (+ HF tokenizer side files)
    model/                       document encoder: a full Hugging Face model directory ...
    adapter/                     ... or a peft LoRA adapter on top of `document_model.base`
    tables/<name>.safetensors    query table(s) `[vocab_size, dense_dim]`, one per instruction

Only the query side (tokenizer + tables) is needed to encode queries, so a query server may
ship without the document weights; `Artifact.load(path, need_document_model=True)` checks them.
This module imports no torch: it sits on the query path.

Loading refuses, with an ArtifactError naming the file or field and the fix:
* a `lightretriever.json` that is not an object of exactly the format_version-1 fields, each of its
  JSON type and range (an unknown field is refused, not ignored: version 1 promises these fields, and
  a silently dropped one would change behaviour unseen);
* a path field (`tables.*.file`, `tables.*.token_weights`, `document_model.path`, `document_model.adapter`)
  or a file at a fixed name (tokenizer.json, model files) that resolves outside the artifact: absolute,
  `..`, or a symlink pointing out. Symlinks inside the artifact and hard links (what `adapt` makes) are
  fine. `document_model.base` is the one field meant to point outside (a base model for a LoRA adapter);
* table and weight files whose safetensors header does not parse (truncated, empty, random bytes, a
  forged header length). Only headers are read here; the weights' digest is verified where they are
  loaded (`fingerprint.verify_document_weights`), so query start-up never hashes gigabytes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ArtifactError

FORMAT_VERSION = 1
CONFIG_NAME = "lightretriever.json"
TOKENIZER_FILE = "tokenizer.json"
TABLE_TENSOR = "table"
SCALE_TENSOR = "scale"
TABLE_DTYPES = ("float32", "float16", "int8")
SPARSE_VOCABULARIES = ("all", "input")
BACKBONES = ("decoder", "encoder")
POOLINGS = ("last", "mean", "cls")
SPARSE_HEADS = ("lm_head", "mlm_head", "tied_embeddings")
TOKEN_WEIGHTS_TENSOR = "weights"
_SAFETENSORS_DTYPES = {"float32": "F32", "float16": "F16", "int8": "I8"}


@dataclass
class SparseSettings:
    """How document sparse vectors are pruned after `log1p(relu(max logits))`.

    threshold: weights <= threshold are dropped (the reference's export quantises with
        floor(100 w), which drops w < 0.01; we keep floats and default to that cut).
    top_k: keep at most this many weights per document (None keeps all above threshold).
    vocabulary: "all" scores every vocabulary entry (a head trained for retrieval expands a document
        with related terms); "input" scores only the document's own tokens — what an untrained head
        is good for: its expansions are noise that would crowd the document's own terms out of a top-k
        (MiniLM: 42 of a SciFact abstract's 155 tokens survived a top-256), and it skips ~90 % of the
        vocabulary projection.
    """

    # `metadata`: the command line's help (`build --sparse-*`; pipelines/commands/options.py makes the flags)
    threshold: float = field(default=0.01, metadata={"help": "drop document weights at or below this",
                                                      "range": "non_negative"})
    top_k: int | None = field(default=None, metadata={
        "help": "keep at most the k largest weights per document (default: 0, all above the threshold)",
        "range": "non_negative"})
    vocabulary: Literal["all", "input"] = field(default="all", metadata={
        "help": "input: score only each document's own tokens (right for an untrained head); all: every "
                "vocabulary entry (a head trained to expand documents)", "choices": SPARSE_VOCABULARIES})


# An untrained vocabulary head (`build`): its expansions are noise, so only a document's own tokens count.
UNTRAINED_SPARSE = SparseSettings(threshold=0.01, top_k=None, vocabulary="input")


@dataclass
class QueryTableSpec:
    """One cached query table: row t is the model's output for `[bos] + instruction + [t] + [eos]`."""

    file: str
    instruction: str
    dtype: Literal["float32", "float16", "int8"] = "float32"
    # Query-side sparse weight per vocabulary token (safetensors, float32 [vocab_size]): the sparse
    # query vector is token count x weight, tokens of weight 0 dropped. None = raw counts.
    # `adapt` writes the corpus IDF here; `build` a Zipf prior (see training/zero_shot.py).
    token_weights: str | None = None
    # How the rows were made (e.g. {"method": "adapt", ...}): provenance, not read by the encoders.
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class DocumentModelSpec:
    """Where the document encoder weights are.

    Either `path` (a full HF model directory inside the artifact, weights in safetensors), or
    `base` (a HF model directory or hub id, plus `base_gguf_file` for GGUF) with `adapter`
    (a peft LoRA adapter directory inside the artifact).
    """

    path: str | None = "model"
    base: str | None = None
    base_gguf_file: str | None = None
    adapter: str | None = None


@dataclass
class SpecialTokens:
    """Token ids the encoders need. `bos_id` may be None for encoders that start with `cls_id`."""

    bos_id: int | None
    eos_id: int
    pad_id: int


@dataclass
class ArtifactConfig:
    """Everything `lightretriever.json` records. Field docs double as the format spec.

    backbone: "decoder" (causal LM) or "encoder" (BERT-like).
    pooling: dense pooling of the document side: "last" (EOS state, decoders), "mean" or "cls".
    sparse_head: vocabulary projection for sparse vectors: "lm_head" (decoders), "mlm_head"
        (encoder checkpoint with an MLM head), "tied_embeddings" (encoder without one: hidden
        states times the input embedding matrix).
    query_prefix: prepended to every raw query before its single tokenisation. Both query paths
        (table lookup and token counts) share that one tokenisation; " " gives byte-level BPE
        models the space-prefixed first word, as mid-sentence words have (see DESIGN in README).
    lowercase: the tokenizer lowercases every text (baked into tokenizer.json at build time,
        so documents, queries and instructions all agree).
    document_weights_digest: sha256 of the document weight files, stored by build/train so the
        index fingerprint (`components/fingerprint.py`) need not re-read gigabytes; None = compute.
    """

    backbone: Literal["decoder", "encoder"]
    pooling: Literal["last", "mean", "cls"]
    sparse_head: Literal["lm_head", "mlm_head", "tied_embeddings"]
    dense_dim: int
    vocab_size: int
    special_tokens: SpecialTokens
    tables: dict[str, QueryTableSpec]
    default_table: str
    document_model: DocumentModelSpec = field(default_factory=DocumentModelSpec)
    sparse: SparseSettings = field(default_factory=SparseSettings)
    lowercase: bool = False
    query_prefix: str = " "
    max_query_length: int = 512
    max_document_length: int = 512
    provenance: dict[str, Any] = field(default_factory=dict)
    document_weights_digest: str | None = None
    format_version: int = FORMAT_VERSION

    # -- (de)serialisation -------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, source: str = CONFIG_NAME) -> "ArtifactConfig":
        """The config in `data` (parsed JSON), every field's type checked first: a damaged or hand-edited
        file gets an ArtifactError naming the field, never a TypeError from deep inside an encoder."""
        if not isinstance(data, dict):
            raise ArtifactError(f"{source}: expected a JSON object with the artifact's fields, found "
                                f"{_json_kind(data)}; the file is damaged: {_REBUILD}")
        version = data.get("format_version")
        if type(version) is not int or version != FORMAT_VERSION:
            raise ArtifactError(
                f"{source}: format_version {version!r} is not supported by this lightretriever "
                f"(it reads version {FORMAT_VERSION}); rebuild the artifact with `lightretriever build` "
                "or upgrade lightretriever"
            )
        fields = _parse_section(cls, data, "", source)
        tables = fields["tables"]
        if not isinstance(tables, dict) or not tables:
            raise ArtifactError(f"{source}: tables is {_json_kind(tables)}, expected an object of named query "
                                f"tables ({{\"default\": {{\"file\": ...}}}}); {_REBUILD}")
        fields["tables"] = {name: QueryTableSpec(**_parse_section(QueryTableSpec, spec, f"tables.{name}", source))
                            for name, spec in tables.items()}
        for name, kind in ((f.name, f.type) for f in dataclasses.fields(cls)):
            if kind in _SECTIONS and name in fields:
                section = _SECTIONS[kind]
                fields[name] = section(**_parse_section(section, fields[name], name, source))
        config = cls(**fields)
        config.check_values(source)
        return config

    def check_values(self, source: str = CONFIG_NAME) -> None:
        """Internal consistency of the JSON alone (files are checked by `Artifact`)."""
        allowed = {"backbone": BACKBONES, "pooling": POOLINGS, "sparse_head": SPARSE_HEADS}
        for name, values in allowed.items():
            if getattr(self, name) not in values:
                raise ArtifactError(f"{source}: {name}={getattr(self, name)!r}; expected one of {values}")
        if self.default_table not in self.tables:
            raise ArtifactError(
                f"{source}: default_table {self.default_table!r} is not among tables {sorted(self.tables)}"
            )
        if self.sparse.vocabulary not in SPARSE_VOCABULARIES:
            raise ArtifactError(f"{source}: sparse.vocabulary={self.sparse.vocabulary!r}; expected one of "
                                f"{SPARSE_VOCABULARIES}")
        for name, spec in self.tables.items():
            if spec.dtype not in TABLE_DTYPES:
                raise ArtifactError(f"{source}: table {name!r} dtype {spec.dtype!r}; expected one of {TABLE_DTYPES}")
        if self.dense_dim <= 0 or self.vocab_size <= 0:
            raise ArtifactError(f"{source}: dense_dim and vocab_size must be positive")
        self._check_lengths(source)
        self._check_special_tokens(source)
        self._check_sparse(source)
        if self.document_weights_digest is not None and not _SHA256.fullmatch(self.document_weights_digest):
            raise ArtifactError(f"{source}: document_weights_digest {self.document_weights_digest!r} is not a "
                                f"sha256 hex digest; {_REBUILD}")
        dm = self.document_model
        if (dm.path is None) == (dm.adapter is None and dm.base is None) or (dm.adapter and not dm.base):
            raise ArtifactError(
                f"{source}: document_model needs either `path` or both `base` and `adapter`, got {dm}"
            )

    def _check_lengths(self, source: str) -> None:
        if self.max_query_length < 1:
            raise ArtifactError(f"{source}: max_query_length is {self.max_query_length}, expected at least 1 (tokens "
                                "kept per query); correct it (the default is 512)")
        # a document needs room for its two special tokens and one token of text
        if self.max_document_length < 3:
            raise ArtifactError(f"{source}: max_document_length is {self.max_document_length}, expected at least 3 "
                                "(two special tokens and one token of text); correct it (the build default is the "
                                "model's own limit)")

    def _check_special_tokens(self, source: str) -> None:
        """Ids outside the vocabulary would index past the embedding matrix in the forward pass."""
        for name, value in vars(self.special_tokens).items():
            if value is not None and not 0 <= value < self.vocab_size:
                raise ArtifactError(f"{source}: special_tokens.{name} is {value}, outside the vocabulary "
                                    f"(0..{self.vocab_size - 1}); {_REBUILD}")

    def _check_sparse(self, source: str) -> None:
        threshold, top_k = self.sparse.threshold, self.sparse.top_k
        if not math.isfinite(threshold) or threshold < 0:
            raise ArtifactError(f"{source}: sparse.threshold is {threshold}, expected a finite number >= 0 (weights "
                                "are log1p(relu(.)) >= 0; a negative cut keeps the whole vocabulary); the default "
                                "is 0.01")
        if top_k is not None and top_k < 1:
            raise ArtifactError(f"{source}: sparse.top_k is {top_k}, expected a positive integer or null (keep all "
                                "weights above the threshold)")


_REBUILD = "correct the field, or rebuild the artifact with `lightretriever build`"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SECTIONS = {"SpecialTokens": SpecialTokens, "DocumentModelSpec": DocumentModelSpec, "SparseSettings": SparseSettings}
# The JSON type of every field of format_version 1 ("section": an object parsed on its own; "tables": a
# non-empty object of QueryTableSpec). A field not listed is refused: version 1 promises exactly these.
_FIELD_KINDS: dict[str, dict[str, str]] = {
    "ArtifactConfig": {
        "backbone": "str", "pooling": "str", "sparse_head": "str", "dense_dim": "int", "vocab_size": "int",
        "special_tokens": "section", "tables": "tables", "default_table": "str", "document_model": "section",
        "sparse": "section", "lowercase": "bool", "query_prefix": "str", "max_query_length": "int",
        "max_document_length": "int", "provenance": "object", "document_weights_digest": "str|None",
        "format_version": "int"},
    "SpecialTokens": {"bos_id": "int|None", "eos_id": "int", "pad_id": "int"},
    "QueryTableSpec": {"file": "path", "instruction": "str", "dtype": "str", "token_weights": "path|None",
                       "notes": "object"},
    "DocumentModelSpec": {"path": "path|None", "base": "str|None", "base_gguf_file": "str|None",
                          "adapter": "path|None"},
    "SparseSettings": {"threshold": "number", "top_k": "int|None", "vocabulary": "str"},
}
_KIND_CHECKS = {
    "int": (lambda v: type(v) is int, "an integer"),
    "int|None": (lambda v: v is None or type(v) is int, "an integer or null"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "str|None": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "path": (lambda v: isinstance(v, str) and v.strip() != "", "a path inside the artifact (a non-empty string)"),
    "path|None": (lambda v: v is None or (isinstance(v, str) and v.strip() != ""),
                  "a path inside the artifact (a non-empty string) or null"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "number": (lambda v: type(v) in (int, float), "a number"),
    "object": (lambda v: isinstance(v, dict), "an object"),
    "section": (lambda v: True, ""),
    "tables": (lambda v: True, ""),
}


def _parse_section(cls, value: Any, path: str, source: str) -> dict[str, Any]:
    """The fields of one JSON object of `cls`, each of the JSON type version 1 gives it."""
    if not isinstance(value, dict):
        raise ArtifactError(f"{source}: {path} is {_json_kind(value)}, expected an object; {_REBUILD}")
    kinds = _FIELD_KINDS[cls.__name__]
    unknown = sorted(set(value) - set(kinds))
    if unknown:
        raise ArtifactError(f"{source}: unknown field {_join(path, unknown[0])!r} (format_version {FORMAT_VERSION} "
                            "has no such field); remove it, or upgrade lightretriever if a newer one wrote it")
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    missing = sorted(required - set(value))
    if missing:
        raise ArtifactError(f"{source}: field {_join(path, missing[0])!r} is missing; {_REBUILD}")
    for name, item in value.items():
        accepts, expected = _KIND_CHECKS[kinds[name]]
        if not accepts(item):
            raise ArtifactError(f"{source}: {_join(path, name)} is {item!r} ({_json_kind(item)}), expected "
                                f"{expected}; {_REBUILD}")
    return dict(value)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _json_kind(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"),
                       (list, "a list"), (dict, "an object")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


@dataclass
class Artifact:
    """A loaded, validated artifact directory. Use `Artifact.load(path)`."""

    root: Path
    config: ArtifactConfig

    @classmethod
    def load(cls, path: str | Path, need_document_model: bool = False) -> "Artifact":
        root = Path(path).expanduser()
        if not root.is_dir():
            raise ArtifactError(
                f"artifact directory {root} does not exist; create one with `lightretriever build BASE {root}`"
            )
        config_file = root / CONFIG_NAME
        if not config_file.is_file():
            raise ArtifactError(f"{root} is not a LightRetriever artifact: {CONFIG_NAME} is missing")
        try:
            data = json.loads(config_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{config_file} is not valid JSON ({exc}); the artifact is damaged") from exc
        artifact = cls(root=root, config=ArtifactConfig.from_dict(data, str(config_file)))
        artifact.check_paths()
        artifact.validate_query_side()
        if need_document_model:
            artifact.validate_document_model()
        return artifact

    # -- paths ---------------------------------------------------------------------------
    @property
    def tokenizer_file(self) -> Path:
        return self.root / TOKENIZER_FILE

    def tokenizer(self):
        """A new `tokenizers.Tokenizer` for this artifact, padding and truncation switched off
        (some shipped tokenizer.json files pad every text to 128 ids). A new object per call,
        because each encoder sets its own truncation length on it."""
        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_file(str(self.tokenizer_file))
        except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
            raise ArtifactError(f"{self.tokenizer_file}: cannot be read as a tokenizers JSON file ({exc})") from exc
        tok.no_padding()
        tok.no_truncation()
        return tok

    def table_file(self, name: str | None = None) -> Path:
        name = name or self.config.default_table
        return self.inside(self.table_spec(name).file, f"tables.{name}.file")

    def document_model_dir(self) -> Path:
        """The full model directory (`document_model.path`), inside the artifact."""
        return self.inside(self.config.document_model.path, "document_model.path")

    def adapter_dir(self) -> Path:
        """The LoRA adapter directory (`document_model.adapter`), inside the artifact."""
        return self.inside(self.config.document_model.adapter, "document_model.adapter")

    def inside(self, relative: str, field_name: str) -> Path:
        """`root / relative`, refused when it leaves the artifact once resolved: an absolute path, `..`, or a
        symlink whose target is outside (an artifact is one self-contained directory; a path escaping it
        would let a shared artifact open any file the user can read). `adapt` hard-links or copies the base's
        files, which stay inside."""
        path = self.root / relative
        root, target = self.root.resolve(), path.resolve()
        if target != root and not target.is_relative_to(root):
            raise ArtifactError(
                f"{self.root / CONFIG_NAME}: {field_name} {relative!r} points outside the artifact (to {target}); "
                "every file an artifact names must be inside its directory: copy or hard-link the file in and "
                "give its path relative to the artifact")
        return path

    def check_paths(self) -> None:
        """Every path field, and the files at fixed names, resolve inside the artifact (cheap: no file is read)."""
        for name, spec in self.config.tables.items():
            self.table_file(name)
            if spec.token_weights is not None:
                self.token_weights_file(name)
        self.inside(TOKENIZER_FILE, TOKENIZER_FILE)
        if self.config.document_model.path is not None:
            self.document_model_dir()
        if self.config.document_model.adapter is not None:
            self.adapter_dir()

    def table_spec(self, name: str | None = None) -> QueryTableSpec:
        name = name or self.config.default_table
        if name not in self.config.tables:
            raise ArtifactError(
                f"{self.root}: no query table named {name!r} (has {sorted(self.config.tables)}); "
                f"export one with `lightretriever export-table {self.root} --name {name} --instruction TEXT`"
            )
        return self.config.tables[name]

    def save_config(self) -> None:
        self.config.check_values()
        (self.root / CONFIG_NAME).write_text(self.config.to_json(), encoding="utf-8")

    def document_fingerprint(self) -> str:
        """Id of the document side (weights, tokenizer, document settings); see fingerprint.py."""
        from .fingerprint import document_fingerprint

        return document_fingerprint(self)

    # -- validation ----------------------------------------------------------------------
    def validate_query_side(self) -> None:
        if not self.tokenizer_file.is_file():
            raise ArtifactError(f"{self.root}: {TOKENIZER_FILE} is missing; the artifact is truncated")
        vocab = self.tokenizer().get_vocab_size(with_added_tokens=True)
        if vocab != self.config.vocab_size:
            raise ArtifactError(
                f"{self.root}: tokenizer has {vocab} tokens but {CONFIG_NAME} says vocab_size="
                f"{self.config.vocab_size}; re-export the tables with `lightretriever export-table {self.root}`"
            )
        for name in self.config.tables:
            self.check_table(name)

    def check_table(self, name: str) -> None:
        """Shape and dtype of a table file, read from its header (no tensor data is loaded)."""
        from safetensors import safe_open

        spec, file = self.table_spec(name), self.table_file(name)
        if not file.is_file():
            raise ArtifactError(
                f"{self.root}: query table {name!r} file {spec.file} is missing; "
                f"re-export it with `lightretriever export-table {self.root} --name {name}`"
            )
        fix = f"re-export the table with `lightretriever export-table {self.root} --name {name}`"
        try:
            with safe_open(file, framework="numpy") as f:
                keys = set(f.keys())
                if TABLE_TENSOR not in keys:
                    raise ArtifactError(f"{file}: no tensor named {TABLE_TENSOR!r}; not a LightRetriever table; {fix}")
                table = f.get_slice(TABLE_TENSOR)
                shape, dtype = list(table.get_shape()), table.get_dtype()
                scale_shape = list(f.get_slice(SCALE_TENSOR).get_shape()) if SCALE_TENSOR in keys else None
        except ArtifactError:
            raise
        except Exception as exc:  # safetensors raises its own SafetensorError (truncated, empty, not safetensors)
            raise ArtifactError(f"{file}: query table {name!r} cannot be read as safetensors ({exc}); the file is "
                                f"damaged: {fix}") from exc
        expected = [self.config.vocab_size, self.config.dense_dim]
        if shape != expected:
            raise ArtifactError(
                f"{file}: table has shape {shape} but the artifact expects [vocab_size, dense_dim] = "
                f"{expected} (tokenizer has {self.config.vocab_size} tokens); {fix}"
            )
        if dtype != _SAFETENSORS_DTYPES[spec.dtype]:
            raise ArtifactError(f"{file}: table dtype {dtype} but {CONFIG_NAME} says {spec.dtype}; {fix}")
        if spec.dtype == "int8" and scale_shape != [self.config.vocab_size]:
            raise ArtifactError(f"{file}: int8 table needs a per-row `scale` of shape [{self.config.vocab_size}]; {fix}")
        if spec.token_weights is not None:
            self._check_token_weights(name, spec.token_weights)

    def token_weights_file(self, name: str | None = None) -> Path | None:
        spec = self.table_spec(name)
        name = name or self.config.default_table
        return None if spec.token_weights is None else self.inside(spec.token_weights, f"tables.{name}.token_weights")

    def _check_token_weights(self, name: str, relative: str) -> None:
        from safetensors import safe_open

        file = self.token_weights_file(name)
        fix = f"re-create them with `lightretriever adapt` (table {name!r})"
        if not file.is_file():
            raise ArtifactError(f"{self.root}: query token weights {relative} of table {name!r} are missing; {fix}")
        try:
            with safe_open(file, framework="numpy") as f:
                shape = list(f.get_slice(TOKEN_WEIGHTS_TENSOR).get_shape()) if TOKEN_WEIGHTS_TENSOR in f.keys() else None
        except Exception as exc:  # safetensors raises its own error types on damaged files
            raise ArtifactError(f"{file}: cannot be read as safetensors ({exc}); {fix}") from exc
        if shape != [self.config.vocab_size]:
            raise ArtifactError(f"{file}: token weights need a tensor {TOKEN_WEIGHTS_TENSOR!r} of shape "
                                f"[{self.config.vocab_size}] (one per vocabulary token), found {shape}; {fix}")

    def validate_document_model(self) -> None:
        """The document model's files are there and their headers parse (cheap: no weight is read; the
        weights themselves are verified against their digest where they are loaded, `fingerprint.py`)."""
        dm = self.config.document_model
        if dm.path is not None:
            model_dir = self.document_model_dir()
            if not (model_dir / "config.json").is_file():
                raise ArtifactError(f"{self.root}: document model directory {dm.path}/ has no config.json; the artifact is truncated")
            weights = sorted(model_dir.glob("*.safetensors"))
            if not weights:
                raise ArtifactError(
                    f"{self.root}: document model {dm.path}/ has no *.safetensors weights "
                    "(only safetensors are loaded, never pickles); the artifact is truncated"
                )
            self._check_model_files(model_dir, [model_dir / "config.json", *weights], f"{dm.path}/")
        else:
            adapter_dir = self.adapter_dir()
            for needed in ("adapter_config.json", "adapter_model.safetensors"):
                if not (adapter_dir / needed).is_file():
                    raise ArtifactError(f"{self.root}: LoRA adapter {dm.adapter}/{needed} is missing")
            self._check_model_files(adapter_dir, [adapter_dir / "adapter_config.json",
                                                  adapter_dir / "adapter_model.safetensors"], f"{dm.adapter}/")

    def _check_model_files(self, folder: Path, files: list[Path], shown: str) -> None:
        fix = "restore the original files or rebuild the artifact with `lightretriever build`"
        for file in sorted(folder.iterdir()):
            self.inside(str(file.relative_to(self.root)), f"document model file {shown}{file.name}")
        for file in files:
            label = f"{self.root}: document model file {shown}{file.name}"
            if file.suffix == ".json":
                try:
                    config = json.loads(file.read_text(encoding="utf-8"))
                except (ValueError, UnicodeDecodeError) as exc:
                    raise ArtifactError(f"{label} is not valid JSON ({exc}); {fix}") from exc
                if not isinstance(config, dict):
                    raise ArtifactError(f"{label} is {_json_kind(config)}, expected a JSON object; {fix}")
            else:
                _check_safetensors_header(file, label, fix)


def _check_safetensors_header(file: Path, label: str, fix: str) -> None:
    """The header of a safetensors file parses and its tensors fit in the file (a truncated copy fails here;
    safetensors refuses headers over 100 MB, so a forged length cannot make it allocate)."""
    from safetensors import safe_open

    try:
        with safe_open(file, framework="numpy") as f:
            f.keys()
    except Exception as exc:  # SafetensorError: empty, truncated, not safetensors, header too large
        raise ArtifactError(f"{label} cannot be read as safetensors ({exc}); the file is damaged: {fix}") from exc


def special_token_ids(tokenizer) -> list[int]:
    """Ids of the tokenizer's special tokens ([CLS], <|im_end|>, [UNK], padding, ...)."""
    return sorted(i for i, t in tokenizer.get_added_tokens_decoder().items() if t.special)
