"""The artifact directory: round trip, and an error naming the broken part for each kind of damage."""

import json

import numpy as np
import pytest

from lightretriever.components import Artifact, ArtifactConfig, ArtifactError, QueryEncoder
from lightretriever.components.tables import save_table
from query_artifacts import edit_config, make_query_artifact


@pytest.fixture
def artifact(tmp_path):
    return make_query_artifact(tmp_path / "art")[0]


def test_config_round_trips_through_json(artifact):
    data = json.loads(artifact.config.to_json())
    assert ArtifactConfig.from_dict(data) == artifact.config
    assert data["format_version"] == 1 and data["tables"]["default"]["dtype"] == "float32"


def test_missing_directory_points_to_build(tmp_path):
    with pytest.raises(ArtifactError, match="does not exist.*lightretriever build"):
        Artifact.load(tmp_path / "nope")


def test_directory_without_config(tmp_path):
    with pytest.raises(ArtifactError, match="lightretriever.json is missing"):
        Artifact.load(tmp_path)


def test_damaged_json(artifact):
    (artifact.root / "lightretriever.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        Artifact.load(artifact.root)


def test_unknown_format_version(artifact):
    edit_config(artifact.root, format_version=99)
    with pytest.raises(ArtifactError, match="format_version 99 is not supported"):
        Artifact.load(artifact.root)


def test_missing_tokenizer(artifact):
    (artifact.root / "tokenizer.json").unlink()
    with pytest.raises(ArtifactError, match="tokenizer.json is missing"):
        Artifact.load(artifact.root)


def test_missing_table_file(artifact):
    (artifact.root / "tables/default.safetensors").unlink()
    with pytest.raises(ArtifactError, match="tables/default.safetensors is missing.*export-table"):
        Artifact.load(artifact.root)


def test_table_rows_disagree_with_tokenizer(artifact):
    save_table(artifact.root / "tables/default.safetensors", np.zeros((49152, 16), np.float32), "float32", "")
    with pytest.raises(ArtifactError, match=r"shape \[49152, 16\].*30522 tokens.*lightretriever export-table"):
        Artifact.load(artifact.root)


def test_vocab_size_disagrees_with_tokenizer(artifact):
    edit_config(artifact.root, vocab_size=49152)
    with pytest.raises(ArtifactError, match="tokenizer has 30522 tokens but lightretriever.json says vocab_size=49152"):
        QueryEncoder.from_pretrained(artifact.root)


def test_table_dim_disagrees_with_config(artifact):
    edit_config(artifact.root, dense_dim=384)
    with pytest.raises(ArtifactError, match=r"shape \[30522, 16\].*\[30522, 384\]"):
        Artifact.load(artifact.root)


def test_table_dtype_disagrees_with_config(artifact):
    save_table(artifact.root / "tables/default.safetensors", np.zeros((30522, 16)), "float16", "")
    with pytest.raises(ArtifactError, match="table dtype F16 but lightretriever.json says float32"):
        Artifact.load(artifact.root)


def test_unknown_default_table(artifact):
    edit_config(artifact.root, default_table="scifact")
    with pytest.raises(ArtifactError, match="default_table 'scifact' is not among tables"):
        Artifact.load(artifact.root)


def test_unknown_table_name(artifact):
    with pytest.raises(ArtifactError, match="no query table named 'fiqa'.*export-table"):
        QueryEncoder(artifact, table="fiqa")


def test_query_side_loads_without_document_weights_but_document_side_does_not(artifact):
    assert Artifact.load(artifact.root).config.dense_dim == 16  # query servers ship without weights
    with pytest.raises(ArtifactError, match="model/ has no config.json; the artifact is truncated"):
        Artifact.load(artifact.root, need_document_model=True)
    (artifact.root / "model").mkdir()
    (artifact.root / "model/config.json").write_text("{}")
    (artifact.root / "model/pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ArtifactError, match="no \\*.safetensors weights.*never pickles"):
        Artifact.load(artifact.root, need_document_model=True)


def test_missing_lora_adapter_files(artifact):
    edit_config(artifact.root, document_model={"path": None, "base": "some/base", "adapter": "adapter"})
    with pytest.raises(ArtifactError, match="adapter/adapter_config.json is missing"):
        Artifact.load(artifact.root, need_document_model=True)


def test_document_model_needs_path_or_base_and_adapter(artifact):
    edit_config(artifact.root, document_model={"path": None, "base": None, "adapter": None})
    with pytest.raises(ArtifactError, match="needs either `path` or both `base` and `adapter`"):
        Artifact.load(artifact.root)
