"""`$LIGHTRETRIEVER_HOME` (default `~/.cache/lightretriever`): caches and default stores live here."""

from __future__ import annotations

import os
from pathlib import Path


def lightretriever_home() -> Path:
    return Path(os.environ.get("LIGHTRETRIEVER_HOME") or Path.home() / ".cache" / "lightretriever").expanduser()
