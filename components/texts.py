"""The one check of a batch of texts, for queries and documents alike.

Python strings can hold lone surrogates (e.g. "abc\\ud800", or command-line bytes that are not UTF-8,
which Python decodes with surrogateescape); no tokenizer can encode them, so they are refused here with
the position of the bad text and character, instead of a `TypeError: TextEncodeInput…` from deep inside
the tokenizer. Queries get QueryError; documents InvalidArgumentError.
"""

from __future__ import annotations

from .errors import InvalidArgumentError, LightRetrieverError, QueryError


def check_texts(texts, kind: str = "query") -> list[str]:
    """The batch as a list of valid Unicode strings, or an error naming the first bad position.
    `kind` is "query" or "document" (the word used in messages, and the error type)."""
    error = QueryError if kind == "query" else InvalidArgumentError
    if isinstance(texts, (str, bytes)):
        raise error(f"encode takes a list of strings, got a single {type(texts).__name__}; "
                    f"wrap a single {kind} as [{kind}]")
    try:
        texts = list(texts)
    except TypeError:
        raise error(f"encode takes a list of strings, got {type(texts).__name__}") from None
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            hint = " (decode it first, e.g. text.decode('utf-8'))" if isinstance(text, (bytes, bytearray)) else ""
            raise error(f"{kind} {i} is {type(text).__name__}, not str{hint}: pass valid Unicode text")
        if not text.isascii():
            _check_unicode(i, text, kind, error)
    return texts


def _check_unicode(i: int, text: str, kind: str, error: type[LightRetrieverError]) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        if 0xDC80 <= ord(char) <= 0xDCFF:  # surrogateescape: a byte that was not UTF-8
            what = f"byte 0x{ord(char) - 0xDC00:02x} that is not UTF-8"
        else:
            what = f"lone surrogate {char!r}"
        raise error(f"{kind} {i} is not valid Unicode text: {what} at character {exc.start}; "
                    "pass valid Unicode text (decode bytes as UTF-8, or fix the text's encoding)") from None
