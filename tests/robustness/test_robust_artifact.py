"""Issue 13, artifact slice: a damaged, tampered or escaping artifact is refused with an ArtifactError that
names the file or field and the fix; never a traceback, never an unrelated encoder passing as the old one.

Cheap cases damage a copy of `tiny_llama_artifact`; the CLI cases run `lightretriever encode` as a user does.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from lightretriever.components import Artifact, ArtifactError
from lightretriever.components.artifact import CONFIG_NAME

DOCS = ["the cancer cells increases", "stress protein of the brain"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private $LIGHTRETRIEVER_HOME (the weights-digest cache lives there); subprocesses inherit it."""
    monkeypatch.setenv("LIGHTRETRIEVER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def tiny(tiny_llama_artifact, tmp_path, home) -> Path:
    """A private copy of the tiny Llama artifact, free to damage."""
    return Path(shutil.copytree(tiny_llama_artifact.root, tmp_path / "tiny"))


class Replace:
    """Returned by a change: the whole document becomes `value` (which may be null)."""

    def __init__(self, value):
        self.value = value


def edit_json(root: Path, change) -> None:
    """Apply `change(data)` to lightretriever.json in place (or replace it by a returned `Replace`)."""
    file = root / CONFIG_NAME
    data = json.loads(file.read_text())
    new = change(data)
    file.write_text(json.dumps(new.value if isinstance(new, Replace) else data))


def assert_cli_error(result, fragment: str) -> None:
    """Exit 2, exactly one `error:` line on stderr naming `fragment`, no traceback."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr[-2000:]


def document_encoder(root: Path):
    from lightretriever.components import DocumentEncoder

    return DocumentEncoder(Artifact.load(root, need_document_model=True), device="cpu", dtype="float32")


# -- 3. lightretriever.json: wrong shapes and values -------------------------------------------------

def _set(path: str, value):
    """A change that sets the dotted field `path` (e.g. "sparse.top_k") to `value`."""
    def change(data):
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value
    return change


def _delete(key: str):
    def change(data):
        del data[key]
    return change


CONFIG_CASES = {  # id: (change, fragment the message must contain)
    "top-level list": (lambda d: Replace([]), "a JSON object"),
    "top-level null": (lambda d: Replace(None), "a JSON object"),
    "top-level string": (lambda d: Replace("artifact"), "a JSON object"),
    "tables as list": (_set("tables", []), "tables"),
    "tables empty": (_set("tables", {}), "tables"),
    "table entry not an object": (_set("tables.default", "tables/default.safetensors"), "tables.default"),
    "table file not a string": (_set("tables.default.file", 7), "tables.default.file"),
    "special_tokens missing": (_delete("special_tokens"), "special_tokens"),
    "special_tokens list": (_set("special_tokens", [1, 2, 0]), "special_tokens"),
    "dense_dim string": (_set("dense_dim", "64"), "dense_dim"),
    "vocab_size float": (_set("vocab_size", 41.0), "vocab_size"),
    "vocab_size bool": (_set("vocab_size", True), "vocab_size"),
    "format_version bool": (_set("format_version", True), "format_version"),
    "max_query_length -1": (_set("max_query_length", -1), "max_query_length"),
    "max_query_length 0": (_set("max_query_length", 0), "max_query_length"),
    "max_document_length 0": (_set("max_document_length", 0), "max_document_length"),
    "pad_id out of vocabulary": (_set("special_tokens.pad_id", 999999), "special_tokens.pad_id"),
    "eos_id out of vocabulary": (_set("special_tokens.eos_id", 43), "special_tokens.eos_id"),
    "bos_id negative": (_set("special_tokens.bos_id", -1), "special_tokens.bos_id"),
    "pad_id string": (_set("special_tokens.pad_id", "0"), "special_tokens.pad_id"),
    "top_k negative": (_set("sparse.top_k", -5), "sparse.top_k"),
    "top_k zero": (_set("sparse.top_k", 0), "sparse.top_k"),
    "threshold string": (_set("sparse.threshold", "0.01"), "sparse.threshold"),
    "threshold nan": (_set("sparse.threshold", float("nan")), "sparse.threshold"),
    "threshold negative": (_set("sparse.threshold", -1.0), "sparse.threshold"),
    "table dtype unknown": (_set("tables.default.dtype", "bfloat16"), "bfloat16"),
    "table dtype list": (_set("tables.default.dtype", ["int8"]), "tables.default.dtype"),
    "lowercase string": (_set("lowercase", "yes"), "lowercase"),
    "query_prefix number": (_set("query_prefix", 1), "query_prefix"),
    "document_model list": (_set("document_model", ["model"]), "document_model"),
    "sparse null": (_set("sparse", None), "sparse"),
    "digest not hex": (_set("document_weights_digest", 12), "document_weights_digest"),
    "unknown top-level key": (_set("dense_dimension", 64), "dense_dimension"),
    "unknown table key": (_set("tables.default.fiel", "x"), "tables.default.fiel"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_damaged_config_is_refused_by_load(tiny, case):
    change, fragment = CONFIG_CASES[case]
    edit_json(tiny, change)
    with pytest.raises(ArtifactError, match="lightretriever.json") as info:
        Artifact.load(tiny)
    assert fragment in str(info.value)


CLI_CASES = ["top-level list", "tables as list", "dense_dim string", "max_query_length -1", "pad_id out of vocabulary",
             "top_k negative", "threshold string", "unknown top-level key"]


@pytest.mark.parametrize("case", CLI_CASES)
def test_damaged_config_is_one_error_line_from_the_cli(tiny, case):
    change, fragment = CONFIG_CASES[case]
    edit_json(tiny, change)
    assert_cli_error(run_cli("encode", str(tiny), "-q", "the cancer", check=False), fragment)


def test_the_undamaged_copy_still_encodes(tiny):
    result = run_cli("encode", str(tiny), "-q", "the cancer", "--json", check=False)
    assert result.returncode == 0, result.stderr


# -- 3. damaged files ------------------------------------------------------------------------------

def _truncate(file: Path) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


def _empty(file: Path) -> None:
    file.write_bytes(b"")


def _random(file: Path) -> None:
    file.write_bytes(np.random.default_rng(0).bytes(4096))


def _huge_header(file: Path) -> None:
    """A header length of ~2**62 bytes: a reader that trusts it would try to allocate it."""
    file.write_bytes((2 ** 62).to_bytes(8, "little") + b"{}")


DAMAGES = {"truncated": _truncate, "empty": _empty, "random bytes": _random, "huge header": _huge_header}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_table_file_is_named(tiny, damage):
    DAMAGES[damage](tiny / "tables" / "default.safetensors")
    with pytest.raises(ArtifactError, match=r"tables/default.safetensors.*export-table"):
        Artifact.load(tiny)


def test_damaged_table_file_from_the_cli(tiny):
    _truncate(tiny / "tables" / "default.safetensors")
    assert_cli_error(run_cli("encode", str(tiny), "-q", "the cancer", check=False), "default.safetensors")


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_damaged_tokenizer_is_named(tiny, damage):
    DAMAGES[damage](tiny / "tokenizer.json")
    with pytest.raises(ArtifactError, match="tokenizer.json"):
        Artifact.load(tiny)


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_document_weights_are_named(tiny, damage):
    DAMAGES[damage](tiny / "model" / "model.safetensors")
    with pytest.raises(ArtifactError, match=r"model/model.safetensors.*lightretriever build"):
        document_encoder(tiny)


def test_damaged_document_weights_without_a_digest_are_named(tiny):
    """No stored digest to compare with: the loader itself must name the file."""
    edit_json(tiny, _set("document_weights_digest", None))
    _truncate(tiny / "model" / "model.safetensors")
    with pytest.raises(ArtifactError, match="model.safetensors"):
        document_encoder(tiny)


def test_model_config_not_json_is_named(tiny):
    (tiny / "model" / "config.json").write_text("{not json")
    with pytest.raises(ArtifactError, match=r"model/config.json.*not valid JSON"):
        Artifact.load(tiny, need_document_model=True)


def test_damaged_document_weights_from_the_cli(tiny, tmp_path):
    _truncate(tiny / "model" / "model.safetensors")
    assert_cli_error(run_cli("encode", str(tiny), "-d", "the cancer", check=False), "model.safetensors")


def test_token_weights_with_nan_are_refused(tiny):
    """A NaN query weight would give every query holding that token NaN sparse scores."""
    from safetensors.numpy import save_file

    from lightretriever.components import QueryEncoder

    weights = np.ones(43, np.float32)
    weights[3] = np.nan
    save_file({"weights": weights}, str(tiny / "tables" / "w.safetensors"))
    edit_json(tiny, _set("tables.default.token_weights", "tables/w.safetensors"))
    with pytest.raises(ArtifactError, match=r"w.safetensors.*finite.*token 3 = nan.*lightretriever adapt"):
        QueryEncoder.from_pretrained(tiny)


# -- 2. paths confined to the artifact --------------------------------------------------------------

def _outside_table(tiny: Path) -> Path:
    """A valid table file outside the artifact (what an escaping path would open)."""
    outside = tiny.parent / "outside.safetensors"
    shutil.copyfile(tiny / "tables" / "default.safetensors", outside)
    return outside


@pytest.mark.parametrize("form", ["absolute", "dotdot"])
def test_table_path_outside_the_artifact_is_refused(tiny, form):
    outside = _outside_table(tiny)
    path = str(outside) if form == "absolute" else "../outside.safetensors"
    edit_json(tiny, _set("tables.default.file", path))
    with pytest.raises(ArtifactError, match=r"tables.default.file .*outside.safetensors.* points outside the artifact"):
        Artifact.load(tiny)


def test_token_weights_path_outside_the_artifact_is_refused(tiny):
    from safetensors.numpy import save_file

    save_file({"weights": np.ones(43, np.float32)}, str(tiny.parent / "weights.safetensors"))
    edit_json(tiny, _set("tables.default.token_weights", "../weights.safetensors"))
    with pytest.raises(ArtifactError, match=r"tables.default.token_weights '../weights.safetensors' points outside"):
        Artifact.load(tiny)


def test_document_model_path_outside_the_artifact_is_refused(tiny, tiny_llama_artifact):
    """Even the query-only load refuses it: the artifact as a whole is not self-contained."""
    edit_json(tiny, _set("document_model.path", str(tiny_llama_artifact.root / "model")))
    with pytest.raises(ArtifactError, match=r"document_model.path .* points outside the artifact"):
        Artifact.load(tiny)


def test_adapter_path_outside_the_artifact_is_refused(tiny, tiny_llama_base):
    edit_json(tiny, _set("document_model", {"path": None, "base": str(tiny_llama_base), "base_gguf_file": None,
                                            "adapter": "../../adapter"}))
    with pytest.raises(ArtifactError, match=r"document_model.adapter '../../adapter' points outside"):
        Artifact.load(tiny)


def test_symlink_out_of_the_artifact_is_refused(tiny):
    table = tiny / "tables" / "default.safetensors"
    outside = _outside_table(tiny)
    table.unlink()
    table.symlink_to(outside)
    with pytest.raises(ArtifactError, match=r"tables.default.file .* points outside the artifact"):
        Artifact.load(tiny)


def test_symlinked_weight_file_out_of_the_artifact_is_refused(tiny, tiny_llama_base):
    weights = tiny / "model" / "model.safetensors"
    weights.unlink()
    weights.symlink_to(tiny_llama_base / "model.safetensors")  # the same bytes, but outside
    with pytest.raises(ArtifactError, match=r"model/model.safetensors.* points outside the artifact"):
        Artifact.load(tiny, need_document_model=True)


def test_symlink_and_hard_link_inside_the_artifact_are_followed(tiny):
    table = tiny / "tables" / "default.safetensors"
    moved = tiny / "tables" / "real.safetensors"
    table.rename(moved)
    table.symlink_to("real.safetensors")
    weights = tiny / "model" / "model.safetensors"
    (tiny / "model.safetensors").hardlink_to(weights)  # what adapt does across artifacts: a link, not a path
    assert Artifact.load(tiny, need_document_model=True).table_file() == table


def test_an_escaping_path_from_the_cli(tiny):
    _outside_table(tiny)
    edit_json(tiny, _set("tables.default.file", "../outside.safetensors"))
    assert_cli_error(run_cli("encode", str(tiny), "-q", "the cancer", check=False), "points outside the artifact")
