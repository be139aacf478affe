"""build's model loading: the expected "no MLM head" report is one line; an unexpected missing key still shows."""

from __future__ import annotations

import logging

import pytest
from safetensors.torch import load_file, save_file

from lightretriever.training.build import BaseModel, _load_model

pytest.importorskip("transformers")


def _tiny_bert_without_head(path, drop: str | None = None):
    """A body-only BERT checkpoint (what sentence-embedding models ship), optionally missing one body weight."""
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32)
    BertModel(config).save_pretrained(str(path))
    if drop is not None:
        weights = load_file(str(path / "model.safetensors"))
        del weights[drop]
        save_file(weights, str(path / "model.safetensors"), metadata={"format": "pt"})
    return BaseModel.parse(path)


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def transformers_log():
    """What transformers would show: its records as they reach the `transformers` logger's handlers."""
    collect, source = _Collect(), logging.getLogger("transformers")
    source.addHandler(collect)
    yield collect.messages
    source.removeHandler(collect)


def test_a_missing_mlm_head_is_one_line_not_a_load_report(tmp_path, capsys, transformers_log):
    base = _tiny_bert_without_head(tmp_path / "base")
    capsys.readouterr()  # the fixture's own save bar
    model, head = _load_model(base, "encoder", None)
    assert head == "tied_embeddings" and type(model).__name__ == "BertModel"
    err = capsys.readouterr().err
    assert not any("LOAD REPORT" in m for m in transformers_log) and "LOAD REPORT" not in err
    assert "no trained MLM head" in err and "cls.predictions.* missing" in err and "tied_embeddings" in err
    assert "\r" not in err  # transformers' weight-loading bar is off too


def test_an_unexpected_missing_key_still_shows_the_report(tmp_path, transformers_log):
    base = _tiny_bert_without_head(tmp_path / "base", drop="encoder.layer.0.output.dense.weight")
    _load_model(base, "encoder", None, explain=False)
    shown = "\n".join(transformers_log)
    assert "LOAD REPORT" in shown and "bert.encoder.layer.0.output.dense.weight" in shown


def test_an_asked_for_mlm_head_that_is_missing_is_refused(tmp_path):
    from lightretriever.components.errors import ArtifactError

    with pytest.raises(ArtifactError, match="no trained MLM head"):
        _load_model(_tiny_bert_without_head(tmp_path / "base"), "encoder", "mlm_head")
