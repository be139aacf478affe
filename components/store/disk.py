"""Free disk space for the embedded engine, checked before it writes.

qdrant-edge memory-maps its WAL and storage files; when the disk fills while it writes through such a
mapping, the kernel kills the whole process with SIGBUS (exit code 135) — no exception to catch. So the
store checks `shutil.disk_usage` before it opens a collection and before each write:

    needed = WRITE_FACTOR x the batch's size + the floor

WRITE_FACTOR covers the WAL entry, the segment copy and its share of a later merge. The floor covers what
the engine allocates in one step regardless of the batch: 32 MiB WAL segments (a new one is prepared
before the current one fills) and 32 MiB storage pages. It is DEFAULT_MIN_FREE_MB (128 MiB) unless the
environment variable LIGHTRETRIEVER_MIN_FREE_MB says otherwise (0 turns the check off; at your own risk).

Creating a collection needs the floor (the engine allocates ~35 MiB at once); opening an existing one
writes little (measured: it opens and searches with 2 MiB free), so it needs at most OPEN_FLOOR_MB — a
nearly full disk can still be searched. Merging segments (`optimize`) needs the segments' size on top.
When the engine itself reports "No space left" it becomes StoreFullError too (edge.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import InvalidArgumentError, StoreFullError

MIN_FREE_ENV = "LIGHTRETRIEVER_MIN_FREE_MB"
DEFAULT_MIN_FREE_MB = 128
OPEN_FLOOR_MB = 16
WRITE_FACTOR = 4
MiB = 2**20


def min_free_bytes() -> int:
    text = os.environ.get(MIN_FREE_ENV, "").strip()
    if not text:
        return DEFAULT_MIN_FREE_MB * MiB
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also refuses NaN
        raise InvalidArgumentError(f"{MIN_FREE_ENV}={text!r} must be a number of MiB >= 0 "
                                   f"(default {DEFAULT_MIN_FREE_MB})")
    return int(value * MiB)


def free_bytes(folder: Path) -> int:
    """Free bytes on the file system that holds `folder` (or its nearest existing parent)."""
    probe = Path(folder).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def ensure_free_space(folder: Path, batch_bytes: int, doing: str, where: str, factor: int = WRITE_FACTOR,
                      floor_cap_mb: int | None = None) -> None:
    """Raise StoreFullError unless `folder`'s disk can take `doing` (writing `batch_bytes`) safely;
    `floor_cap_mb` lowers the floor for steps that allocate little (opening)."""
    floor = min_free_bytes()
    if floor_cap_mb is not None:
        floor = min(floor, floor_cap_mb * MiB)
    if floor == 0:
        return
    needed = factor * batch_bytes + floor
    free = free_bytes(folder)
    if free < needed:
        raise StoreFullError(
            f"{where}: only {free / MiB:.0f} MiB free on its disk but {doing} needs {needed / MiB:.0f} MiB "
            f"({factor} x {batch_bytes / MiB:.1f} MiB of data + a {floor / MiB:.0f} MiB floor, "
            f"{MIN_FREE_ENV}); the refused write stored nothing, documents written before it are kept. Free "
            "space, then rerun (`lightretriever index … --resume` continues where it stopped)")


def used_bytes(folder: Path) -> int:
    """Bytes `folder` really occupies (allocated blocks: the engine's files are sparse)."""
    total = 0
    for path in Path(folder).rglob("*"):
        try:
            stat = path.lstat()
        except OSError:
            continue
        if path.is_file():
            total += stat.st_blocks * 512
    return total
