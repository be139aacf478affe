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


@pytest.mark.slow
def test_damaged_document_weights_from_the_cli(tiny, tmp_path):
    _truncate(tiny / "model" / "model.safetensors")
    assert_cli_error(run_cli("encode", str(tiny), "-d", "the cancer", check=False), "model.safetensors")


def test_token_weights_with_nan_are_refused(tiny):
    """A NaN query weight would give every query holding that token NaN sparse scores."""
    from lightretriever.components import QueryEncoder
    from safetensors.numpy import save_file

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


def test_symlinked_tokenizer_out_of_the_artifact_is_refused(tiny):
    outside = tiny.parent / "tokenizer.json"
    shutil.move(tiny / "tokenizer.json", outside)
    (tiny / "tokenizer.json").symlink_to(outside)
    with pytest.raises(ArtifactError, match=r"tokenizer.json 'tokenizer.json' points outside the artifact"):
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


# -- 1. a replaced document model never passes as the old one ---------------------------------------

def _edit_weights_in_place(file: Path, keep_mtime: bool) -> None:
    """Change tensor bytes in place: same inode, same size; optionally the old mtime put back (`touch -r`)."""
    before = os.stat(file)
    with open(file, "r+b") as handle:
        header = int.from_bytes(handle.read(8), "little")
        handle.seek(8 + header + 64)  # inside the first tensor's data
        chunk = handle.read(256)
        handle.seek(8 + header + 64)
        handle.write(bytes(b ^ 0x5A for b in chunk))
    if keep_mtime:
        os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(file)
    assert (after.st_ino, after.st_size) == (before.st_ino, before.st_size)
    assert not keep_mtime or after.st_mtime_ns == before.st_mtime_ns


@pytest.mark.parametrize("keep_mtime", [False, True], ids=["rewritten", "rewritten-mtime-restored"])
def test_weights_rewritten_in_place_after_a_verified_load_are_refused(tiny, keep_mtime):
    """The digest cache must not vouch for bytes that changed under an unchanged path/inode/size/mtime."""
    document_encoder(tiny)  # verified once: the cache now holds this version of the files
    _edit_weights_in_place(tiny / "model" / "model.safetensors", keep_mtime)
    with pytest.raises(ArtifactError, match="do not match the digest recorded.*changed since.*lightretriever build"):
        document_encoder(tiny)


def test_a_verified_load_is_cached_and_a_recheck_rehashes(tiny, monkeypatch):
    from lightretriever.components import fingerprint

    artifact = Artifact.load(tiny, need_document_model=True)
    fingerprint.verify_document_weights(artifact)
    hashed = []
    monkeypatch.setattr(fingerprint, "weights_digest", lambda a: hashed.append(a) or a.config.document_weights_digest)
    fingerprint.verify_document_weights(artifact)
    assert hashed == []  # the second start reads no weight byte
    fingerprint.verify_document_weights(artifact, recheck=True)
    assert len(hashed) == 1


def _another_tiny_llama(tmp_path: Path) -> Path:
    from conftest import save_tiny_llama

    return save_tiny_llama(tmp_path / "other-llama", seed=7)


def test_another_model_with_the_same_size_is_refused(tiny, tmp_path):
    other = _another_tiny_llama(tmp_path) / "model.safetensors"
    assert other.stat().st_size == (tiny / "model" / "model.safetensors").stat().st_size
    shutil.copyfile(other, tiny / "model" / "model.safetensors")
    with pytest.raises(ArtifactError, match="do not match the digest"):
        document_encoder(tiny)


def test_an_added_weight_shard_is_refused(tiny):
    shutil.copyfile(tiny / "model" / "model.safetensors", tiny / "model" / "model-extra.safetensors")
    with pytest.raises(ArtifactError, match="do not match the digest.*model-extra.safetensors"):
        document_encoder(tiny)


@pytest.mark.parametrize("key, value", [("hidden_size", 32), ("num_hidden_layers", 1),
                                        ("architectures", ["MistralForCausalLM"])])
def test_a_changed_model_config_is_refused(tiny, key, value):
    file = tiny / "model" / "config.json"
    config = json.loads(file.read_text())
    config[key] = value
    file.write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match="do not match the digest"):
        document_encoder(tiny)


def test_a_pickle_beside_the_safetensors_is_never_loaded(tiny, tiny_llama_artifact):
    """`pytorch_model.bin` is not read (safetensors only), so it changes nothing and is not refused."""
    import torch

    reference = document_encoder(tiny).encode(DOCS, show_progress=False).dense
    torch.save({"model.embed_tokens.weight": torch.zeros(43, 64)}, tiny / "model" / "pytorch_model.bin")
    assert np.array_equal(document_encoder(tiny).encode(DOCS, show_progress=False).dense, reference)


def test_a_replaced_tokenizer_changes_the_fingerprint(tiny, tiny_llama_artifact):
    """The tokenizer is hashed into the fingerprint itself: an index of the old one refuses the new one."""
    file = tiny / "tokenizer.json"
    tokenizer = json.loads(file.read_text())
    vocab = tokenizer["model"]["vocab"]
    vocab["cancer"], vocab["cell"] = vocab["cell"], vocab["cancer"]  # same size, other ids
    file.write_text(json.dumps(tokenizer))
    assert Artifact.load(tiny).document_fingerprint() != tiny_llama_artifact.document_fingerprint()


def _shard(tiny: Path) -> Path:
    """The tiny artifact's model saved as two shards + index, its digest recorded (a genuine sharded build)."""
    from lightretriever.components.fingerprint import weights_digest
    from safetensors.torch import load_file, save_file

    model = tiny / "model"
    tensors = load_file(str(model / "model.safetensors"))
    names = sorted(tensors)
    halves = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    for shard, keys in halves.items():
        save_file({k: tensors[k] for k in keys}, str(model / shard), metadata={"format": "pt"})
    (model / "model.safetensors").unlink()
    index = {"metadata": {}, "weight_map": {k: shard for shard, keys in halves.items() for k in keys}}
    (model / "model.safetensors.index.json").write_text(json.dumps(index))
    edit_json(tiny, _set("document_weights_digest", weights_digest(Artifact.load(tiny, need_document_model=True))))
    return model / "model.safetensors.index.json"


def test_a_sharded_model_loads_with_its_recorded_digest(tiny, tiny_llama_artifact):
    from lightretriever.components import DocumentEncoder

    _shard(tiny)
    expected = DocumentEncoder(tiny_llama_artifact, device="cpu", dtype="float32").encode(DOCS, show_progress=False)
    assert np.allclose(document_encoder(tiny).encode(DOCS, show_progress=False).dense, expected.dense, atol=1e-6)


@pytest.mark.parametrize("edit", ["shard dropped", "escaping shard"])
def test_an_edited_shard_index_is_refused(tiny, tmp_path, edit):
    """A shard dropped from the index would leave its weights randomly initialised; a `../` name would load
    a file outside the artifact. Neither file is hashed into the digest, so the index itself is checked."""
    index_file = _shard(tiny)
    index = json.loads(index_file.read_text())
    for name, shard in index["weight_map"].items():
        if shard.startswith("model-00002"):
            index["weight_map"][name] = ("model-00001-of-00002.safetensors" if edit == "shard dropped"
                                         else "../../outside.safetensors")
    index_file.write_text(json.dumps(index))
    with pytest.raises(ArtifactError, match=r"model.safetensors.index.json: the shard index names"):
        document_encoder(tiny)


LOADERS = ["export-table", "train base (load_backbone)", "haystack document embedder", "llama-index embedding"]


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.slow
def test_every_loader_of_document_weights_refuses_replaced_weights(tiny, tmp_path, loader):
    shutil.copyfile(_another_tiny_llama(tmp_path) / "model.safetensors", tiny / "model" / "model.safetensors")
    if loader == "export-table":
        assert_cli_error(run_cli("export-table", str(tiny), "--name", "other", check=False), "do not match the digest")
        return
    with pytest.raises(ArtifactError, match="do not match the digest"):
        if loader == "train base (load_backbone)":
            from lightretriever.components.backbones import (
                load_backbone,  # what train's _trainable_backbone calls
            )

            load_backbone(Artifact.load(tiny, need_document_model=True), "cpu")
        elif loader == "haystack document embedder":
            from lightretriever.components.haystack import (
                LightRetrieverDocumentEmbedder,
            )

            LightRetrieverDocumentEmbedder(model=str(tiny), device="cpu").warm_up()
        else:
            from lightretriever.components.llama_index import LightRetrieverEmbedding

            LightRetrieverEmbedding(model_name=str(tiny), device="cpu").get_text_embedding("the cancer")


def _corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": str(i), "text": t}) + "\n" for i, t in enumerate(DOCS)))
    return corpus


@pytest.mark.slow
def test_index_refuses_replaced_weights_and_writes_nothing(tiny, tmp_path):
    """`lightretriever index` of the tampered copy into a collection the original wrote: refused, count unchanged."""
    corpus, store = _corpus(tmp_path), tmp_path / "store"
    original = tmp_path / "original"
    shutil.copytree(tiny, original)
    run_cli("index", str(original), "--corpus", str(corpus), "--store", str(store), "--collection", "c")
    _edit_weights_in_place(tiny / "model" / "model.safetensors", keep_mtime=True)
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"_id": "new", "text": "the brain of mice"}) + "\n")
    assert_cli_error(run_cli("index", str(tiny), "--corpus", str(more), "--store", str(store), "--collection", "c",
                             check=False), "do not match the digest")
    from lightretriever.components import QdrantHybridStore

    with QdrantHybridStore.from_location(str(store), "c") as opened:
        assert opened.count() == len(DOCS)


@pytest.mark.slow
def test_encode_corpus_refuses_replaced_weights(tiny, tmp_path):
    _edit_weights_in_place(tiny / "model" / "model.safetensors", keep_mtime=False)
    assert_cli_error(run_cli("encode-corpus", str(tiny), "--corpus", str(_corpus(tmp_path)), "--out",
                             str(tmp_path / "vectors.safetensors"), check=False), "do not match the digest")


# -- 3. the real encoder (MiniLM): damage on the document side -------------------------------------

MINILM_DAMAGES = {
    "model.safetensors truncated": (lambda root: _truncate(root / "model" / "model.safetensors"), "model.safetensors"),
    "model.safetensors empty": (lambda root: _empty(root / "model" / "model.safetensors"), "model.safetensors"),
    "config.json not JSON": (lambda root: (root / "model" / "config.json").write_text('{"hidden_size": 3'),
                             "config.json is not valid JSON"),
    "pad_id out of vocabulary": (lambda root: edit_json(root, _set("special_tokens.pad_id", 999999)),
                                 "special_tokens.pad_id is 999999"),
}


@pytest.mark.parametrize("damage", sorted(MINILM_DAMAGES))
def test_damaged_minilm_document_side(minilm_artifact, tmp_path, home, damage):
    root = Path(shutil.copytree(minilm_artifact.root, tmp_path / "minilm"))
    apply, fragment = MINILM_DAMAGES[damage]
    apply(root)
    from lightretriever.components import DocumentEncoder

    with pytest.raises(ArtifactError, match=fragment):
        DocumentEncoder.from_pretrained(root, device="cpu")
    assert_cli_error(run_cli("encode", str(root), "-d", "Aspirin lowers the risk of stroke.", check=False), fragment)
