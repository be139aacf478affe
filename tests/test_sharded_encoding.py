"""Sharded encoding: `encode-corpus` under torchrun writes one shard per rank, `index --vectors` merges them
(pipelines/sharding.py, pipelines/vectors.py), and `index` under several processes writes each rank's share."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SCIFACT_DIR, run_cli
from lightretriever.components.document import StoredDocument
from lightretriever.components.errors import InvalidArgumentError, VectorsError
from lightretriever.components.fingerprint import document_fingerprint
from lightretriever.components.sparse import SparseBatch
from lightretriever.pipelines.sharding import Shard, shard_files, shard_path
from lightretriever.pipelines.vectors import load_vectors, save_vectors

QUERIES = ["vitamin D and bone fractures", "stem cells in the bone marrow", "DNA methylation in cancer",
           "antibiotic resistance of bacteria"]


def _corpus(path: Path, n: int = 40) -> Path:
    with gzip.open(SCIFACT_DIR / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for _, line in zip(range(n), handle)]
    path.write_text("".join(json.dumps({**r, "text": r["text"][:400]}) + "\n" for r in rows))
    return path


# -- the split ----------------------------------------------------------------------------------

def test_the_environment_names_the_shard():
    assert Shard.from_environment({}) == Shard(0, 1, 0)
    assert Shard.from_environment({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Shard(3, 4, 1)
    assert Shard.from_environment({"RANK": "1", "WORLD_SIZE": "2"}).local_rank == 1
    for bad in ({"RANK": "2", "WORLD_SIZE": "2"}, {"RANK": "x", "WORLD_SIZE": "2"}, {"WORLD_SIZE": "0"}):
        with pytest.raises(InvalidArgumentError, match="RANK|WORLD_SIZE"):
            Shard.from_environment(bad)


def test_each_rank_takes_the_gpu_of_its_local_rank(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert [Shard(r, 3, r).device(None) for r in range(3)] == ["cuda:0", "cuda:1", "cuda:0"]
    assert Shard(1, 2, 1).device("cuda") == "cuda:1"
    assert Shard(1, 2, 1).device("cpu") == "cpu" and Shard(1, 2, 1).device("cuda:0") == "cuda:0"
    assert Shard(0, 1).device(None) is None  # a single process: the encoder's own default
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert Shard(1, 2, 1).device(None) is None


def test_the_shards_are_disjoint_and_cover_the_corpus():
    ids = [f"doc-{i}" for i in range(300)]
    owners = [[r for r in range(3) if Shard(r, 3).holds(i)] for i in ids]
    assert all(len(o) == 1 for o in owners)  # each id on exactly one rank, deterministically
    assert all(60 < sum(o == [r] for o in owners) < 140 for r in range(3))  # and roughly balanced
    assert all(Shard(0, 1).holds(i) for i in ids)


def test_each_rank_runs_the_batches_of_a_single_process():
    """encode-corpus's split: a rank's rows, batched again by the encoder, are whole single-process batches."""
    from lightretriever.components.batching import length_sorted_batches

    lengths = np.random.default_rng(0).integers(1, 12, size=103)  # many ties, a partial last batch
    single = [tuple(b) for b in length_sorted_batches(lengths, 8)]
    seen = []
    for rank in range(3):
        rows = Shard(rank, 3).batch_rows(lengths, 8)
        batches = [tuple(rows[b]) for b in length_sorted_batches(lengths[rows], 8)]
        assert batches == single[rank::3]
        seen += list(rows)
    assert sorted(seen) == list(range(103))
    assert len(Shard(5, 6).batch_rows(lengths[:8], 8)) == 0  # fewer batches than ranks: an empty shard


def test_shard_file_names_and_a_missing_shard(tmp_path):
    out = tmp_path / "vectors.safetensors"
    assert shard_path(out, Shard(0, 1)) == out
    assert shard_path(out, Shard(1, 3)).name == "vectors.rank1-of-3.safetensors"
    assert shard_files(out) == []
    for rank in (0, 2):
        shard_path(out, Shard(rank, 3)).write_bytes(b"")
    with pytest.raises(VectorsError, match=r"vectors\.rank1-of-3\.safetensors is missing"):
        shard_files(out)
    shard_path(out, Shard(1, 3)).write_bytes(b"")
    assert [p.name for p in shard_files(out)] == [f"vectors.rank{r}-of-3.safetensors" for r in range(3)]
    shard_path(out, Shard(0, 2)).write_bytes(b"")
    with pytest.raises(VectorsError, match="2 processes, 3 processes"):
        shard_files(out)


# -- merging shard files (synthetic vectors: no model runs) -------------------------------------

def _fake_shards(tmp_path, artifact, n: int = 30, world: int = 2):
    """Shard files as `encode-corpus` under `world` processes writes them, with random vectors."""
    rng = np.random.default_rng(0)
    documents = [StoredDocument(id=f"d{i}", text=f"text number {i}") for i in range(n)]
    out, key = tmp_path / "vectors.safetensors", "corpus-key"
    for rank in range(world):
        shard = Shard(rank, world)
        mine = [d for d in documents if shard.holds(d.id)]
        dense = rng.standard_normal((len(mine), artifact.config.dense_dim)).astype(np.float32)
        sparse = SparseBatch.from_rows([(np.array([i % 50, 60 + i % 7]), np.array([1.0, 0.5])) for i in range(len(mine))])
        save_vectors(shard_path(out, shard), mine, dense, sparse, document_fingerprint(artifact),
                     artifact.config.vocab_size, extra=shard.metadata(key, 32))
    return documents, out


def test_index_vectors_merges_the_shards_and_refuses_mixed_ones(minilm_artifact, tmp_path):
    documents, out = _fake_shards(tmp_path, minilm_artifact)
    merged = load_vectors(out, minilm_artifact)
    assert sorted(merged.ids) == sorted(d.id for d in documents)
    dense, sparse = merged.take(merged.rows_for(documents))
    assert dense.shape == (30, minilm_artifact.config.dense_dim) and len(sparse) == 30
    with pytest.raises(VectorsError, match="one shard of 2"):
        load_vectors(shard_path(out, Shard(1, 2)))
    out.write_bytes(b"")  # a single-process file of another run next to the shards
    with pytest.raises(VectorsError, match="both"):
        load_vectors(out)
    out.unlink()
    other = _fake_shards(tmp_path / "other", minilm_artifact)[1]
    shard_path(other, Shard(1, 2)).replace(shard_path(out, Shard(1, 2)))
    save_vectors(shard_path(out, Shard(0, 2)), documents[:1], np.zeros((1, minilm_artifact.config.dense_dim)),
                 SparseBatch.from_rows([(np.array([1]), np.array([1.0]))]), document_fingerprint(minilm_artifact),
                 minilm_artifact.config.vocab_size, extra=Shard(0, 2).metadata("another-corpus", 32))
    with pytest.raises(VectorsError, match="corpus_key differs"):
        load_vectors(out)


def test_every_rank_writes_its_share_to_a_shared_store(minilm_artifact, tmp_path):
    """What `index --store http://…` does under torchrun, one qdrant-client local store per rank here."""
    from lightretriever.components.store import CollectionSchema, QdrantHybridStore
    from lightretriever.pipelines.indexing import index_corpus

    documents, out = _fake_shards(tmp_path, minilm_artifact)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d.id, "text": d.text}) + "\n" for d in documents))
    vectors, held = load_vectors(out, minilm_artifact), []
    for rank in range(2):
        store = QdrantHybridStore.from_location(":memory:", "c", schema=CollectionSchema.from_artifact(minilm_artifact))
        try:
            report = index_corpus(corpus, store, vectors=vectors, shard=Shard(rank, 2), show_progress=False)
            held.append(report.count)
        finally:
            store.close()
        assert report.read == report.written == report.count
    assert sum(held) == len(documents) and all(held)


def test_index_under_several_processes_refuses_an_embedded_store(minilm_artifact, tmp_path, monkeypatch, capsys):
    from lightretriever.pipelines.cli import main

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"_id": "a", "text": "x"}) + "\n")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["index", str(minilm_artifact.root), "--corpus", str(corpus), "--store", str(tmp_path / "s")]) == 2
    assert "one writer" in capsys.readouterr().err and not (tmp_path / "s").exists()


# -- the acceptance run: two CPU processes under torchrun vs one process ------------------------

def _torchrun_encode(artifact, corpus: Path, out: Path) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # --standalone: torchrun picks a free port (two test runs at once must not collide on a fixed one)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "lightretriever.pipelines.cli", "encode-corpus", str(artifact.root), "--corpus", str(corpus),
               "--out", str(out), "--json", "--device", "cpu"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return sorted((json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")),
                  key=lambda r: r["rank"])


def _search(artifact, store: Path) -> list[list[tuple[str, float]]]:
    from lightretriever.components.searcher import HybridSearcher

    searcher = HybridSearcher.open(artifact.root, store, "c")
    try:
        return [[(h.id, h.score) for h in searcher.search(q).hits] for q in QUERIES]
    finally:
        searcher.store.close()


def _ranking(hits: list[tuple[str, float]]) -> list[frozenset[str]]:
    """Hit ids in rank order, hits whose scores differ by under 1e-6 (relative) as one group."""
    groups: list[set[str]] = []
    for n, (doc_id, score) in enumerate(hits):
        if n and abs(hits[n - 1][1] - score) <= 1e-6 * abs(score):
            groups[-1].add(doc_id)
        else:
            groups.append({doc_id})
    return [frozenset(g) for g in groups]


@pytest.mark.slow
def test_torchrun_encodes_one_shard_per_rank_and_index_merges_them(minilm_artifact, tmp_path):
    corpus = _corpus(tmp_path / "corpus.jsonl")
    out = tmp_path / "sharded" / "vectors.safetensors"
    lines = _torchrun_encode(minilm_artifact, corpus, out)
    assert [(r["rank"], r["world_size"]) for r in lines] == [(0, 2), (1, 2)]
    assert sum(r["documents"] for r in lines) == 40 and all(r["documents"] for r in lines)
    assert not out.exists() and len(shard_files(out)) == 2
    single = tmp_path / "single.safetensors"
    result = run_cli("encode-corpus", str(minilm_artifact.root), "--corpus", str(corpus), "--out", str(single),
                     "--json")
    assert json.loads(result.stdout) == {"rank": 0, "world_size": 1, "documents": 40}

    merged, whole = load_vectors(out, minilm_artifact), load_vectors(single, minilm_artifact)
    assert sorted(merged.ids) == sorted(whole.ids) and len(set(merged.ids)) == 40
    order = np.array([merged.ids.index(i) for i in whole.ids])
    np.testing.assert_array_equal(merged.dense[order], whole.dense)  # bit for bit: the same batches ran
    for a, b in zip(merged.take(order)[1], whole.sparse):
        assert a.to_dict() == b.to_dict()
    for name, vectors in (("sharded", out), ("single", single)):
        run_cli("index", str(minilm_artifact.root), "--corpus", str(corpus), "--vectors", str(vectors), "--store",
                str(tmp_path / name), "--collection", "c")
    sharded_hits, single_hits = _search(minilm_artifact, tmp_path / "sharded"), _search(minilm_artifact, tmp_path / "single")
    for a, b in zip(sharded_hits, single_hits):
        # the same vectors; the engine's fusion sums in its own order, so scores agree to float32 rounding
        # and only hits tied to that rounding may swap places
        assert len(a) == 10 and _ranking(a) == _ranking(b)
        np.testing.assert_allclose(sorted(s for _, s in a), sorted(s for _, s in b), rtol=1e-6)

    # resumable per shard: a finished shard is kept, a missing one is encoded again
    kept = shard_files(out)[0].stat().st_mtime_ns
    shard_files(out)[1].unlink()
    assert _torchrun_encode(minilm_artifact, corpus, out) == lines
    assert shard_files(out)[0].stat().st_mtime_ns == kept


def test_the_other_ranks_wait_for_rank_0_to_create_the_collection(minilm_artifact, monkeypatch):
    """Against a server every rank opens the collection; rank 0 may still be creating it."""
    from argparse import ArgumentParser

    from lightretriever.components.errors import StoreError
    from lightretriever.components.store import QdrantHybridStore
    from lightretriever.pipelines.commands import index

    calls = []

    def open_once_busy(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise StoreError("collection 'c' already exists")
        return "store"

    monkeypatch.setattr(QdrantHybridStore, "from_location", open_once_busy)
    monkeypatch.setattr(index.time, "sleep", lambda seconds: None)
    parser = ArgumentParser()
    index.add_arguments(parser)
    args = parser.parse_args([str(minilm_artifact.root), "--corpus", "c.jsonl", "--store", "http://qdrant:6333",
                              "--collection", "c"])
    assert index._open_store(args, minilm_artifact, Shard(1, 2)) == "store" and len(calls) == 2
    calls.clear()
    with pytest.raises(StoreError, match="already exists"):
        index._open_store(args, minilm_artifact, Shard(0, 2))  # rank 0 creates it: an error is real
