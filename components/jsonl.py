"""JSONL lines with file:line errors: the one reader of every `.jsonl` / `.jsonl.gz` input.

Training (BEIR corpora, triples), pipelines (`index`, `evaluate`'s BEIR queries, `adapt`'s queries) and
any caller read lines through it; it lives in components because imports run pipelines -> training ->
components and both sides need it. Stdlib only (no torch, no engine). Each caller passes the error
class of its own layer (`error=`), so a message keeps its layer's type.

A bad byte, a damaged .gz, an unreadable file or a line that is not a JSON object raises the caller's
`error` class naming file:line and the fix — never a bare UnicodeDecodeError / EOFError / JSONDecodeError
without a position: a silently dropped line is a silent change to an index or to training.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path


def numbered_lines(path: str | Path, error: type[Exception]) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line of a UTF-8 text file, gunzipped on the fly when it ends in .gz
    (the reader of every JSONL input: corpora, training data, queries).

    Lines are decoded one at a time, so that a byte that is not UTF-8, a damaged or truncated .gz, or
    an unreadable file raises `error` naming file:line and the fix, instead of a bare
    UnicodeDecodeError / EOFError without a position. A UTF-8 byte-order mark on line 1 is dropped."""
    path, offset = Path(path), 0  # offset: where the line starts in the (decompressed) file
    for number, raw in numbered_raw_lines(path, error):
        yield number, utf8_line(raw, path, number, offset, error)
        offset += len(raw)


def numbered_raw_lines(path: str | Path, error: type[Exception]) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of every line, gunzipped when the name ends in .gz; a damaged .gz or an
    unreadable file raises `error` with file:line (the line reached)."""
    path, number = Path(path), 0  # number: the last line read whole
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                yield number, raw
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:  # before OSError: BadGzipFile is one
        raise error(f"{path}:{number + 1}: the .gz file is damaged, truncated or not gzip ({exc}); {number} lines "
                    f"were readable: copy or download it again (`gzip -t {path}` checks it)") from None
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}; check the path and its permissions") from None


def utf8_line(raw: bytes, path: Path, number: int, offset: int, error: type[Exception]) -> str:
    """`raw` decoded; bytes that are not UTF-8 raise `error` with file:line, the byte and its offset."""
    try:
        return raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        gz = path.suffix == ".gz"
        fix = (f"zcat {path} | iconv -f latin1 -t utf-8 | gzip > fixed.jsonl.gz" if gz
               else f"iconv -f latin1 -t utf-8 {path} > fixed.jsonl")
        raise error(f"{path}:{number}: byte 0x{raw[exc.start]:02x} at column {exc.start + 1} (byte {offset + exc.start} "
                    f"of the {'decompressed text' if gz else 'file'}) is not UTF-8; re-encode the file as UTF-8, e.g. "
                    f"`{fix}` for a Latin-1 file") from None


def json_object(line: str, where: str, error: type[Exception], then: str = "") -> dict:
    """One JSONL line as a dict, or `error` naming `where` (file:line); `then` ends the fix
    (e.g. " and rerun with --resume")."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: not valid JSON ({exc.msg}); fix or remove the line{then}") from exc
    except RecursionError:
        raise error(f"{where}: JSON nested too deeply to read; flatten the line") from None
    if not isinstance(record, dict):
        raise error(f"{where}: expected a JSON object per line, got {type(record).__name__}")
    return record
