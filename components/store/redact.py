"""Keep credentials out of what is printed: `redact(url)` for messages and reprs, `scrub(text, url)` for
text from other libraries (exception messages) that may quote the URL or its parts.

A URL may carry a secret in its userinfo (`http://user:PASSWORD@host`) or in a query parameter
(`?api-key=…`); both become `***`. qdrant-client itself ignores both (it sends only `api_key` as a
header), so nothing is lost by hiding them.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote_plus, urlsplit, urlunsplit

MASK = "***"
SECRET_PARAMS = frozenset({"api-key", "api_key", "apikey", "key", "token", "password"})
SHORT = 8  # secrets shorter than this are masked only where they stand alone


def redact(url: str) -> str:
    """`url` with its userinfo and secret-bearing query parameters replaced by `***`."""
    parts = _split(url)
    if parts is None:
        return _fallback(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rpartition("@")[2]
    query = "&".join(_redacted_param(pair) for pair in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def secrets_in(url: str) -> list[str]:
    """The secret substrings of `url` (userinfo, its password, secret query values), longest first."""
    parts = _split(url)
    if parts is None:
        return [url] if url else []
    found = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        found += [userinfo, userinfo.partition(":")[2]]
    found += [value for name, value in parse_qsl(parts.query, keep_blank_values=True)
              if name.lower() in SECRET_PARAMS]
    found += [pair.partition("=")[2] for pair in parts.query.split("&") if _is_secret(pair)]
    return sorted({s for s in found if s}, key=len, reverse=True)


def scrub(text: str, url: str | None, *extra_secrets: str | None) -> str:
    """`text` with the URL (redacted form) and every secret of it (and `extra_secrets`) masked."""
    if url:
        text = text.replace(url, redact(url))
    secrets = (secrets_in(url) if url else []) + [s for s in extra_secrets if s]
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= SHORT:
            text = text.replace(secret, MASK)
        else:  # a short one only as a whole word, or "S" would eat every capital S of the text
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", MASK, text)
    return text


def mentions(exc: BaseException, url: str | None, *extra_secrets: str | None) -> bool:
    """Whether `exc` or any exception it was raised from quotes a secret (so it must not be chained)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = f"{exc!s} {exc!r}"
        if scrub(text, url, *extra_secrets) != text:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _split(url: str):
    try:
        return urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host: no structure to keep
        return None


def _fallback(url: str) -> str:
    # unparsable: keep the scheme and mask the rest, which is where any secret would be
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://{MASK}" if sep else MASK


def _is_secret(pair: str) -> bool:
    return unquote_plus(pair.partition("=")[0]).lower() in SECRET_PARAMS


def _redacted_param(pair: str) -> str:
    return f"{pair.partition('=')[0]}={MASK}" if _is_secret(pair) else pair
