"""QueryEncoder: vectorised table sum, counts, dtypes, bad input, and no torch on the query path."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from lightretriever.components import QueryEncoder
from lightretriever.components.errors import QueryError
from query_artifacts import make_query_artifact

QUERIES = [
    "Does aspirin reduce the risk of heart attack?",
    "aspirin aspirin aspirin",
    "0-dimensional biomaterials lack inductive properties.",
    "x",
]


@pytest.fixture(scope="module")
def query_artifact(tmp_path_factory):
    return make_query_artifact(tmp_path_factory.mktemp("qa"))


def reference_encode(encoder: QueryEncoder, table: np.ndarray, text: str):
    """The definition, one query at a time: normalised mean of the rows of its non-special tokens."""
    ids = [i for i in encoder._tokenize._tokenizer.encode(encoder._tokenize.prefix + text.strip(), add_special_tokens=False).ids
           if not encoder._tokenize._is_special[i]]
    if not ids:
        return np.zeros(table.shape[1], np.float32), {}
    mean = table[ids].mean(axis=0)
    uniq, counts = np.unique(ids, return_counts=True)
    return mean / np.linalg.norm(mean), dict(zip(uniq.tolist(), counts.astype(float).tolist()))


def test_batch_encode_equals_per_query_definition(query_artifact):
    artifact, table = query_artifact
    encoder = QueryEncoder(artifact)
    texts = QUERIES * 400  # > one chunk, so the thread pool and length sorting are exercised
    out = encoder.encode(texts)
    assert out.dense.dtype == np.float32 and out.dense.shape == (len(texts), table.shape[1])
    for i in [0, 1, 2, 3, 1599]:
        dense, counts = reference_encode(encoder, table, texts[i])
        np.testing.assert_allclose(out.dense[i], dense, atol=1e-5)
        assert out.sparse[i].to_dict() == counts
    np.testing.assert_allclose(np.linalg.norm(out.dense, axis=1), 1.0, atol=1e-5)


def test_repeated_tokens_count_in_sparse_and_dense(query_artifact):
    artifact, table = query_artifact
    encoder = QueryEncoder(artifact)
    aspirin = set(encoder._tokenize._tokenizer.encode(" aspirin", add_special_tokens=False).ids)
    once, thrice = encoder.encode(["aspirin heart", "aspirin aspirin aspirin heart"]).sparse
    assert thrice.to_dict() == {k: v * (3 if k in aspirin else 1) for k, v in once.to_dict().items()}
    assert np.all(np.diff(thrice.indices) > 0), "sparse ids must be sorted and unique"


@pytest.mark.parametrize("dtype,atol", [("float16", 2e-3), ("int8", 2e-2)])
@pytest.mark.parametrize("dequantize_table", [True, False])
def test_compact_tables_give_float32_results(tmp_path, dtype, atol, dequantize_table):
    artifact, table = make_query_artifact(tmp_path, dtype=dtype)
    exact = QueryEncoder(make_query_artifact(tmp_path / "f32")[0]).encode(QUERIES * 300).dense
    encoder = QueryEncoder(artifact, dequantize_table=dequantize_table)
    assert encoder._table.dtype == (np.float32 if dequantize_table else np.dtype(dtype))
    out = encoder.encode(QUERIES * 300).dense
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, exact, atol=atol)


BAD_INPUTS = {
    "empty": "",
    "whitespace": " \t\n  ",
    "only special tokens": "[CLS] [SEP] [PAD]",
    "unknown characters only": "\u2063\u2063",  # invisible separators -> nothing / [UNK]
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_inputs_without_usable_tokens_give_zero_dense_and_empty_sparse(query_artifact, name):
    artifact, _ = query_artifact
    out = QueryEncoder(artifact).encode([BAD_INPUTS[name], "aspirin"])
    assert not np.any(out.dense[0]) and len(out.sparse[0]) == 0
    assert np.isfinite(out.dense).all() and abs(np.linalg.norm(out.dense[1]) - 1) < 1e-5


def test_emoji_cjk_and_punctuation_are_encoded_not_crashed(query_artifact):
    artifact, _ = query_artifact
    out = QueryEncoder(artifact).encode(["🙂🚀 中文检索", "!!!???###", "naïve café"])
    assert np.isfinite(out.dense).all()
    assert all(len(s) > 0 for s in out.sparse)


def test_very_long_query_is_truncated_to_max_query_length(tmp_path):
    artifact, _ = make_query_artifact(tmp_path, max_query_length=64)
    out = QueryEncoder(artifact).encode(["aspirin " * 20_000])  # 160k characters
    assert out.sparse[0].values.sum() == 64
    assert np.isfinite(out.dense).all()


def test_empty_batch(query_artifact):
    artifact, table = query_artifact
    out = QueryEncoder(artifact).encode([])
    assert out.dense.shape == (0, table.shape[1]) and len(out.sparse) == 0


def test_wrong_input_types_are_refused_with_a_clear_message(query_artifact):
    encoder = QueryEncoder(query_artifact[0])
    with pytest.raises(QueryError, match="list of strings"):
        encoder.encode("a single string")
    with pytest.raises(QueryError, match="query 1 is NoneType"):
        encoder.encode(["ok", None])


def test_query_path_imports_no_torch(query_artifact):
    artifact, _ = query_artifact
    script = textwrap.dedent(f"""
        import sys
        from lightretriever.components import QueryEncoder
        out = QueryEncoder.from_pretrained({str(artifact.root)!r}).encode(["aspirin and heart attacks"] * 2000)
        assert out.dense.shape[0] == 2000
        heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
        print("HEAVY=" + ",".join(heavy))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "HEAVY=\n" in result.stdout, result.stdout
