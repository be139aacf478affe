"""The `lightretriever` command line (one module per command in `pipelines/commands/`).

Exit status: 0 done; 2 refused (a bad input, argument or environment: one `error:` line naming it and the
fix, never a traceback); 130 interrupted (Ctrl-C; the line says what was kept); 141 the output pipe closed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from lightretriever.components.errors import LightRetrieverError

from .commands import add_commands
from .commands.options import HelpFormatter

EXIT_ERROR, EXIT_BROKEN_PIPE, EXIT_INTERRUPTED = 2, 141, 130  # 141/130: as a shell reports SIGPIPE/SIGINT


def main(argv: list[str] | None = None) -> int:
    """Run one command. A user's mistake or a fault of the environment (LightRetrieverError, OSError) is
    one `error:` line and exit 2; Ctrl-C is one line and exit 130; a closed pipe (`| head`) exits quietly."""
    args = None
    try:
        args = _parser().parse_args(argv)
        _show_library_warnings()
        return args.run(args) or 0
    except LightRetrieverError as exc:
        return _fail(str(exc))
    except ModuleNotFoundError as exc:  # a command of an extra the install left out: say which one
        from lightretriever.components.extras import missing_extra

        missing = missing_extra(exc, f"`lightretriever {_command_of(argv)}`")
        if missing is None:
            raise
        return _fail(str(missing))
    except KeyboardInterrupt:
        print(f"interrupted{_interrupted_note(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # permission denied, a missing directory, a read-only disk: not a bug to trace
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}; check the path, its directory and their permissions")


def _command_of(argv: list[str] | None) -> str:
    """The command's name as typed (the first word that is not an option), for messages."""
    words = sys.argv[1:] if argv is None else argv
    return next((word for word in words if not word.startswith("-")), "COMMAND")


def _fail(message: str) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)  # one line, whatever the message holds
    return EXIT_ERROR


def _interrupted_note(args) -> str:
    note = getattr(args, "interrupted", None)
    return f": {note}" if note else ""


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush does not complain again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _show_library_warnings() -> None:
    """Warnings logged by lightretriever (e.g. documents without text) as `warning: ...` lines on stderr."""
    logger = logging.getLogger("lightretriever")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("warning: %(message)s"))
        handler.setLevel(logging.WARNING)
        logger.addHandler(handler)
        logger.propagate = False


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lightretriever", description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"lightretriever {_version()}")
    add_commands(parser.add_subparsers(required=True, metavar="COMMAND"))
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lightretriever")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


if __name__ == "__main__":
    sys.exit(main())
