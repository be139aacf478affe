"""Command-line options generated from the config dataclasses, and the option groups commands share.

A config dataclass (`TrainConfig`, `LossSettings`, `AdaptConfig`, `SparseSettings`, `SearchOptions`) is the
one place an option's name, type, default and help live: each field's `metadata` holds `help`, and
optionally `range` ("positive" | "non_negative" | "fraction"), `choices`, `cli: False` (not a flag) and
`by_variant: True` (left unset so the training variant decides), `metavar`. `add_dataclass_options` turns the fields into
flags; `dataclass_values` reads them back, so no default is written twice.

Why not transformers' `HfArgumentParser`: importing transformers imports torch, and the core install (query
encoding, search) has neither; parsing `lightretriever search --help` must not need them. This module only
reads dataclass fields, which the configs keep torch-free (a test imports every command without torch).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from collections.abc import Callable
from typing import Any

from lightretriever.components.errors import InvalidArgumentError

from ..arguments import fraction, non_negative_float, non_negative_int, positive_float, positive_int

_RANGED = {("positive", int): positive_int, ("non_negative", int): non_negative_int,
           ("positive", float): positive_float, ("non_negative", float): non_negative_float,
           ("fraction", float): fraction}
_PLAIN = {int: int, float: float, str: str}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default, unless the help already states one in words (a default
    that is computed, such as "the artifact's table") or the option is an on/off switch."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if default is None or default is False or default is argparse.SUPPRESS or "default:" in text or action.required:
            return text
        if isinstance(action, (argparse._StoreConstAction, argparse._HelpAction, argparse._VersionAction)):
            return text
        if isinstance(default, (list, tuple)):
            shown = ",".join(map(str, default)) or "none"
        else:
            shown = '""' if default == "" else "%(default)s"
        return f"{text} (default: {shown})".strip()


def add_dataclass_options(parser, config: type, *, prefix: str = "", skip: tuple[str, ...] = (),
                          only: tuple[str, ...] | None = None,
                          types_: dict[str, Callable] | None = None, flags: dict[str, list[str]] | None = None,
                          helps: dict[str, str] | None = None, defaults: Any = None) -> None:
    """One flag per field of `config` (`--field-name`, or `--{prefix}field-name`), dest = prefix + field name.
    `only` / `skip` pick fields; `types_` / `flags` / `helps` override a field's parser, flag spellings or help text; `defaults`, an
    instance of `config`, replaces the class defaults (e.g. `build`'s settings for an untrained head)."""
    hints = typing.get_type_hints(config)
    for field in dataclasses.fields(config):
        if field.name in skip or field.metadata.get("cli", True) is False or (only is not None and field.name not in only):
            continue
        if "help" not in field.metadata:
            raise TypeError(f"{config.__name__}.{field.name} has no help in its metadata (pipelines/commands/options.py)")
        spellings = (flags or {}).get(field.name) or [f"--{(prefix + field.name).replace('_', '-')}"]
        text = (helps or {}).get(field.name, field.metadata["help"])
        parser.add_argument(*spellings, dest=prefix + field.name, help=text,
                            **_argument_kwargs(field, hints[field.name], (types_ or {}).get(field.name), defaults))


def dataclass_values(args: argparse.Namespace, config: type, *, prefix: str = "",
                     skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The parsed values of `config`'s flags, by field name (for `config(**values)`); a `by_variant` flag
    left unset stays None, for the training variant to fill (`Variant.resolved_losses`)."""
    return {field.name: getattr(args, prefix + field.name) for field in dataclasses.fields(config)
            if field.name not in skip and field.metadata.get("cli", True) is not False}


def _argument_kwargs(field: dataclasses.Field, hint: Any, parse: Callable | None, defaults: Any) -> dict[str, Any]:
    default = getattr(defaults, field.name) if defaults is not None else _default_of(field)
    if field.metadata.get("by_variant"):
        default = None
    kind = _base_type(hint)
    if kind is bool:
        if default is False:
            return {"action": "store_true", "default": False}
        return {"action": argparse.BooleanOptionalAction, "default": default}
    kwargs: dict[str, Any] = {"default": default}
    if field.metadata.get("metavar"):
        kwargs["metavar"] = field.metadata["metavar"]
    if field.metadata.get("choices"):
        kwargs["choices"] = list(field.metadata["choices"])
    if parse is not None:
        kwargs["type"] = parse
    elif kind is list:
        kwargs["type"] = comma_list
    elif "range" in field.metadata:
        kwargs["type"] = _RANGED[(field.metadata["range"], kind)]
    elif kind in _PLAIN:
        kwargs["type"] = _PLAIN[kind]
    return kwargs


def _default_of(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    raise TypeError(f"field {field.name} has no default; a command-line option needs one")


def _base_type(hint: Any) -> Any:
    """`int | None` -> int, `list[str]` -> list, `Literal["a", "b"]` -> str."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _base_type(inner)
    if origin is typing.Literal:
        return type(typing.get_args(hint)[0])
    return origin or hint


def comma_list(text: str) -> list[str]:
    """`a,b` -> ["a", "b"]; `none` (or nothing) -> []."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    return [] if items == ["none"] else items


# -- option groups several commands share -----------------------------------------------------------

def add_artifact_argument(parser) -> None:
    parser.add_argument("artifact", help="artifact directory (from `build`, `adapt` or `train`)")


def add_corpus_option(parser) -> None:
    parser.add_argument("--corpus", required=True, help="JSONL, one document per line (BEIR corpus.jsonl works; "
                                                        ".jsonl.gz too)")


def add_device_option(parser, what: str = "") -> None:
    parser.add_argument("--device", default=None,
                        help=f"{what}cpu, cuda, cuda:1, mps ... (default: cuda when available, else cpu)")


def add_dtype_option(parser) -> None:
    """The document model's forward-pass dtype (index, encode-corpus; adapt has its own, from AdaptConfig)."""
    from lightretriever.training.adapt_config import FORWARD_DTYPES

    parser.add_argument("--dtype", choices=FORWARD_DTYPES, default="auto",
                        help="the document model's forward passes: auto = bfloat16 where it runs natively (CPUs with "
                             "AMX / AVX512-BF16: ~3x float32, dense cosine >= 0.9999; CUDA with bf16), float32 "
                             "elsewhere; float32 where vectors must not move with batching (bf16 rows move ~1e-3)")


def add_store_options(parser) -> None:
    parser.add_argument("--store", required=True,
                        help="a directory (embedded Qdrant engine), a Qdrant URL http(s)://… (API key from "
                             "QDRANT_API_KEY), or :memory: (qdrant-client local mode, tests only)")
    parser.add_argument("--collection", default="lightretriever", help="collection name")


def add_field_options(parser) -> None:
    """The corpus field names (`FieldMap.with_overrides`): index, encode-corpus, adapt."""
    from lightretriever.components.corpus import ID_FIELDS, TEXT_FIELDS, TITLE_FIELDS

    for role, names in (("id", ID_FIELDS), ("text", TEXT_FIELDS), ("title", TITLE_FIELDS)):
        parser.add_argument(f"--{role}-field", metavar="KEY",
                            help=f"JSON key of the document {role} (default: the first of {', '.join(names)})")


def field_map(args: argparse.Namespace):
    from lightretriever.components.corpus import FieldMap

    return FieldMap.with_overrides(args.id_field, args.text_field, args.title_field)


def add_search_options(parser) -> None:
    """The flags of `SearchOptions` (components/store/options.py: defaults and help live there)."""
    from lightretriever.components.store.options import SearchOptions

    add_dataclass_options(parser, SearchOptions, types_={"weights": search_weights, "filters": json_value},
                          flags={"k": ["-k"], "filters": ["--filter"]})


def search_options(args: argparse.Namespace):
    """One SearchOptions from the flags, checked before any store opens."""
    from lightretriever.components.store.options import SearchOptions

    return SearchOptions(**dataclass_values(args, SearchOptions))


def search_weights(text: str) -> tuple[float, float]:
    from lightretriever.components.store.fusion import check_weights

    try:
        return check_weights(tuple(float(x) for x in text.split(",")))
    except ValueError as exc:  # not numbers, or InvalidArgumentError from the one weights check
        raise argparse.ArgumentTypeError(str(exc) if isinstance(exc, InvalidArgumentError)
                                         else f"expected two numbers 'DENSE,SPARSE', got {text!r}") from None


def json_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg} at character {exc.pos}): {text[:80]!r}") from None
