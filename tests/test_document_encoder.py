"""DocumentEncoder on the packaged MiniLM: order, pruning, progress and bad input."""

import numpy as np
import pytest

from lightretriever.components import DocumentEncoder, SparseSettings
from lightretriever.components.errors import InvalidArgumentError

pytestmark = pytest.mark.slow

TEXTS = [
    "Aspirin reduces the risk of myocardial infarction in patients with cardiovascular disease.",
    "Paris",
    "The Eiffel tower stands on the Champ de Mars in Paris, France, and was completed in 1889.",
    "Insulin resistance is a hallmark of type 2 diabetes.",
]


@pytest.fixture(scope="module")
def encoder(minilm_artifact):
    return DocumentEncoder(minilm_artifact)


@pytest.fixture(scope="module")
def fp32_encoder(minilm_artifact):
    """Exact comparisons run in float32 (explicit, whatever the default becomes): in bf16 a row's vectors
    depend on its batch's padding (~1e-3)."""
    return DocumentEncoder(minilm_artifact, dtype="float32")


def test_batches_sorted_by_length_keep_input_order(fp32_encoder):
    together = fp32_encoder.encode(TEXTS, batch_size=3, show_progress=False)
    for i, text in enumerate(TEXTS):
        alone = fp32_encoder.encode([text], show_progress=False)
        np.testing.assert_allclose(together.dense[i], alone.dense[0], atol=1e-5)
        np.testing.assert_array_equal(together.sparse[i].indices, alone.sparse[0].indices)
        np.testing.assert_allclose(together.sparse[i].values, alone.sparse[0].values, atol=1e-4)


def test_batches_keep_input_order_in_the_auto_dtype(minilm_artifact):
    """Whatever "auto" picks here (bf16 with native bf16): batching moves a row's vectors only within
    rounding, never to another document's."""
    encoder = DocumentEncoder(minilm_artifact, dtype="auto")
    together = encoder.encode(TEXTS, batch_size=3, show_progress=False)
    alone = np.stack([encoder.encode([text], show_progress=False).dense[0] for text in TEXTS])
    cosines = together.dense @ alone.T
    assert np.diag(cosines).min() > 0.999 and (np.argmax(cosines, axis=1) == np.arange(len(TEXTS))).all()


def test_dense_only_pass_equals_the_full_pass(fp32_encoder):
    """encode_dense (training's frozen documents and teacher queries) == encode().dense, order kept."""
    full = fp32_encoder.encode(TEXTS + [""], batch_size=3, show_progress=False).dense
    np.testing.assert_allclose(fp32_encoder.encode_dense(TEXTS + [""], batch_size=2, show_progress=False), full,
                               atol=1e-5)


def test_sparse_pruning_settings(minilm_artifact):
    full = DocumentEncoder(minilm_artifact, sparse=SparseSettings(threshold=0.0, top_k=None))
    pruned = DocumentEncoder(minilm_artifact, sparse=SparseSettings(threshold=0.5, top_k=20))
    a, b = full.encode(TEXTS[:1], show_progress=False).sparse[0], pruned.encode(TEXTS[:1], show_progress=False).sparse[0]
    assert len(a) > 1000 and len(b) == 20 and b.values.min() > 0.5
    top = np.sort(a.values)[-20:]
    np.testing.assert_allclose(np.sort(b.values), top, atol=1e-5)  # the 20 strongest terms are kept
    assert set(b.indices) <= set(a.indices)


def test_zero_shot_build_scores_each_documents_own_tokens(encoder):
    out = encoder.encode(TEXTS, show_progress=False).sparse
    tok = encoder.artifact.tokenizer()
    for text, row in zip(TEXTS, out):
        own = set(tok.encode(text.strip(), add_special_tokens=False).ids)
        assert 0 < len(row) <= len(own) and set(row.indices.tolist()) <= own


def test_progress_bar_reports_docs_per_second(encoder, capsys):
    encoder.encode(TEXTS * 3, batch_size=4, show_progress=True)
    assert "doc/s" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["", "   \n\t ", "[CLS] [SEP] [PAD]"])
def test_text_without_content_gets_zero_dense_and_empty_sparse(encoder, text):
    out = encoder.encode([text, TEXTS[0]], show_progress=False)
    assert not np.any(out.dense[0]) and len(out.sparse[0]) == 0
    assert abs(np.linalg.norm(out.dense[1]) - 1) < 1e-5


def test_long_emoji_cjk_and_symbol_texts_are_encoded(encoder):
    texts = ["word " * 20_000, "🙂🚀 中文检索 한국어", "!!!???###$$$", "naïve café"]
    out = encoder.encode(texts, show_progress=False)
    assert np.isfinite(out.dense).all()
    np.testing.assert_allclose(np.linalg.norm(out.dense, axis=1), 1.0, atol=1e-5)
    assert all(len(s) > 0 for s in out.sparse)


def test_wrong_input_types_are_refused(encoder):
    with pytest.raises(InvalidArgumentError, match="list of strings"):
        encoder.encode("one string")
    with pytest.raises(InvalidArgumentError, match="document 1 is not valid Unicode text: lone surrogate"):
        encoder.encode(["fine", "bad \ud800"])
