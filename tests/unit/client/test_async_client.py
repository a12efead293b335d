"""The async client against a small real HTTP server playing the API server's list and
watch of AsyncActions, and its surface compared with the sync client's."""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from kubernetes_asyncio import client as k8s

import asyncaction_client
from asyncaction_client import ActionNotFound, ApiError, AsyncClient, Client, ClientError
from asyncaction_client.errors import WaitTimeout, api_error_of

PATH = "/apis/asyncaction.dev/v1alpha1/namespaces/ns/asyncactions"


def action(phase: str, details: str = "") -> dict[str, Any]:
    return {
        "apiVersion": "asyncaction.dev/v1alpha1",
        "kind": "AsyncAction",
        "metadata": {"name": "big", "namespace": "ns", "resourceVersion": "7"},
        "status": {"phase": phase, "result": {"x": details}},
    }


@pytest_asyncio.fixture
async def api_server() -> AsyncIterator[TestServer]:
    """LIST answers RUNNING; the WATCH then sends one MODIFIED event of 1.2 MB (an action
    with a big result), in pieces as a network delivers it."""

    async def actions(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch", "").lower() != "true":
            listed = {"kind": "AsyncActionList", "metadata": {"resourceVersion": "7"}}
            return web.json_response({**listed, "items": [action("RUNNING")]})
        response = web.StreamResponse()
        await response.prepare(request)
        event = {"type": "MODIFIED", "object": action("SUCCEEDED", "y" * 1_200_000)}
        line = json.dumps(event).encode() + b"\n"
        for start in range(0, len(line), 64_000):
            await response.write(line[start : start + 64_000])
        return response

    async def missing(request: web.Request) -> web.Response:
        body = {"kind": "Status", "code": 403, "message": "forbidden here", "reason": "Forbidden"}
        return web.json_response(body, status=403)

    async def patch(request: web.Request) -> web.Response:
        # The API server takes a merge patch of a spec; a JSON patch must be a list (400).
        if request.content_type != "application/merge-patch+json":
            body = {"kind": "Status", "code": 400, "message": "cannot unmarshal object"}
            return web.json_response(body, status=400)
        return web.json_response({**action("RUNNING"), "spec": (await request.json())["spec"]})

    app = web.Application()
    app.router.add_get(PATH, actions)
    app.router.add_patch(PATH + "/big", patch)
    app.router.add_get(PATH + "/secret", missing)
    server = TestServer(app)
    async with server:  # its __aenter__ is typed as returning the base class
        yield server


def client_for(server: TestServer) -> AsyncClient:
    config = k8s.Configuration(host=str(server.make_url("")).rstrip("/"))
    return AsyncClient(k8s.ApiClient(config), "ns")


@pytest.mark.asyncio
async def test_wait_reads_a_watch_event_larger_than_aiohttps_line_limit(
    api_server: TestServer,
) -> None:
    async with client_for(api_server) as client:
        result = await client.wait("big", timeout=30)
    assert result == {"x": "y" * 1_200_000}


@pytest.mark.asyncio
async def test_async_refusals_are_the_one_api_error_class(api_server: TestServer) -> None:
    async with client_for(api_server) as client:
        with pytest.raises(asyncaction_client.ApiError) as caught:
            await client.get("secret")
    assert (caught.value.status, str(caught.value)) == (403, "forbidden here (403)")
    assert isinstance(caught.value, ClientError)


@pytest.mark.asyncio
async def test_an_async_watch_refused_or_gone_is_handled_as_the_sync_one() -> None:
    """Found by a review: the async watch retried every answer but 200 until its timeout
    (for ever without one), where the sync client raised a 403 at once and listed again
    on a 410."""
    watches: list[str] = []
    refuse = [True]

    async def actions(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch", "").lower() != "true":
            phase = "SUCCEEDED" if watches else "RUNNING"
            listed = {"kind": "AsyncActionList", "metadata": {"resourceVersion": "7"}}
            return web.json_response({**listed, "items": [action(phase)]})
        watches.append(request.query.get("resourceVersion", ""))
        if refuse[0]:
            body = {"kind": "Status", "code": 403, "message": "cannot watch asyncactions"}
            return web.json_response(body, status=403)
        return web.json_response({"kind": "Status", "code": 410, "reason": "Gone"}, status=410)

    app = web.Application()
    app.router.add_get(PATH, actions)
    server = TestServer(app)
    async with server, client_for(server) as client:
        with pytest.raises(ApiError, match="cannot watch asyncactions"):
            await client.wait("big", timeout=30)
        assert watches == ["7"]
        refuse[0] = False
        watches.clear()
        assert await client.wait("big", timeout=30) == {"x": ""}  # listed again, finished
        assert watches == ["7"]


def test_both_clients_raise_the_same_classes() -> None:
    from kubernetes.client.rest import ApiException as SyncApiException
    from kubernetes_asyncio.client.rest import ApiException as AsyncApiException

    body = json.dumps({"message": "no"})
    made = [
        api_error_of(_with_body(SyncApiException(status=409, reason="Conflict"), body)),
        api_error_of(_with_body(AsyncApiException(status=409, reason="Conflict"), body)),
    ]
    for error in made:
        assert type(error) is ApiError
        assert (error.status, str(error)) == (409, "no (409)")
    assert asyncaction_client.ApiError is ApiError
    assert issubclass(ActionNotFound, ClientError)


def _with_body(exc: Any, body: str) -> Any:
    exc.body = body
    return exc


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    """The public calls of a client, its own and those it inherits from the modules it is
    split into (``sync_watch``, ``aio_inspect``...)."""
    members: dict[str, Any] = {}
    for klass in reversed(cls.__mro__[:-1]):  # every class but object, the client last
        members.update(vars(klass))
    return {
        name: inspect.signature(getattr(cls, name))
        for name, member in members.items()
        if callable(member) and not name.startswith("_")
    }


def test_async_client_offers_every_operation_of_the_sync_client() -> None:
    sync_ops = public_methods(Client)
    async_ops = public_methods(AsyncClient)
    # Every call docs/client.md lists, wherever in the client's modules it is defined.
    assert sorted(sync_ops) == [
        "abort", "close", "events", "get", "jobs", "list", "patch_spec", "pause",
        "pod_log", "pods", "rerun", "resume", "run", "submit", "wait", "wait_finished",
        "watch",
    ]  # fmt: skip
    missing = sorted(set(sync_ops) - set(async_ops))
    assert missing == []
    for name, signature in sync_ops.items():
        if name == "close":
            continue
        assert list(async_ops[name].parameters) == list(signature.parameters), name
        for param, spec in signature.parameters.items():
            other = async_ops[name].parameters[param]
            assert (other.kind, other.default) == (spec.kind, spec.default), (name, param)


@pytest.mark.asyncio
async def test_async_spec_changes_are_merge_patches(api_server: TestServer) -> None:
    async with client_for(api_server) as client:
        assert (await client.abort("big"))["spec"] == {"abort": True}
        assert (await client.pause("big"))["spec"] == {"suspend": True}


@pytest.mark.asyncio
async def test_an_async_wait_ends_at_its_timeout_against_a_silent_api_server() -> None:
    """kubernetes_asyncio sets no request timeout: against an API server that accepts
    and answers nothing, ``AsyncClient.wait(timeout=2)`` was still waiting after 20 s
    (found by review). The list is bounded by the time left (at least 5 s)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    silent = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    config = k8s.Configuration(host=f"http://127.0.0.1:{port}")
    started = asyncio.get_running_loop().time()
    try:
        async with AsyncClient(k8s.ApiClient(config), "ns") as client:
            with pytest.raises(WaitTimeout):
                await asyncio.wait_for(client.wait("demo", timeout=1), 60)
    finally:
        for writer in held:
            writer.close()
        silent.close()
    assert asyncio.get_running_loop().time() - started < 20


@pytest.mark.asyncio
async def test_an_exec_plugins_token_is_run_again_once_it_expires(tmp_path: Path) -> None:
    """Found by a review: kubernetes_asyncio runs an exec credential plugin once, so a
    wait longer than its token (EKS: 15 minutes) was refused on every watch, retried,
    and never ended. Here tokens live 1 s; the action ends after 3."""
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import json, time\n"
        "now = time.time()\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1',"
        " 'kind': 'ExecCredential', 'status': {'token': f'tok-{now:.3f}',"
        " 'expirationTimestamp': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now + 1))}}))\n"
    )
    started = time.time()
    tokens: set[str] = set()

    async def actions(request: web.Request) -> web.StreamResponse:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not token.startswith("tok-") or time.time() > float(token[4:]) + 1:
            body = {"kind": "Status", "code": 401, "reason": "Unauthorized"}
            return web.json_response(body, status=401)
        tokens.add(token)
        finished = time.time() > started + 3
        if request.query.get("watch", "").lower() != "true":
            listed = {"kind": "AsyncActionList", "metadata": {"resourceVersion": "7"}}
            return web.json_response({**listed, "items": [action("RUNNING")]})
        response = web.StreamResponse()
        await response.prepare(request)
        if finished:
            event = {"type": "MODIFIED", "object": action("SUCCEEDED", "done")}
            await response.write(json.dumps(event).encode() + b"\n")
        else:
            await asyncio.sleep(0.5)  # the server ends the watch; the client watches again
        return response

    app = web.Application()
    app.router.add_get(PATH, actions)
    server = TestServer(app)
    async with server:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "c", "cluster": {"server": str(server.make_url(""))}}],
                    "users": [
                        {
                            "name": "u",
                            "user": {
                                "exec": {
                                    "apiVersion": "client.authentication.k8s.io/v1beta1",
                                    "command": sys.executable,
                                    "args": [str(plugin)],
                                    "interactiveMode": "Never",
                                }
                            },
                        }
                    ],
                    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                    "current-context": "x",
                }
            )
        )
        async with await AsyncClient.connect(kubeconfig=str(kubeconfig), namespace="ns") as client:
            assert await client.wait("big", timeout=30) == {"x": "done"}
    assert len(tokens) >= 2  # run again as each expired
