"""The training `Variant` objects: the registry, the per-variant defaults (learning rate, weight decay,
loss weights), and the field metadata the CLI generator reads from TrainConfig and LossSettings."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from lightretriever.components.errors import InvalidArgumentError
from lightretriever.training.config import VARIANT_NAMES, TrainConfig
from lightretriever.training.model import LossSettings
from lightretriever.training.train import VARIANTS as REEXPORTED
from lightretriever.training.variants import VARIANTS, Variant, variant_named

RANGES = {"positive", "non_negative", "fraction"}


def test_the_registry_names_the_three_variants_in_order():
    assert list(VARIANTS) == ["full", "freeze-documents", "table-only"]
    assert REEXPORTED is VARIANTS
    for name, variant in VARIANTS.items():
        assert isinstance(variant, Variant) and variant.name == name and variant_named(name) is variant
        assert type(variant).__doc__, variant


def test_an_unknown_variant_names_the_known_ones():
    with pytest.raises(InvalidArgumentError, match="'nope'.*full, freeze-documents, table-only"):
        variant_named("nope")


def test_learning_rate_and_weight_decay_by_variant():
    assert {n: v.default_learning_rate for n, v in VARIANTS.items()} == {
        "full": 2e-5, "freeze-documents": 2e-5, "table-only": 3e-3}
    assert variant_named("table-only").learning_rate(TrainConfig(variant="table-only")) == 3e-3
    assert variant_named("full").learning_rate(TrainConfig()) == 2e-5
    assert variant_named("table-only").learning_rate(TrainConfig(variant="table-only", learning_rate=0.1)) == 0.1
    config = TrainConfig(weight_decay=0.05)
    assert VARIANTS["full"].weight_decay(config) == VARIANTS["freeze-documents"].weight_decay(config) == 0.05
    assert VARIANTS["table-only"].weight_decay(config) == 0.0


@pytest.mark.parametrize("name", ["full", "freeze-documents"])
def test_model_variants_distill_only_with_pseudo_queries(name):
    variant = VARIANTS[name]
    assert variant.loss_weights(0) == {"emb_weight": 1.0, "distill_weight": 0.0, "cosine_weight": 0.0}
    assert variant.loss_weights(100) == {"emb_weight": 1.0, "distill_weight": 1.0, "cosine_weight": 1.0}


@pytest.mark.parametrize("pseudo_queries", [0, 100])
def test_table_only_always_distills_and_keeps_infonce(pseudo_queries):
    assert VARIANTS["table-only"].loss_weights(pseudo_queries) == {
        "emb_weight": 1.0, "distill_weight": 1.0, "cosine_weight": 1.0}


def test_unset_weights_come_from_the_variant_and_given_ones_stay():
    unset = LossSettings(emb_weight=None, distill_weight=None, cosine_weight=0.5)
    resolved = variant_named("table-only").resolved_losses(TrainConfig(variant="table-only", losses=unset))
    assert (resolved.emb_weight, resolved.distill_weight, resolved.cosine_weight) == (1.0, 1.0, 0.5)
    assert variant_named("full").resolved_losses(TrainConfig()) == LossSettings()  # the dataclass defaults are untouched


def test_lora_alpha_defaults_to_twice_the_rank():
    assert TrainConfig().resolved_lora_alpha() == 32
    assert TrainConfig(lora_r=4).resolved_lora_alpha() == 8
    assert TrainConfig(lora_r=4, lora_alpha=5).resolved_lora_alpha() == 5


@pytest.mark.parametrize("cls", [TrainConfig, LossSettings])
def test_every_field_has_help_and_a_valid_range(cls):
    for f in dataclasses.fields(cls):
        meta = f.metadata
        assert isinstance(meta.get("help"), str) and meta["help"], f"{cls.__name__}.{f.name} has no help"
        assert "default" not in meta["help"].lower(), f"{cls.__name__}.{f.name}: the generator appends the default"
        assert meta.get("range", "positive") in RANGES, f"{cls.__name__}.{f.name}: range {meta['range']!r}"
        assert set(meta) <= {"help", "range", "choices", "cli", "by_variant"}, f"{cls.__name__}.{f.name}"


def test_the_variant_field_offers_the_registry_and_by_variant_weights_are_marked():
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert fields["variant"].metadata["choices"] == VARIANT_NAMES == tuple(VARIANTS)
    assert fields["losses"].metadata["cli"] is False
    marked = {f.name for f in dataclasses.fields(LossSettings) if f.metadata.get("by_variant")}
    assert marked == set(VARIANTS["full"].loss_weights(0)) == set(VARIANTS["table-only"].loss_weights(0))


def test_the_configs_import_without_torch():
    """The CLI builds `train`'s flags from these dataclasses; `--help` must not pay for torch."""
    code = ("import sys; import lightretriever.training.config as c; c.TrainConfig(); c.LossSettings(); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
