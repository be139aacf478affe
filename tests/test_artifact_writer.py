"""ArtifactWriter: an artifact folder appears whole or not at all, and an existing one is replaced only on request."""

from __future__ import annotations

import dataclasses

import pytest

from lightretriever.components.artifact import Artifact
from lightretriever.components.errors import ArtifactError
from lightretriever.training.artifact_writer import ArtifactWriter
from query_artifacts import make_query_artifact


@pytest.fixture
def source(tmp_path):
    artifact, _ = make_query_artifact(tmp_path / "source")
    return artifact


def _write(source: Artifact, out, overwrite: bool = False, provenance: dict | None = None) -> ArtifactWriter:
    with ArtifactWriter(out, overwrite=overwrite) as writer:
        writer.copy_tree(source.root)
        writer.write_config(dataclasses.replace(source.config, provenance=provenance or {}))
    return writer


def test_a_written_artifact_loads_and_no_staging_folder_is_left(source, tmp_path):
    writer = _write(source, tmp_path / "out", provenance={"written": "by the writer"})
    assert Artifact.load(tmp_path / "out").config.provenance == {"written": "by the writer"}
    assert not writer.root.exists() and writer.root.name == "out.partial"


def test_a_failure_inside_the_block_leaves_neither_out_nor_partial(source, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="interrupted"):
        with ArtifactWriter(out) as writer:
            writer.copy_tree(source.root)
            raise RuntimeError("interrupted")
    assert not out.exists() and not (tmp_path / "out.partial").exists()


def test_a_failure_while_overwriting_leaves_the_old_artifact_untouched(source, tmp_path):
    _write(source, tmp_path / "out", provenance={"generation": 1})
    with pytest.raises(RuntimeError):
        with ArtifactWriter(tmp_path / "out", overwrite=True):
            raise RuntimeError("interrupted")
    assert Artifact.load(tmp_path / "out").config.provenance == {"generation": 1}
    assert not (tmp_path / "out.partial").exists()


def test_an_existing_out_is_refused_without_overwrite(source, tmp_path):
    _write(source, tmp_path / "out")
    with pytest.raises(ArtifactError, match="already exists.*--overwrite"):
        ArtifactWriter(tmp_path / "out").check_target()
    with pytest.raises(ArtifactError, match="--overwrite"):
        _write(source, tmp_path / "out")
    assert not (tmp_path / "out.partial").exists()


def test_an_out_that_appears_meanwhile_is_refused_at_publish(source, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ArtifactError, match="already exists"):
        with ArtifactWriter(out) as writer:
            writer.copy_tree(source.root)
            out.mkdir()
            (out / "someone-else.txt").write_text("mine")
    assert (out / "someone-else.txt").read_text() == "mine" and not writer.root.exists()


def test_overwrite_replaces_out_whole(source, tmp_path):
    out = tmp_path / "out"
    _write(source, out, provenance={"generation": 1})
    (out / "stale.txt").write_text("from the old artifact")
    _write(source, out, overwrite=True, provenance={"generation": 2})
    assert Artifact.load(out).config.provenance == {"generation": 2}
    assert not (out / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "source"]


def test_an_empty_out_folder_is_not_an_artifact_and_is_replaced(source, tmp_path):
    (tmp_path / "out").mkdir()
    _write(source, tmp_path / "out")
    Artifact.load(tmp_path / "out")


def test_a_stale_partial_from_an_interrupted_run_is_cleared(source, tmp_path):
    (tmp_path / "out.partial").mkdir()
    (tmp_path / "out.partial" / "half-written.bin").write_bytes(b"\0")
    _write(source, tmp_path / "out")
    assert not (tmp_path / "out" / "half-written.bin").exists()


def test_a_config_the_loader_would_refuse_is_never_written(source, tmp_path):
    with pytest.raises(ArtifactError):
        with ArtifactWriter(tmp_path / "out") as writer:
            writer.write_config(dataclasses.replace(source.config, default_table="missing"))
    assert not (tmp_path / "out").exists() and not writer.root.exists()


def test_link_file_shares_the_bytes(source, tmp_path):
    with ArtifactWriter(tmp_path / "out") as writer:
        writer.copy_tree(source.root)
        writer.link_file(source.tokenizer_file, "model/tokenizer-copy.json")
    copied = tmp_path / "out" / "model" / "tokenizer-copy.json"
    assert copied.read_bytes() == source.tokenizer_file.read_bytes()
