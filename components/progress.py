"""Progress that reads well where it is shown: a bar on a terminal, a line every N seconds elsewhere.

`progress(total, desc=..., unit=...)` and `track(items, ...)` are the project's only way to show
progress. Where stderr is a terminal (or in a notebook) they are tqdm bars. Where it is not (a log
file, CI, a pipe) a bar would be carriage-return spam, so one plain line is written every
`LOG_INTERVAL_S` seconds and one when the work ends:

    encoding documents: 1,024/5,183 (19.8 %), 41 doc/s, ETA 1:41

The lines go to the `lightretriever.progress` logger when logging is set up to show INFO there
(the application decides where logs go), otherwise to stderr. `enabled=False` is silent.
`LIGHTRETRIEVER_PROGRESS=bar|lines|off` overrides the choice (e.g. `lines` in a terminal that
records to a file). No torch here: the query path may show progress too.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Iterable, Iterator, TypeVar

from tqdm.auto import tqdm

from .errors import InvalidArgumentError

LOG_INTERVAL_S = 30.0  # a 35-minute encode writes ~70 lines, a 20-second one writes one
MODE_VARIABLE = "LIGHTRETRIEVER_PROGRESS"
MODES = ("bar", "lines", "off")

logger = logging.getLogger("lightretriever.progress")
T = TypeVar("T")


class LineProgress:
    """tqdm's small surface used here (update, set_postfix, set_postfix_str, close, `with`), written
    as throttled plain lines."""

    def __init__(self, total: int | None, desc: str, unit: str, initial: int = 0,
                 interval_s: float | None = None):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self._interval_s = LOG_INTERVAL_S if interval_s is None else interval_s  # read now: tests shorten it
        self._initial, self._postfix = initial, ""
        self._started = self._last_line = time.monotonic()
        self._closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last_line >= self._interval_s:
            self._last_line = now
            self._write(self._line(now))

    def set_postfix(self, **values) -> None:
        self._postfix = ", ".join(f"{key}={value}" for key, value in values.items())

    def set_postfix_str(self, text: str) -> None:
        self._postfix = text

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._write(self._line(time.monotonic(), final=True))

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def _line(self, now: float, final: bool = False) -> str:
        elapsed = max(now - self._started, 1e-9)
        rate = (self.n - self._initial) / elapsed
        parts = [f"{self.n:,}/{self.total:,} ({100 * self.n / self.total:.1f} %)" if self.total
                 else f"{self.n:,} {self.unit}"]
        parts.append(f"{rate:,.1f} {self.unit}/s" if rate < 10 else f"{rate:,.0f} {self.unit}/s")
        if final:
            parts.append(f"took {_clock(elapsed)}")
        elif self.total and rate > 0:
            parts.append(f"ETA {_clock((self.total - self.n) / rate)}")
        if self._postfix:
            parts.append(self._postfix)
        return f"{self.desc}: " + ", ".join(parts)

    @staticmethod
    def _write(line: str) -> None:
        if logger.hasHandlers() and logger.isEnabledFor(logging.INFO):
            logger.info(line)
        else:
            print(line, file=sys.stderr, flush=True)


def progress(total: int | None = None, *, desc: str, unit: str, enabled: bool = True,
             initial: int = 0) -> tqdm | LineProgress:
    """A bar or a line writer for `total` units of work (see the module docstring); use it with `with`."""
    mode = progress_mode(enabled)
    if mode == "bar":
        return tqdm(total=total, desc=desc, unit=unit, initial=initial, dynamic_ncols=True)
    if mode == "lines":
        return LineProgress(total, desc, unit, initial=initial)
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, disable=True)


def track(items: Iterable[T], *, desc: str, unit: str, enabled: bool = True,
          total: int | None = None) -> Iterator[T]:
    """`items`, reporting one unit per item (`total` defaults to `len(items)` when it has one)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress(total, desc=desc, unit=unit, enabled=enabled) as shown:
        for item in items:
            yield item
            shown.update(1)


def progress_mode(enabled: bool = True) -> str:
    """"bar", "lines" or "off": off when disabled, else the override variable, else what stderr is."""
    if not enabled:
        return "off"
    chosen = os.environ.get(MODE_VARIABLE, "").strip().lower()
    if chosen:
        if chosen not in MODES:
            raise InvalidArgumentError(f"{MODE_VARIABLE}={chosen!r} is not a progress mode; use one of {', '.join(MODES)}")
        return chosen
    return "bar" if _interactive() else "lines"


def _interactive() -> bool:
    # A notebook's stderr is no terminal, but it draws tqdm.auto's widget bars well.
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def _clock(seconds: float) -> str:
    """1:41, 1:02:03."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
