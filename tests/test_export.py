"""Query-table export: the prefix key/value cache shortcut equals the naive per-token forward.

Row t of a table is pooled(model([bos] + instruction + [t] + [eos])). `method="naive"` runs that
whole sequence per token; `method="prefix-kv"` (the default for decoders) runs `[bos] + instruction`
once and feeds only `[t, eos]` on top of its cache. Both must agree to float32 noise.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import SMOLLM2_SAMPLE, TINY_INSTRUCTION, exported_table_rows, sample_ids

from lightretriever.components.backbones import load_backbone, wrap_model
from lightretriever.components.tables import load_table
from lightretriever.training.export import export_query_table

ATOL = 1e-4


def both_methods(backbone, artifact, instruction, ids, batch_size):
    kv = export_query_table(backbone, artifact, instruction, token_ids=ids, method="prefix-kv",
                            batch_size=batch_size, show_progress=False)
    naive = export_query_table(backbone, artifact, instruction, token_ids=ids, method="naive",
                               batch_size=batch_size, show_progress=False)
    return kv, naive


# -- tiny random Llama (fast) -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_backbone(tiny_llama_artifact):
    return load_backbone(tiny_llama_artifact, "cpu", torch.float32)


@pytest.mark.parametrize("instruction", [TINY_INSTRUCTION, ""], ids=["instruction", "bos-only-prefix"])
def test_tiny_llama_prefix_kv_equals_naive(tiny_llama_artifact, tiny_backbone, instruction):
    ids = sample_ids(tiny_llama_artifact, n_random=20)
    assert {0, 1, 2, 3, tiny_llama_artifact.config.vocab_size - 1} <= set(ids.tolist())
    kv, naive = both_methods(tiny_backbone, tiny_llama_artifact, instruction, ids, batch_size=7)  # 7: ragged last batch
    assert kv.shape == naive.shape == (len(ids), tiny_llama_artifact.config.dense_dim)
    np.testing.assert_allclose(kv, naive, atol=ATOL, rtol=0)
    assert np.abs(naive).max() > 0.1  # non-trivial rows
    assert np.linalg.norm(naive[0] - naive[1]) > 0.1  # different tokens, different rows


def test_tiny_llama_rows_equal_direct_transformers(tiny_llama_artifact, tiny_llama_base):
    """Naive rows against a plain transformers forward of `[bos] + instruction + [t] + [eos]`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(tiny_llama_base), dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(str(tiny_llama_base))
    instruction = tok(TINY_INSTRUCTION, add_special_tokens=False).input_ids
    assert instruction and tok.unk_token_id not in instruction
    ids = sample_ids(tiny_llama_artifact, n_random=10)
    seqs = torch.tensor([[tok.bos_token_id, *instruction, int(t), tok.eos_token_id] for t in ids])
    with torch.inference_mode():
        expected = model(input_ids=seqs, output_hidden_states=True).hidden_states[-1][:, -1].numpy()
    backbone = load_backbone(tiny_llama_artifact, "cpu", torch.float32)
    for method in ("naive", "prefix-kv"):
        rows = export_query_table(backbone, tiny_llama_artifact, TINY_INSTRUCTION, token_ids=ids, method=method,
                                  show_progress=False)
        np.testing.assert_allclose(rows, expected, atol=ATOL, rtol=0, err_msg=method)
    # the table the build stored (full vocabulary, default method = prefix-kv)
    table, scale = load_table(tiny_llama_artifact.table_file())
    assert scale is None and table.shape == (tiny_llama_artifact.config.vocab_size, tiny_llama_artifact.config.dense_dim)
    np.testing.assert_allclose(exported_table_rows(tiny_llama_artifact, ids), expected, atol=ATOL, rtol=0)


def test_prefix_kv_refused_without_last_token_pooling(tiny_llama_artifact, tiny_llama_base):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_llama_base), dtype=torch.float32).eval()
    mean_pooled = wrap_model(model, "decoder", "mean", "lm_head")
    with pytest.raises(ValueError, match="prefix-kv.*last-token pooling"):
        export_query_table(mean_pooled, tiny_llama_artifact, "", token_ids=[5], method="prefix-kv", show_progress=False)
    with pytest.raises(ValueError, match="method 'fast'"):
        export_query_table(mean_pooled, tiny_llama_artifact, "", token_ids=[5], method="fast", show_progress=False)


# -- encoder artifacts ---------------------------------------------------------------------------

@pytest.mark.slow
def test_encoder_refuses_prefix_kv(minilm_artifact):
    backbone = load_backbone(minilm_artifact, "cpu", torch.float32)
    assert backbone.kind == "encoder"
    with pytest.raises(ValueError, match="prefix-kv export needs a causal \\(decoder\\) backbone"):
        export_query_table(backbone, minilm_artifact, "", token_ids=[1000], method="prefix-kv", show_progress=False)
    # "auto" picks the naive path for encoders, and it matches the stored table
    rows = export_query_table(backbone, minilm_artifact, "", token_ids=[1000, 2000, 30521], show_progress=False)
    np.testing.assert_allclose(rows, exported_table_rows(minilm_artifact, [1000, 2000, 30521]), atol=ATOL, rtol=0)


# -- SmolLM2 (slow) --------------------------------------------------------------------------------

@pytest.mark.slow
def test_smollm2_prefix_kv_equals_naive(smollm2_artifact):
    artifact = smollm2_artifact.artifact
    backbone = load_backbone(artifact, "cpu", torch.float32)
    ids = sample_ids(artifact, **SMOLLM2_SAMPLE)
    assert artifact.config.vocab_size - 1 in ids and {0, 1, 2} <= set(ids.tolist())
    kv, naive = both_methods(backbone, artifact, smollm2_artifact.instruction, ids, batch_size=16)
    np.testing.assert_allclose(kv, naive, atol=ATOL, rtol=0)
    assert np.abs(naive).max() > 1.0
    # the rows the build stored (prefix-kv; the fixture exports these ids, see conftest) are the naive rows too
    smollm2_artifact.require_rows(ids)
    table, _ = load_table(artifact.table_file())
    assert table.shape == (artifact.config.vocab_size, artifact.config.dense_dim)
    np.testing.assert_allclose(exported_table_rows(artifact, ids), naive, atol=ATOL, rtol=0)
