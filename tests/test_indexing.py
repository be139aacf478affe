"""`index` and `search`: the corpus reader, idempotent and resumable indexing (a real kill at a random
point), the JSON outputs, and the document-encoder check, with the real MiniLM artifact and engine."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from lightretriever.components.corpus import FieldMap, read_corpus
from lightretriever.components.errors import CorpusError
from lightretriever.components.searcher import HybridSearcher
from lightretriever.components.store import QdrantHybridStore

N_KILL = 96  # documents in the kill-and-resume test: the kill lands within the first ~30
SCIFACT = Path(__file__).resolve().parents[1] / "data" / "scifact" / "corpus.jsonl.gz"


def scifact_slice(path: Path, n: int) -> list[dict]:
    """The first n SciFact abstracts, written to `path` as plain JSONL."""
    with gzip.open(SCIFACT, "rt", encoding="utf-8") as handle:
        rows = [json.loads(next(handle)) for _ in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return rows


def collection_ids(store_dir: Path, collection: str) -> list[str]:
    with QdrantHybridStore(store_dir, collection=collection) as store:
        return [d.id for d in store.iter_documents()]


# -- corpus reader --------------------------------------------------------------------------------
def test_reader_maps_beir_and_other_layouts(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        '{"_id": "1", "title": "T", "text": "body", "metadata": {"year": 2020}}\n'
        "\n"
        '{"id": 2, "contents": "other body", "source": "web"}\n', encoding="utf-8")
    first, second = read_corpus(corpus)
    assert (first.id, first.title, first.text, first.meta) == ("1", "T", "body", {"year": 2020})
    assert first.encoder_text() == "T body"
    assert (second.id, second.text, second.meta) == ("2", "other body", {"source": "web"})
    custom = tmp_path / "custom.jsonl"
    custom.write_text('{"pid": "x", "passage": "p", "title": "t"}\n', encoding="utf-8")
    (doc,) = read_corpus(custom, FieldMap.with_overrides(id_field="pid", text_field="passage"))
    assert (doc.id, doc.text, doc.title, doc.meta) == ("x", "p", "t", {})


def test_reader_reads_gzip():
    docs = list(read_corpus(SCIFACT))
    assert len(docs) == 5183 and len({d.id for d in docs}) == 5183


@pytest.mark.parametrize("line,message", [
    ('{"_id": "1", "text": "ok"}\n{"_id": "2", "text": }\n', r"c.jsonl:2: not valid JSON"),
    ('{"text": "no id"}\n', r"c.jsonl:1: no document id"),
    ('["a list"]\n', r"expected a JSON object"),
    ('{"_id": "1", "text": 5}\n', r"text field is int"),
])
def test_reader_stops_on_bad_lines_with_their_number(tmp_path, line, message):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(line, encoding="utf-8")
    with pytest.raises(CorpusError, match=message):
        list(read_corpus(corpus))


# -- index / search through the command line --------------------------------------------------------
@pytest.fixture(scope="module")
def indexed(minilm_artifact, tmp_path_factory):
    """40 SciFact abstracts indexed once by the CLI."""
    root = tmp_path_factory.mktemp("indexed")
    rows = scifact_slice(root / "corpus.jsonl", 40)
    result = run_cli("index", str(minilm_artifact.root), "--corpus", str(root / "corpus.jsonl"),
                     "--store", str(root / "store"), "--collection", "sci", "--json")
    return root, rows, json.loads(result.stdout)


@pytest.mark.slow
def test_index_reports_counts_and_reindex_is_idempotent(minilm_artifact, indexed):
    root, rows, report = indexed
    assert report == {"read": 40, "written": 40, "skipped": 0, "count": 40}
    again = json.loads(run_cli("index", str(minilm_artifact.root), "--corpus", str(root / "corpus.jsonl"),
                               "--store", str(root / "store"), "--collection", "sci", "--json").stdout)
    assert again == {"read": 40, "written": 40, "skipped": 0, "count": 40}
    resumed = json.loads(run_cli("index", str(minilm_artifact.root), "--corpus", str(root / "corpus.jsonl"),
                                 "--store", str(root / "store"), "--collection", "sci", "--json", "--resume").stdout)
    assert resumed == {"read": 40, "written": 0, "skipped": 40, "count": 40}
    assert sorted(collection_ids(root / "store", "sci")) == sorted(r["_id"] for r in rows)


@pytest.mark.slow
def test_search_json_and_agreement_with_the_python_api(minilm_artifact, indexed):
    root, rows, _ = indexed
    query = rows[3]["title"]
    out = json.loads(run_cli("search", str(minilm_artifact.root), query, "--store", str(root / "store"),
                             "--collection", "sci", "-k", "5", "--json").stdout)
    assert set(out) == {"hits", "encode_ms", "search_ms"}
    assert len(out["hits"]) == 5 and set(out["hits"][0]) == {"id", "score", "title", "text"}
    assert out["hits"][0]["id"] == rows[3]["_id"]  # the document's own title finds it first
    variants = (("hybrid", "rrf"), ("hybrid", "linear"), ("dense", "rrf"), ("sparse", "rrf"))
    from_cli = [[h["id"] for h in json.loads(run_cli(
        "search", str(minilm_artifact.root), query, "--store", str(root / "store"), "--collection", "sci",
        "-k", "5", "--mode", mode, "--fusion", fusion, "--json").stdout)["hits"]] for mode, fusion in variants]
    searcher = HybridSearcher.open(minilm_artifact, root / "store", "sci")  # one open store at a time
    try:
        from_api = [[h.id for h in searcher.search(query, k=5, mode=mode, fusion=fusion).hits]
                    for mode, fusion in variants]
    finally:
        searcher.store.close()
    assert from_cli == from_api
    assert len({tuple(ids) for ids in from_api}) > 1  # the modes really differ


@pytest.mark.slow
def test_search_filter_option(minilm_artifact, indexed):
    root, rows, _ = indexed
    wanted = [rows[0]["_id"], rows[1]["_id"]]
    out = json.loads(run_cli("search", str(minilm_artifact.root), rows[5]["title"], "--store", str(root / "store"),
                             "--collection", "sci", "--json", "--filter",
                             json.dumps({"field": "id", "operator": "in", "value": wanted})).stdout)
    assert sorted(h["id"] for h in out["hits"]) == sorted(wanted)


@pytest.mark.slow
def test_other_document_encoder_is_refused_but_a_retrained_table_is_not(minilm_artifact, indexed, tmp_path):
    root, rows, _ = indexed
    retrained = tmp_path / "retrained"
    shutil.copytree(minilm_artifact.root, retrained)
    from safetensors.numpy import load_file, save_file

    table_file = retrained / minilm_artifact.config.tables["default"].file
    table = load_file(table_file)
    table["table"] = table["table"] + np.float32(0.01)  # a new query table, same document side
    save_file(table, table_file)
    ok = run_cli("search", str(retrained), rows[0]["title"], "--store", str(root / "store"), "--collection", "sci",
                 "--json")
    assert json.loads(ok.stdout)["hits"]

    other = tmp_path / "other"
    shutil.copytree(minilm_artifact.root, other)
    config = json.loads((other / "lightretriever.json").read_text())
    config["pooling"] = "cls"  # a different document encoder
    (other / "lightretriever.json").write_text(json.dumps(config))
    for command in (["search", str(other), "q"], ["index", str(other), "--corpus", str(root / "corpus.jsonl")]):
        refused = run_cli(*command, "--store", str(root / "store"), "--collection", "sci", check=False)
        assert refused.returncode == 2
        assert "was indexed by document encoder" in refused.stderr and "nothing was changed" in refused.stderr
    assert len(collection_ids(root / "store", "sci")) == 40


def test_search_on_a_missing_collection(minilm_artifact, tmp_path):
    result = run_cli("search", str(minilm_artifact.root), "q", "--store", str(tmp_path / "nowhere"),
                     "--collection", "none", check=False)
    assert result.returncode == 2 and "does not exist; index documents first" in result.stderr


@pytest.mark.slow
def test_index_while_another_writer_holds_the_store(minilm_artifact, indexed):
    root, _, _ = indexed
    with QdrantHybridStore(root / "store", collection="sci"):
        result = run_cli("index", str(minilm_artifact.root), "--corpus", str(root / "corpus.jsonl"),
                         "--store", str(root / "store"), "--collection", "sci", check=False)
    assert result.returncode == 2 and "is in use by another open store" in result.stderr


@pytest.mark.slow
def test_duplicate_ids_warn_and_keep_the_last(minilm_artifact, tmp_path):
    corpus = tmp_path / "dup.jsonl"
    corpus.write_text('{"_id": "1", "text": "first"}\n{"_id": "2", "text": "x"}\n{"_id": "1", "text": "second"}\n')
    result = run_cli("index", str(minilm_artifact.root), "--corpus", str(corpus), "--store", str(tmp_path / "s"),
                     "--collection", "d", "--json", "--batch-size", "2")
    assert json.loads(result.stdout)["count"] == 2
    assert "1 documents repeat an earlier id" in result.stderr
    with QdrantHybridStore(tmp_path / "s", collection="d") as store:
        assert store.get(["1"])[0].text == "second"


@pytest.mark.slow
def test_resume_after_a_kill_at_a_random_point(minilm_artifact, tmp_path):
    """Kill -9 the indexer at a random moment after its first batch, resume, and check that the
    collection holds every document exactly once."""
    rows = scifact_slice(tmp_path / "corpus.jsonl", N_KILL)
    command = [sys.executable, "-m", "lightretriever.pipelines.cli", "index", str(minilm_artifact.root),
               "--corpus", str(tmp_path / "corpus.jsonl"), "--store", str(tmp_path / "store"),
               "--collection", "k", "--batch-size", "8"]
    # A pipe gets throttled log lines by default; the watcher reads the bar's per-batch counts.
    bar = {**os.environ, "LIGHTRETRIEVER_PROGRESS": "bar"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=bar)
    progress = _watch_progress(process)
    deadline = time.monotonic() + 300
    while progress["done"] < 8 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(random.uniform(0.0, 2.0))  # a random point after writing started
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the indexer finished before the kill; use a larger corpus"
    before = len(collection_ids(tmp_path / "store", "k"))
    assert 0 < before < N_KILL
    resumed = subprocess.run(command + ["--resume", "--json"], capture_output=True, text=True, check=True)
    report = json.loads(resumed.stdout)
    assert report["read"] == N_KILL and report["count"] == N_KILL
    assert report["skipped"] == before and report["written"] + report["skipped"] == N_KILL
    stored = collection_ids(tmp_path / "store", "k")
    assert len(stored) == len(set(stored)) == N_KILL
    assert set(stored) == {r["_id"] for r in rows}


def _watch_progress(process) -> dict:
    """Read the progress bar lines from the child's stderr on a thread (`done` = documents so far)."""
    state = {"done": 0}

    def read():
        buffer = b""
        while chunk := process.stderr.read(64):
            buffer = (buffer + chunk)[-4096:]
            found = re.findall(rb"indexing:\s+\d+%\|[^|]*\|\s*(\d+)/\d+", buffer)
            if found:
                state["done"] = int(found[-1])

    threading.Thread(target=read, daemon=True).start()
    return state


@pytest.mark.slow
def test_search_path_loads_no_torch(minilm_artifact, indexed):
    root, rows, _ = indexed
    script = (
        "import sys\n"
        "from lightretriever.components import HybridSearcher\n"
        f"s = HybridSearcher.open({str(minilm_artifact.root)!r}, {str(root / 'store')!r}, 'sci')\n"
        f"hits = s.search({rows[2]['title']!r}, k=3).hits\n"
        "s.store.close()\n"
        "print(hits[0].id, 'torch' in sys.modules, 'transformers' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out == [rows[2]["_id"], "False", "False"]
