"""Our encoders against a direct, independent `transformers` computation of the same definitions.

For each backbone (packaged MiniLM = BERT encoder, packaged SmolLM2-135M = Llama decoder) the
reference below uses only the transformers tokenizer of the BASE model and a plain HF model:

documents  ids = [CLS] text [SEP] (encoder) | [bos] text [eos] (decoder), one text at a time, no padding
           dense  = L2-normalise(mean over all positions (encoder) | last position (decoder) of the
                    final hidden states)
           sparse = log1p(relu(max over non-special positions of hidden @ W_vocab^T)), W_vocab = tied word
                    embeddings (MiniLM has no MLM head) | lm_head; then keep w > threshold, top_k largest
queries    ids = tokenise(query_prefix + query) without specials, special ids dropped
           dense  = L2-normalise(mean_t pooled(model([bos] + instruction + [t] + [eos])))
           sparse = token counts
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest
import torch

from conftest import DOC_TEXTS, QUERY_TEXTS, minilm_path, zero_shot_query

pytestmark = pytest.mark.slow

DENSE_ATOL = 1e-4
SPARSE_TOL = 1e-4


@dataclass
class Reference:
    """A direct transformers implementation of one backbone's definitions."""

    name: str
    artifact: Any
    tokenizer: Any  # transformers tokenizer of the base model
    bos: int
    eos: int
    instruction: str
    # ids [B, L] (no padding), with_logits -> final hidden states [B, L, H], vocabulary logits [B, L, V] or None
    forward: Callable[[torch.Tensor, bool], tuple[torch.Tensor, torch.Tensor | None]]
    pool: Callable[[torch.Tensor], torch.Tensor]  # hidden [B, L, H] (no padding) -> [B, H]
    document_ids: Callable[[str], list[int]]
    model: Any = None
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def special_ids(self) -> set[int]:
        return {i for i, t in self.tokenizer.added_tokens_decoder.items() if t.special} | {self.bos, self.eos}

    def document(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(dense [H], un-pruned sparse weights [V]) for one text (cached: CPU forwards are slow)."""
        if ("doc", text) not in self._cache:
            self._cache["doc", text] = self._document(text)
        return self._cache["doc", text]

    @torch.inference_mode()
    def _document(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        ids = torch.tensor([self.document_ids(text)])
        hidden, logits = self.forward(ids, True)
        dense = torch.nn.functional.normalize(self.pool(hidden)[0], dim=-1)
        content = ~torch.isin(ids[0], torch.tensor(sorted(self.special_ids)))
        weights = torch.log1p(torch.relu(logits[0][content].max(dim=0).values))
        return dense.numpy(), weights[: self.artifact.config.vocab_size].numpy()

    def query_ids(self, query: str) -> list[int]:
        ids = self.tokenizer(self.artifact.config.query_prefix + query, add_special_tokens=False).input_ids
        return [i for i in ids if i not in self.special_ids]

    def query_dense(self, query: str) -> np.ndarray:
        ids = self.query_ids(query)
        self._compute_token_rows(ids)
        # a built table is zero-shot: centred, Zipf-weighted rows (conftest.zero_shot_query, training/zero_shot.py)
        return zero_shot_query(self.artifact, np.stack([self._cache["row", t] for t in ids]), ids)

    @torch.inference_mode()
    def _compute_token_rows(self, tokens: list[int], batch_size: int = 32) -> None:
        """Row t = pooled(model([bos] + instruction + [t] + [eos])), unnormalised; cached per token.
        All sequences have the same length: batched without padding."""
        instruction = self.tokenizer(self.instruction, add_special_tokens=False).input_ids
        todo = sorted({t for t in tokens if ("row", t) not in self._cache})
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            hidden, _ = self.forward(torch.tensor([[self.bos, *instruction, t, self.eos] for t in chunk]), False)
            for t, row in zip(chunk, self.pool(hidden).numpy()):
                self._cache["row", t] = row


# -- the two backbones -----------------------------------------------------------------------

def _minilm_reference(artifact) -> Reference:
    from transformers import AutoModel, AutoTokenizer

    base = minilm_path()
    tok = AutoTokenizer.from_pretrained(str(base))
    model = AutoModel.from_pretrained(str(base), dtype=torch.float32).eval()
    vocab_matrix = model.get_input_embeddings().weight  # MiniLM ships no MLM head: tied embeddings

    def forward(ids, with_logits):
        hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        return hidden, (hidden @ vocab_matrix.T if with_logits else None)

    def document_ids(text):
        return tok(text, truncation=True, max_length=artifact.config.max_document_length).input_ids

    return Reference("minilm", artifact, tok, tok.cls_token_id, tok.sep_token_id, artifact.config.tables["default"].instruction,
                     forward, pool=lambda h: h.mean(dim=1), document_ids=document_ids)


def _smollm2_reference(smol) -> Reference:
    from transformers import AutoModelForCausalLM

    artifact, tok = smol.artifact, smol.hf_tokenizer
    model = AutoModelForCausalLM.from_pretrained(str(artifact.root / "model"), dtype=torch.float32).eval()
    bos, eos = artifact.config.special_tokens.bos_id, artifact.config.special_tokens.eos_id

    def forward(ids, with_logits):
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True,
                    logits_to_keep=0 if with_logits else 1)  # 0 = logits at every position
        return out.hidden_states[-1], (out.logits if with_logits else None)

    def document_ids(text):
        body = tok(text, add_special_tokens=False).input_ids[: artifact.config.max_document_length - 2]
        return [bos, *body, eos]

    return Reference("smollm2", artifact, tok, bos, eos, smol.instruction, forward, pool=lambda h: h[:, -1],
                     document_ids=document_ids, model=model)


@pytest.fixture(scope="module")
def minilm_ref(minilm_artifact):
    return _minilm_reference(minilm_artifact)


@pytest.fixture(scope="module")
def smollm2_ref(smollm2_artifact):
    return _smollm2_reference(smollm2_artifact)


@pytest.fixture(scope="module", params=["minilm", "smollm2"])
def ref(request) -> Reference:
    return request.getfixturevalue(f"{request.param}_ref")


@pytest.fixture(scope="module")
def document_embeddings(ref):
    from lightretriever.components import DocumentEncoder

    encoder = DocumentEncoder(ref.artifact, device="cpu", dtype="float32")
    # one batch: the three abstracts and the short texts are padded together
    return encoder.encode(DOC_TEXTS, batch_size=len(DOC_TEXTS), show_progress=False)


@pytest.fixture(scope="module")
def query_embeddings(ref):
    from lightretriever.components import QueryEncoder

    return QueryEncoder(ref.artifact).encode(QUERY_TEXTS)


# -- sanity of the references themselves -------------------------------------------------------

def test_reference_setup(ref):
    config = ref.artifact.config
    if ref.name == "minilm":
        assert (config.backbone, config.pooling, config.sparse_head) == ("encoder", "mean", "tied_embeddings")
        assert (config.special_tokens.bos_id, config.special_tokens.eos_id) == (101, 102)  # [CLS], [SEP]
    else:
        assert (config.backbone, config.pooling, config.sparse_head) == ("decoder", "last", "lm_head")
        # SmolLM2: bos=<|im_start|> (1), eos=<|im_end|> (2), as the base tokenizer says
        assert (config.special_tokens.bos_id, config.special_tokens.eos_id) == (1, 2)
        assert (ref.tokenizer.bos_token_id, ref.tokenizer.eos_token_id) == (1, 2)
        assert config.tables[config.default_table].instruction == ref.instruction != ""
        # hidden_states[-1] is the post-norm state the LM head reads
        ids = torch.tensor([ref.document_ids("Stress response in cells.")])
        with torch.inference_mode():
            out = ref.model(input_ids=ids, output_hidden_states=True)
            np.testing.assert_allclose(ref.model.lm_head(out.hidden_states[-1]).numpy(), out.logits.numpy(),
                                       atol=1e-4, rtol=1e-5)
    assert config.vocab_size == len(ref.tokenizer)


def test_artifact_tokenizer_matches_base_tokenizer(ref):
    tok = ref.artifact.tokenizer()
    for text in DOC_TEXTS:
        got = tok.encode(text, add_special_tokens=True).ids[: ref.artifact.config.max_document_length]
        assert got == ref.document_ids(text), f"{ref.name}: artifact tokenizer differs from the base one on {text[:40]!r}"


# -- documents ---------------------------------------------------------------------------------

def test_document_dense_matches_transformers(ref, document_embeddings):
    dense = document_embeddings.dense
    assert dense.shape == (len(DOC_TEXTS), ref.artifact.config.dense_dim) and dense.dtype == np.float32
    for i, text in enumerate(DOC_TEXTS):
        expected, _ = ref.document(text)
        np.testing.assert_allclose(dense[i], expected, atol=DENSE_ATOL, err_msg=f"{ref.name} document {i}")
        assert np.linalg.norm(dense[i]) == pytest.approx(1.0, abs=1e-5)
    # not trivially equal: different texts give clearly different vectors
    assert float(dense[0] @ dense[3]) < 0.99


def assert_sparse_matches(got, ref_weights: np.ndarray, threshold: float, top_k: int | None, what: str) -> None:
    """`got` (SparseVector) is `ref_weights` pruned to w > threshold and the top_k largest.

    Ids may differ only by near-ties at the pruning boundary (float noise between batched and
    unbatched forwards)."""
    candidates = np.flatnonzero(ref_weights > threshold)
    ranked = candidates[np.argsort(-ref_weights[candidates], kind="stable")]
    expected = ranked if top_k is None else ranked[:top_k]
    assert len(got) == len(expected), f"{what}: {len(got)} sparse terms, expected {len(expected)}"
    assert np.all(np.diff(got.indices) > 0), f"{what}: indices not strictly ascending"
    np.testing.assert_allclose(got.values, ref_weights[got.indices], rtol=SPARSE_TOL, atol=SPARSE_TOL, err_msg=what)
    boundary = ref_weights[expected[-1]] if top_k is not None and len(ranked) > top_k else threshold
    swapped = set(got.indices.tolist()) ^ set(expected.tolist())
    far = [i for i in swapped if abs(ref_weights[i] - boundary) > SPARSE_TOL]
    assert not far, f"{what}: ids {far[:10]} kept/dropped although not at the pruning boundary {boundary:.5f}"


def test_document_sparse_matches_transformers(ref, document_embeddings):
    settings = ref.artifact.config.sparse
    # the untrained default: each document's own tokens only (the full head's weights at those ids)
    assert settings.vocabulary == "input" and settings.top_k is None
    for i, text in enumerate(DOC_TEXTS):
        _, weights = ref.document(text)
        own = [t for t in ref.document_ids(text) if t not in ref.special_ids]
        weights = np.where(np.isin(np.arange(len(weights)), own), weights, 0.0).astype(weights.dtype)
        got = document_embeddings.sparse[i]
        assert len(got) > 0
        assert_sparse_matches(got, weights, settings.threshold, settings.top_k, f"{ref.name} document {i}")


def test_document_sparse_ignores_special_positions(ref):
    """A text with no token besides specials has no content: zero dense vector, empty sparse vector.
    Whitespace-only counts as empty for both: texts are stripped first (byte-level BPE would keep it as tokens)."""
    from lightretriever.components import DocumentEncoder

    encoder = DocumentEncoder(ref.artifact, device="cpu", dtype="float32")
    texts = ["", "   ", "[CLS] [SEP]" if ref.name == "minilm" else "<|im_start|><|im_end|>"]
    out = encoder.encode(texts + ["cells"], show_progress=False)
    empty = [True, True, True, False]
    assert [bool(np.all(d == 0)) for d in out.dense] == empty
    assert [len(v) == 0 for v in out.sparse] == empty


# -- queries -----------------------------------------------------------------------------------

def test_smollm2_query_tokens_are_covered_by_the_table(smollm2_artifact, smollm2_ref):
    """Every id the test queries use (as the base tokenizer splits them) has an exported, finite,
    non-zero table row (the fixture exports only the rows the tests read; see conftest)."""
    from lightretriever.components.tables import load_table

    texts = QUERY_TEXTS + ["stress<|im_end|>", "stress", "<|im_end|>"]  # + test_query_special_tokens_in_text_are_dropped
    ids = sorted({i for q in texts for i in smollm2_ref.query_ids(q)})
    smollm2_artifact.require_rows(ids)
    table, _ = load_table(smollm2_ref.artifact.table_file())
    assert table.shape == (smollm2_ref.artifact.config.vocab_size, smollm2_ref.artifact.config.dense_dim)
    assert np.all(np.isfinite(table[ids])) and np.all(np.abs(table[ids]).max(axis=1) > 0)


def test_query_dense_matches_transformers(ref, query_embeddings):
    dense = query_embeddings.dense
    assert dense.shape == (len(QUERY_TEXTS), ref.artifact.config.dense_dim)
    for i, query in enumerate(QUERY_TEXTS):
        np.testing.assert_allclose(dense[i], ref.query_dense(query), atol=DENSE_ATOL, err_msg=f"{ref.name} query {i}")
        assert np.linalg.norm(dense[i]) == pytest.approx(1.0, abs=1e-5)


def test_query_sparse_is_token_counts_times_token_weights(ref, query_embeddings):
    """Counts of the base tokenizer's ids, times the artifact's per-token weights (a build: the Zipf prior)."""
    from lightretriever.components.tables import load_token_weights

    weights = load_token_weights(ref.artifact.token_weights_file())
    for i, query in enumerate(QUERY_TEXTS):
        counts = Counter(ref.query_ids(query))
        got = query_embeddings.sparse[i]
        expected = {k: float(v) * float(weights[k]) for k, v in sorted(counts.items())}
        assert got.to_dict() == pytest.approx(expected), f"{ref.name} query {i}"
        assert got.indices.tolist() == sorted(counts)
    repeated = query_embeddings.sparse[QUERY_TEXTS.index("cancer cancer risk of cancer")]
    cancer = [i for i in ref.query_ids("cancer") if i in repeated.indices][-1]
    assert repeated.to_dict()[cancer] == pytest.approx(3.0 * float(weights[cancer]))  # "cancer" three times


def test_query_special_tokens_in_text_are_dropped(ref):
    """Literal special tokens in a query ([CLS] for BERT, <|im_end|> for SmolLM2) are not content."""
    from lightretriever.components import QueryEncoder

    literal = "[CLS]" if ref.name == "minilm" else "<|im_end|>"
    special_id = ref.tokenizer.convert_tokens_to_ids(literal)
    query = "stress" + literal
    raw = ref.tokenizer(ref.artifact.config.query_prefix + query, add_special_tokens=False).input_ids
    assert special_id in raw  # the tokenizer does produce the special id ...
    encoder = QueryEncoder(ref.artifact)
    out = encoder.encode([query, "stress", literal])
    assert special_id not in out.sparse[0].indices  # ... and it is dropped
    assert out.sparse[0].to_dict() == out.sparse[1].to_dict()
    np.testing.assert_allclose(out.dense[0], out.dense[1], atol=1e-6)
    assert special_id not in out.sparse[2].indices
    if ref.name == "minilm":  # " [CLS]" is [CLS] alone: nothing left (SmolLM2 keeps the prefix space token)
        assert np.all(out.dense[2] == 0) and len(out.sparse[2]) == 0
