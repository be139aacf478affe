"""The `lightretriever` command line: export-table, encode, and errors that name the fix."""

import json
import shutil

import numpy as np
import pytest

from conftest import run_cli
from lightretriever.components import Artifact, QueryEncoder
from lightretriever.components.tables import load_table

pytestmark = pytest.mark.slow  # every test here runs the command line (subprocesses) on a built artifact


def test_export_table_adds_a_named_int8_table_and_can_make_it_default(tiny_llama_artifact, tmp_path):
    root = shutil.copytree(tiny_llama_artifact.root, tmp_path / "art")
    run_cli("export-table", str(root), "--name", "cells", "--instruction", "cells of", "--dtype", "int8",
            "--set-default")
    artifact = Artifact.load(root)
    assert artifact.config.default_table == "cells"
    assert artifact.table_spec("cells").dtype == "int8" and artifact.table_spec("cells").instruction == "cells of"
    assert set(artifact.config.tables) == {"default", "cells"}
    table, scale = load_table(artifact.table_file("cells"))
    assert table.dtype == np.int8 and scale.shape == (artifact.config.vocab_size,)
    # the new instruction changes the rows; the query encoder picks the default table
    default = QueryEncoder(artifact, table="default").encode(["cancer risk"]).dense
    cells = QueryEncoder.from_pretrained(root).encode(["cancer risk"]).dense
    assert QueryEncoder.from_pretrained(root).table_name == "cells"
    assert float(default[0] @ cells[0]) < 0.9999


def test_export_table_keeps_instruction_and_dtype_of_the_table_it_replaces(tiny_llama_artifact, tmp_path):
    root = shutil.copytree(tiny_llama_artifact.root, tmp_path / "art")
    before, _ = load_table(Artifact.load(root).table_file())
    run_cli("export-table", str(root), "--method", "naive")
    artifact = Artifact.load(root)
    assert artifact.table_spec().instruction == tiny_llama_artifact.table_spec().instruction
    after, _ = load_table(artifact.table_file())
    np.testing.assert_allclose(after, before, atol=1e-4)  # naive re-export == the build's prefix-KV rows


def test_encode_json_output(tiny_llama_artifact):
    out = json.loads(run_cli("encode", str(tiny_llama_artifact.root), "-q", "cancer risk", "-q", "",
                             "-d", "cancer cells", "-d", "white matter", "--json").stdout)
    assert [q["text"] for q in out["queries"]] == ["cancer risk", ""]
    assert out["queries"][0]["dense_norm"] == pytest.approx(1.0, abs=1e-5)
    assert out["queries"][1] == {**out["queries"][1], "dense_norm": 0.0, "sparse": {}}
    assert len(out["queries"][0]["dense_scores"]) == 2 and out["queries"][0]["sparse_scores"][0] > 0
    assert out["queries"][1]["dense_scores"] == [0.0, 0.0] and out["queries"][1]["sparse_scores"] == [0.0, 0.0]


def test_errors_name_the_problem_and_exit_2(tmp_path):
    missing = run_cli("encode", str(tmp_path / "nope"), "-q", "x", check=False)
    assert missing.returncode == 2
    assert "does not exist; create one with `lightretriever build" in missing.stderr
    assert "Traceback" not in missing.stderr
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "file").write_text("x")
    occupied = run_cli("build", "some/base", str(tmp_path / "occupied"), check=False)
    assert occupied.returncode == 2 and "--overwrite" in occupied.stderr
