"""The hook's HTTP server: its routes, the one wrapper that answers errors and measures
every request, the probes and the metrics endpoint, around one ``app.Hook``.

It runs on the hook's own HTTP/1.1 protocol (``httpserver``, llhttp's parser) with the
hook's own route table (``routing``): aiohttp's server and application cost every report
about as much CPU as the hook's own checks (``docs/performance.md``). What aiohttp's
application did for the hook is done here: ``Expect: 100-continue``, its 404, 405 and
417 answers; the body limit is the protocol's."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from asyncaction.kube import ApiError
from asyncaction_hook import tasks
from asyncaction_hook.app import Hook
from asyncaction_hook.errors import HookError
from asyncaction_hook.httpmessages import (
    BodyTooLarge,
    Request,
    Response,
    json_response,
    text_response,
)
from asyncaction_hook.httpserver import HttpServer
from asyncaction_hook.logs import about_uid
from asyncaction_hook.metrics import HookMetrics, live_families, state_families
from asyncaction_hook.routing import NoRoute, Route, Router

# What a route answers: at once, or once it has waited (a coroutine the server runs as a task).
Outcome = Response | Awaitable[Response]
# What every route handler is: the hook, the request, the values of its path's {names}.
Handler = Callable[[Hook, Request, Mapping[str, str]], Outcome]


def _about_caller(hook: Hook, request: Request) -> dict[str, Any]:
    """Log fields of the action whose job sent ``request`` (its claimed id; the request
    got past authentication when an API or S3 call failed)."""
    uid = request.headers.get("X-Job-Id", "")
    if not uid:
        return {}
    return about_uid(hook.cache.action, uid)


# what a request needed and could not reach: (its name in the log, in the answer)
_DEPENDENCIES = {"api": ("API", "API server"), "s3": ("S3", "S3 store")}


def _dependency_down(
    hook: Hook, request: Request, exc: Exception, kind: str, reason: str
) -> Response:
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


class _Unexpected(Exception):
    """An ``Expect`` header other than ``100-continue``: 417, as aiohttp answers it."""


def _expect_continue(request: Request, expect: str) -> None:
    """``Expect: 100-continue`` as aiohttp's application answers it: a client such as
    curl waits a second for this before it sends a body of over a kilobyte."""
    if request.version == "1.1":
        if expect.lower() != "100-continue":
            raise _Unexpected(f"Unknown Expect: {expect}")
        request.send_continue()


def _error_response(hook: Hook, request: Request, exc: Exception) -> Response | None:
    """The answer to an error a route raised, as the contract says (None: not one of
    these, a 500)."""
    if isinstance(exc, HookError):
        hook.metrics.refused(exc.status, exc.reason, exc.message)
        return exc.response()
    if isinstance(exc, ApiError):
        return _dependency_down(hook, request, exc, "api", "UNAVAILABLE")
    if isinstance(exc, (BotoCoreError, ClientError)):
        return _dependency_down(hook, request, exc, "s3", "STORE_UNAVAILABLE")
    if isinstance(exc, NoRoute):  # aiohttp's words: "404: Not Found", 405 with Allow
        allow = {"Allow": ",".join(sorted(exc.allowed))} if exc.allowed else None
        return text_response(exc.status, headers=allow)
    if isinstance(exc, _Unexpected):
        return text_response(417, str(exc))
    if isinstance(exc, BodyTooLarge):  # a route that reads the body without authentication
        return text_response(413)
    if isinstance(exc, ConnectionError):  # the client left before its body: nobody to answer
        return text_response(400)
    return None


def serving(hook: Hook, router: Router[Handler]) -> Callable[[Request], Outcome]:
    """The one handler the server calls: finds the route, answers the hook's errors as
    the contract says, then counts and times the answer. No router or middleware chain,
    and no coroutine for a route that answers at once (a report that waits for nothing):
    the hook answers thousands of requests a second, and the server runs such an answer
    in its protocol's callback, without a task."""
    metrics = hook.metrics

    def served(request: Request) -> Outcome:
        start = time.perf_counter()
        route = "other"  # the label of a request no route answers (404, 405)
        try:
            found, params = router.resolve(request.method, request.path)
            route = found.template
            expect = request.headers.get("expect")
            if expect:  # as aiohttp's application: an empty one is none
                _expect_continue(request, expect)
            outcome = found.handler(hook, request, params)
        except Exception as exc:
            answer = _error_response(hook, request, exc)
            if answer is None:
                metrics.served(route, 500, time.perf_counter() - start)
                raise
            outcome = answer
        if isinstance(outcome, Response):
            metrics.served(route, outcome.status, time.perf_counter() - start)
            return outcome
        return _answered(hook, request, outcome, route, start)

    return served


async def _answered(
    hook: Hook, request: Request, outcome: Awaitable[Response], route: str, start: float
) -> Response:
    """A route's answer that had to wait, counted and timed as ``serving`` does."""
    code = 500
    try:
        try:
            response = await outcome
        except Exception as exc:
            answer = _error_response(hook, request, exc)
            if answer is None:
                raise
            response = answer
        code = response.status
        return response
    finally:
        hook.metrics.served(route, code, time.perf_counter() - start)


def metrics_handler(metrics: HookMetrics) -> Handler:
    async def serve(_: Hook, __: Request, ___: Mapping[str, str]) -> Response:
        return Response(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)

    return serve


async def healthz(_: Hook, __: Request, ___: Mapping[str, str]) -> Response:
    return json_response({"ok": True})


async def readyz(hook: Hook, _: Request, __: Mapping[str, str]) -> Response:
    # Ready while starting (requests are held for the first sync and the shard Lease,
    # and a shard has no other pod to send them to); not ready once the cache went
    # stale after its sync, or the shard Lease was lost.
    stale = hook.cache.synced and not hook.cache.ready
    lost = hook.fence is not None and hook.fence.lost.is_set()
    # without a shard Lease, the start fence refuses what holding cannot fix
    fenced = hook.fence is None and hook.clock_ms() < hook.fenced_until_ms
    ready = not stale and not lost and not fenced
    return json_response({"ready": ready}, status=200 if ready else 503)


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


def create_server(hook: Hook) -> HttpServer:
    """The hook's server: a protocol factory for ``loop.create_server`` (``main``, and
    ``tests/support/hookserver`` for the unit tests)."""
    hook.metrics.bind(
        lambda: live_families(
            status_writes=hook.writer.patches,
            backlog=hook.coalescer.backlog,
            synced=hook.cache.ready,
            pacer=hook.coalescer.pacer,
        )
    )
    hook.metrics.bind(lambda: state_families(hook))
    return HttpServer(serving(hook, Router(routes(hook))), max_body=hook.settings.max_body_bytes)
