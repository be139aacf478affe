"""The `lightretriever` commands, one module each.

A command module holds `NAME`, `HELP` (one line for `lightretriever --help`), its docstring (the
command's `--help` description), `add_arguments(parser)`, `run(args) -> int | None` and, where an
interruption leaves something to continue from, `INTERRUPTED` (what Ctrl-C kept and how to go on).
Modules import only argparse-level code at the top; the model, training and store load inside `run`,
so `lightretriever --help` and the core (torch-free) install parse every command.
A new command: one module here, its name added to `COMMANDS`.
"""

from __future__ import annotations

import argparse
from importlib import import_module

from .options import HelpFormatter

# the order of `lightretriever --help`: make an artifact, use it, fit it, measure it
COMMANDS = ("build", "export_table", "encode", "index", "encode_corpus", "train", "adapt", "search", "evaluate",
            "report", "quickstart")


def add_commands(subparsers) -> None:
    for name in COMMANDS:
        command = import_module(f".{name}", __name__)
        parser = subparsers.add_parser(command.NAME, help=command.HELP, description=command.__doc__,
                                       formatter_class=HelpFormatter)
        command.add_arguments(parser)
        parser.set_defaults(run=command.run, interrupted=getattr(command, "INTERRUPTED", None))


def parser_of(top: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The sub-parser of command `name` (tests, help checks)."""
    (subparsers,) = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    return subparsers.choices[name]
