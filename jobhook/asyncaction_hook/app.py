"""The hook's HTTP routes (contract, section 2). Handlers stay thin: they authenticate,
parse, and hand over to reports/dataplane (pure) and the writer (I/O).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import web
from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from asyncaction.api.phases import Phase
from asyncaction.keys import MasterKeys
from asyncaction.kube import ApiError, KubeClient, paths
from asyncaction.manifests import resolve_spec
from asyncaction.sharding import hook_url_for, shard_of
from asyncaction.stores import Store, Stores
from asyncaction.tenancy import key_allowed
from asyncaction.timeutil import format_time, utcnow
from asyncaction_hook import dataplane
from asyncaction_hook.auth import ReplayGuard, check_replay, matching_attempt, parse_headers
from asyncaction_hook.cache import Registry
from asyncaction_hook.errors import (
    HookError,
    bad_request,
    completed,
    forbidden,
    not_found,
    rate_limited,
    too_large,
)
from asyncaction_hook.events import emit_transition
from asyncaction_hook.limits import check_report, check_uploads, parse_json
from asyncaction_hook.metrics import UNKNOWN_ID, HookMetrics, live_families
from asyncaction_hook.reports import Report, check_result_size, public_view
from asyncaction_hook.settings import HookSettings
from asyncaction_hook.uploads import verify_pending
from asyncaction_hook.writer import Coalescer, StatusWriter

log = logging.getLogger(__name__)
HEX32 = re.compile(r"\A[0-9a-f]{32}\Z")


@dataclass
class Caller:
    uid: str
    version: int
    body: bytes
    attempt: int  # the attempt whose key signed the request


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved; ``take`` is False when empty."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.last = burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _attempt_of(action: dict[str, Any]) -> int:
    attempts = (action.get("status") or {}).get("attempts")
    return attempts if isinstance(attempts, int) and attempts >= 0 else 0


@dataclass
class Hook:
    settings: HookSettings
    kube: KubeClient
    registry: Registry
    writer: StatusWriter
    coalescer: Coalescer
    stores: Stores
    guard: ReplayGuard
    master_keys: Callable[[], MasterKeys]
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    metrics: HookMetrics = field(default_factory=HookMetrics)
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _global: TokenBucket | None = None
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    def _rate(self, uid: str) -> None:
        now = time.monotonic()
        tokens, last = self._buckets.get(uid, (float(self.settings.rate_burst), now))
        tokens = min(
            self.settings.rate_burst, tokens + (now - last) * self.settings.rate_per_second
        )
        if tokens < 1:
            raise rate_limited()
        self._buckets[uid] = (tokens - 1, now)

    def _global_rate(self) -> None:
        if self._global is None:
            self._global = TokenBucket(
                self.settings.global_rate_per_second, self.settings.global_rate_burst
            )
        if not self._global.take():
            raise HookError(429, "RATE_LIMITED", "the hook is busy; retry with backoff")

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` after the answer, keeping a reference until it is done."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def misdirected(self, uid: str) -> HookError:
        """421, naming the replica that serves ``uid`` now when the URL template is known:
        after a change of the shard count, a running job's JOB_HOOK may point elsewhere."""
        extra = {}
        if "{shard}" in self.settings.hook_url:
            extra["hook"] = hook_url_for(self.settings.hook_url, uid, self.settings.shards)
        return HookError(
            421,
            "MISDIRECTED",
            "this action is served by another hook replica"
            + (f": {extra['hook']}" if extra else "; use its JOB_HOOK"),
            extra,
        )

    @property
    def fenced_until_ms(self) -> int:
        """Requests signed before this could have been accepted by a previous process."""
        return self.started_ms + int(self.settings.max_future_seconds * 1000)

    def candidate_keys(self, action: dict[str, Any]) -> list[tuple[int, tuple[str, ...]]]:
        """The keys that may sign for ``action``: its current attempt's, then the next's.

        The next attempt's key is tried too because the operator writes the new attempt
        to the action before creating its Job, and this cache may see the Job's first
        report before that write; the write path then binds the report to the attempt
        the API server has (``StatusWriter.apply``).
        """
        meta = action["metadata"]
        keys = self.master_keys()
        current = _attempt_of(action)
        attempts = [a for a in (current, current + 1) if a >= 1]
        return [(a, keys.accepted(meta["namespace"], meta["uid"], a)) for a in attempts]

    async def authenticate(self, request: web.Request) -> Caller:
        """Cheapest checks first: nothing is read or derived for a request that fails early."""
        self._global_rate()
        now_ms = self.clock_ms()
        signed = parse_headers(
            request.headers,
            now_ms=now_ms,
            past_seconds=self.settings.time_window_seconds,
            future_seconds=self.settings.max_future_seconds,
            allow_v1=self.settings.allow_v1,
        )
        length = request.content_length
        if length is not None and length > self.settings.max_body_bytes:
            raise too_large(f"body over {self.settings.max_body_bytes} bytes")
        action = self.registry.cached_action(signed.job_id)
        if action is None:
            if not self.registry.ready:
                raise HookError(503, "NOT_READY", "the hook is catching up; retry")
            raise not_found(UNKNOWN_ID)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise too_large(f"body over {self.settings.max_body_bytes} bytes") from exc
        attempt = matching_attempt(
            signed,
            method=request.method,
            path=request.raw_path.split("?", 1)[0],
            body=body,
            candidates=self.candidate_keys(action),
        )
        if shard_of(signed.job_id, self.settings.shards) != self.settings.shard:
            raise self.misdirected(signed.job_id)
        if signed.time_ms < self.fenced_until_ms:
            # Signed before this process could vouch for it: its replay memory is empty.
            raise HookError(503, "RESTARTED", "the hook restarted; sign the request again")
        check_replay(self.guard, signed, now_ms)
        self._rate(signed.job_id)
        return Caller(signed.job_id, signed.version, body, attempt)

    def store(self, caller: Caller, name: str, uuid: str) -> Store:
        if uuid != caller.uid:
            raise forbidden("a job can reach only its own action's objects")
        store = self.stores.get(name)
        if store is None:
            raise not_found(f"no store named {name!r}")
        return store

    def check_reachable(self, store: Store, key: str, action: dict[str, Any]) -> None:
        """403 unless the action's namespace may use ``key`` (``asyncaction.tenancy``)."""
        meta = action["metadata"]
        own = dataplane.own_prefix(store.prefix, meta["namespace"], meta["uid"])
        if not key_allowed(store.scope, key, meta["namespace"], extra=(own,)):
            raise forbidden(
                f"s3://{store.bucket}/{key} is outside the prefixes namespace "
                f"{meta['namespace']} may use in store {store.name}"
            )

    async def spec_of(self, action: dict[str, Any]) -> dict[str, Any]:
        spec = action.get("spec") or {}
        template = None
        if not spec.get("template") and spec.get("templateRef"):
            try:
                template = (
                    await self.kube.get(
                        paths.template_path(action["metadata"]["namespace"], spec["templateRef"])
                    )
                ).get("spec")
            except ApiError:
                template = None
        return resolve_spec(spec, template)

    async def action(self, uid: str) -> dict[str, Any]:
        action = self.registry.cached_action(uid)
        if action is None:
            raise not_found("no action with this id")
        return action

    async def verify_pending(self, action: dict[str, Any]) -> dict[str, Any]:
        return await verify_pending(self.stores, action)


def _invalid(exc: ValidationError) -> HookError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return HookError(422, "INVALID", f"{where}: {first.get('msg')}")


async def post_status(request: web.Request) -> web.Response:
    hook: Hook = request.app["hook"]
    limits = hook.settings.limits
    caller = await hook.authenticate(request)
    try:
        report = Report.model_validate(parse_json(caller.body, limits.max_json_depth) or {})
    except ValidationError as exc:
        raise _invalid(exc) from exc
    check_result_size(report, hook.settings.max_result_bytes)
    check_report(report.status_details, report.logs, limits)
    cached = await hook.action(caller.uid)
    phase = (cached.get("status") or {}).get("phase")
    if phase in {p.value for p in Phase if p.is_terminal}:
        raise completed(phase)
    if report.terminal or (report.status is Phase.RUNNING and phase == Phase.STARTING.value):
        hook.metrics.reports.labels("terminal" if report.terminal else "running").inc()
        earlier = hook.coalescer.take(caller.uid, caller.attempt)
        merged = earlier.merged_with(report) if earlier else report
        patched = await hook.writer.apply(
            caller.uid, merged, extra=hook.verify_pending, attempt=caller.attempt
        )
        # The Event is posted after the answer: a job's last report never waits for it.
        hook.in_background(emit_transition(hook.kube, hook.metrics, cached, patched))
        return web.json_response(public_view(patched))
    hook.metrics.reports.labels("progress").inc()
    hook.coalescer.submit(caller.uid, report, caller.attempt)
    view = public_view(cached)
    if report.progress is not None:
        view["progress"] = report.progress
    return web.json_response(view)


async def get_action(request: web.Request) -> web.Response:
    hook: Hook = request.app["hook"]
    caller = await hook.authenticate(request)
    action = await hook.action(caller.uid)
    spec = await hook.spec_of(action)
    meta = action["metadata"]
    return web.json_response(
        {
            "id": meta["uid"],
            "name": meta["name"],
            "namespace": meta["namespace"],
            "request": spec.get("request") or {},
            "arguments": spec.get("arguments") or [],
            "attempt": (action.get("status") or {}).get("attempts", 0),
            "inputs": spec.get("inputs") or [],
            "outputs": spec.get("outputs") or [],
            "stdin": spec.get("stdin"),
            "stdout": spec.get("stdout"),
            "stderr": spec.get("stderr"),
        }
    )


async def get_download(request: web.Request) -> web.Response:
    hook: Hook = request.app["hook"]
    caller = await hook.authenticate(request)
    info = request.match_info
    store = hook.store(caller, info["store"], info["uuid"])
    if not info["index"].isascii() or not info["index"].isdigit():
        raise bad_request("index must be a non-negative integer")
    index = int(info["index"])
    action = await hook.action(caller.uid)
    spec = await hook.spec_of(action)
    prop = info["property"]
    relative = None
    if prop == "inputs":
        listed = []
        for prefix in dataplane.input_prefixes(spec):
            if prefix.bucket != store.bucket:
                raise forbidden(f"bucket {prefix.bucket} is not in store {store.name}")
            hook.check_reachable(store, prefix.key, action)
            for obj in await store.list(prefix.key):
                listed.append((obj.key, obj.key[len(prefix.key) :].lstrip("/")))
        if index >= len(listed):
            raise not_found(f"no input object {index}")
        ref = dataplane.S3Ref(store.bucket, listed[index][0])
        relative = listed[index][1]
    else:
        declared = dataplane.declared_input(spec, prop)
        if declared is not None and index != 0:
            raise not_found(f"{prop} has one object")
        ref = declared or dataplane.recorded_output(
            (action.get("status") or {}).get("outputs") or [], prop, index
        )
    if ref.bucket != store.bucket:
        raise forbidden(f"bucket {ref.bucket} is not in store {store.name}")
    hook.check_reachable(store, ref.key, action)
    found = await store.head(ref.key)
    if found is None:
        raise not_found(f"{ref.uri} does not exist")
    hook.metrics.presigned.labels("GET").inc()
    return web.json_response(
        {
            "Location": store.presign_get(ref.key),
            "Map": {
                "hash": found.md5,
                "size": found.size,
                "key": relative or ref.key.rsplit("/", 1)[-1],
                "uri": ref.uri,
            },
        }
    )


async def put_upload(request: web.Request) -> web.Response:
    hook: Hook = request.app["hook"]
    caller = await hook.authenticate(request)
    info = request.match_info
    store = hook.store(caller, info["store"], info["uuid"])
    body = parse_json(caller.body, hook.settings.max_json_depth)
    if not isinstance(body, dict) or not HEX32.match(str(body.get("hash", ""))):
        raise HookError(422, "INVALID", "hash (md5 hex) is required")
    md5 = str(body["hash"])
    metadata = body.get("metadata") or {}
    action = await hook.action(caller.uid)
    phase = (action.get("status") or {}).get("phase")
    if phase in {p.value for p in Phase if p.is_terminal}:
        raise completed(phase)
    spec = await hook.spec_of(action)
    meta = action["metadata"]
    target, _own = dataplane.upload_target(
        spec,
        prop=info["property"],
        md5=md5,
        metadata=metadata if isinstance(metadata, dict) else {},
        store_bucket=store.bucket,
        store_prefix=store.prefix,
        namespace=meta["namespace"],
        uid=caller.uid,
    )
    if target.bucket != store.bucket:
        raise forbidden(f"bucket {target.bucket} is not in store {store.name}")
    hook.check_reachable(store, target.key, action)
    existing = await store.head(target.key)
    name = info["property"]
    if existing is not None and existing.md5 == md5:
        record = {"name": name, "uri": target.uri, "size": existing.size, "md5": md5}

        async def add_output(fresh: dict[str, Any]) -> dict[str, Any]:
            outputs = list((fresh.get("status") or {}).get("outputs") or [])
            if record in outputs:
                return {}
            check_uploads({"outputs": outputs}, hook.settings.limits)
            return {"outputs": [*outputs, record]}

        await hook.writer.apply(caller.uid, None, extra=add_output, attempt=caller.attempt)
        return web.json_response({"done": True})
    url, headers = store.presign_put(target.key, md5 if caller.version == 2 else None)
    hook.metrics.presigned.labels("PUT").inc()
    entry = {
        "name": name,
        "uri": target.uri,
        "md5": md5,
        "expiresAt": format_time(utcnow() + timedelta(seconds=store.expiry)),
    }

    challenge = str(body.get("challenge") or "")[:64]
    if challenge:  # optional; sent empty, the status write was refused (422, then 503)
        entry["challenge"] = challenge

    async def add_pending(fresh: dict[str, Any]) -> dict[str, Any]:
        check_uploads(fresh.get("status") or {}, hook.settings.limits)
        pending = [
            p
            for p in (fresh.get("status") or {}).get("pendingUploads") or []
            if p.get("uri") != entry["uri"]
        ]
        return {"pendingUploads": [*pending, entry]}

    await hook.writer.apply(caller.uid, None, extra=add_pending, attempt=caller.attempt)
    return web.json_response({"done": False, "method": "PUT", "url": url, "headers": headers})


@web.middleware
async def errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except HookError as exc:
        request.app["hook"].metrics.refused(exc.status, exc.reason, exc.message)
        return exc.response()
    except ApiError as exc:
        log.warning("API error while serving %s: %s", request.path, exc)
        return HookError(503, "UNAVAILABLE", "the API server is unavailable; retry").response()
    except (BotoCoreError, ClientError) as exc:
        log.warning("S3 error while serving %s: %s", request.path, exc)
        return HookError(503, "STORE_UNAVAILABLE", "the S3 store is unavailable; retry").response()


def metrics_handler(metrics: HookMetrics) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def serve(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return serve


def create_app(hook: Hook) -> web.Application:
    app = web.Application(
        middlewares=[hook.metrics.middleware(), errors],
        client_max_size=hook.settings.max_body_bytes + 1,
    )
    app["hook"] = hook
    base = hook.settings.base_path.rstrip("/")
    app.router.add_post(f"{base}/status", post_status)
    app.router.add_get(f"{base}/action", get_action)
    app.router.add_get(f"{base}/download/{{store}}/{{uuid}}/{{property}}/{{index}}", get_download)
    app.router.add_put(f"{base}/upload/{{store}}/{{uuid}}/{{property}}", put_upload)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(_: web.Request) -> web.Response:
        # Not ready while a cache is stale, nor while the restart fence refuses requests.
        ready = hook.registry.ready and hook.clock_ms() >= hook.fenced_until_ms
        return web.json_response({"ready": ready}, status=200 if ready else 503)

    hook.metrics.bind(
        lambda: live_families(
            status_writes=hook.writer.patches,
            backlog=hook.coalescer.backlog,
            synced=hook.registry.ready,
        )
    )
    app.router.add_get("/healthz", healthz)
    if hook.settings.metrics_path:
        app.router.add_get(hook.settings.metrics_path, metrics_handler(hook.metrics))
    app.router.add_get("/readyz", readyz)
    return app
