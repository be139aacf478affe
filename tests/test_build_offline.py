"""`build` with a hub id where the hub cannot be reached fails at once with the fix, instead of retrying
for half a minute (transformers' default); the probe itself is checked against real sockets."""

import socket
import time

import pytest

from lightretriever.pipelines.cli import main
from lightretriever.training import hub


@pytest.mark.parametrize("offline_flag", [None, "1"])
def test_build_of_an_unreachable_hub_id_fails_fast_with_the_fix(tmp_path, monkeypatch, capsys, offline_flag):
    if offline_flag:
        monkeypatch.setenv("HF_HUB_OFFLINE", offline_flag)
    else:  # no network here; a mirror name that cannot resolve keeps the test honest where there is one
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")
    started = time.perf_counter()
    code = main(["build", "no-such-org/no-such-model", str(tmp_path / "out")])
    seconds = time.perf_counter() - started
    err = capsys.readouterr().err
    assert code == 2 and seconds < 5, (code, seconds, err)
    assert err.count("\n") == 1 and "cannot be reached" in err and "pass a local HF model directory" in err
    assert not (tmp_path / "out").exists()


def test_the_probe_sees_a_listening_port_and_a_closed_one():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert hub._reachable("127.0.0.1", server.getsockname()[1], 1.0)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: refused
    assert not hub._reachable("127.0.0.1", port, 1.0)


def test_the_probe_gives_up_within_its_time_on_a_silent_host(monkeypatch):
    def hang(*args, **kwargs):  # a host that never answers: the connection times out long after the probe gave up
        time.sleep(2)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", hang)
    started = time.perf_counter()
    assert not hub._reachable("example.org", 443, 0.3)
    assert time.perf_counter() - started < 1.0
