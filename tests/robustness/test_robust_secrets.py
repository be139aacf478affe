"""Issue 13, secrets slice: credentials in a store URL never reach a message, a repr, a traceback, a log
or a serialised pipeline; the Haystack store takes `api_key` as a Haystack Secret; a refused key is a
StoreAuthError, not "cannot reach".

Real qdrant-client throughout: against a closed port (127.0.0.1:1) and against a tiny HTTP server in a
thread that answers what a Qdrant server would (403 to everything unless a route says otherwise).
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from conftest import run_cli
from haystack.utils import Secret

from lightretriever.components.errors import InvalidArgumentError, StoreAuthError, StoreError
from lightretriever.components.haystack import LightRetrieverDocumentStore, LightRetrieverRetriever
from lightretriever.components.store import CollectionSchema, QdrantHybridStore
from lightretriever.components.store.redact import redact, scrub
from query_artifacts import make_query_artifact

PASSWORD, TOKEN, ENV_KEY = "PW-s3cret", "TOKEN-s3cret", "ENV-s3cret"
CLOSED = "127.0.0.1:1"  # nothing listens on port 1: connection refused, at once
SECRET_URLS = [f"http://admin:{PASSWORD}@{CLOSED}", f"http://{CLOSED}/?api-key={TOKEN}"]
SECRETS = (PASSWORD, TOKEN, ENV_KEY)


def ok(result) -> tuple[int, dict]:
    return 200, {"result": result, "status": "ok", "time": 0.0}


class FakeQdrant:
    """An HTTP server on a free localhost port: `routes` {(method, path): (status, json)}, else `default`.
    Records each request's method, path and headers."""

    def __init__(self, routes=None, default=(403, {"status": {"error": "Forbidden"}})):
        self.routes, self.default, self.requests = dict(routes or {}), default, []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self):
                if int(self.headers.get("Content-Length") or 0):
                    self.rfile.read(int(self.headers["Content-Length"]))
                fake.requests.append((self.command, self.path, dict(self.headers)))
                status, body = fake.routes.get((self.command, urlsplit(self.path).path), fake.default)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    fake = FakeQdrant()
    yield fake
    fake.close()


@pytest.fixture
def creatable(server):
    """A server where collection 'c' does not exist and creating it succeeds; everything else is 403."""
    server.routes.update({("GET", "/collections/c/exists"): ok({"exists": False}),
                          ("PUT", "/collections/c"): ok(True)})
    return server


@pytest.fixture
def no_env_key(monkeypatch):
    monkeypatch.delenv("QDRANT_API_KEY", raising=False)


def with_secrets(url: str) -> str:
    """`url` (http://host:port) with a password and an api-key parameter added."""
    return url.replace("http://", f"http://admin:{PASSWORD}@") + f"/?api-key={TOKEN}&x=1"


def assert_no_secret(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{leaked} in {text!r}"


def shown(exc: BaseException) -> str:
    """Everything a traceback of `exc` prints, the chained causes included."""
    return "".join(traceback.format_exception(exc))


def tiny_schema() -> CollectionSchema:
    return CollectionSchema(dense_dim=4, vocab_size=10, document_fingerprint="f")


# -- redact() ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, expected", [
    ("http://admin:PW@host:6333", "http://***@host:6333"),
    ("https://TOKEN@host", "https://***@host"),
    ("http://host:6333/?api-key=S&x=1", "http://host:6333/?api-key=***&x=1"),
    ("http://host/?API_KEY=S&apikey=S&Key=S&token=S&password=S",
     "http://host/?API_KEY=***&apikey=***&Key=***&token=***&password=***"),
    ("http://host:6333/prefix", "http://host:6333/prefix"),
    ("http://u:p@[::1", "http://***"),  # unparsable: everything after the scheme is hidden
])
def test_redact_masks_userinfo_and_secret_parameters(url, expected):
    assert redact(url) == expected


def test_scrub_masks_the_url_and_its_secrets_in_other_text():
    url = f"http://admin:{PASSWORD}@h:1/?api-key=S"
    text = f"StatusCode S of S3: failed to parse {url}; password {PASSWORD}."
    assert scrub(text, url) == "StatusCode *** of S3: failed to parse http://***@h:1/?api-key=***; password ***."


# -- unreachable server -----------------------------------------------------------------------------

@pytest.mark.parametrize("url", SECRET_URLS)
def test_unreachable_server_error_hides_credentials(url, no_env_key):
    with pytest.raises(StoreError, match=r"cannot reach Qdrant at http://") as info:
        QdrantHybridStore(url=url, collection="c")
    assert "***" in str(info.value)
    assert_no_secret(shown(info.value))


def test_unparsable_url_error_hides_credentials(no_env_key):
    with pytest.raises(StoreError, match=r"cannot use http://\*\*\*@127.0.0.1:99999 as a Qdrant URL") as info:
        QdrantHybridStore(url=f"http://admin:{PASSWORD}@127.0.0.1:99999", collection="c")
    assert_no_secret(shown(info.value))


@pytest.mark.parametrize("url", SECRET_URLS)
@pytest.mark.slow
def test_cli_error_hides_credentials(url, tmp_path, no_env_key):
    artifact, _ = make_query_artifact(tmp_path / "art")
    result = run_cli("search", str(artifact.root), "aspirin", "--store", url, "--collection", "c", check=False)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot reach Qdrant" in errors[0]
    assert "Traceback" not in result.stderr
    assert_no_secret(result.stdout + result.stderr)


# -- a server that answers ----------------------------------------------------------------------------

def test_repr_and_messages_show_the_redacted_url(creatable, no_env_key):
    with QdrantHybridStore(url=with_secrets(creatable.url), collection="c", schema=tiny_schema()) as store:
        assert repr(store) == (f"QdrantHybridStore(collection 'c' at {creatable.url.replace('http://', 'http://***@')}"
                               "/?api-key=***&x=1, backend=qdrant-client)")
    missing = r"collection 'c' at http://\*\*\*@127.0.0.1:\d+/\?api-key=\*\*\*&x=1 does not exist"
    with pytest.raises(StoreError, match=missing) as info:
        QdrantHybridStore(url=with_secrets(creatable.url), collection="c")  # no schema: nothing to create
    assert_no_secret(shown(info.value))


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_is_an_auth_error_not_unreachable(server, status, monkeypatch):
    server.default = (status, {"status": {"error": "Unauthorized"}})
    monkeypatch.setenv("QDRANT_API_KEY", ENV_KEY)
    with pytest.raises(StoreAuthError, match=rf"Qdrant at {server.url} refused the API key \(HTTP {status}\): "
                                             "set QDRANT_API_KEY or pass api_key") as info:
        QdrantHybridStore(url=server.url, collection="c")
    assert "cannot reach" not in str(info.value)
    assert_no_secret(shown(info.value))
    assert server.requests[-1][2].get("api-key") == ENV_KEY  # the key from the environment was sent


def test_auth_error_says_when_no_key_was_sent(server, no_env_key):
    with pytest.raises(StoreAuthError, match=r"\(HTTP 403; no API key was sent\)"):
        QdrantHybridStore(url=server.url, collection="c")


def test_refusal_after_opening_is_an_auth_error_too(creatable, no_env_key):
    """The server let the collection be created, then refuses writes and reads: every call is covered."""
    with QdrantHybridStore(url=with_secrets(creatable.url), collection="c", schema=tiny_schema()) as store:
        for call in (store.count, lambda: store.delete(["a"]), lambda: store.get(["a"])):
            with pytest.raises(StoreAuthError, match="refused the API key") as info:
                call()
            assert_no_secret(shown(info.value))


def test_other_server_errors_are_one_line_store_errors(creatable, no_env_key):
    creatable.routes[("POST", "/collections/c/points/count")] = (500, {"status": {"error": "disk\nbroken"}})
    with QdrantHybridStore(url=creatable.url, collection="c", schema=tiny_schema()) as store:
        with pytest.raises(StoreError, match=r"Qdrant at .* refused to count collection 'c' \(HTTP 500 .*disk broken") \
                as info:
            store.count()
    assert "\n" not in str(info.value)


def test_debug_logs_carry_no_secret(server, caplog, monkeypatch):
    monkeypatch.setenv("QDRANT_API_KEY", ENV_KEY)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(StoreAuthError):
            QdrantHybridStore(url=with_secrets(server.url), collection="c")
    assert "HTTP Request" in caplog.text  # httpx did log the request
    assert_no_secret(caplog.text)


# -- Haystack: api_key as a Secret ------------------------------------------------------------------------

ENV_SECRET = {"type": "env_var", "env_vars": ["QDRANT_API_KEY"], "strict": False}


def test_haystack_store_reads_the_env_var_when_it_connects(server, monkeypatch):
    monkeypatch.delenv("QDRANT_API_KEY", raising=False)
    store = LightRetrieverDocumentStore(url=server.url, collection="c")
    monkeypatch.setenv("QDRANT_API_KEY", ENV_KEY)  # set after construction: resolved only on connect
    with pytest.raises(StoreAuthError, match="refused the API key"):
        store.count_documents()
    assert server.requests[-1][2].get("api-key") == ENV_KEY


def test_haystack_store_sends_an_explicit_secret(server, no_env_key):
    store = LightRetrieverDocumentStore(url=server.url, collection="c", api_key=Secret.from_token(TOKEN))
    with pytest.raises(StoreAuthError) as info:
        store.count_documents()
    assert server.requests[-1][2].get("api-key") == TOKEN
    assert_no_secret(shown(info.value))


def test_haystack_store_serialises_the_secret_by_name(server, monkeypatch):
    monkeypatch.setenv("QDRANT_API_KEY", ENV_KEY)
    store = LightRetrieverDocumentStore(url=server.url, collection="c")
    data = store.to_dict()
    assert data["init_parameters"]["api_key"] == ENV_SECRET
    assert_no_secret(json.dumps(data))
    again = LightRetrieverDocumentStore.from_dict(data)
    assert isinstance(again.api_key, Secret) and again.api_key.to_dict() == ENV_SECRET
    assert again.api_key.resolve_value() == ENV_KEY
    assert data["init_parameters"]["api_key"] == ENV_SECRET  # from_dict left the caller's dict alone


def test_haystack_store_refuses_to_serialise_a_token(server):
    store = LightRetrieverDocumentStore(url=server.url, collection="c", api_key=Secret.from_token(TOKEN))
    with pytest.raises(ValueError, match="Cannot serialize token-based secret"):
        store.to_dict()


def test_haystack_store_refuses_to_serialise_credentials_in_the_url():
    store = LightRetrieverDocumentStore(url=f"http://admin:{PASSWORD}@{CLOSED}", collection="c")
    with pytest.raises(InvalidArgumentError, match=r"url http://\*\*\*@127.0.0.1:1 carries credentials") as info:
        store.to_dict()
    assert_no_secret(str(info.value))


def test_haystack_retriever_round_trip_keeps_the_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("QDRANT_API_KEY", ENV_KEY)
    artifact, _ = make_query_artifact(tmp_path / "art")
    store = LightRetrieverDocumentStore(url=f"http://{CLOSED}", collection="c", model=str(artifact.root))
    data = LightRetrieverRetriever(document_store=store, top_k=3).to_dict()
    assert_no_secret(json.dumps(data))
    again = LightRetrieverRetriever.from_dict(data)
    assert again.document_store.api_key.to_dict() == ENV_SECRET and again.top_k == 3


def test_a_store_url_of_another_scheme_is_refused_without_its_secret(tmp_path, monkeypatch):
    """`ftp://admin:PW@x:1` used to become the directory `ftp:/admin:PW@x:1/<collection>` (created in the
    working directory), and the "does not exist" message printed the password."""
    from lightretriever.components.store import QdrantHybridStore

    monkeypatch.chdir(tmp_path)
    for url in ("ftp://admin:HUNTER2PW@x:1", "grpc://h:6334/?api-key=HUNTER2PW"):
        with pytest.raises(StoreError, match="only http:// and https://") as caught:
            QdrantHybridStore.from_location(url, "c")
        assert "HUNTER2PW" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []
