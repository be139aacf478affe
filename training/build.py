"""`lightretriever build BASE OUT`: a zero-shot (untrained) artifact from a base model.

BASE is a Hugging Face model directory (safetensors), a GGUF file, or a hub id. The base model's
weights are copied into OUT/model as safetensors (GGUF is dequantised to float32), its tokenizer
is adapted (see `prepare_tokenizer`), and the query table is exported for every token id.
Trained artifacts (the training package) use the same format.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import shutil
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from tokenizers import Tokenizer, normalizers, processors

from lightretriever.components.artifact import (TOKENIZER_FILE, Artifact, ArtifactConfig,
                                                UNTRAINED_SPARSE, DocumentModelSpec, SparseSettings, SpecialTokens)
from lightretriever.components.backbones import no_weight_bar, resolve_device, wrap_model
from lightretriever.components.errors import ArtifactError
from lightretriever.components.fingerprint import weights_digest

from .artifact_writer import ArtifactWriter
from .export import write_query_table


# An untrained vocabulary head puts weight on most of the vocabulary (MiniLM: ~29k of 30.5k
# entries above 0.01) and its expansions are noise: a top-256 of them kept only 42 of a SciFact
# abstract's 155 own tokens. So a built artifact scores each document's own tokens only (the
# reference's "input tokens" option); the FLOPS regulariser of the full recipe is what makes a
# head that expands well. SciFact, sparse nDCG@10 with IDF query weights: 0.580 -> see README.


@dataclass
class BaseModel:
    """Where the base model is: `source` for from_pretrained, plus `gguf_file` for GGUF weights."""

    source: str
    gguf_file: str | None = None
    offline: bool = False  # a hub id while the hub cannot be reached: only the local cache is read

    def load_kwargs(self) -> dict:
        """What every from_pretrained of this base is passed."""
        kwargs: dict = {"gguf_file": self.gguf_file} if self.gguf_file else {}
        return {**kwargs, "local_files_only": True} if self.offline else kwargs

    @classmethod
    def parse(cls, base: str | Path) -> "BaseModel":
        path = Path(base).expanduser()
        if path.suffix == ".gguf":
            if not path.is_file():
                raise ArtifactError(f"GGUF file {path} does not exist")
            return cls(str(path.parent.resolve()), path.name)
        if path.is_dir():
            return cls(str(path.resolve()))
        from .hub import hub_offline

        return cls(str(base), offline=hub_offline())  # a hub id: the hub, or its local cache when offline


def build_artifact(base: str | Path, out: str | Path, *, instruction: str = "", table_dtype: str = "float32",
                   backbone: str | None = None, pooling: str | None = None, sparse_head: str | None = None,
                   lowercase: bool = False, max_query_length: int = 512, max_document_length: int | None = None,
                   sparse: SparseSettings | None = None, device: str | None = None, overwrite: bool = False,
                   export_batch_size: int = 512, show_progress: bool = True) -> Artifact:
    writer = ArtifactWriter(out, overwrite=overwrite)
    writer.check_target()  # before the minutes of export
    base_model = BaseModel.parse(base)
    hf_config = _load_config(base_model)
    backbone = backbone or _detect_backbone(hf_config, base_model)
    hf_tokenizer = _load_hf_tokenizer(base_model)
    tokenizer, special = prepare_tokenizer(hf_tokenizer, backbone, lowercase)
    model, sparse_head = _load_model(base_model, backbone, sparse_head, explain=show_progress)
    pooling = pooling or ("last" if backbone == "decoder" else _sentence_transformers_pooling(base_model))
    max_document_length = max_document_length or _default_document_length(base_model, hf_config)

    with writer:  # the artifact appears only once complete
        _save_document_model(model, base_model, writer.root / "model")
        tokenizer.save(str(writer.root / TOKENIZER_FILE))
        _write_tokenizer_config(writer.root, hf_tokenizer, special, max_document_length)
        config = ArtifactConfig(
            backbone=backbone, pooling=pooling, sparse_head=sparse_head,
            dense_dim=int(hf_config.hidden_size), vocab_size=tokenizer.get_vocab_size(with_added_tokens=True),
            special_tokens=special, tables={}, default_table="default", document_model=DocumentModelSpec(path="model"),
            sparse=sparse or UNTRAINED_SPARSE, lowercase=_lowercases(tokenizer), max_query_length=max_query_length,
            max_document_length=max_document_length, provenance=_provenance(base_model),
        )
        artifact = Artifact(root=writer.root, config=config)
        config.document_weights_digest = weights_digest(artifact)
        wrapped = wrap_model(model, backbone, pooling, sparse_head).to(resolve_device(device))
        write_query_table(wrapped, artifact, "default", instruction, dtype=table_dtype, batch_size=export_batch_size,
                          make_default=True, show_progress=show_progress, zero_shot=True)
    return Artifact.load(writer.out, need_document_model=True)


def _save_document_model(model, base: BaseModel, target: Path) -> None:
    """The base's own files, byte for byte, when it is a safetensors directory (so two builds of one
    model — and everything adapted from them — share one document fingerprint, and the files keep
    ordinary permissions); otherwise (GGUF, dequantised) transformers' save_pretrained."""
    source = Path(base.source)
    weights = sorted(source.glob("*.safetensors")) if base.gguf_file is None and source.is_dir() else []
    if not weights or not (source / "config.json").is_file():
        with no_weight_bar():
            model.save_pretrained(str(target), safe_serialization=True)
        return
    target.mkdir(parents=True)
    for file in [source / "config.json", *weights, *source.glob("*.safetensors.index.json")]:
        shutil.copyfile(file, target / file.name)


def prepare_tokenizer(hf_tokenizer, backbone: str, lowercase: bool) -> tuple[Tokenizer, SpecialTokens]:
    """The artifact tokenizer: no fixed padding/truncation; decoders get `bos A eos` so the last
    token is EOS (last-token pooling); optional Lowercase normaliser in front, so documents,
    queries and instructions are all lowercased alike."""
    tok = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
    tok.no_padding()
    tok.no_truncation()
    if backbone == "decoder":
        bos, eos = hf_tokenizer.bos_token, hf_tokenizer.eos_token
        if bos is None or eos is None:
            raise ArtifactError("the base tokenizer defines no bos/eos token; a decoder artifact needs both")
        bos_id, eos_id = tok.token_to_id(bos), tok.token_to_id(eos)
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A {eos}", pair=f"{bos} $A $B {eos}", special_tokens=[(bos, bos_id), (eos, eos_id)])
        pad_id = hf_tokenizer.pad_token_id if hf_tokenizer.pad_token_id is not None else eos_id
        special = SpecialTokens(bos_id=bos_id, eos_id=eos_id, pad_id=pad_id)
    else:
        cls_id, sep_id = hf_tokenizer.cls_token_id, hf_tokenizer.sep_token_id
        if cls_id is None or sep_id is None:
            raise ArtifactError("the base tokenizer defines no [CLS]/[SEP] token; an encoder artifact needs both")
        special = SpecialTokens(bos_id=cls_id, eos_id=sep_id, pad_id=hf_tokenizer.pad_token_id or 0)
    if lowercase and not _lowercases(tok):
        tok.normalizer = normalizers.Sequence([normalizers.Lowercase()] + ([tok.normalizer] if tok.normalizer else []))
    return tok, special


def _lowercases(tok: Tokenizer) -> bool:
    return tok.normalizer.normalize_str("AbC") == "abc" if tok.normalizer else False


def _load_config(base: BaseModel):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(base.source, **base.load_kwargs())
    except OSError as exc:
        if base.offline:
            raise ArtifactError(f"{base.source} is not a local directory or file, the Hugging Face hub cannot be "
                                "reached from here and the model is not in the local cache; pass a local HF model "
                                "directory or a .gguf file (or download it where there is network)") from None
        raise ArtifactError(f"cannot read a model config from {base.source} ({exc}); pass a local HF model "
                            "directory or a .gguf file") from exc


def _detect_backbone(hf_config, base: BaseModel) -> str:
    if base.gguf_file:
        return "decoder"
    archs = getattr(hf_config, "architectures", None) or []
    return "decoder" if any(a.endswith("ForCausalLM") for a in archs) else "encoder"


def _load_hf_tokenizer(base: BaseModel):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base.source, **base.load_kwargs())
    if not getattr(tok, "is_fast", False):
        raise ArtifactError(f"{base.source}: no fast (tokenizers) tokenizer; LightRetriever needs tokenizer.json")
    return tok


def _load_model(base: BaseModel, backbone: str, sparse_head: str | None, explain: bool = True):
    """The model and its sparse head kind; encoders use an MLM head only when the checkpoint has one."""
    from transformers import AutoModel, AutoModelForCausalLM

    kwargs = {"dtype": torch.float32, **base.load_kwargs()}
    if not base.gguf_file:
        kwargs["use_safetensors"] = True
    if backbone == "decoder":
        with no_weight_bar():
            model = AutoModelForCausalLM.from_pretrained(base.source, **kwargs).eval()
        return (_forget_gguf(model) if base.gguf_file else model), "lm_head"
    if sparse_head in (None, "mlm_head"):
        model, missing = _probe_mlm_head(base, kwargs)
        if not missing:
            return model.eval(), "mlm_head"
        if sparse_head == "mlm_head":
            raise ArtifactError(f"{base.source} has no trained MLM head (missing {missing[:3]}...)")
        if explain:
            print(f"build: no trained MLM head in {base.source} ({_key_groups(missing)} missing, as expected for "
                  "a sentence-embedding checkpoint): the sparse head is tied_embeddings", file=sys.stderr)
    with no_weight_bar():  # its report, if any, is not expected: it stays visible
        return AutoModel.from_pretrained(base.source, **kwargs).eval(), "tied_embeddings"


def _probe_mlm_head(base: BaseModel, kwargs: dict) -> tuple[object, list[str]]:
    """(the MLM model, the checkpoint's missing keys). transformers reports a missing head at length
    ("LOAD REPORT ... MISSING ... newly initialized"); that is the expected outcome for most
    embedding checkpoints, so its report is held back and shown only when the missing keys reach
    beyond the head (a body weight missing is a broken checkpoint, which must stay visible)."""
    from transformers import AutoModelForMaskedLM

    held: list[logging.LogRecord] = []
    with _held_transformers_report(held):
        try:
            model, info = AutoModelForMaskedLM.from_pretrained(base.source, output_loading_info=True, **kwargs)
        except ValueError:  # the architecture has no MLM variant
            return None, ["<no MLM head class>"]
    missing = list(info["missing_keys"])
    body = f"{model.base_model_prefix}."
    if any(key.startswith(body) for key in missing):
        for record in held:
            logging.getLogger(record.name).handle(record)
    return model, missing


@contextlib.contextmanager
def _held_transformers_report(held: list):
    """transformers' load-time log records go to `held` instead of the screen."""

    class _Hold(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            held.append(record)

    source, handler = logging.getLogger("transformers.modeling_utils"), _Hold()
    propagates = source.propagate
    source.addHandler(handler)
    source.propagate = False
    try:
        with no_weight_bar():
            yield
    finally:
        source.removeHandler(handler)
        source.propagate = propagates


def _key_groups(keys: list[str]) -> str:
    """cls.predictions.bias, cls.predictions.transform.dense.weight -> "cls.predictions.*"."""
    return ", ".join(sorted({".".join(key.split(".")[:2]) + ".*" if "." in key else key for key in keys}))


def _forget_gguf(model):
    """transformers dequantises GGUF to float32 but still flags the model as quantised, which
    blocks `save_pretrained`; the weights are plain tensors, so drop the flag and its config."""
    model.hf_quantizer = None
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    return model


def _default_document_length(base: BaseModel, hf_config) -> int:
    """The checkpoint's own limit: sentence-transformers' max_seq_length (256 for all-MiniLM-L6-v2,
    which MTEB scores use) when it ships one, else min(512, max_position_embeddings)."""
    st_config = Path(base.source) / "sentence_bert_config.json"
    if st_config.is_file():
        limit = json.loads(st_config.read_text()).get("max_seq_length")
        if limit:
            return int(limit)
    return min(512, int(getattr(hf_config, "max_position_embeddings", 512) or 512))


def _sentence_transformers_pooling(base: BaseModel) -> str:
    """Follow the checkpoint's own sentence-transformers pooling when it ships one; default mean."""
    pooling_config = Path(base.source) / "1_Pooling" / "config.json"
    if pooling_config.is_file():
        data = json.loads(pooling_config.read_text())
        if data.get("pooling_mode_cls_token"):
            return "cls"
    return "mean"


def _write_tokenizer_config(root: Path, hf_tokenizer, special: SpecialTokens, max_length: int) -> None:
    """So `AutoTokenizer.from_pretrained(artifact)` works for users who want the HF tokenizer."""
    tok = Tokenizer.from_file(str(root / TOKENIZER_FILE))
    names = {k: tok.id_to_token(v) for k, v in (("bos_token", special.bos_id), ("eos_token", special.eos_id),
                                                  ("pad_token", special.pad_id)) if v is not None}
    if hf_tokenizer.unk_token:
        names["unk_token"] = hf_tokenizer.unk_token
    data = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_length, "padding_side": "right",
            "clean_up_tokenization_spaces": False, **names}
    (root / "tokenizer_config.json").write_text(json.dumps(data, indent=2) + "\n")


def _provenance(base: BaseModel) -> dict:
    try:
        own = version("lightretriever")
    except PackageNotFoundError:
        own = "unknown"
    return {"base_model": base.source, "base_gguf_file": base.gguf_file, "trained": False,
            "built_by": f"lightretriever {own}", "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
