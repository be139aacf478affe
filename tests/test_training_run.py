"""`lightretriever train` end to end on a tiny random Llama and a tiny BEIR dataset: the artifact it
writes, each variant, resume, the non-finite-loss stop, and the distributed (torchrun) path."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import TrainerCallback

from conftest import TINY_WORDS, run_cli

from lightretriever.components import Artifact, QueryEncoder
from lightretriever.components.tables import dequantize, load_table
from lightretriever.training.config import TrainConfig
from lightretriever.training.model import LossSettings
from lightretriever.training.train import train_artifact
from lightretriever.training.trainer import NonFiniteLoss, read_log

pytestmark = pytest.mark.slow  # every test here trains (or refuses to train) a model

CONTENT = [w for w in TINY_WORDS if len(w) > 3]


@pytest.fixture(scope="module")
def tiny_beir(tmp_path_factory) -> Path:
    """48 documents of tiny-vocabulary words; 24 train queries, each made of words of its document."""
    rng = random.Random(0)
    root = tmp_path_factory.mktemp("beir") / "tiny"
    (root / "qrels").mkdir(parents=True)
    docs = {f"d{i}": " ".join(rng.choice(CONTENT) for _ in range(12)) for i in range(48)}
    with (root / "corpus.jsonl").open("w") as f:
        for doc_id, text in docs.items():
            f.write(json.dumps({"_id": doc_id, "title": "", "text": text}) + "\n")
    queries = {f"q{i}": " ".join(rng.sample(docs[f"d{i}"].split(), 3)) for i in range(24)}
    with (root / "queries.jsonl").open("w") as f:
        for qid, text in queries.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    rows = "".join(f"q{i}\td{i}\t1\r\n" for i in range(24))  # CRLF, like SciFact's
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\r\n" + rows)
    return root


def _config(**overrides) -> TrainConfig:
    values = dict(batch_size=4, hard_negatives=1, max_steps=6, save_steps=3, logging_steps=1, learning_rate=1e-3,
                  warmup_ratio=0.0, device="cpu", losses=LossSettings(flops_warmup_steps=2))
    values.update(overrides)
    return TrainConfig(**values)


def test_cli_full_recipe_writes_a_loadable_trained_artifact(tiny_llama_artifact, tiny_beir, tmp_path):
    out = tmp_path / "trained"
    result = run_cli("train", str(tiny_llama_artifact.root), "--data", str(tiny_beir), "--out", str(out),
                     "--max-steps", "4", "--batch-size", "4", "--hard-negatives", "1", "--learning-rate", "1e-3",
                     "--save-steps", "2", "--logging-steps", "1", "--device", "cpu", "--json")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 4 and summary["examples"] == 24
    artifact = Artifact.load(out, need_document_model=True)
    assert artifact.config.provenance["trained"] is True and artifact.config.provenance["variant"] == "full"
    # LoRA merged into plain weights: a full model directory, no adapter
    assert (out / "model" / "model.safetensors").is_file() and artifact.config.document_model.adapter is None
    assert artifact.document_fingerprint() != tiny_llama_artifact.document_fingerprint()
    before = dequantize(*load_table(tiny_llama_artifact.table_file()))
    after = dequantize(*load_table(artifact.table_file()))
    assert after.shape == before.shape and np.abs(after - before).max() > 1e-4  # the table was re-exported
    encoded = QueryEncoder(artifact).encode(["cancer cells", "stress"])
    assert np.allclose(np.linalg.norm(encoded.dense, axis=1), 1.0, atol=1e-5)
    log = read_log(out.with_name(out.name + ".train") / "log.jsonl")
    parts = {k for row in log for k in row if k.startswith("loss_")}
    assert {"loss_emb", "loss_symmetric", "loss_token", "loss_flops"} <= parts


def test_freeze_documents_keeps_the_document_encoder(tiny_llama_artifact, tiny_beir, tmp_path, monkeypatch):
    monkeypatch.setenv("LIGHTRETRIEVER_HOME", str(tmp_path / "home"))
    out = tmp_path / "frozen"
    train_artifact(tiny_llama_artifact.root, tiny_beir, out, _config(variant="freeze-documents", max_steps=3),
                   show_progress=False)
    artifact = Artifact.load(out, need_document_model=True)
    assert artifact.document_fingerprint() == tiny_llama_artifact.document_fingerprint()  # the index stays valid
    assert not np.allclose(dequantize(*load_table(artifact.table_file())),
                           dequantize(*load_table(tiny_llama_artifact.table_file())))
    assert list((tmp_path / "home" / "cache" / "document-vectors").glob("*.safetensors"))  # vectors cached for reuse


def test_table_only_trains_rows_and_keeps_the_model(tiny_llama_artifact, tiny_beir, tmp_path, monkeypatch):
    from lightretriever.training.data import read_beir
    from lightretriever.training.table_only import teacher_vectors

    monkeypatch.setenv("LIGHTRETRIEVER_HOME", str(tmp_path / "home"))
    out = tmp_path / "table"
    settings = LossSettings(cosine_weight=1.0, distill_weight=1.0, emb_weight=0.0)
    result = train_artifact(tiny_llama_artifact.root, tiny_beir, out,
                            _config(variant="table-only", max_steps=60, learning_rate=1e-1, losses=settings, weight_decay=0.0,
                                    distill_pseudo_queries=20), show_progress=False)
    assert result.examples == 24 + 20
    artifact = Artifact.load(out, need_document_model=True)
    assert artifact.document_fingerprint() == tiny_llama_artifact.document_fingerprint()
    # the table queries moved towards the full model's vectors of the same training queries
    queries = list(read_beir(tiny_beir).queries.values())
    teacher = teacher_vectors(tiny_llama_artifact, tiny_llama_artifact.table_spec().instruction, queries,
                              device="cpu", show_progress=False)
    target = torch.stack([teacher[q] for q in queries]).numpy()
    agreement = lambda art: float((QueryEncoder(art).encode(queries).dense * target).sum(axis=1).mean())  # noqa: E731
    assert agreement(artifact) > agreement(tiny_llama_artifact) + 0.05


class _CrashAt(TrainerCallback):
    """Simulates a crash (after the step's checkpoint) by raising from a callback."""

    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


def test_resume_continues_the_same_loss_curve(tiny_llama_artifact, tiny_beir, tmp_path):
    straight = tmp_path / "straight"
    train_artifact(tiny_llama_artifact.root, tiny_beir, straight, _config(), show_progress=False)
    resumed = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        train_artifact(tiny_llama_artifact.root, tiny_beir, resumed, _config(), show_progress=False,
                       callbacks=[_CrashAt(3)])
    assert not resumed.exists() and (tmp_path / "resumed.train" / "checkpoints" / "checkpoint-3").is_dir()
    train_artifact(tiny_llama_artifact.root, tiny_beir, resumed, _config(), resume=True, show_progress=False)
    losses_of = lambda out: {r["step"]: r["loss"] for r in read_log(out.with_name(out.name + ".train") / "log.jsonl")
                             if "loss" in r}  # noqa: E731
    a, b = losses_of(straight), losses_of(resumed)
    assert set(a) == {1, 2, 3, 4, 5, 6} and {4, 5, 6} <= set(b)
    for step in (4, 5, 6):
        assert b[step] == pytest.approx(a[step], rel=1e-3, abs=1e-4), (step, a, b)
    assert np.allclose(dequantize(*load_table(Artifact.load(straight).table_file())),
                       dequantize(*load_table(Artifact.load(resumed).table_file())), atol=1e-4)


class _PoisonAfter(TrainerCallback):
    """Writes NaN into a weight after a step, as a diverging run would."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.step:
            with torch.no_grad():
                next(p for p in model.parameters() if p.requires_grad).fill_(float("nan"))


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_llama_artifact, tiny_beir, tmp_path):
    out = tmp_path / "diverged"
    with pytest.raises(NonFiniteLoss) as info:
        train_artifact(tiny_llama_artifact.root, tiny_beir, out, _config(save_steps=2), show_progress=False,
                       callbacks=[_PoisonAfter(3)])
    message = str(info.value)
    assert "step 4" in message and "checkpoint-2" in message and "--resume" in message
    assert not out.exists()  # no artifact from a diverged run
    checkpoint = tmp_path / "diverged.train" / "checkpoints" / "checkpoint-2" / "model.safetensors"
    from safetensors.torch import load_file

    assert all(torch.isfinite(t).all() for t in load_file(str(checkpoint)).values())
    assert not (tmp_path / "diverged.train" / "checkpoints" / "checkpoint-4").exists()


@pytest.mark.slow
def test_torchrun_two_processes_gather_negatives(tiny_llama_artifact, tiny_beir, tmp_path):
    """`torchrun --nproc_per_node 2` on CPU (gloo): the same command, DDP, cross-device negatives."""
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
               "-m", "lightretriever.pipelines.cli", "train", str(tiny_llama_artifact.root), "--data", str(tiny_beir),
               "--out", str(out), "--max-steps", "2", "--batch-size", "3", "--hard-negatives", "1",
               "--learning-rate", "1e-3", "--device", "cpu", "--save-steps", "100", "--logging-steps", "1"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    Artifact.load(out, need_document_model=True)
    log = [r for r in read_log(tmp_path / "ddp.train" / "log.jsonl") if "loss" in r]
    # 3 queries per rank, scored against both ranks' 6 x 2 passages
    assert log and all(r["queries"] == 6 and r["scored_passages"] == 12 for r in log)


def test_an_artifact_base_refuses_another_instruction(tiny_llama_artifact, tiny_beir, tmp_path):
    from lightretriever.components.errors import ArtifactError

    with pytest.raises(ArtifactError, match="export-table"):
        train_artifact(tiny_llama_artifact.root, tiny_beir, tmp_path / "x", _config(instruction="another task"),
                       show_progress=False)
