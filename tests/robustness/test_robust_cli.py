"""Issue 13, the command line: a user's mistake is exit 2 and one `error:` line (never a traceback), a
bad corpus is refused before the model loads or a collection is made, numbers outside their range stop
at argparse, Ctrl-C says what was kept, and a closed pipe ends quietly. Real CLI, real MiniLM build."""

from __future__ import annotations

import gzip
import json
import re
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import nested_dict, run_cli
from lightretriever.components.store import QdrantHybridStore
from lightretriever.pipelines.cli import main

SCIFACT = Path(__file__).resolve().parents[2] / "data" / "scifact" / "corpus.jsonl.gz"


def scifact_rows(n: int) -> list[bytes]:
    with gzip.open(SCIFACT, "rb") as handle:
        return [next(handle).rstrip(b"\n") for _ in range(n)]


def write(path: Path, rows: list[bytes]) -> Path:
    data = b"\n".join(rows) + b"\n"
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def one_error(result: subprocess.CompletedProcess) -> str:
    """The single `error:` line of a refused command (exit 2, no traceback)."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-2000:]
    return errors[0]


def index(artifact, corpus: Path, store: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_cli("index", str(artifact.root), "--corpus", str(corpus), "--store", str(store), "--collection", "c",
                   *extra, check=False)


# -- a bad corpus is refused before the model loads and before the collection exists ----------------------

def latin1_corpus(path: Path) -> Path:
    rows = scifact_rows(40)
    rows[20] = rows[20].replace(b'"text": "', b'"text": "caf\xe9 ', 1)
    return write(path, rows)


def lone_surrogate_corpus(path: Path) -> Path:
    rows = scifact_rows(10)
    rows[5] = rb'{"_id": "x5", "text": "bad \ud800 here"}'
    return write(path, rows)


def truncated_gzip_corpus(path: Path) -> Path:
    data = gzip.compress(b"\n".join(scifact_rows(40)) + b"\n")
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("make,name,message", [
    (latin1_corpus, "c.jsonl", r"c\.jsonl:21: byte 0xe9 .* is not UTF-8; re-encode .* `iconv -f latin1 -t utf-8"),
    (lone_surrogate_corpus, "c.jsonl", r"c\.jsonl:6: field text holds a lone surrogate escape"),
    (truncated_gzip_corpus, "c.jsonl.gz", r"c\.jsonl\.gz:\d+: the \.gz file is damaged, truncated or not gzip"),
    (None, "missing.jsonl", r"corpus file .*missing\.jsonl does not exist"),
])
@pytest.mark.slow
def test_index_refuses_a_bad_corpus_before_anything_is_loaded_or_made(minilm_artifact, tmp_path, make, name, message):
    """Before: UnicodeDecodeError after 16 documents were written / a tokenizer TypeError / EOFError /
    FileNotFoundError after the model loaded, with an empty collection left behind."""
    corpus = make(tmp_path / name) if make else tmp_path / name
    result = index(minilm_artifact, corpus, tmp_path / "store")
    assert re.search(message, one_error(result))
    assert not (tmp_path / "store").exists()  # no collection created, nothing written
    assert "Loading weights" not in result.stderr  # the model was never loaded


@pytest.mark.slow
def test_encode_corpus_checks_corpus_and_out_before_the_model(minilm_artifact, tmp_path):
    corpus = latin1_corpus(tmp_path / "c.jsonl")
    result = run_cli("encode-corpus", str(minilm_artifact.root), "--corpus", str(corpus), "--out",
                     str(tmp_path / "v.safetensors"), check=False)
    assert "c.jsonl:21: byte 0xe9" in one_error(result) and "Loading weights" not in result.stderr
    good = write(tmp_path / "good.jsonl", scifact_rows(2))
    result = run_cli("encode-corpus", str(minilm_artifact.root), "--corpus", str(good), "--out", str(tmp_path),
                     check=False)
    assert "is a directory; pass a file name" in one_error(result)
    result = run_cli("encode-corpus", str(minilm_artifact.root), "--corpus", str(good), "--out",
                     str(good / "v.safetensors"), check=False)
    assert "good.jsonl is a file, not a directory" in one_error(result)


@pytest.mark.slow
def test_adapt_reports_a_bad_corpus_line(minilm_artifact, tmp_path):
    corpus = latin1_corpus(tmp_path / "c.jsonl")
    result = run_cli("adapt", str(minilm_artifact.root), "--corpus", str(corpus), "--out", str(tmp_path / "a"),
                     check=False)
    assert "c.jsonl:21: byte 0xe9" in one_error(result)
    assert not (tmp_path / "a").exists()
    queries = tmp_path / "q.txt"
    queries.write_bytes(b"heart disease\nna\xefve query\n")
    result = run_cli("adapt", str(minilm_artifact.root), "--corpus", str(write(tmp_path / "ok.jsonl", scifact_rows(3))),
                     "--queries", str(queries), "--out", str(tmp_path / "a"), check=False)
    assert "q.txt:2: byte 0xef" in one_error(result)
    assert not (tmp_path / "a").exists()


# -- numbers outside their range stop at the command line ------------------------------------------------

@pytest.mark.parametrize("argv,flag", [
    (["index", "ART", "--corpus", "C", "--store", "S", "--limit", "-1"], "--limit"),
    (["index", "ART", "--corpus", "C", "--store", "S", "--limit", "0"], "--limit"),
    (["index", "ART", "--corpus", "C", "--store", "S", "--batch-size", "0"], "--batch-size"),
    (["index", "ART", "--corpus", "C", "--store", "S", "--batch-size", "-5"], "--batch-size"),
    (["index", "ART", "--corpus", "C", "--store", "S", "--shard-number", "0"], "--shard-number"),
    (["search", "ART", "q", "--store", "S", "-k", "0"], "-k"),
    (["search", "ART", "q", "--store", "S", "-k", "-1"], "-k"),
    (["search", "ART", "q", "--store", "S", "--prefetch", "0"], "--prefetch"),
    (["search", "ART", "q", "--store", "S", "--rrf-k", "-1"], "--rrf-k"),
    (["search", "ART", "q", "--store", "S", "--weights", "nan,1"], "--weights"),
    (["search", "ART", "q", "--store", "S", "--filter", "{bad"], "--filter"),
    (["encode-corpus", "ART", "--corpus", "C", "--out", "O", "--batch-size", "0"], "--batch-size"),
    (["export-table", "ART", "--batch-size", "0"], "--batch-size"),
    (["evaluate", "ART", "--dataset", "D", "--max-queries", "0"], "--max-queries"),
    (["evaluate", "ART", "--dataset", "D", "--batch-size", "-1"], "--batch-size"),
    (["build", "B", "O", "--max-query-length", "0"], "--max-query-length"),
    (["build", "B", "O", "--sparse-top-k", "-1"], "--sparse-top-k"),
    (["build", "B", "O", "--sparse-threshold", "nan"], "--sparse-threshold"),
    (["adapt", "B", "--corpus", "C", "--out", "O", "--epochs", "0"], "--epochs"),
    (["adapt", "B", "--corpus", "C", "--out", "O", "--learning-rate", "nan"], "--learning-rate"),
    (["adapt", "B", "--corpus", "C", "--out", "O", "--pseudo-queries", "-1"], "--pseudo-queries"),
    (["train", "B", "--data", "D", "--out", "O", "--batch-size", "0"], "--batch-size"),
    (["train", "B", "--data", "D", "--out", "O", "--warmup-ratio", "1.5"], "--warmup-ratio"),
    (["train", "B", "--data", "D", "--out", "O", "--dense-temperature", "0"], "--dense-temperature"),
    (["train", "B", "--data", "D", "--out", "O", "--flops-weight", "-1"], "--flops-weight"),
])
def test_meaningless_numbers_are_refused_by_argparse(argv, flag, capsys):
    """Before: `--batch-size 0` indexed nothing and exited 0, `--limit -1` crashed in islice."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert f"error: argument {flag}" in capsys.readouterr().err


@pytest.mark.slow
def test_index_limit_minus_one_through_the_installed_command(minilm_artifact, tmp_path):
    corpus = write(tmp_path / "c.jsonl", scifact_rows(3))
    result = index(minilm_artifact, corpus, tmp_path / "store", "--limit", "-1")
    assert result.returncode == 2 and "argument --limit: must be a positive integer, got -1" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "store").exists()


# -- queries that are not text ---------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["search", "encode"])
@pytest.mark.slow
def test_non_utf8_query_bytes_are_one_error_line(minilm_artifact, tmp_path, command):
    """A non-UTF-8 byte on the command line reaches Python as a lone surrogate (surrogateescape);
    subprocess encodes "\\udce9" back to the byte 0xe9. Before: TypeError: TextEncodeInput..."""
    query = "caf\udce9 cancer"
    argv = ([command, str(minilm_artifact.root), query, "--store", str(tmp_path / "store")] if command == "search"
            else [command, str(minilm_artifact.root), "-q", query])
    error = one_error(run_cli(*argv, check=False))
    assert "query 0 is not valid Unicode text: byte 0xe9 that is not UTF-8 at character 3" in error
    assert not (tmp_path / "store").exists()  # refused before a store was opened (no .lock left)


# -- an indexed collection: empty documents, payload line numbers, a closed pipe ----------------------------

@pytest.fixture(scope="module")
def indexed(minilm_artifact, tmp_path_factory):
    root = tmp_path_factory.mktemp("robust-cli")
    rows = scifact_rows(12)
    rows[3] = b'{"_id": "e3", "title": "only a title"}'
    rows[7] = b'{"_id": "e7", "text": ""}'
    corpus = write(root / "c.jsonl", rows)
    return root, corpus, index(minilm_artifact, corpus, root / "store", "--json")


@pytest.mark.slow
def test_documents_without_text_are_counted_and_warned_once(indexed):
    """Before: indexed empty, without a word."""
    root, corpus, result = indexed
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"read": 12, "written": 12, "skipped": 0, "count": 12, "empty": 2}
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "2 documents have no text" in warnings[0]
    assert f"{corpus}:4 (id 'e3')" in warnings[0] and f"{corpus}:8 (id 'e7')" in warnings[0]


@pytest.mark.slow
def test_a_closed_pipe_ends_quietly(minilm_artifact, indexed):
    """`lightretriever search ... | head -1`: before, a BrokenPipeError traceback."""
    root, _, _ = indexed
    process = subprocess.Popen([str(Path(sys.executable).parent / "lightretriever"), "search",
                                str(minilm_artifact.root), "cancer cells", "--store", str(root / "store"),
                                "--collection", "c", "-k", "12"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before the first line
    stderr = process.stderr.read().decode()
    process.wait(timeout=120)
    assert process.returncode == 141 and stderr == ""


@pytest.mark.slow
def test_deep_metadata_names_the_corpus_line_and_the_collection_still_serves(minilm_artifact, tmp_path):
    rows = scifact_rows(10)
    rows[6] = json.dumps({"_id": "deep", "text": "x", "metadata": nested_dict(40)}).encode()
    corpus = write(tmp_path / "c.jsonl", rows)
    error = one_error(index(minilm_artifact, corpus, tmp_path / "store", "--batch-size", "4"))
    assert f"{corpus}:7: document 'deep', field meta.a.a" in error and "rerun with --resume" in error
    with QdrantHybridStore(tmp_path / "store", collection="c") as store:
        assert store.count() == 4  # the batch before it; the rest was never written
    hits = json.loads(run_cli("search", str(minilm_artifact.root), "cells", "--store", str(tmp_path / "store"),
                              "--collection", "c", "-k", "3", "--json").stdout)["hits"]
    assert len(hits) == 3


# -- the environment: paths, permissions, Ctrl-C --------------------------------------------------------------

@pytest.mark.slow
def test_a_store_path_under_a_file_is_one_error_line(minilm_artifact, tmp_path):
    corpus = write(tmp_path / "c.jsonl", scifact_rows(2))
    error = one_error(index(minilm_artifact, corpus, corpus / "store"))
    assert "Not a directory" in error and "check the path" in error


@pytest.mark.slow
def test_evaluate_checks_its_json_output_before_evaluating(minilm_artifact, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    started = time.perf_counter()
    result = run_cli("evaluate", str(minilm_artifact.root), "--dataset", str(SCIFACT.parent), "--json",
                     str(blocker / "out" / "r.json"), check=False)
    assert "--json" in one_error(result) and "is a file, not a directory" in result.stderr
    assert time.perf_counter() - started < 60  # refused up front, not after a whole evaluation


@pytest.mark.slow
def test_ctrl_c_while_indexing_says_what_was_kept_and_resume_finishes(minilm_artifact, tmp_path):
    corpus = write(tmp_path / "c.jsonl", scifact_rows(64))
    command = [str(Path(sys.executable).parent / "lightretriever"), "index", str(minilm_artifact.root), "--corpus",
               str(corpus), "--store", str(tmp_path / "store"), "--collection", "c", "--batch-size", "4"]
    # the bar, not the 30-second log lines of a non-terminal: the test waits for its counts to send Ctrl-C
    env = {**os.environ, "LIGHTRETRIEVER_PROGRESS": "bar"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: process.stderr.read(64), b"")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 300
    while b"written=4" not in b"".join(chunks) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=120)
    reader.join(timeout=10)
    stderr = b"".join(chunks).decode()
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    assert stderr.rstrip().splitlines()[-1] == ("interrupted: every batch written so far is stored; rerun the same "
                                                "command with --resume to continue")
    resumed = subprocess.run(command + ["--resume", "--json"], capture_output=True, text=True, check=True)
    report = json.loads(resumed.stdout)
    assert report["count"] == 64 and report["skipped"] >= 4 and report["written"] + report["skipped"] == 64


@pytest.mark.parametrize("fault,code,line", [
    (PermissionError(13, "Permission denied", "/srv/store"), 2,
     "error: Permission denied: /srv/store; check the path, its directory and their permissions"),
    (KeyboardInterrupt(), 130, "interrupted"),
])
def test_faults_of_the_environment_are_one_line(monkeypatch, capsys, fault, code, line):
    """Running as root here, a real permission error cannot be made (root reads everything): the command
    itself raises it, as the engine does on a store directory the user may not write."""
    import lightretriever.pipelines.commands.search as search_command

    def raise_fault(args):
        raise fault

    monkeypatch.setattr(search_command, "run", raise_fault)
    assert main(["search", "ART", "query", "--store", "S"]) == code
    assert capsys.readouterr().err.splitlines() == [line]
