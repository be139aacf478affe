"""The training module's query paths equal what the table export computes, and the losses' numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lightretriever.components.artifact import special_token_ids
from lightretriever.components.backbones import config_prefix_ids, load_backbone
from conftest import exported_table_rows
from lightretriever.training import losses
from lightretriever.training.export import export_query_table
from lightretriever.training.model import LightRetrieverModule, LossSettings
from lightretriever.training.query_batch import pack_queries, token_rows


def _module(artifact):
    backbone = load_backbone(artifact, device="cpu", dtype=torch.float32)
    return LightRetrieverModule(backbone, vocab_size=artifact.config.vocab_size,
                                special_ids=special_token_ids(artifact.tokenizer()), settings=LossSettings())


def _token_lists(artifact, texts):
    tok = artifact.tokenizer()
    return [tok.encode(" " + t, add_special_tokens=False).ids if t else [] for t in texts]


QUERIES = ["cancer cancer risk of the cells", "stress", "", "white matter growth in human brain"]


def _check_block_batch(artifact, queries):
    """Every eos state of the block-masked batch == the row of `[bos]+instruction+[t]+[eos]` run alone."""
    config = artifact.config
    instruction = artifact.table_spec().instruction
    module = _module(artifact)
    lists = _token_lists(artifact, queries)
    prefix = config_prefix_ids(config, artifact.tokenizer(), instruction)
    packed = pack_queries(lists, prefix, config.special_tokens.eos_id, config.special_tokens.pad_id)
    flat = sorted({t for ids in lists for t in ids})
    with torch.no_grad():
        hidden = module._backbone.body(input_ids=packed.input_ids, attention_mask=packed.attention_mask,
                                       position_ids=packed.position_ids).last_hidden_state
        separate = export_query_table(module._backbone, artifact, instruction, token_ids=flat, method="naive",
                                      show_progress=False)
        emb = module.emb_queries(packed)
    assert not torch.isnan(hidden).any(), "padding rows must not produce NaN"
    row_of = {t: separate[i] for i, t in enumerate(flat)}
    worst = 0.0
    for q, ids in enumerate(lists):
        eos_positions = packed.pool[q].nonzero().flatten().tolist()
        assert len(eos_positions) == len(ids)
        for position, token in zip(eos_positions, ids):
            worst = max(worst, float(np.abs(hidden[q, position].numpy() - row_of[token]).max()))
    assert worst <= 1e-4, worst
    # and the pooled query == the normalised mean of the artifact's stored (exported) table rows
    for q, ids in enumerate(lists):
        if not ids:
            assert float(emb[q].abs().max()) == 0.0  # an empty query: zero vector, no NaN
            continue
        mean = exported_table_rows(artifact, ids).mean(axis=0)  # the table as the model exported it
        expected = mean / np.linalg.norm(mean)
        assert np.abs(emb[q].numpy() - expected).max() <= 1e-4


def test_block_mask_batch_equals_separate_rows_tiny_llama(tiny_llama_artifact):
    _check_block_batch(tiny_llama_artifact, QUERIES)


@pytest.mark.slow
def test_block_mask_batch_equals_separate_rows_smollm2(smollm2_artifact):
    queries = QUERIES[:3] + ["Aspirin lowers the risk of colorectal cancer"]
    smollm2_artifact.require_rows(t for ids in _token_lists(smollm2_artifact.artifact, queries) for t in ids)
    _check_block_batch(smollm2_artifact.artifact, queries)


def test_block_mask_structure():
    packed = pack_queries([[7, 8], [9]], prefix=[1, 5], eos_id=2, pad_id=0)
    assert packed.input_ids.tolist() == [[1, 5, 7, 2, 8, 2], [1, 5, 9, 2, 0, 0]]
    assert packed.position_ids.tolist() == [[0, 1, 2, 3, 2, 3], [0, 1, 2, 3, 0, 0]]
    allowed = (packed.attention_mask[:, 0] == 0).int()
    assert allowed[0].tolist() == [[1, 0, 0, 0, 0, 0],   # bos: itself
                                   [1, 1, 0, 0, 0, 0],   # instruction: causal
                                   [1, 1, 1, 0, 0, 0],   # t1: prefix + itself
                                   [1, 1, 1, 1, 0, 0],   # eos1: prefix + t1 + itself
                                   [1, 1, 0, 0, 1, 0],   # t2: prefix + itself, never pair 1
                                   [1, 1, 0, 0, 1, 1]]
    assert allowed[1, 4].tolist() == [0, 0, 0, 0, 1, 0] and allowed[1, 5].tolist() == [0, 0, 0, 0, 0, 1]
    assert packed.pool.tolist() == [[0, 0, 0, 1, 0, 1], [0, 0, 0, 1, 0, 0]]


def test_encoder_token_rows_equal_the_table(minilm_artifact):
    """MiniLM (bidirectional): one `[CLS] t [SEP]` row per occurrence, pooled like the export."""
    module = _module(minilm_artifact)
    lists = _token_lists(minilm_artifact, QUERIES)
    config = minilm_artifact.config
    prefix = config_prefix_ids(config, minilm_artifact.tokenizer(), minilm_artifact.table_spec().instruction)
    rows = token_rows(lists, prefix, config.special_tokens.eos_id)
    # one row per distinct token ("cancer" is repeated), every occurrence mapped to its row
    assert rows.input_ids.shape == (len({t for ids in lists for t in ids}), len(prefix) + 2)
    assert len(rows.row_of) == len(rows.owner) == sum(map(len, lists))
    with torch.no_grad():
        emb = module.emb_queries(rows).numpy()
    for q, ids in enumerate(lists):
        if not ids:
            assert np.abs(emb[q]).max() == 0.0
            continue
        mean = exported_table_rows(minilm_artifact, ids).mean(axis=0)
        assert np.abs(emb[q] - mean / np.linalg.norm(mean)).max() <= 1e-4


# -- losses, by hand ------------------------------------------------------------------------------

def test_info_nce_hand_case():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])  # groups: q0 -> (p0, p1), q1 -> (p2, p3)
    # τ = 0.5: q0 scores (2, 0, 0, 2), target 0; q1 scores (0, 2, 2, 0), target 2
    expected = -math.log(math.exp(2) / (2 * math.exp(2) + 2))
    assert losses.info_nce(q, p, temperature=0.5, group=2).item() == pytest.approx(expected, rel=1e-6)
    # unlabelled row 1 leaves the mean: same value (both rows equal here), and a 0-weighted batch gives 0
    assert losses.info_nce(q, p, 0.5, 2, torch.tensor([1.0, 0.0])).item() == pytest.approx(expected, rel=1e-6)
    assert losses.info_nce(q, p, 0.5, 2, torch.tensor([0.0, 0.0])).item() == 0.0


def test_flops_hand_case():
    sparse = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    # column means (2, 0, 1) -> 4 + 0 + 1
    assert losses.flops(sparse).item() == pytest.approx(5.0)


def test_flops_schedule_is_quadratic_then_flat():
    assert losses.flops_weight(0, 1e-3, 4000) == 0.0
    assert losses.flops_weight(1000, 1e-3, 4000) == pytest.approx(1e-3 / 16)
    assert losses.flops_weight(2000, 1e-3, 4000) == pytest.approx(1e-3 / 4)
    assert losses.flops_weight(4000, 1e-3, 4000) == pytest.approx(1e-3)
    assert losses.flops_weight(10**6, 1e-3, 4000) == pytest.approx(1e-3)
    assert losses.flops_weight(5, 2.0, 0) == 2.0


def test_score_kl_hand_case():
    student = torch.tensor([[0.0, math.log(3.0)]])  # softmax (1/4, 3/4)
    teacher = torch.tensor([[0.0, 0.0]])             # softmax (1/2, 1/2)
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert losses.score_kl(student, teacher, 1.0, 1.0).item() == pytest.approx(expected, rel=1e-6)
    assert losses.score_kl(teacher, teacher, 1.0, 1.0).item() == pytest.approx(0.0, abs=1e-7)


def test_cosine_distance_hand_case():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[0.0, 2.0], [2.0, 2.0]])
    assert losses.cosine_distance(a, b).item() == pytest.approx((1.0 + 0.0) / 2)


def test_teacher_gets_no_gradient():
    student = torch.tensor([[0.3, 0.7]], requires_grad=True)
    teacher = torch.tensor([[0.9, 0.1]], requires_grad=True)
    (losses.score_kl(student, teacher, 1.0, 1.0) + losses.cosine_distance(student, teacher)).backward()
    assert teacher.grad is None and student.grad is not None


@pytest.mark.slow
def test_sparse_gradient_reaches_the_argmax_position(minilm_artifact):
    """The document sparse vector is trainable: gradient flows through max-over-positions."""
    module = _module(minilm_artifact)
    tok = minilm_artifact.tokenizer()
    ids = torch.tensor([tok.encode("aspirin reduces cancer risk").ids])
    dense, sparse = module.documents(ids, torch.ones_like(ids))
    losses.flops(sparse).backward()
    grads = [p.grad for p in module.model.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)
