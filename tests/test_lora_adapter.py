"""An artifact whose document model is a peft LoRA adapter on top of a base model directory.

`document_model = {path: null, base: <tiny Llama dir>, adapter: "adapter"}`: DocumentEncoder loads
the base, merges the adapter, and must give what the (unmerged) peft model computes directly.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from conftest import TINY_INSTRUCTION

from lightretriever.components import Artifact, ArtifactError, DocumentEncoder, QueryEncoder, SparseSettings
from lightretriever.components.backbones import load_backbone
from lightretriever.training.export import write_query_table

DOCS = ["the study of cancer cells in mice", "tumor growth increases", "stress stress response of the brain",
        "protein"]
QUERIES = ["cancer risk in patients", "stress stress stress"]
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]


@pytest.fixture(scope="module")
def lora(tiny_llama_base, tiny_llama_artifact, tmp_path_factory):
    """(artifact, in-memory peft model): the tiny Llama artifact with model/ replaced by adapter/."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("artifacts") / "tiny-llama-lora"
    shutil.copytree(tiny_llama_artifact.root, root)
    shutil.rmtree(root / "model")
    base = AutoModelForCausalLM.from_pretrained(str(tiny_llama_base), dtype=torch.float32)
    torch.manual_seed(1)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=LORA_TARGETS,
                                                 init_lora_weights=False))  # random B: the adapter changes outputs
    peft_model.eval()
    peft_model.save_pretrained(str(root / "adapter"), save_embedding_layers=False)  # LoRA weights only
    config = json.loads((root / "lightretriever.json").read_text())
    config["document_model"] = {"path": None, "base": str(tiny_llama_base), "base_gguf_file": None, "adapter": "adapter"}
    config["document_weights_digest"] = None  # another document model: its digest is the new files'
    (root / "lightretriever.json").write_text(json.dumps(config, indent=2))
    artifact = Artifact.load(root, need_document_model=True)
    from lightretriever.components.fingerprint import weights_digest

    artifact.config.document_weights_digest = weights_digest(artifact)
    artifact.save_config()
    # re-export the query table with the adapted model, as a trained artifact would ship it
    write_query_table(load_backbone(artifact, "cpu", torch.float32), artifact, "default", TINY_INSTRUCTION,
                      make_default=True, show_progress=False)
    return Artifact.load(root, need_document_model=True), peft_model


@torch.inference_mode()
def direct(peft_model, artifact, text_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Dense (normalised last state) and un-pruned sparse weights of `[bos] ids [eos]` with the peft model."""
    st = artifact.config.special_tokens
    ids = torch.tensor([[st.bos_id, *text_ids, st.eos_id]])
    out = peft_model(input_ids=ids, output_hidden_states=True)
    dense = torch.nn.functional.normalize(out.hidden_states[-1][0, -1], dim=-1)
    weights = torch.log1p(torch.relu(out.logits[0, 1:-1].max(dim=0).values))
    return dense.numpy(), weights.numpy()


def test_adapter_artifact_layout(lora):
    artifact, _ = lora
    assert artifact.config.document_model.path is None
    assert not (artifact.root / "model").exists()
    assert (artifact.root / "adapter" / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize("settings", [SparseSettings(threshold=1.0, top_k=None), SparseSettings(threshold=0.01, top_k=8)],
                         ids=["threshold", "top_k"])
def test_document_encoder_equals_peft_model(lora, tiny_llama_base, settings):
    from transformers import AutoTokenizer

    artifact, peft_model = lora
    tok = AutoTokenizer.from_pretrained(str(tiny_llama_base))
    out = DocumentEncoder(artifact, device="cpu", dtype="float32", sparse=settings).encode(DOCS, show_progress=False)
    for i, text in enumerate(DOCS):
        text_ids = tok(text, add_special_tokens=False).input_ids
        assert tok.unk_token_id not in text_ids
        dense, weights = direct(peft_model, artifact, text_ids)
        np.testing.assert_allclose(out.dense[i], dense, atol=1e-4, err_msg=f"document {i}")
        ranked = np.argsort(-weights, kind="stable")
        keep = np.sort([t for t in ranked[: settings.top_k] if weights[t] > settings.threshold])
        assert 0 < len(keep) < artifact.config.vocab_size  # the pruning really prunes
        assert out.sparse[i].indices.tolist() == keep.tolist(), f"document {i}"
        np.testing.assert_allclose(out.sparse[i].values, weights[keep], atol=1e-4, rtol=1e-4, err_msg=f"document {i}")


def test_adapter_changes_the_document_model(lora, tiny_llama_artifact):
    artifact, _ = lora
    adapted = DocumentEncoder(artifact, device="cpu", dtype="float32").encode(DOCS, show_progress=False)
    base = DocumentEncoder(tiny_llama_artifact, device="cpu", dtype="float32").encode(DOCS, show_progress=False)
    cosine = np.sum(adapted.dense * base.dense, axis=1)
    assert np.all(cosine < 0.99), f"the LoRA adapter barely changes the outputs (cosines {cosine})"


def test_query_table_of_adapter_artifact_equals_peft_model(lora, tiny_llama_base):
    from transformers import AutoTokenizer

    artifact, peft_model = lora
    tok = AutoTokenizer.from_pretrained(str(tiny_llama_base))
    st = artifact.config.special_tokens
    instruction = tok(TINY_INSTRUCTION, add_special_tokens=False).input_ids
    got = QueryEncoder(artifact).encode(QUERIES)
    for i, query in enumerate(QUERIES):
        ids = tok(artifact.config.query_prefix + query, add_special_tokens=False).input_ids
        seqs = torch.tensor([[st.bos_id, *instruction, t, st.eos_id] for t in ids])
        with torch.inference_mode():
            rows = peft_model(input_ids=seqs, output_hidden_states=True).hidden_states[-1][:, -1]
        expected = torch.nn.functional.normalize(rows.mean(dim=0), dim=-1).numpy()
        np.testing.assert_allclose(got.dense[i], expected, atol=1e-4, err_msg=f"query {i}")
        assert got.sparse[i].to_dict() == {t: float(ids.count(t)) for t in sorted(set(ids))}


def test_missing_adapter_weights_are_reported(lora, tmp_path):
    artifact, _ = lora
    broken = tmp_path / "broken"
    shutil.copytree(artifact.root, broken)
    (broken / "adapter" / "adapter_model.safetensors").unlink()
    Artifact.load(broken)  # the query side alone still loads
    with pytest.raises(ArtifactError, match="adapter/adapter_model.safetensors is missing"):
        Artifact.load(broken, need_document_model=True)
