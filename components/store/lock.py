"""One writer per embedded directory.

qdrant-edge keeps its own lock on the shard's WAL, but its error ("Can't init WAL: WouldBlock")
says nothing useful. We take an exclusive `flock` on `<collection>/.lock` first and record our pid
in it, so a second process — or a second store object in this process — gets a clear "in use"
error. The OS releases a flock when its process dies, so a killed indexer never leaves a stale lock.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import StoreInUseError

try:
    import fcntl
except ImportError:  # Windows: fall back to the engine's own WAL lock
    fcntl = None


class DirectoryLock:
    def __init__(self, folder: Path):
        self.file = folder / ".lock"
        self._handle = None

    def acquire(self) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.file, "a+")
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                handle.close()
                raise StoreInUseError(
                    f"{self.file.parent} is in use by another open store (pid {holder}); an embedded "
                    "collection allows one open store at a time. Close the other one (store.close()), "
                    "wait for it to finish, or serve the collection from a Qdrant server for concurrent access"
                ) from None
        handle.seek(0)
        handle.truncate()
        try:  # the pid is for the "in use" message only: a full disk must not fail the lock over it
            os.write(handle.fileno(), str(os.getpid()).encode())
        except OSError:
            pass
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            if fcntl is not None:
                fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
