"""The aiohttp application of the hook: routes, the middleware that answers errors and
measures every request, the probes and the metrics endpoint, around one ``app.Hook``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from asyncaction.kube import ApiError
from asyncaction_hook import tasks
from asyncaction_hook.app import Hook
from asyncaction_hook.errors import HookError
from asyncaction_hook.logs import about_uid
from asyncaction_hook.metrics import HookMetrics, live_families, state_families


def _about_caller(request: web.Request) -> dict[str, Any]:
    """Log fields of the action whose job sent ``request`` (its claimed id; the request
    got past authentication when an API or S3 call failed)."""
    uid = request.headers.get("X-Job-Id", "")
    if not uid:
        return {}
    hook: Hook = request.app["hook"]
    return about_uid(hook.cache.action, uid)


# what a request needed and could not reach: (its name in the log, in the answer)
_DEPENDENCIES = {"api": ("API", "API server"), "s3": ("S3", "S3 store")}


def _dependency_down(
    hook: Hook, request: web.Request, exc: Exception, kind: str, reason: str
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
        extra=_about_caller(request),
    )
    return HookError(503, reason, f"the {answered} is unavailable; retry").response()


def serving(hook: Hook) -> Middleware:
    """The one middleware: answers the hook's errors as the contract says, then counts
    and times the answer. One layer, not two: every middleware is a coroutine each
    request goes through, and the hook answers thousands a second."""
    metrics = hook.metrics

    @web.middleware
    async def served(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        start = time.perf_counter()
        code = 500
        try:
            try:
                response = await handler(request)
            except HookError as exc:
                metrics.refused(exc.status, exc.reason, exc.message)
                response = exc.response()
            except ApiError as exc:
                response = _dependency_down(hook, request, exc, "api", "UNAVAILABLE")
            except (BotoCoreError, ClientError) as exc:
                response = _dependency_down(hook, request, exc, "s3", "STORE_UNAVAILABLE")
            code = response.status
            return response
        except web.HTTPException as exc:  # aiohttp's own answers: 404, 405, 413
            code = exc.status
            raise
        finally:
            metrics.served(request, code, time.perf_counter() - start)

    return served


def metrics_handler(metrics: HookMetrics) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def serve(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return serve


def create_app(hook: Hook) -> web.Application:
    from asyncaction_hook.routes import get_action, get_download, post_status, put_upload

    app = web.Application(
        middlewares=[serving(hook)],
        client_max_size=hook.settings.max_body_bytes + 1,
    )
    app["hook"] = hook
    base = hook.settings.base_path.rstrip("/")
    app.router.add_post(f"{base}/status", post_status)
    app.router.add_get(f"{base}/action", get_action)
    app.router.add_get(f"{base}/download/{{store}}/{{uuid}}/{{property}}/{{index}}", get_download)
    app.router.add_put(f"{base}/upload/{{store}}/{{uuid}}/{{property}}", put_upload)
    tasks.register(app, base, hook.task_books)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(_: web.Request) -> web.Response:
        # Ready while starting (requests are held for the first sync and the shard Lease,
        # and a shard has no other pod to send them to); not ready once the cache went
        # stale after its sync, or the shard Lease was lost.
        stale = hook.cache.synced and not hook.cache.ready
        lost = hook.fence is not None and hook.fence.lost.is_set()
        # without a shard Lease, the start fence refuses what holding cannot fix
        fenced = hook.fence is None and hook.clock_ms() < hook.fenced_until_ms
        ready = not stale and not lost and not fenced
        return web.json_response({"ready": ready}, status=200 if ready else 503)

    hook.metrics.bind(
        lambda: live_families(
            status_writes=hook.writer.patches,
            backlog=hook.coalescer.backlog,
            synced=hook.cache.ready,
            pacer=hook.coalescer.pacer,
        )
    )
    hook.metrics.bind(lambda: state_families(hook))
    app.router.add_get("/healthz", healthz)
    if hook.settings.metrics_path:
        app.router.add_get(hook.settings.metrics_path, metrics_handler(hook.metrics))
    app.router.add_get("/readyz", readyz)
    return app
