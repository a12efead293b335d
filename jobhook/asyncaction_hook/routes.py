"""The hook's routes (contract, section 2). Handlers stay thin: they authenticate
(``app.Hook.authenticate``), parse, and hand over to reports/dataplane (pure) and the
writer (I/O). Uploads and downloads read only the cache (no API read); S3 calls of one
namespace are bounded (``Hook.s3_slot``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from asyncaction.api.phases import Phase
from asyncaction.timeutil import format_time, utcnow
from asyncaction_hook import dataplane
from asyncaction_hook.cache import TERMINAL
from asyncaction_hook.errors import (
    HookError,
    bad_request,
    completed,
    forbidden,
    invalid,
    not_found,
)
from asyncaction_hook.events import emit_transition
from asyncaction_hook.httpmessages import Request, Response, json_response
from asyncaction_hook.limits import check_report, check_uploads, parse_json
from asyncaction_hook.reports import Report, check_result_size, public_view
from asyncaction_hook.writer import check_running

if TYPE_CHECKING:
    from asyncaction_hook.app import Hook
    from asyncaction_hook.callers import Caller

HEX32 = re.compile(r"\A[0-9a-f]{32}\Z")


def post_status(
    hook: Hook, request: Request, info: Mapping[str, str]
) -> Response | Awaitable[Response]:
    """A report. Answered at once when no check has to wait and nothing is written before
    the answer (a progress report: coalesced); otherwise a coroutine the server runs."""
    caller = hook.authenticate_now(request)
    if caller is None:
        return _post_status_after_waiting(hook, request)
    return _report(hook, caller)


async def _post_status_after_waiting(hook: Hook, request: Request) -> Response:
    outcome = _report(hook, await hook.authenticate(request))
    return outcome if isinstance(outcome, Response) else await outcome


def _report(hook: Hook, caller: Caller) -> Response | Awaitable[Response]:
    limits = hook.settings.limits
    parsed = parse_json(caller.body, limits.max_json_depth)
    try:  # an empty body is an empty report; [], 0 or "" are not reports
        report = Report.model_validate({} if parsed is None else parsed)
    except ValidationError as exc:
        raise invalid(exc) from exc
    check_result_size(report, hook.settings.max_result_bytes)
    check_report(report.status_details, report.logs, limits, body_bytes=len(caller.body))
    cached = hook.action(caller.uid)
    phase = (cached.get("status") or {}).get("phase")
    if phase in TERMINAL:
        raise completed(phase)
    if caller.attempt == (cached.get("status") or {}).get("attempts"):
        check_running(cached, caller.attempt)  # a stopped attempt reports nothing
    if report.terminal or (report.status is Phase.RUNNING and phase == Phase.STARTING.value):
        return _write_now(hook, caller, cached, report)
    hook.metrics.report("progress")
    progress = report.progress
    hook.coalescer.submit(caller.uid, report, caller.attempt)  # the coalescer's now
    view = public_view(cached)
    if progress is not None:
        view["progress"] = progress
    return json_response(view)


async def _write_now(
    hook: Hook, caller: Caller, cached: dict[str, Any], report: Report
) -> Response:
    """A report that changes the phase: written before the answer, with what is pending."""
    hook.metrics.report("terminal" if report.terminal else "running")
    earlier = hook.coalescer.take(caller.uid, caller.attempt)
    merged = earlier.merged_with(report) if earlier else report
    try:
        patched = await hook.writer.apply(
            caller.uid, merged, extra=hook.verify_pending, attempt=caller.attempt
        )
    except BaseException:
        if earlier is not None:  # acknowledged progress: written with the retry, or alone
            hook.coalescer.put_back(caller.uid, earlier, caller.attempt)
        raise
    # The Event is posted after the answer: a job's last report never waits for it.
    hook.in_background(emit_transition(hook.kube, hook.metrics, cached, patched))
    return json_response(public_view(patched))


async def get_action(hook: Hook, request: Request, info: Mapping[str, str]) -> Response:
    caller = await hook.authenticate(request)
    action = await hook.cache.fresh_action(caller.uid)  # the request payload is not cached
    if action is None:
        raise not_found("no action with this id")
    spec = hook.spec_of(action)
    meta = action["metadata"]
    return json_response(
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


async def get_download(hook: Hook, request: Request, info: Mapping[str, str]) -> Response:
    caller = await hook.authenticate(request)
    store = hook.store(caller, info["store"], info["uuid"])
    if not info["index"].isascii() or not info["index"].isdigit():
        raise bad_request("index must be a non-negative integer")
    if len(info["index"]) > dataplane.MAX_INDEX_DIGITS:  # int() of 4,301 digits raises
        raise not_found(f"no object {info['property'][:63]}/{info['index'][:20]}...")
    index = int(info["index"])
    action = hook.action(caller.uid)
    spec = hook.spec_of(action)
    prop = info["property"]
    relative = None
    if prop == "inputs":
        listed = await hook.input_listing(caller, store, action, spec)
        if index >= len(listed):
            raise not_found(f"no input object {index}")
        ref = dataplane.S3Ref(store.bucket, listed[index][0])
        relative = listed[index][1]
    elif (task_ref := dataplane.task_input(spec, prop, index)) is not None:
        ref = task_ref
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
    async with hook.s3_slot(caller.namespace):
        found = await store.head(ref.key)
    if found is None:
        raise not_found(f"{ref.uri} does not exist")
    hook.metrics.presigned_url("GET")
    return json_response(
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


async def put_upload(hook: Hook, request: Request, info: Mapping[str, str]) -> Response:
    caller = await hook.authenticate(request)
    store = hook.store(caller, info["store"], info["uuid"])
    body = parse_json(caller.body, hook.settings.max_json_depth)
    if not isinstance(body, dict) or not HEX32.match(str(body.get("hash", ""))):
        raise HookError(422, "INVALID", "hash (md5 hex) is required")
    md5 = str(body["hash"])
    metadata = body.get("metadata") or {}
    action = hook.action(caller.uid)
    phase = (action.get("status") or {}).get("phase")
    if phase in TERMINAL:
        raise completed(phase)
    if caller.attempt == (action.get("status") or {}).get("attempts"):
        check_running(action, caller.attempt)  # no URL for a stopped attempt
    spec = hook.spec_of(action)
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
    async with hook.s3_slot(caller.namespace):
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

        await hook.writer.apply(
            caller.uid, None, extra=add_output, attempt=caller.attempt, cached=True
        )
        return json_response({"done": True})
    url, headers = store.presign_put(target.key, md5 if caller.version == 2 else None)
    hook.metrics.presigned_url("PUT")
    entry = {
        "name": name,
        "uri": target.uri,
        "md5": md5,
        "expiresAt": format_time(utcnow() + timedelta(seconds=store.expiry)),
        "attempt": caller.attempt,  # recorded only while this attempt is the action's
    }

    challenge = str(body.get("challenge") or "")[:64]
    if challenge:  # optional; sent empty, the status write was refused (422, then 503)
        entry["challenge"] = challenge

    async def add_pending(fresh: dict[str, Any]) -> dict[str, Any]:
        status = fresh.get("status") or {}
        verified: dict[str, Any] = {}
        if len(status.get("pendingUploads") or ()) >= hook.settings.limits.max_pending_uploads:
            # At the bound, first record what has landed meanwhile: the job wrapper
            # announces its outputs one after another without a report between, and the
            # 101st file of a successful command was refused (found by a review).
            verified = await hook.verify_pending(fresh)
            status = {**status, **verified}
        check_uploads(status, hook.settings.limits)
        pending = [p for p in status.get("pendingUploads") or [] if p.get("uri") != entry["uri"]]
        return {**verified, "pendingUploads": [*pending, entry]}

    await hook.writer.apply(
        caller.uid, None, extra=add_pending, attempt=caller.attempt, cached=True
    )
    return json_response({"done": False, "method": "PUT", "url": url, "headers": headers})
