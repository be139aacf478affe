"""An output file is checked (and its directory made) before the work that fills it: a missing or
read-only directory found only at the end would throw the work away."""

from __future__ import annotations

import os
from pathlib import Path

from lightretriever.components.errors import InvalidArgumentError


def check_output_file(path: str, flag: str, example: str) -> Path:
    out = Path(path)
    if out.is_dir():
        raise InvalidArgumentError(f"{flag} {out} is a directory; pass a file name, e.g. {out / example}")
    blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise InvalidArgumentError(f"{flag} {out}: {blocking} is a file, not a directory; pick another location")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidArgumentError(f"{flag} {out}: cannot create its directory ({exc.strerror or exc}); "
                                   "pick a writable location") from None
    if not os.access(out.parent, os.W_OK):
        raise InvalidArgumentError(f"{flag} {out}: {out.parent} is not writable; pick a writable location")
    return out
