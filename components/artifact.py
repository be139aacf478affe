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
"""

from __future__ import annotations

import dataclasses
import json
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

    threshold: float = 0.01
    top_k: int | None = None
    vocabulary: Literal["all", "input"] = "all"


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
    def from_dict(cls, data: dict[str, Any], source: str = CONFIG_NAME) -> "ArtifactConfig":
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ArtifactError(
                f"{source}: format_version {version!r} is not supported by this lightretriever "
                f"(it reads version {FORMAT_VERSION}); rebuild the artifact with `lightretriever build` "
                "or upgrade lightretriever"
            )
        try:
            data = dict(data)
            data["special_tokens"] = SpecialTokens(**data["special_tokens"])
            data["tables"] = {k: QueryTableSpec(**v) for k, v in data["tables"].items()}
            data["document_model"] = DocumentModelSpec(**data.get("document_model", {}))
            data["sparse"] = SparseSettings(**data.get("sparse", {}))
            config = cls(**data)
        except (KeyError, TypeError) as exc:
            raise ArtifactError(f"{source}: malformed field set ({exc}); rebuild the artifact") from exc
        config.check_values(source)
        return config

    def check_values(self, source: str = CONFIG_NAME) -> None:
        """Internal consistency of the JSON alone (files are checked by `Artifact`)."""
        allowed = {
            "backbone": ("decoder", "encoder"),
            "pooling": ("last", "mean", "cls"),
            "sparse_head": ("lm_head", "mlm_head", "tied_embeddings"),
        }
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
        dm = self.document_model
        if (dm.path is None) == (dm.adapter is None and dm.base is None) or (dm.adapter and not dm.base):
            raise ArtifactError(
                f"{source}: document_model needs either `path` or both `base` and `adapter`, got {dm}"
            )


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
        return self.root / self.table_spec(name).file

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
        with safe_open(file, framework="numpy") as f:
            keys = set(f.keys())
            if TABLE_TENSOR not in keys:
                raise ArtifactError(f"{file}: no tensor named {TABLE_TENSOR!r}; not a LightRetriever table")
            table = f.get_slice(TABLE_TENSOR)
            shape, dtype = list(table.get_shape()), table.get_dtype()
            scale_shape = list(f.get_slice(SCALE_TENSOR).get_shape()) if SCALE_TENSOR in keys else None
        expected = [self.config.vocab_size, self.config.dense_dim]
        fix = f"re-export the table with `lightretriever export-table {self.root} --name {name}`"
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
        return None if spec.token_weights is None else self.root / spec.token_weights

    def _check_token_weights(self, name: str, relative: str) -> None:
        from safetensors import safe_open

        file = self.root / relative
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
        dm = self.config.document_model
        if dm.path is not None:
            model_dir = self.root / dm.path
            if not (model_dir / "config.json").is_file():
                raise ArtifactError(f"{self.root}: document model directory {dm.path}/ has no config.json; the artifact is truncated")
            has_weights = any(model_dir.glob("*.safetensors"))
            if not has_weights:
                raise ArtifactError(
                    f"{self.root}: document model {dm.path}/ has no *.safetensors weights "
                    "(only safetensors are loaded, never pickles); the artifact is truncated"
                )
        else:
            adapter_dir = self.root / dm.adapter
            for needed in ("adapter_config.json", "adapter_model.safetensors"):
                if not (adapter_dir / needed).is_file():
                    raise ArtifactError(f"{self.root}: LoRA adapter {dm.adapter}/{needed} is missing")


def special_token_ids(tokenizer) -> list[int]:
    """Ids of the tokenizer's special tokens ([CLS], <|im_end|>, [UNK], padding, ...)."""
    return sorted(i for i, t in tokenizer.get_added_tokens_decoder().items() if t.special)
