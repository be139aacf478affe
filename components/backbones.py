"""Backbone specifics shared by the document encoder, the table export and training.

Decoder (causal LM): dense = final-layer state at the last valid position (EOS, right padding),
sparse projection = the LM head. Encoder (BERT-like): dense = mean or CLS pooling, sparse
projection = the checkpoint's MLM head, or the tied input embeddings when it has none.
Sparse = log1p(relu(max over non-special, non-pad positions of the vocabulary logits)).

Weights load from safetensors (or GGUF through transformers); never pickles, never remote code.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .artifact import Artifact, ArtifactConfig
from .errors import ArtifactError
from .fingerprint import verify_document_weights

# Elements of one logits block in the sparse max: bounds the [B, positions, V] temporary. 8M (16 MB in
# bf16: 8 positions of 32 MiniLM documents) beat 32M by 1.3x (fp32) and 1.7x (bf16) on the head alone
# (one SciFact batch, Xeon with AMX, 2 cores at load ~2.5; 16M in between); the result is identical.
_LOGIT_BLOCK = 1 << 23


@dataclass
class Backbone:
    """A loaded transformer split into the parts LightRetriever uses."""

    body: nn.Module  # input ids -> last_hidden_state (after the model's final norm)
    vocab_logits: Callable[[torch.Tensor], torch.Tensor]  # hidden [..., H] -> logits [..., V_head]
    kind: str  # "decoder" | "encoder"
    pooling: str  # "last" | "mean" | "cls"
    model: nn.Module  # the whole HF model (for saving / peft)
    # hidden [..., H], ids [U] -> logits of those vocabulary entries only [..., U]; None = slice the full logits
    subset_logits: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    def to(self, device: str | torch.device) -> "Backbone":
        self.model.to(device)
        return self

    def hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs) -> torch.Tensor:
        return self.body(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state


def pool_dense(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Unnormalised dense vector per row. Assumes right padding."""
    if pooling == "last":
        last = attention_mask.sum(dim=1).clamp(min=1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    if pooling == "mean":
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)
    if pooling == "cls":
        return hidden[:, 0]
    raise ValueError(f"pooling {pooling!r}: expected last, mean or cls")


def sparse_max(hidden: torch.Tensor, token_mask: torch.Tensor, vocab_logits, vocab_size: int) -> torch.Tensor:
    """[B, vocab_size] float32 = log1p(relu(max over positions where token_mask of vocab_logits(hidden))).

    Positions are processed in blocks so the full [B, L, V] logits tensor is never built; the
    running max keeps autograd's gradient on each argmax position (training reuses this).
    """
    batch, length = token_mask.shape
    best = None
    step = max(1, _LOGIT_BLOCK // max(1, batch * vocab_size))
    for start in range(0, length, step):
        block_mask = token_mask[:, start:start + step]
        if not bool(block_mask.any()):
            continue
        logits = vocab_logits(hidden[:, start:start + step])[..., :vocab_size]
        # Masked positions become 0 rather than -inf: relu(max(S + {0})) == relu(max(S)), and an
        # in-place multiply saves a copy of the largest tensor here (~10% of document encoding).
        logits = logits.mul_(block_mask.unsqueeze(-1).to(logits.dtype)).amax(dim=1)
        best = logits if best is None else torch.maximum(best, logits)
    if best is None:
        return hidden.new_zeros(batch, vocab_size, dtype=torch.float32)
    # The max of bf16 logits is exact (a selection); log1p in fp32 keeps the weights' digits.
    return torch.log1p(torch.relu(best.float()))


def sparse_input_max(backbone: Backbone, hidden: torch.Tensor, token_mask: torch.Tensor, input_ids: torch.Tensor,
                     vocab_size: int) -> torch.Tensor:
    """`sparse_max` restricted to each document's own tokens (`SparseSettings.vocabulary="input"`):
    [B, vocab_size], non-zero only at ids that occur in the row where `token_mask`. Only the union of
    the batch's tokens is projected (a few thousand columns instead of the whole vocabulary)."""
    batch = hidden.shape[0]
    out = hidden.new_zeros(batch, vocab_size, dtype=torch.float32)
    if not bool(token_mask.any()):
        return out
    union = torch.unique(input_ids[token_mask])
    if backbone.subset_logits is not None:
        logits = backbone.subset_logits(hidden, union)
    else:
        logits = backbone.vocab_logits(hidden)[..., union]
    best = logits.masked_fill(~token_mask.unsqueeze(-1), torch.finfo(logits.dtype).min).amax(dim=1)  # [B, U]
    # which union columns each row actually contains
    present = torch.zeros(batch, vocab_size, dtype=torch.bool, device=hidden.device)
    present[torch.arange(batch, device=hidden.device).unsqueeze(1).expand_as(input_ids)[token_mask], input_ids[token_mask]] = True
    weights = torch.log1p(torch.relu(best.float())) * present[:, union]
    out[:, union] = weights
    return out


def document_vectors(backbone: Backbone, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     special_ids: torch.Tensor, pooling: str, vocab_size: int,
                     with_sparse: bool = True, vocabulary: str = "all") -> tuple[torch.Tensor, torch.Tensor | None]:
    """The document side, one forward pass: (L2-normalised dense [B, H], sparse [B, vocab_size]).

    Shared by `DocumentEncoder` (inference) and training (with autograd), so the vectors a model
    is trained on are the vectors it indexes. Rows with no content token (only specials) get a
    zero dense vector and no sparse weight.
    """
    hidden = backbone.hidden(input_ids, attention_mask)
    content = attention_mask.bool() & ~torch.isin(input_ids, special_ids)
    # Pooled and normalised in fp32 whatever the forward dtype: a bf16 sum over 256 positions loses digits.
    dense = pool_dense(hidden.float(), attention_mask, pooling)
    dense = torch.nn.functional.normalize(dense, dim=-1) * content.any(dim=1, keepdim=True)
    if not with_sparse:
        return dense, None
    if vocabulary == "input":
        return dense, sparse_input_max(backbone, hidden, content, input_ids, vocab_size)
    return dense, sparse_max(hidden, content, backbone.vocab_logits, vocab_size)


def load_backbone(artifact: Artifact, device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> Backbone:
    """The document model of an artifact: a full model directory, or base + LoRA adapter (merged).
    The one place document weights are loaded, so the one place they are checked against the digest
    `lightretriever.json` records (a replaced file must never pass as this encoder; see fingerprint.py)."""
    config, spec = artifact.config, artifact.config.document_model
    verify_document_weights(artifact)
    if spec.path is not None:
        model = load_hf_model(artifact.document_model_dir(), config.backbone, config.sparse_head, dtype=dtype)
    else:
        model = load_hf_model(spec.base, config.backbone, config.sparse_head, gguf_file=spec.base_gguf_file, dtype=dtype)
        model = merge_lora(model, artifact.adapter_dir())
    return wrap_model(model, config.backbone, config.pooling, config.sparse_head).to(device)


def load_hf_model(source: str | Path, backbone: str, sparse_head: str, gguf_file: str | None = None,
                  dtype: torch.dtype | None = None) -> nn.Module:
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM

    cls = {"lm_head": AutoModelForCausalLM, "mlm_head": AutoModelForMaskedLM, "tied_embeddings": AutoModel}[sparse_head]
    if backbone == "decoder" and sparse_head != "lm_head":
        raise ArtifactError(f"a decoder backbone uses sparse_head='lm_head', not {sparse_head!r}")
    kwargs = {"dtype": dtype or torch.float32, "use_safetensors": gguf_file is None}
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    try:
        with no_weight_bar():
            model = cls.from_pretrained(str(source), **kwargs)
    except Exception as exc:  # OSError, SafetensorError, ValueError/KeyError from a damaged config, ...
        raise ArtifactError(
            f"cannot load the document model from {source} ({type(exc).__name__}: {_first_line(exc)}); it must be "
            "a local Hugging Face model directory with intact safetensors weights and config.json (or a GGUF "
            "file), or a hub id reachable from here; restore the files or rebuild the artifact with "
            "`lightretriever build`"
        ) from exc
    return model.eval()


@contextlib.contextmanager
def no_weight_bar():
    """transformers' "Loading weights" / "Writing model shards" bars off: sub-second for a local model,
    and carriage-return spam in a log (our own progress is components/progress.py)."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


def merge_lora(model: nn.Module, adapter_dir: Path) -> nn.Module:
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise ArtifactError("this artifact stores a LoRA adapter: install peft (`pip install lightretriever[peft]`)") from exc
    try:
        return PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload().eval()
    except Exception as exc:  # a damaged adapter_config.json / adapter weights, or an adapter of another base
        raise ArtifactError(f"cannot load the LoRA adapter {adapter_dir} ({type(exc).__name__}: {_first_line(exc)}); "
                            "restore its files or rebuild the artifact") from exc


def wrap_model(model: nn.Module, backbone: str, pooling: str, sparse_head: str) -> Backbone:
    if backbone == "decoder":
        head = model.get_output_embeddings()
        subset = (lambda h, ids: nn.functional.linear(h, head.weight[ids], None if head.bias is None else head.bias[ids])
                  ) if isinstance(head, nn.Linear) else None
        return Backbone(model.base_model, head, backbone, pooling, model, subset)
    if sparse_head == "mlm_head":
        return Backbone(model.base_model, _mlm_head(model), backbone, pooling, model)
    embeddings = model.get_input_embeddings()
    return Backbone(model, lambda h: h @ embeddings.weight.T, backbone, pooling, model,
                    lambda h, ids: h @ embeddings.weight[ids].T)


def _mlm_head(model: nn.Module) -> nn.Module:
    """The one child module of a *ForMaskedLM model that is not its base model (BERT: `cls`)."""
    heads = [m for name, m in model.named_children() if name != model.base_model_prefix]
    if len(heads) != 1:
        raise ArtifactError(
            f"{type(model).__name__}: cannot isolate its MLM head (children: "
            f"{[n for n, _ in model.named_children()]}); rebuild the artifact with --sparse-head tied_embeddings"
        )
    return heads[0]


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """The forward dtype: an explicit `dtype` as given; None or "auto" = `default_dtype(device)` (bf16 where
    it is native and measured faster, float32 elsewhere). In bf16 a row's vectors move with its batch's
    padding (~1e-3, attention over padded keys): pass "float32" where bit-equal reruns matter."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        return default_dtype(device)
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[str(dtype)]
    except KeyError:
        raise ValueError(f"dtype {dtype!r}: expected auto, float32, bfloat16 or float16") from None


def default_dtype(device: torch.device, flags: frozenset[str] | None = None,
                  bf16_is_faster: Callable[[], bool] | None = None) -> torch.dtype:
    """bfloat16 on CUDA with bf16 support and on CPUs with native bf16 whose measured bf16 matmul beats
    fp32 (AMX / AVX512-BF16: document encoding 2-3x faster, dense cosine >= 0.995 vs fp32); float32
    elsewhere (emulated bf16 is slower than fp32). `flags` / `bf16_is_faster` default to this machine's."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if device.type != "cpu" or not cpu_has_native_bf16(cpu_flags() if flags is None else flags):
        return torch.float32
    return torch.bfloat16 if (bf16_is_faster or bf16_matmul_is_faster)() else torch.float32


# Either one means the CPU computes bf16 dot products natively (Sapphire Rapids+, Zen 4+, Cooper Lake).
NATIVE_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


def cpu_has_native_bf16(flags: frozenset[str]) -> bool:
    return bool(flags & NATIVE_BF16_FLAGS)


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The `flags` of /proc/cpuinfo; empty where there is none (macOS, Windows: fp32 there)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@functools.cache
def bf16_matmul_is_faster(rows: int = 256, width: int = 384, columns: int = 2048, repeats: int = 15) -> bool:
    """Once per process (0.04 s at load 1, 0.3 s at load 3 on 2 cores; a model load takes seconds): a
    document-head-sized matmul timed in bf16 and fp32, alternately, the best of `repeats` each. The
    flags say the instructions exist; this says torch's kernels use them.
    Alternating and the minimum keep it right on a busy machine, where one pass can wait ~10 ms for a
    preempted thread (measured: native bf16 0.5 ms vs fp32 2 ms, passes of either up to 20 ms)."""
    operands = {dtype: (torch.randn(rows, width, dtype=dtype), torch.randn(width, columns, dtype=dtype))
                for dtype in (torch.float32, torch.bfloat16)}
    best = dict.fromkeys(operands, float("inf"))
    for a, b in operands.values():
        a @ b  # warm-up: kernel selection, thread pool
    for _ in range(repeats):
        for dtype, (a, b) in operands.items():
            start = time.perf_counter()
            a @ b
            best[dtype] = min(best[dtype], time.perf_counter() - start)
    return best[torch.bfloat16] < best[torch.float32]


def config_prefix_ids(config: ArtifactConfig, tokenizer, instruction: str) -> list[int]:
    """`[bos] + instruction` ids: the shared prefix of every query-table row."""
    bos = [] if config.special_tokens.bos_id is None else [config.special_tokens.bos_id]
    return bos + tokenizer.encode(instruction, add_special_tokens=False).ids
