"""An upload presigned for an attempt is recorded in ``status.outputs`` only while that
attempt is the action's attempt and was not stopped by the operator.

The pending entry named no attempt and the sweep wrote with none, so an object PUT by a
stopped attempt's pod (its URL stays valid for ``--presign-expiry``) was recorded in the
outputs of the next attempt, or of an ABORTED action (found by review). A stopped
attempt writes nothing, uploads included (docs/data-plane.md).
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from asyncaction.stores import ObjectInfo, Store, Stores
from asyncaction_hook.uploads import sweep_once
from asyncaction_job.signing import headers_v2
from tests.support.hookserver import KEYS, UID, HookTestServer, build_hook
from tests.unit.hook.test_report_path import OneActionApi

CONTENT = b"attempt 1 output"
MD5 = hashlib.md5(CONTENT).hexdigest()


def store_of(objects: dict[str, ObjectInfo]) -> Store:
    """The default store, whose HEAD answers from ``objects`` (what has landed)."""
    config = {"bucket": "b", "endpoint": "http://127.0.0.1:9", "accessKeyId": "x"}
    store = Store("default", {**config, "secretAccessKey": "y"}, 300)

    async def head(key: str) -> ObjectInfo | None:
        return objects.get(key)

    store.head = head  # type: ignore[method-assign]
    return store


async def upload_then(change: dict[str, Any]) -> OneActionApi:
    """Attempt 1, running, asks for an upload URL; then the operator writes ``change``;
    then attempt 1's pod PUTs the object and the sweep runs."""
    fake = OneActionApi()
    api: Any = fake
    s3: dict[str, ObjectInfo] = {}
    store = store_of(s3)
    hook = build_hook(api, store=store)
    cache, coalescer = hook.cache, hook.coalescer
    cache.start()
    assert await cache.wait_synced(5)
    try:
        http: TestClient[Any, Any]
        async with TestClient(HookTestServer(hook)) as http:
            body = json.dumps({"hash": MD5}).encode()
            path = f"/upload/default/{UID}/out"
            signed_at = int(time.time() * 1000) - 1000
            headers = headers_v2(UID, KEYS.issue("ns", UID, 1), "PUT", path, body, signed_at)
            response = await http.put(path, data=body, headers=headers)
            assert response.status == 200
            assert (await response.json())["done"] is False
            api.action["status"].update(change)
            api.action["metadata"]["resourceVersion"] = "100"
            cache.put(copy.deepcopy(api.action))
            key = api.action["status"]["pendingUploads"][0]["uri"].split("/", 3)[3]
            s3[key] = ObjectInfo(key, len(CONTENT), MD5)  # the stopped pod's PUT
            await sweep_once(hook)
    finally:
        coalescer.forget(UID)
        await cache.stop()
    return fake


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "change",
    [
        {"attempts": 2, "phase": "STARTING"},  # a retry started
        {"phase": "ABORTED"},
        {"phase": "TIMEOUT"},
    ],
)
async def test_an_upload_of_a_stopped_attempt_is_not_recorded(change: dict[str, Any]) -> None:
    api = await upload_then(change)
    assert not api.action["status"].get("outputs")
    assert not api.action["status"].get("pendingUploads")  # dropped: it can never count


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "change",
    [
        {},  # still running: the sweep records what the job uploaded and did not report
        {"phase": "SUCCEEDED"},  # the job uploaded and ended without another report
        {"phase": "FAILED"},
    ],
)
async def test_an_upload_of_the_attempt_that_ran_last_is_recorded(change: dict[str, Any]) -> None:
    api = await upload_then(change)
    [output] = api.action["status"]["outputs"]
    assert (output["name"], output["md5"], output["size"]) == ("out", MD5, len(CONTENT))
    assert not api.action["status"].get("pendingUploads")


class ListedAsIs(OneActionApi):
    """The action as the test set it up, in the LIST as in a GET."""

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        items = [] if "actiontemplates" in path else [copy.deepcopy(self.action)]
        return {"items": items, "metadata": {"resourceVersion": "3"}}


@pytest.mark.asyncio
async def test_at_the_bound_of_pending_uploads_what_landed_is_recorded_first() -> None:
    """Found by a review: the job wrapper announces its outputs one after another with
    no report between, so a successful command that wrote 150 files was refused at the
    101st (413 "not yet verified") though the first 100 had landed."""
    fake = ListedAsIs()
    api: Any = fake
    landed: dict[str, ObjectInfo] = {}
    store = store_of(landed)
    hook = build_hook(api, store=store)
    bound = hook.settings.limits.max_pending_uploads
    pending = []
    for n in range(bound):
        key = f"actions/ns/{UID}/out-{n}/{MD5}"
        landed[key] = ObjectInfo(key, len(CONTENT), MD5)
        entry = {"name": f"out-{n}", "uri": f"s3://b/{key}", "md5": MD5, "attempt": 1}
        pending.append({**entry, "expiresAt": "2099-01-01T00:00:00Z"})
    fake.action["status"]["pendingUploads"] = pending
    hook.cache.start()
    assert await hook.cache.wait_synced(5)
    try:
        http: TestClient[Any, Any]
        async with TestClient(HookTestServer(hook)) as http:
            body = json.dumps({"hash": MD5}).encode()
            path = f"/upload/default/{UID}/out"
            signed_at = int(time.time() * 1000) - 1000
            headers = headers_v2(UID, KEYS.issue("ns", UID, 1), "PUT", path, body, signed_at)
            response = await http.put(path, data=body, headers=headers)
            assert response.status == 200, await response.text()
    finally:
        hook.coalescer.forget(UID)
        await hook.cache.stop()
    status = fake.action["status"]
    assert len(status["outputs"]) == bound
    assert [entry["name"] for entry in status["pendingUploads"]] == ["out"]


@pytest.mark.asyncio
async def test_an_upload_begun_before_its_url_expired_is_recorded_when_it_lands() -> None:
    """Found by a review: S3 checks a presigned URL's expiry when the PUT begins, so a
    large upload begun in time lands after it; the sweep dropped its entry at the expiry,
    and the object was never in status.outputs."""
    from datetime import timedelta

    from asyncaction.timeutil import format_time, utcnow
    from asyncaction_hook.uploads import IN_FLIGHT_GRACE, verify_pending

    landed: dict[str, ObjectInfo] = {}

    async def head(store: Any, key: str) -> ObjectInfo | None:
        return landed.get(key)

    store = Store("default", {"bucket": "b", "endpoint": "http://127.0.0.1:9"}, 300)
    stores = Stores({"default": store})
    entry = {"name": "dump", "uri": "s3://b/big/dump", "md5": MD5, "attempt": 1}
    expired = {**entry, "expiresAt": format_time(utcnow() - timedelta(seconds=60))}

    def action(phase: str, *pending: dict[str, Any]) -> dict[str, Any]:
        status = {"phase": phase, "attempts": 1, "pendingUploads": list(pending)}
        return {"metadata": {"namespace": "ns", "uid": UID}, "status": status}

    assert await verify_pending(stores, action("RUNNING", expired), head) == {}  # kept
    long_ago = {**entry, "expiresAt": format_time(utcnow() - IN_FLIGHT_GRACE * 2)}
    assert await verify_pending(stores, action("RUNNING", long_ago), head) == {
        "outputs": [],
        "pendingUploads": None,
    }
    assert await verify_pending(stores, action("SUCCEEDED", expired), head) == {
        "outputs": [],
        "pendingUploads": None,
    }
    landed["big/dump"] = ObjectInfo("big/dump", len(CONTENT), MD5)  # the PUT completes
    record = {"name": "dump", "uri": "s3://b/big/dump", "size": len(CONTENT), "md5": MD5}
    assert await verify_pending(stores, action("RUNNING", expired), head) == {
        "outputs": [record],
        "pendingUploads": None,
    }
