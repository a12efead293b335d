"""The hook's cache keeps summaries: what auth, status writes and the data plane read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from asyncaction.kube import ApiError
from asyncaction.kube.client import WatchEvent
from asyncaction_hook.cache import (
    FINISHED_STATUS,
    shard_selector,
    summarize_action,
    summarize_template,
)
from asyncaction_hook.limits import json_size
from tests.support.fed import FedDirectly


def whole_action() -> dict[str, Any]:
    return {
        "apiVersion": "asyncaction.dev/v1alpha1",
        "kind": "AsyncAction",
        "metadata": {
            "name": "a",
            "namespace": "ns",
            "uid": "0b7e1c1e-6a1e-4c54-a1d5-7b0d2c9f3a11",
            "resourceVersion": "42",
            "labels": {"x": "y"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}" * 100},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}] * 5,
        },
        "spec": {
            "template": {"spec": {"containers": [{"name": "m", "image": "x" * 1000}]}},
            "request": {"payload": "p" * 10_000},
            "arguments": [{"type": "input", "name": "in", "value": "s3://b/k"}],
            "inputs": ["s3://b/in/"],
            "outputs": ["s3://b/out/"],
            "stdin": {"type": "uri", "value": "s3://b/stdin"},
            "stdout": {"type": "inline"},
            "queue": "q",
        },
        "status": {
            "phase": "RUNNING",
            "attempts": 2,
            "outputs": [{"name": "o", "uri": "s3://b/o", "size": 1, "md5": "m"}],
            "pendingUploads": [{"name": "p", "uri": "s3://b/p", "md5": "m"}],
            "logTail": ["line"] * 100,
            "statusDetails": {"d": "x" * 30_000},
            "result": {"r": "x" * 60_000},
            "conditions": [{"type": "Ready"}],
            "progress": 50,
        },
    }


def test_an_action_summary_keeps_only_what_the_hook_reads() -> None:
    whole = whole_action()
    assert summarize_action(whole) == {
        "metadata": {
            "name": "a",
            "namespace": "ns",
            "uid": "0b7e1c1e-6a1e-4c54-a1d5-7b0d2c9f3a11",
            "resourceVersion": "42",
        },
        "spec": {
            "template": True,
            "arguments": [{"type": "input", "name": "in", "value": "s3://b/k"}],
            "inputs": ["s3://b/in/"],
            "outputs": ["s3://b/out/"],
            "stdin": {"type": "uri", "value": "s3://b/stdin"},
            # kept too: a stream the action sets overrides its template's
            "stdout": {"type": "inline"},
        },
        "status": {
            "phase": "RUNNING",
            "attempts": 2,
            "outputs": [{"name": "o", "uri": "s3://b/o", "size": 1, "md5": "m"}],
            "pendingUploads": [{"name": "p", "uri": "s3://b/p", "md5": "m"}],
        },
        # a running action's whole status size: a progress write needs no read
        "statusBytes": json_size(whole["status"]),
    }
    assert 90_000 < json_size(whole["status"]) < 100_000


def test_a_waiting_action_is_a_few_fields() -> None:
    action = {
        "metadata": {"name": "w", "namespace": "ns", "uid": "u", "resourceVersion": "1"},
        "spec": {"templateRef": "t", "request": {"n": 1}},
    }
    assert summarize_action(action) == {
        "metadata": {"name": "w", "namespace": "ns", "uid": "u", "resourceVersion": "1"},
        "spec": {"templateRef": "t"},
    }


def test_what_an_action_sets_empty_still_overrides_its_template() -> None:
    """Found by a review: ``outputs: []`` (a set field replaces the template's) was
    dropped from the summary as falsy, and uploads went to the template's outputs; a
    template's tasks were not leased with the action's own task settings."""
    action = {
        "metadata": {"name": "w", "namespace": "ns", "uid": "u", "resourceVersion": "1"},
        "spec": {
            "templateRef": "t",
            "outputs": [],
            "inputs": [],
            "stdout": {"type": "pipe"},
            "taskRetryLimit": 0,
            "excludedTasks": [],
        },
    }
    assert summarize_action(action)["spec"] == action["spec"]


def test_a_template_summary_keeps_its_defaults_without_the_pod_template() -> None:
    template = {
        "metadata": {"name": "t", "namespace": "ns", "resourceVersion": "3", "uid": "x"},
        "spec": {"template": {"spec": {}}, "inputs": ["s3://b/i/"], "backoffLimit": 2},
    }
    assert summarize_template(template) == {
        "metadata": {"name": "t", "namespace": "ns", "resourceVersion": "3"},
        "spec": {"inputs": ["s3://b/i/"], "backoffLimit": 2},
    }


def test_each_replica_selects_its_shard_on_the_server() -> None:
    assert shard_selector(0, 1) is None
    assert shard_selector(2, 4) == "asyncaction.dev/hook-shard=2"


def test_a_finished_action_keeps_only_its_phase_and_pending_uploads() -> None:
    action = whole_action()
    action["status"]["phase"] = "SUCCEEDED"
    assert summarize_action(action)["status"] == {
        "phase": "SUCCEEDED",
        "pendingUploads": [{"name": "p", "uri": "s3://b/p", "md5": "m"}],
    }
    assert summarize_action(action)["metadata"]["resourceVersion"] == "42"  # the sweep's
    del action["status"]["pendingUploads"]
    summary = summarize_action(action)
    assert summary == {
        "metadata": {
            "name": "a",
            "namespace": "ns",
            "uid": "0b7e1c1e-6a1e-4c54-a1d5-7b0d2c9f3a11",
        },
        "status": {"phase": "SUCCEEDED"},
    }
    # one status dict per phase, shared by every finished action: 100,000 of them
    other = whole_action()
    other["status"] = {"phase": "SUCCEEDED", "result": {"x": 1}}
    assert summarize_action(other)["status"] is summary["status"] is FINISHED_STATUS["SUCCEEDED"]
    other["status"]["phase"] = "FAILED"
    assert summarize_action(other)["status"] == {"phase": "FAILED"}


def test_lookups_by_uid_follow_deletes_and_re_creations() -> None:
    from asyncaction_hook.cache import ActionCache

    cache = ActionCache(FedDirectly())  # objects are put directly
    first = whole_action()
    cache.put(first)
    uid = first["metadata"]["uid"]
    assert cache.action(uid) is not None
    second = whole_action()  # the same name, re-created behind a watch gap: a new uid
    second["metadata"].update(uid="11111111-2222-3333-4444-555555555555", resourceVersion="50")
    cache.put(second)
    assert cache.action(uid) is None
    assert cache.action("11111111-2222-3333-4444-555555555555") is not None


def test_an_action_of_tasks_keeps_what_the_task_routes_read() -> None:
    """GET /task and POST /task/{id} read the task list, the exclusions, the retry round
    and the lease settings from the cache; a limit of 0 is a setting, not an absence."""
    action = whole_action()
    tasks = [{"name": "t0", "parameters": {"n": 0}}, {"inputs": ["s3://b/in/1"]}]
    action["spec"].update(
        tasks=tasks,
        parallelism=3,
        excludedTasks=["t0"],
        taskRetry={"round": 2, "tasks": ["1"]},
        taskLeaseSeconds=5,
        taskRetryLimit=0,
    )
    summary = summarize_action(action)
    spec = summary["spec"]
    # its status (every task's state) changes with each lease: no size kept, its writes
    # read the action fresh
    assert "statusBytes" not in summary
    assert {k: spec[k] for k in ("tasks", "excludedTasks", "taskRetry")} == {
        "tasks": tasks,
        "excludedTasks": ["t0"],
        "taskRetry": {"round": 2, "tasks": ["1"]},
    }
    assert (spec["taskLeaseSeconds"], spec["taskRetryLimit"]) == (5, 0)
    assert "parallelism" not in spec  # the operator's part: how many pods the Job runs


def test_an_action_without_tasks_keeps_no_task_fields() -> None:
    spec = summarize_action(whole_action())["spec"]
    assert not {"tasks", "excludedTasks", "taskRetry", "taskLeaseSeconds", "taskRetryLimit"} & set(
        spec
    )


class OutageApi(FedDirectly):
    """Templates list fine; the actions' watch fails (the API server came back for one
    resource before the other's watch resumed)."""

    def __init__(self, action_paths_fail: bool = True) -> None:
        self.fail = action_paths_fail

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        if "asyncactions" in path and self.fail:
            raise ApiError(503, "ServiceUnavailable", "server is starting")
        return {"items": [], "metadata": {"resourceVersion": "5"}}

    async def watch(self, path: str, **_: Any) -> AsyncIterator[WatchEvent]:
        if "asyncactions" in path and self.fail:
            raise ApiError(503, "ServiceUnavailable", "server is starting")
        yield WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "6"}})


@pytest.mark.asyncio
async def test_the_cache_is_stale_while_any_of_its_informers_is() -> None:
    """After an API server restart the templates' LIST came back first and marked the
    whole cache fresh while the actions' watch still failed: an action created meanwhile
    was answered 404 "unknown job id" (its job stops for good) instead of 503 (retry)."""
    from asyncaction_hook.cache import ActionCache

    api = OutageApi()
    cache = ActionCache(api)
    actions = cache.actions.members[None]
    templates = cache.templates.members[None]
    actions.synced.set()  # both listed once, before the outage
    templates.synced.set()
    with pytest.raises(ApiError):
        await actions.kube.request("GET", actions.path)  # the actions' relist fails
    assert not cache.ready
    await templates.kube.request("GET", templates.path)  # the templates' succeeds
    async for _ in templates.kube.watch(templates.path):
        pass
    assert not cache.ready  # the actions' view is still stale
    api.fail = False
    await actions.kube.request("GET", actions.path)
    assert cache.ready
    assert cache.errors == 1
