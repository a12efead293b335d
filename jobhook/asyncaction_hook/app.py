"""The hook's HTTP routes (contract, section 2). Handlers stay thin: they authenticate,
parse, and hand over to reports/dataplane (pure) and the writer (I/O).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from asyncaction.api.phases import Phase
from asyncaction.kube import ApiError, KubeClient, paths
from asyncaction.manifests import resolve_spec
from asyncaction.sharding import shard_of
from asyncaction.stores import Store, Stores
from asyncaction.timeutil import format_time, utcnow
from asyncaction_hook import dataplane
from asyncaction_hook.auth import ReplayGuard, check_replay, verify
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
from asyncaction_hook.reports import Report, check_result_size, public_view
from asyncaction_hook.settings import HookSettings
from asyncaction_hook.uploads import verify_pending
from asyncaction_hook.writer import Coalescer, StatusWriter
from asyncaction_job.signing import HEADER_ID, HEADER_TIME

log = logging.getLogger(__name__)
HEX32 = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Caller:
    uid: str
    version: int
    body: bytes


@dataclass
class Hook:
    settings: HookSettings
    kube: KubeClient
    registry: Registry
    writer: StatusWriter
    coalescer: Coalescer
    stores: Stores
    guard: ReplayGuard
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def _rate(self, uid: str) -> None:
        now = time.monotonic()
        tokens, last = self._buckets.get(uid, (float(self.settings.rate_burst), now))
        tokens = min(
            self.settings.rate_burst, tokens + (now - last) * self.settings.rate_per_second
        )
        if tokens < 1:
            raise rate_limited()
        self._buckets[uid] = (tokens - 1, now)

    async def authenticate(self, request: web.Request) -> Caller:
        length = request.content_length
        if length is not None and length > self.settings.max_body_bytes:
            raise too_large(f"body over {self.settings.max_body_bytes} bytes")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise too_large(f"body over {self.settings.max_body_bytes} bytes") from exc
        uid = request.headers.get(HEADER_ID, "")
        if not uid:
            raise HookError(401, "UNAUTHORIZED", "X-Job-Id is required")
        secret = await self.registry.secret_for(uid)
        if secret is None:
            raise not_found("unknown job id")
        signature, version = verify(
            request.headers,
            method=request.method,
            path=request.raw_path.split("?", 1)[0],
            body=body,
            secret=secret,
            now_ms=self.clock_ms(),
            window_seconds=self.settings.time_window_seconds,
            allow_v1=self.settings.allow_v1,
        )
        if shard_of(uid, self.settings.shards) != self.settings.shard:
            raise HookError(
                421,
                "MISDIRECTED",
                "this action is served by another hook replica; use its JOB_HOOK",
            )
        if int(request.headers.get(HEADER_TIME, "0")) < self.started_ms:
            # Signed before this process started: its replay memory cannot vouch for it.
            raise HookError(503, "RESTARTED", "the hook restarted; sign the request again")
        check_replay(self.guard, uid, signature)
        self._rate(uid)
        return Caller(uid, version, body)

    def store(self, caller: Caller, name: str, uuid: str) -> Store:
        if uuid != caller.uid:
            raise forbidden("a job can reach only its own action's objects")
        store = self.stores.get(name)
        if store is None:
            raise not_found(f"no store named {name!r}")
        return store

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
        action = self.registry.cached_action(uid) or await self.registry.fresh_action(uid)
        if action is None:
            raise not_found("no action with this id")
        return action

    async def verify_pending(self, action: dict[str, Any]) -> dict[str, Any]:
        return await verify_pending(self.stores, action)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise bad_request(f"malformed JSON: {exc}") from exc


def _invalid(exc: ValidationError) -> HookError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return HookError(422, "INVALID", f"{where}: {first.get('msg')}")


async def post_status(request: web.Request) -> web.Response:
    hook: Hook = request.app["hook"]
    caller = await hook.authenticate(request)
    try:
        report = Report.model_validate(_json(caller.body) or {})
    except ValidationError as exc:
        raise _invalid(exc) from exc
    check_result_size(report, hook.settings.max_result_bytes)
    cached = await hook.action(caller.uid)
    phase = (cached.get("status") or {}).get("phase")
    if phase in {p.value for p in Phase if p.is_terminal}:
        raise completed(phase)
    if report.terminal or (report.status is Phase.RUNNING and phase == Phase.STARTING.value):
        earlier = hook.coalescer.take(caller.uid)
        merged = earlier.merged_with(report) if earlier else report
        patched = await hook.writer.apply(caller.uid, merged, extra=hook.verify_pending)
        return web.json_response(public_view(patched))
    hook.coalescer.submit(caller.uid, report)
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
    try:
        index = int(info["index"])
    except ValueError as exc:
        raise bad_request("index must be an integer") from exc
    action = await hook.action(caller.uid)
    spec = await hook.spec_of(action)
    prop = info["property"]
    relative = None
    if prop == "inputs":
        listed = []
        for prefix in dataplane.input_prefixes(spec):
            if prefix.bucket != store.bucket:
                raise forbidden(f"bucket {prefix.bucket} is not in store {store.name}")
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
    found = await store.head(ref.key)
    if found is None:
        raise not_found(f"{ref.uri} does not exist")
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
    body = _json(caller.body)
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
    existing = await store.head(target.key)
    name = info["property"]
    if existing is not None and existing.md5 == md5:
        record = {"name": name, "uri": target.uri, "size": existing.size, "md5": md5}

        async def add_output(fresh: dict[str, Any]) -> dict[str, Any]:
            outputs = list((fresh.get("status") or {}).get("outputs") or [])
            return {} if record in outputs else {"outputs": [*outputs, record]}

        await hook.writer.apply(caller.uid, None, extra=add_output)
        return web.json_response({"done": True})
    url, headers = store.presign_put(target.key, md5 if caller.version == 2 else None)
    entry = {
        "name": name,
        "uri": target.uri,
        "md5": md5,
        "challenge": str(body.get("challenge", ""))[:64],
        "expiresAt": format_time(utcnow() + timedelta(seconds=store.expiry)),
    }

    async def add_pending(fresh: dict[str, Any]) -> dict[str, Any]:
        pending = [
            p
            for p in (fresh.get("status") or {}).get("pendingUploads") or []
            if p.get("uri") != entry["uri"]
        ]
        return {"pendingUploads": [*pending, entry]}

    await hook.writer.apply(caller.uid, None, extra=add_pending)
    return web.json_response({"done": False, "method": "PUT", "url": url, "headers": headers})


@web.middleware
async def errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except HookError as exc:
        return exc.response()
    except ApiError as exc:
        log.warning("API error while serving %s: %s", request.path, exc)
        return HookError(503, "UNAVAILABLE", "the API server is unavailable; retry").response()


def create_app(hook: Hook) -> web.Application:
    app = web.Application(middlewares=[errors], client_max_size=hook.settings.max_body_bytes + 1)
    app["hook"] = hook
    base = hook.settings.base_path.rstrip("/")
    app.router.add_post(f"{base}/status", post_status)
    app.router.add_get(f"{base}/action", get_action)
    app.router.add_get(f"{base}/download/{{store}}/{{uuid}}/{{property}}/{{index}}", get_download)
    app.router.add_put(f"{base}/upload/{{store}}/{{uuid}}/{{property}}", put_upload)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(_: web.Request) -> web.Response:
        ready = hook.registry.ready
        return web.json_response({"ready": ready}, status=200 if ready else 503)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
