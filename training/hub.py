"""Whether the Hugging Face hub can be reached, decided in about a second.

Without it, `from_pretrained("org/model")` on a machine with no network retries for ~30 s before it fails;
`build` asks first and, offline, loads with `local_files_only=True`: a cached model still builds, a missing
one fails at once with the fix. `HF_HUB_OFFLINE=1` is honoured (no probe); `HF_ENDPOINT` (a mirror) is the
host probed.
"""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlparse

PROBE_SECONDS = 1.5


def hub_offline() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return not _reachable(endpoint.hostname or "huggingface.co", endpoint.port or 443, PROBE_SECONDS)


def _reachable(host: str, port: int, seconds: float) -> bool:
    """A TCP connection within `seconds`. The DNS lookup has no timeout of its own, so the whole attempt
    runs in a daemon thread that is abandoned when the time is up."""
    result: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=seconds):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(seconds)
    return bool(result and result[0])
