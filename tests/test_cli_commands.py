"""The command line's shape: one module per command, flags generated from the config dataclasses (so a
default is written once), help that shows every default, `--version`, and parsing without torch."""

import argparse
import dataclasses
import subprocess
import sys
from importlib import import_module
from importlib.metadata import version

import pytest

from lightretriever.components.artifact import UNTRAINED_SPARSE, SparseSettings
from lightretriever.components.store.options import SearchOptions
from lightretriever.pipelines.cli import _parser, main
from lightretriever.pipelines.commands import COMMANDS, parser_of
from lightretriever.pipelines.commands.options import HelpFormatter, comma_list
from lightretriever.training.adapt_config import AdaptConfig
from lightretriever.training.config import LossSettings, TrainConfig

NAMES = [import_module(f"lightretriever.pipelines.commands.{module}").NAME for module in COMMANDS]


def _parse(*argv):
    return _parser().parse_args(list(argv))


def _help_lines(parser: argparse.ArgumentParser) -> dict[str, str]:
    formatter = HelpFormatter(parser.prog)
    return {action.option_strings[0]: formatter._get_help_string(action) % vars(action)
            for action in parser._actions if action.option_strings}


def test_every_command_is_one_module_with_a_description_and_a_one_line_help():
    top = _parser()
    assert len(NAMES) == len(set(NAMES)) == 11
    for module, name in zip(COMMANDS, NAMES):
        command = import_module(f"lightretriever.pipelines.commands.{module}")
        parser = parser_of(top, name)
        assert command.__doc__ and parser.description == command.__doc__, name
        assert "\n" not in command.HELP and command.HELP, name


@pytest.mark.parametrize("name", NAMES)
def test_help_shows_every_default(name):
    parser = parser_of(_parser(), name)
    for flag, text in _help_lines(parser).items():
        action = next(a for a in parser._actions if flag in a.option_strings)
        switch = isinstance(action, (argparse._StoreTrueAction, argparse._StoreConstAction, argparse._HelpAction))
        if switch or action.required or action.default is None:
            continue
        assert "default:" in text, f"{name} {flag}: {text!r}"
        shown = text.split("default:")[-1]
        if isinstance(action.default, (int, float)) and not isinstance(action.default, bool):
            assert str(action.default) in shown, f"{name} {flag}: {text!r}"


def test_version_is_the_installed_distribution(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"lightretriever {version('lightretriever')}"


def test_every_command_parses_and_prints_help_without_torch_or_transformers():
    code = ("import sys; from lightretriever.pipelines.cli import _parser; p = _parser(); "
            "from lightretriever.pipelines.commands import parser_of; "
            f"[parser_of(p, n).format_help() for n in {NAMES!r}]; "
            "heavy = sorted(m for m in ('torch', 'transformers', 'peft', 'haystack', 'llama_index') if m in sys.modules); "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _dataclass_defaults(config, skip=()):
    return {f.name: getattr(config(), f.name) for f in dataclasses.fields(config)
            if f.metadata.get("cli", True) and not f.metadata.get("by_variant") and f.name not in skip}


def test_train_flags_default_to_train_config_and_loss_settings():
    args = _parse("train", "BASE", "--data", "D", "--out", "O")
    for name, default in _dataclass_defaults(TrainConfig).items():
        assert getattr(args, name) == default, name
    for name, default in _dataclass_defaults(LossSettings).items():
        assert getattr(args, name) == default, name
    for name in ("emb_weight", "distill_weight", "cosine_weight"):  # left to the variant
        assert getattr(args, name) is None


@pytest.mark.parametrize(("argv", "variant", "weights"), [
    ((), "full", {"emb_weight": 1.0, "distill_weight": 0.0, "cosine_weight": 0.0}),
    (("--distill-pseudo-queries", "8"), "full", {"emb_weight": 1.0, "distill_weight": 1.0, "cosine_weight": 1.0}),
    (("--table-only",), "table-only", {"emb_weight": 1.0, "distill_weight": 1.0, "cosine_weight": 1.0}),
    (("--variant", "freeze-documents"), "freeze-documents", {"emb_weight": 1.0, "distill_weight": 0.0}),
    (("--freeze-documents", "--emb-weight", "0.5"), "freeze-documents", {"emb_weight": 0.5}),
    (("--table-only", "--cosine-weight", "0"), "table-only", {"cosine_weight": 0.0, "distill_weight": 1.0}),
])
def test_train_config_takes_the_variant_and_its_loss_weights_unless_given(argv, variant, weights):
    from lightretriever.pipelines.commands.train import config_from_args

    config = config_from_args(_parse("train", "BASE", "--data", "D", "--out", "O", *argv))
    assert config.variant == variant
    for name, value in weights.items():
        assert getattr(config.losses, name) == value, name
    assert config.losses.dense_temperature == LossSettings().dense_temperature


def test_train_flags_map_onto_the_config():
    from lightretriever.pipelines.commands.train import config_from_args

    config = config_from_args(_parse("train", "B", "--data", "D", "--out", "O", "--report-to", "tensorboard,wandb",
                                     "--no-lora", "--warmup-ratio", "0.1", "--flops-weight", "0.01"))
    assert config.report_to == ["tensorboard", "wandb"] and config.lora is False and config.warmup_ratio == 0.1
    assert config.losses.flops_weight == 0.01
    assert comma_list("none") == [] and comma_list("a, b") == ["a", "b"]


def test_adapt_flags_default_to_adapt_config():
    args = _parse("adapt", "BASE", "--corpus", "C", "--out", "O")
    for name, default in _dataclass_defaults(AdaptConfig).items():
        assert getattr(args, name) == default, name


def test_build_sparse_flags_default_to_the_untrained_head_settings():
    args = _parse("build", "BASE", "OUT")
    assert SparseSettings(threshold=args.sparse_threshold, top_k=args.sparse_top_k,
                          vocabulary=args.sparse_vocabulary) == UNTRAINED_SPARSE


def test_search_flags_build_the_default_search_options_and_pass_them_whole():
    from lightretriever.pipelines.commands.options import search_options

    base = ("search", "ART", "q", "--store", "S")
    assert search_options(_parse(*base)) == SearchOptions()
    options = search_options(_parse(*base, "-k", "5", "--fusion", "rrf", "--weights", "1,2", "--filter",
                                    '{"field": "meta.a", "operator": "==", "value": 1}'))
    assert options == SearchOptions(k=5, fusion="rrf", weights=(1.0, 2.0),
                                    filters={"field": "meta.a", "operator": "==", "value": 1})


@pytest.mark.parametrize("argv", [
    ("train", "B", "--data", "D", "--out", "O", "--variant", "nope"),
    ("train", "B", "--data", "D", "--out", "O", "--table-only", "--freeze-documents"),
    ("train", "B", "--data", "D", "--out", "O", "--warmup-ratio", "2"),
    ("adapt", "B", "--corpus", "C", "--out", "O", "--epochs", "0"),
    ("adapt", "B", "--corpus", "C", "--out", "O", "--table-dtype", "bfloat16"),
    ("search", "A", "q", "--store", "S", "--rrf-k", "-1"),
    ("build", "B", "O", "--sparse-vocabulary", "some"),
])
def test_a_bad_flag_value_stops_at_the_command_line(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(list(argv))
    assert stop.value.code == 2
    assert "error: argument" in capsys.readouterr().err


@pytest.mark.parametrize("command", [("index", "ART", "--corpus", "C", "--store", "S"),
                                     ("encode-corpus", "ART", "--corpus", "C", "--out", "O")])
def test_index_and_encode_corpus_take_the_forward_dtype(command):
    from lightretriever.training.adapt_config import FORWARD_DTYPES

    assert _parse(*command).dtype == "auto"  # DocumentEncoder's own default, shown in --help
    for dtype in FORWARD_DTYPES:
        assert _parse(*command, "--dtype", dtype).dtype == dtype


def test_every_forward_dtype_flag_value_is_one_the_encoder_resolves():
    import torch

    from lightretriever.components.backbones import resolve_dtype
    from lightretriever.training.adapt_config import FORWARD_DTYPES

    for dtype in FORWARD_DTYPES:
        assert resolve_dtype(dtype, torch.device("cpu")) in (torch.float32, torch.bfloat16)
    assert resolve_dtype(None, torch.device("cpu")) == resolve_dtype("auto", torch.device("cpu"))  # no dtype = auto
