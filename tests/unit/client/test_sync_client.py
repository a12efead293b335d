"""The sync client against a small real HTTP server playing the API server: refusals of
the calls that read an action's Jobs, Pods and Events, and a watch of a named action
that does not exist."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client as k8s

from asyncaction_client import ApiError, Client, ClientError
from asyncaction_client.errors import WaitTimeout

ACTION = {
    "apiVersion": "asyncaction.dev/v1alpha1",
    "kind": "AsyncAction",
    "metadata": {"name": "a", "namespace": "ns", "uid": "u-1", "resourceVersion": "7"},
    "status": {"phase": "RUNNING", "attempts": 1},
}


class _ApiServer(BaseHTTPRequestHandler):
    """Core and batch lists are refused (403, as RBAC refuses them); AsyncActions list
    empty and their watch ends at once with no event."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if "/asyncactions" in url.path:
            if parse_qs(url.query).get("watch") == ["true"]:
                self._answer(200, b"")
            else:
                listed = {"kind": "AsyncActionList", "metadata": {"resourceVersion": "7"}}
                self._answer(200, json.dumps({**listed, "items": []}).encode())
            return
        kind = url.path.rsplit("/", 1)[-1]
        status = {"kind": "Status", "code": 403, "reason": "Forbidden"}
        status["message"] = f"{kind} is forbidden here"
        self._answer(403, json.dumps(status).encode())

    def _answer(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def client() -> Iterator[Client]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ApiServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    config = k8s.Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield Client(api_client=k8s.ApiClient(config), namespace="ns")
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("call", "kind"), [("events", "events"), ("jobs", "jobs"), ("pods", "pods")]
)
def test_inspection_refusals_are_the_one_api_error_class(
    client: Client, call: str, kind: str
) -> None:
    """As the async client's: ``asyncaction describe`` then says what was refused."""
    with pytest.raises(ApiError) as caught:
        getattr(client, call)(ACTION)
    assert (caught.value.status, str(caught.value)) == (403, f"{kind} is forbidden here (403)")
    assert isinstance(caught.value, ClientError)


def test_watching_a_named_action_that_does_not_exist_yields_nothing(client: Client) -> None:
    """As the async client's watch: no empty ``{}`` stands for the missing action."""
    assert list(client.watch("nothing", timeout=0.3)) == []


def test_a_client_given_an_api_client_names_no_kubeconfig_file(client: Client) -> None:
    """As the async client: the attribute is there, None, rather than missing."""
    assert client.kubeconfig_file is None


def test_a_wait_ends_at_its_timeout_against_an_api_server_that_never_answers() -> None:
    """The first list was sent without a request timeout (urllib3 has none by default):
    against an API server that accepts connections and answers nothing, ``wait`` with a
    2 s timeout was still blocked after 30 s (found by review)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held: list[socket.socket] = []

    def hold() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(silent.accept()[0])

    threading.Thread(target=hold, daemon=True).start()
    config = k8s.Configuration(host=f"http://127.0.0.1:{silent.getsockname()[1]}")
    started = time.monotonic()
    try:
        with pytest.raises(WaitTimeout):
            Client(api_client=k8s.ApiClient(config), namespace="ns").wait("demo", timeout=1)
    finally:
        silent.close()
        for conn in held:
            conn.close()
    # bounded: the list's own 5 s, times the 4 tries urllib3 makes of a timed-out GET
    assert time.monotonic() - started < 45
