"""Progress: a bar on a terminal, throttled plain lines in a file, silence when disabled."""

from __future__ import annotations

import logging
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from lightretriever.components import progress as progress_module
from lightretriever.components.errors import InvalidArgumentError
from lightretriever.components.progress import LineProgress, progress, progress_mode, track

# 60 updates, 0.02 s apart, lines every 0.3 s: a few interval lines and the final one.
SCRIPT = """
import time
from lightretriever.components import progress as p
p.LOG_INTERVAL_S = 0.3
with p.progress(60, desc="encoding documents", unit="doc") as bar:
    for _ in range(60):
        time.sleep(0.02)
        bar.update(1)
"""


def _environment(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != progress_module.MODE_VARIABLE}
    return {**env, **extra}


def _run_into_file(tmp_path, **env) -> str:
    log = tmp_path / "stderr.log"
    with open(log, "wb") as stderr:
        subprocess.run([sys.executable, "-c", SCRIPT], stderr=stderr, check=True, env=_environment(**env))
    return log.read_text()


def test_a_file_gets_throttled_lines_and_no_carriage_returns(tmp_path):
    text = _run_into_file(tmp_path)
    assert "\r" not in text
    lines = text.splitlines()
    assert 2 <= len(lines) <= 8, lines  # ~1.2 s of work at one line per 0.3 s, plus the final line
    assert lines[0].startswith("encoding documents: ") and " doc/s" in lines[0] and "ETA " in lines[0]
    assert lines[-1].startswith("encoding documents: 60/60 (100.0 %)") and "took 0:0" in lines[-1]


def test_a_terminal_gets_a_bar(tmp_path):
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0 columns wide
    try:
        subprocess.run([sys.executable, "-c", SCRIPT], stderr=follower, stdout=subprocess.DEVNULL,
                       check=True, env=_environment())
        os.close(follower)
        follower = None
        shown = _read_all(leader)
    finally:
        os.close(leader)
        if follower is not None:
            os.close(follower)
    assert "\r" in shown and "encoding documents:" in shown and "60/60" in shown and "|" in shown


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO once the child's side is closed (Linux)
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def test_the_variable_forces_lines_and_rejects_unknown_modes(tmp_path, monkeypatch):
    assert "\r" not in _run_into_file(tmp_path, LIGHTRETRIEVER_PROGRESS="lines")
    assert _run_into_file(tmp_path, LIGHTRETRIEVER_PROGRESS="off") == ""
    monkeypatch.setenv(progress_module.MODE_VARIABLE, "spinner")
    with pytest.raises(InvalidArgumentError, match="LIGHTRETRIEVER_PROGRESS='spinner'.*bar, lines, off"):
        progress_mode()


def test_disabled_is_silent_whatever_the_variable(capsys, monkeypatch):
    monkeypatch.setenv(progress_module.MODE_VARIABLE, "lines")
    with progress(3, desc="quiet", unit="doc", enabled=False) as bar:
        bar.update(3)
    assert list(track(range(3), desc="quiet", unit="batch", enabled=False)) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_track_counts_items_and_reports_postfix_and_unknown_totals(capsys, monkeypatch):
    monkeypatch.setenv(progress_module.MODE_VARIABLE, "lines")
    assert list(track(iter("abc"), desc="reading corpus", unit="doc")) == ["a", "b", "c"]
    with LineProgress(None, "fitting", "step", interval_s=0.0) as bar:
        bar.set_postfix(loss="0.5000", epoch=1)
        bar.update(2)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("reading corpus: 3 doc, ") and "took" in err[0]
    assert err[1].startswith("fitting: 2 step, ") and err[1].endswith("loss=0.5000, epoch=1")
    assert len(err) == 3 and "took" in err[2]


def test_lines_go_to_the_logger_when_logging_shows_info(capsys, monkeypatch, caplog):
    monkeypatch.setenv(progress_module.MODE_VARIABLE, "lines")
    with caplog.at_level(logging.INFO, logger="lightretriever.progress"):
        with progress(4, desc="indexing", unit="doc") as bar:
            bar.update(4)
    assert capsys.readouterr().err == ""
    assert [r.getMessage() for r in caplog.records][-1].startswith("indexing: 4/4 (100.0 %)")


def test_third_party_bars_follow_the_same_rule(tiny_llama_artifact, capfd, monkeypatch):
    """bm25s' own bars and transformers' "Loading weights" bar: nothing of them reaches a log."""
    from lightretriever.components.backbones import load_backbone
    from lightretriever.pipelines.bm25 import _bars

    monkeypatch.delenv("LIGHTRETRIEVER_PROGRESS", raising=False)
    assert _bars(True) is False and _bars(False) is False  # pytest's stderr is not a terminal
    monkeypatch.setenv("LIGHTRETRIEVER_PROGRESS", "bar")
    assert _bars(True) is True
    capfd.readouterr()
    load_backbone(tiny_llama_artifact)
    err = capfd.readouterr().err
    assert "Loading weights" not in err and "\r" not in err
