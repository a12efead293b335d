"""The hook's HTTP server: its routes, the one wrapper that answers errors and measures
every request, the probes and the metrics endpoint, around one ``app.Hook``.

It runs on aiohttp's low-level ``web.Server`` with the hook's own route table
(``routing``): the hook has eight fixed routes, and a ``web.Application``'s router,
middleware chain and match objects cost every report about 12 µs of CPU, measured.
What the application did for the hook is done here: the body limit
(``client_max_size``), ``Expect: 100-continue``, aiohttp's 404 and 405."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11
from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from asyncaction.kube import ApiError
from asyncaction_hook import tasks
from asyncaction_hook.app import Hook
from asyncaction_hook.errors import HookError
from asyncaction_hook.logs import about_uid
from asyncaction_hook.metrics import HookMetrics, live_families, state_families
from asyncaction_hook.routing import Route, Router

# What every route handler is: the hook, the request, the values of its path's {names}.
Handler = Callable[[Hook, web.BaseRequest, Mapping[str, str]], Awaitable[web.StreamResponse]]


def _about_caller(hook: Hook, request: web.BaseRequest) -> dict[str, Any]:
    """Log fields of the action whose job sent ``request`` (its claimed id; the request
    got past authentication when an API or S3 call failed)."""
    uid = request.headers.get("X-Job-Id", "")
    if not uid:
        return {}
    return about_uid(hook.cache.action, uid)


# what a request needed and could not reach: (its name in the log, in the answer)
_DEPENDENCIES = {"api": ("API", "API server"), "s3": ("S3", "S3 store")}


def _dependency_down(
    hook: Hook, request: web.BaseRequest, exc: Exception, kind: str, reason: str
) -> web.Response:
    """503 for a request the API server or S3 failed, and a line an interval of each
    ``kind`` naming the action whose job sent it."""
    logged, answered = _DEPENDENCIES[kind]
    hook.failure_log.warning(
        kind,
        "%s error while serving %s: %s",
        logged,
        request.path,
        exc,
        extra=_about_caller(hook, request),
    )
    return HookError(503, reason, f"the {answered} is unavailable; retry").response()


async def _expect_continue(request: web.BaseRequest) -> None:
    """``Expect: 100-continue`` as aiohttp's application answers it: a client such as
    curl waits a second for this before it sends a body of over a kilobyte."""
    expect = request.headers.get(hdrs.EXPECT, "")
    if request.version == HttpVersion11:
        if expect.lower() != "100-continue":
            raise web.HTTPExpectationFailed(text=f"Unknown Expect: {expect}")
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the answer's own size starts after this line


def serving(
    hook: Hook, router: Router[Handler]
) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]:
    """The one handler the server calls: finds the route, answers the hook's errors as
    the contract says, then counts and times the answer. One coroutine layer around the
    route's handler, not a router and a middleware chain: the hook answers thousands of
    requests a second."""
    metrics = hook.metrics

    async def served(request: web.BaseRequest) -> web.StreamResponse:
        start = time.perf_counter()
        code = 500
        route = "other"  # the label of a request no route answers (404, 405)
        try:
            try:
                found, params = router.resolve(request.method, request.rel_url.path_safe)
                route = found.template
                if request.headers.get(hdrs.EXPECT):  # as the application: empty is none
                    await _expect_continue(request)
                response = await found.handler(hook, request, params)
            except HookError as exc:
                metrics.refused(exc.status, exc.reason, exc.message)
                response = exc.response()
            except ApiError as exc:
                response = _dependency_down(hook, request, exc, "api", "UNAVAILABLE")
            except (BotoCoreError, ClientError) as exc:
                response = _dependency_down(hook, request, exc, "s3", "STORE_UNAVAILABLE")
            code = response.status
            return response
        except web.HTTPException as exc:  # aiohttp's own answers: 404, 405, 413, 417
            code = exc.status
            raise
        finally:
            metrics.served(route, code, time.perf_counter() - start)

    return served


def metrics_handler(metrics: HookMetrics) -> Handler:
    async def serve(_: Hook, __: web.BaseRequest, ___: Mapping[str, str]) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return serve


async def healthz(_: Hook, __: web.BaseRequest, ___: Mapping[str, str]) -> web.Response:
    return web.json_response({"ok": True})


async def readyz(hook: Hook, _: web.BaseRequest, __: Mapping[str, str]) -> web.Response:
    # Ready while starting (requests are held for the first sync and the shard Lease,
    # and a shard has no other pod to send them to); not ready once the cache went
    # stale after its sync, or the shard Lease was lost.
    stale = hook.cache.synced and not hook.cache.ready
    lost = hook.fence is not None and hook.fence.lost.is_set()
    # without a shard Lease, the start fence refuses what holding cannot fix
    fenced = hook.fence is None and hook.clock_ms() < hook.fenced_until_ms
    ready = not stale and not lost and not fenced
    return web.json_response({"ready": ready}, status=200 if ready else 503)


def routes(hook: Hook) -> list[Route[Handler]]:
    from asyncaction_hook.routes import get_action, get_download, post_status, put_upload

    base = hook.settings.base_path.rstrip("/")
    table: list[Route[Handler]] = [
        Route("POST", f"{base}/status", post_status),
        Route("GET", f"{base}/action", get_action),
        Route("GET", f"{base}/download/{{store}}/{{uuid}}/{{property}}/{{index}}", get_download),
        Route("PUT", f"{base}/upload/{{store}}/{{uuid}}/{{property}}", put_upload),
        Route("GET", f"{base}/task", tasks.get_task),
        Route("POST", f"{base}/task/{{id}}", tasks.post_task),
        Route("GET", "/healthz", healthz),
        Route("GET", "/readyz", readyz),
    ]
    if hook.settings.metrics_path:
        table.append(Route("GET", hook.settings.metrics_path, metrics_handler(hook.metrics)))
    return table


def create_server(hook: Hook) -> web.Server:
    """The hook's server, for ``web.ServerRunner`` (``main``) or ``RawTestServer``-like
    use in tests. Call it in the loop that will run it."""
    loop = asyncio.get_running_loop()
    max_size = hook.settings.max_body_bytes + 1  # read() refuses more with 413

    def request_factory(
        message: Any, payload: Any, protocol: Any, writer: Any, task: Any
    ) -> web.BaseRequest:
        return web.BaseRequest(
            message, payload, protocol, writer, task, loop, client_max_size=max_size
        )

    hook.metrics.bind(
        lambda: live_families(
            status_writes=hook.writer.patches,
            backlog=hook.coalescer.backlog,
            synced=hook.cache.ready,
            pacer=hook.coalescer.pacer,
        )
    )
    hook.metrics.bind(lambda: state_families(hook))
    return web.Server(
        serving(hook, Router(routes(hook))),
        request_factory=request_factory,
        access_log=None,
    )
