"""`build_artifact` with tokenizers that normalise (BERT/MiniLM lowercase, `--lowercase`)."""

from __future__ import annotations

from conftest import save_tiny_llama

from lightretriever.components import QueryEncoder
from lightretriever.training.build import build_artifact

NORMALIZE_STR_BUG = (
    "build_artifact crashes for every tokenizer with a normalizer (all BERT-like bases such as MiniLM, and "
    "--lowercase): training/build.py `_lowercases` calls `Tokenizer.normalize_str`, which `tokenizers.Tokenizer` "
    "does not have; fix: `return tok.normalizer.normalize_str('AbC') == 'abc' if tok.normalizer else False`"
)


def _build(base, out, **kwargs):
    try:
        return build_artifact(base, out, show_progress=False, **kwargs), None
    except AttributeError as exc:
        return None, exc


def test_build_base_tokenizer_with_lowercase_normalizer(tmp_path):
    base = save_tiny_llama(tmp_path / "base", lowercase=True)
    artifact, error = _build(base, tmp_path / "artifact")
    assert error is None, f"{NORMALIZE_STR_BUG} (got {error!r})"
    assert artifact.config.lowercase is True
    out = QueryEncoder(artifact).encode(["CANCER Cells", "cancer cells"])
    assert out.sparse[0].to_dict() == out.sparse[1].to_dict()


def test_build_lowercase_option(tmp_path):
    base = save_tiny_llama(tmp_path / "base", lowercase=False)
    artifact, error = _build(base, tmp_path / "artifact", lowercase=True)
    assert error is None, f"{NORMALIZE_STR_BUG} (got {error!r})"
    assert artifact.config.lowercase is True
    tok = artifact.tokenizer()
    assert tok.encode("CANCER", add_special_tokens=False).ids == tok.encode("cancer", add_special_tokens=False).ids
    assert tok.token_to_id("<unk>") not in tok.encode("CANCER", add_special_tokens=False).ids


def test_build_without_lowercase_keeps_case(tmp_path):
    base = save_tiny_llama(tmp_path / "base", lowercase=False)
    artifact, error = _build(base, tmp_path / "artifact")
    assert error is None, repr(error)
    assert artifact.config.lowercase is False
    tok = artifact.tokenizer()
    assert tok.encode("CANCER", add_special_tokens=False).ids == [tok.token_to_id("<unk>")]
