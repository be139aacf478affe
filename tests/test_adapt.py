"""`adapt` and what it rests on: the document side as an index's identity (byte-identical builds, tampered
weights refused), the input-token sparse head, the zero-shot rows, query token weights, the IDF, resume,
and the whole CLI story on the packaged MiniLM: build -> index -> adapt -> search the same index."""

from __future__ import annotations

import filecmp
import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import SCIFACT_DIR, minilm_path, run_cli

from lightretriever.components import Artifact, DocumentEncoder, QueryEncoder
from lightretriever.components.errors import ArtifactError


# -- the document side is the identity of an index ------------------------------------------------

def test_two_builds_share_the_base_files_and_fingerprint(tiny_llama_base, tiny_llama_artifact, tmp_path):
    from lightretriever.training.build import build_artifact

    again = build_artifact(tiny_llama_base, tmp_path / "again", instruction="results of the study on",
                           show_progress=False)
    assert again.document_fingerprint() == tiny_llama_artifact.document_fingerprint()
    for name in ("model.safetensors", "config.json"):  # the base's own bytes, ordinary permissions
        assert filecmp.cmp(tiny_llama_base / name, again.root / "model" / name, shallow=False)
        assert (again.root / "model" / name).stat().st_mode & 0o044 == 0o044


def test_minilm_build_keeps_the_packaged_weights(minilm_artifact):
    assert filecmp.cmp(minilm_path() / "model.safetensors", minilm_artifact.root / "model" / "model.safetensors",
                       shallow=False)


def test_a_replaced_weight_file_is_refused(tiny_llama_artifact, tmp_path, monkeypatch):
    monkeypatch.setenv("LIGHTRETRIEVER_HOME", str(tmp_path / "home"))
    copy = tmp_path / "copy"
    shutil.copytree(tiny_llama_artifact.root, copy)
    DocumentEncoder(Artifact.load(copy, need_document_model=True))  # the untouched copy is accepted
    weights = copy / "model" / "model.safetensors"
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(weights))
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 0.01  # another encoder, same names and shapes, digest left in place
    save_file(tensors, str(weights), metadata={"format": "pt"})
    with pytest.raises(ArtifactError, match="do not match the digest"):
        DocumentEncoder(Artifact.load(copy, need_document_model=True))


# -- the sparse head restricted to a document's own tokens ----------------------------------------

def test_input_vocabulary_equals_the_full_head_masked_to_input_tokens(tiny_llama_artifact):
    from lightretriever.components.artifact import SparseSettings

    texts = ["cancer risk of the cells", "mice tumor growth tumor", "white blood cells increases response"]
    full = DocumentEncoder(tiny_llama_artifact, sparse=SparseSettings(threshold=0.0, vocabulary="all"))
    light = DocumentEncoder(tiny_llama_artifact, sparse=SparseSettings(threshold=0.0, vocabulary="input"))
    tok = tiny_llama_artifact.tokenizer()
    special = {0, 1, 2, 3}
    for text, a, b in zip(texts, full.encode(texts, show_progress=False).sparse,
                          light.encode(texts, show_progress=False).sparse):
        own = sorted(set(tok.encode(text, add_special_tokens=False).ids) - special)
        expected = {i: w for i, w in a.to_dict().items() if i in own}
        got = b.to_dict()
        assert set(got) <= set(own) and set(got) == set(expected)
        assert np.allclose([got[i] for i in expected], list(expected.values()), atol=1e-5)


def test_built_artifact_carries_the_zipf_prior_for_both_query_legs(minilm_artifact):
    from lightretriever.components.tables import load_token_weights
    from lightretriever.training.zero_shot import zipf_weights

    spec = minilm_artifact.table_spec()
    assert spec.notes["weights"].startswith("zipf") and spec.token_weights is not None
    weights = load_token_weights(minilm_artifact.token_weights_file())
    assert np.allclose(weights, zipf_weights(minilm_artifact.config.vocab_size))
    heart = minilm_artifact.tokenizer().token_to_id("heart")
    sparse = QueryEncoder(minilm_artifact).encode(["heart heart"]).sparse[0]
    assert sparse.to_dict() == pytest.approx({heart: 2 * float(weights[heart])})


def test_built_artifact_scores_only_input_tokens(minilm_artifact):
    assert minilm_artifact.config.sparse.vocabulary == "input" and minilm_artifact.config.sparse.top_k is None
    encoder = DocumentEncoder(minilm_artifact)
    text = "Vitamin D deficiency and bone fractures in older adults."
    own = set(minilm_artifact.tokenizer().encode(text, add_special_tokens=False).ids)
    row = encoder.encode([text], show_progress=False).sparse[0]
    assert 0 < len(row) <= len(own) and set(row.indices.tolist()) <= own


# -- zero-shot rows, token weights, IDF ------------------------------------------------------------

def test_zero_shot_rows_are_centred_and_zipf_weighted():
    from lightretriever.training.zero_shot import common_component, zero_shot_rows, zipf_weights

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(50, 8)).astype(np.float32) + 5.0  # a large shared component
    out, common = zero_shot_rows(rows, special_ids=[0, 1])
    ordinary = rows[2:] - rows[2:].mean(axis=0)
    assert np.allclose(out[2:], ordinary * zipf_weights(50)[2:, None], atol=1e-5)
    assert np.allclose(common_component(rows, [0, 1]), rows[2:].mean(axis=0), atol=1e-5)
    assert np.allclose(common, rows[2:].mean(axis=0), atol=1e-5)
    # the exported rows come back exactly (what the agreement tests compare with transformers)
    from lightretriever.training.zero_shot import exported_rows

    assert np.allclose(exported_rows(out, np.arange(50), 50, common), rows, atol=1e-4)
    assert zipf_weights(3).tolist() == pytest.approx(np.log1p([1, 2, 3]).tolist())


def test_query_token_weights_scale_counts_and_drop_zeros(minilm_artifact, tmp_path):
    from lightretriever.components.tables import save_token_weights

    def copy_with(name: str, weights_file: str | None) -> Path:
        copy = tmp_path / name
        shutil.copytree(minilm_artifact.root, copy, ignore=shutil.ignore_patterns("model"))
        config = json.loads((copy / "lightretriever.json").read_text())
        config["tables"]["default"]["token_weights"] = weights_file
        (copy / "lightretriever.json").write_text(json.dumps(config))
        return copy

    counts_only = copy_with("counts", None)  # no weights: raw counts (the reference)
    copy = copy_with("weighted", "tables/w.safetensors")
    weights = np.full(minilm_artifact.config.vocab_size, 2.0, dtype=np.float32)
    the = minilm_artifact.tokenizer().token_to_id("the")
    weights[the] = 0.0
    save_token_weights(copy / "tables/w.safetensors", weights, "test")
    plain, weighted = QueryEncoder(Artifact.load(counts_only)), QueryEncoder(Artifact.load(copy))
    assert plain.encode(["the heart"]).sparse[0].values.tolist() == [1.0, 1.0]
    queries = ["the cells of the heart", "heart heart failure"] * 6  # > 8 queries: the batched path
    for a, b in zip(plain.encode(queries).sparse, weighted.encode(queries).sparse):
        expected = {i: 2.0 * c for i, c in a.to_dict().items() if i != the}
        assert b.to_dict() == pytest.approx(expected)
    one = weighted.encode(queries[:1]).sparse[0].to_dict()  # the small-batch path agrees
    assert one == weighted.encode(queries).sparse[0].to_dict()
    assert np.allclose(plain.encode(queries).dense, weighted.encode(queries).dense)  # dense untouched


def test_a_damaged_token_weights_file_is_named(minilm_artifact, tmp_path):
    copy = tmp_path / "bad"
    shutil.copytree(minilm_artifact.root, copy, ignore=shutil.ignore_patterns("model"))
    config = json.loads((copy / "lightretriever.json").read_text())
    config["tables"]["default"]["token_weights"] = "tables/w.safetensors"
    (copy / "lightretriever.json").write_text(json.dumps(config))
    (copy / "tables" / "w.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ArtifactError, match="w.safetensors"):
        Artifact.load(copy)


def test_corpus_idf_is_bm25s_formula(minilm_artifact):
    from lightretriever.components.query_encoder import QueryTokenizer
    from lightretriever.training.adapt import corpus_idf

    tokenizer = QueryTokenizer(minilm_artifact)
    texts = ["heart heart attack", "heart failure", "bone density"]
    idf = corpus_idf(tokenizer, texts, minilm_artifact.config.vocab_size)
    ids = {w: minilm_artifact.tokenizer().token_to_id(w) for w in ("heart", "bone", "cancer")}
    expected = lambda df: np.log1p((3 - df + 0.5) / (df + 0.5))  # noqa: E731
    assert idf[ids["heart"]] == pytest.approx(expected(2))  # twice in one text counts once
    assert idf[ids["bone"]] == pytest.approx(expected(1))
    assert idf[ids["cancer"]] == pytest.approx(expected(0))


# -- training the rows: resume gives the uninterrupted result ----------------------------------------

@pytest.mark.slow
def test_train_rows_resumes_from_the_last_epoch(minilm_artifact, tmp_path):
    from lightretriever.components.query_encoder import QueryTokenizer
    from lightretriever.training.adapt_config import AdaptConfig
    from lightretriever.training.table_fit import TrainingQuery, train_rows

    rng = np.random.default_rng(0)
    vocab, dim = minilm_artifact.config.vocab_size, minilm_artifact.config.dense_dim
    rows = rng.normal(size=(vocab, dim)).astype(np.float32)
    texts = ["heart attack risk", "bone density in women", "vitamin d and bones", "cancer cells grow"] * 8
    training = [TrainingQuery(t, f"d{i % 5}", "pseudo") for i, t in enumerate(texts)]
    teacher = torch.nn.functional.normalize(torch.randn(len(texts), dim), dim=-1)
    docs = torch.nn.functional.normalize(torch.randn(5, dim), dim=-1)
    doc_row = {f"d{i}": i for i in range(5)}
    tokenizer = QueryTokenizer(minilm_artifact)
    config = AdaptConfig(epochs=3, batch_size=8, learning_rate=1e-2)
    whole, steps, loss = train_rows(rows, tokenizer, training, teacher, docs, doc_row, config, None, False, False)
    assert steps == 12 and np.isfinite(loss) and not np.allclose(whole, rows)
    checkpoint = tmp_path / "checkpoint.safetensors"
    train_rows(rows, tokenizer, training, teacher, docs, doc_row, AdaptConfig(epochs=1, batch_size=8,
               learning_rate=1e-2), checkpoint, False, False)  # "interrupted" after epoch 1
    resumed, steps, _ = train_rows(rows, tokenizer, training, teacher, docs, doc_row, config, checkpoint, True, False)
    assert steps == 12
    assert np.allclose(resumed, whole, atol=1e-6)


# -- the whole story through the command line --------------------------------------------------------

@pytest.mark.slow
def test_adapt_cli_searches_the_index_of_the_build_unchanged(minilm_artifact, tmp_path, monkeypatch):
    """build (fixture) -> index -> adapt -> the adapted artifact searches that very index: no re-encode."""
    monkeypatch.setenv("LIGHTRETRIEVER_HOME", str(tmp_path / "home"))
    with gzip.open(SCIFACT_DIR / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for _, line in zip(range(80), handle)]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    store = tmp_path / "store"
    run_cli("index", str(minilm_artifact.root), "--corpus", str(corpus), "--store", str(store), "--collection", "c")
    out = tmp_path / "adapted"
    result = run_cli("adapt", str(minilm_artifact.root), "--corpus", str(corpus), "--out", str(out),
                     "--pseudo-queries", "400", "--max-documents", "40", "--epochs", "2", "--json")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["documents"] == 80 and summary["sampled_documents"] == 40 and summary["queries"]["pseudo"] == 400
    adapted = Artifact.load(out, need_document_model=True)
    assert summary["document_fingerprint"] == adapted.document_fingerprint() == minilm_artifact.document_fingerprint()
    assert adapted.table_spec().token_weights is not None
    base_rows = QueryEncoder(minilm_artifact).encode(["bone density"]).dense
    assert not np.allclose(QueryEncoder(adapted).encode(["bone density"]).dense, base_rows)
    title = rows[7]["title"]
    found = run_cli("search", str(out), title, "--store", str(store), "--collection", "c", "-k", "3", "--json")
    hits = json.loads(found.stdout)["hits"]
    assert hits and hits[0]["id"] == rows[7]["_id"]  # its own title finds the document, from the old index
    info = run_cli("index", str(out), "--corpus", str(corpus), "--store", str(store), "--collection", "c",
                   "--resume", "--json")
    assert json.loads(info.stdout.strip().splitlines()[-1])["written"] == 0  # nothing to re-encode

    # --index: the documents' vectors come from the index itself (all 80, no document forward pass)
    from_index = run_cli("adapt", str(minilm_artifact.root), "--corpus", str(corpus), "--out", str(tmp_path / "a2"),
                         "--index", str(store), "--collection", "c", "--pseudo-queries", "200", "--epochs", "1",
                         "--json")
    summary = json.loads(from_index.stdout.strip().splitlines()[-1])
    assert summary["sampled_documents"] == 80 and "read from the index" in from_index.stderr
    assert "Document vectors" not in from_index.stderr  # no encoding progress bar
    other = run_cli("adapt", str(minilm_artifact.root), "--corpus", str(corpus), "--out", str(tmp_path / "a3"),
                    "--index", str(store), "--collection", "nope", check=False)
    assert other.returncode == 2 and "does not exist" in other.stderr


@pytest.mark.slow
def test_adapt_cli_errors_name_the_fix(tmp_path):
    missing = run_cli("adapt", "nowhere", "--corpus", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o"),
                      check=False)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"_id": "1", "text": "heart"}\n')
    bad = run_cli("adapt", "nowhere", "--corpus", str(corpus), "--out", str(tmp_path / "o"), "--epochs", "0",
                  check=False)
    assert bad.returncode == 2 and "argument --epochs: must be a positive integer" in bad.stderr
