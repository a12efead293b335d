"""Tasks on a bad day, through the hook's real app (found by a review, each shown
failing on the code before): a summary write that fails, a lease that lapsed under a
paused worker, an end reported twice, a retry round whose second chunk's write fails."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asyncaction.lifecycle.tasks import outcome
from asyncaction.lifecycle.views import action_view_from
from asyncaction_hook import tasks as hook_tasks
from tests.support.taskhook import Pod, TasksApi, serving, task_clock, tasks_action


def counts(api: TasksApi) -> dict[str, int]:
    doc = api.action["status"]["tasks"]
    return {state: doc[state] for state in ("queued", "executing", "done", "failed")}


@pytest.mark.asyncio
async def test_a_summary_write_that_failed_is_written_before_the_last_204(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An action of more than 100 tasks defers its summary after the last ``done``; that
    write met a 503 and was dropped, the pods got 204 and exited, and ``status.tasks``
    said one executing for ever: the operator waited on a finished action."""
    monkeypatch.setattr(hook_tasks, "SUMMARY_INTERVAL", 0.05)
    api = TasksApi(tasks_action(101))
    api.preload(0, {i: ["done", 1, 0, "", None] for i in range(100)})
    async with serving(api) as (_, http):
        pod = Pod(http)
        status, leased = await pod.lease()
        assert (status, leased["id"], leased["try"]) == (200, "100", 1)
        assert await pod.report("100", {"status": "done", "try": 1}) == (
            200,
            {"id": "100", "state": "done", "tries": 1},
        )
        api.fail_patches = 1  # the deferred summary write meets a 503
        await asyncio.sleep(0.2)
        assert counts(api)["executing"] == 1  # not written
        assert await pod.lease() == (204, None)  # written first
    assert counts(api) == {"queued": 0, "executing": 0, "done": 101, "failed": 0}
    assert api.action["status"]["progress"] == 100
    assert outcome(action_view_from(api.action, has_handler=True)) is not None


@pytest.mark.asyncio
async def test_a_204_waits_for_its_summary_and_a_durable_lease_is_answered() -> None:
    """Records are durable before the summary is written: a lease whose summary write
    failed was answered 503, and nobody held it until it lapsed (with no retries left,
    the task failed without running). Now the lease is answered and the summary written
    with the next change; but no pod is told 204 before the summary says all is done."""
    api = TasksApi(tasks_action(1, taskRetryLimit=0))
    async with serving(api) as (_, http):
        pod = Pod(http)
        api.fail_patches = 1
        status, leased = await pod.lease()
        assert (status, leased["id"], leased["try"]) == (200, "0", 1)
        assert api.records()["0"][:2] == ["executing", 1]
        assert await pod.report("0", {"status": "done", "try": 1}) == (
            200,
            {"id": "0", "state": "done", "tries": 1},
        )
        assert counts(api)["done"] == 1
    # a hook restarted after the records were written and before the summary was:
    api = TasksApi(tasks_action(1))
    api.preload(0, {0: ["done", 1, 0, "", None]})
    async with serving(api) as (_, http):
        pod = Pod(http)  # the 204 waits until the summary is written
        api.fail_patches = 1
        status, answer = await pod.lease()
        assert (status, answer["error"]["reason"]) == (503, "UNAVAILABLE")
        assert await pod.lease() == (204, None)
    assert counts(api) == {"queued": 0, "executing": 0, "done": 1, "failed": 0}


@pytest.mark.asyncio
async def test_a_worker_whose_lease_lapsed_cannot_end_the_task_another_holds() -> None:
    api = TasksApi(tasks_action(1, taskLeaseSeconds=10))
    with task_clock() as ahead:
        async with serving(api) as (_, http):
            worker_a, worker_b = Pod(http), Pod(http)
            assert (await worker_a.lease())[1]["try"] == 1
            ahead[0] += 11_000  # A pauses past its lease
            assert (await worker_b.lease())[1]["try"] == 2
            late = await worker_a.report(
                "0", {"status": "failed", "errorMessage": "A: timeout", "try": 1}
            )
            assert late[0] == 409
            assert late[1]["error"]["reason"] == "TASK_NOT_LEASED"
            assert (
                "this report of try 1 comes from a lease that lapsed"
                in (late[1]["error"]["message"])
            )
            done = {"status": "done", "result": {"by": "B"}, "try": 2}
            assert await worker_b.report("0", done) == (
                200,
                {"id": "0", "state": "done", "tries": 2},
            )
    assert api.records()["0"] == ["done", 2, 0, "", {"by": "B"}]


@pytest.mark.asyncio
async def test_an_end_reported_again_by_its_try_is_answered_as_the_first_was() -> None:
    """A ``done`` whose answer was lost (its summary write failed, a connection broken
    after it landed) and sent again got 409 "task 0 is done": the Python client raised
    it out of ``client.tasks()`` and the worker pod crashed."""
    api = TasksApi(tasks_action(2))
    async with serving(api) as (_, http):
        pod = Pod(http)
        await pod.lease()
        done = {"status": "done", "result": {"n": 1}, "try": 1}
        first = await pod.report("0", done)
        writes = api.version
        assert (
            await pod.report("0", done)
            == first
            == (
                200,
                {"id": "0", "state": "done", "tries": 1},
            )
        )
        assert api.version == writes  # nothing written again
        assert (await pod.report("0", {"status": "failed", "try": 1}))[0] == 409
        untried = await pod.report("0", {"status": "done"})  # a client sending no try
        assert untried[0] == 409


@pytest.mark.asyncio
async def test_a_retry_round_whose_second_chunk_failed_is_applied_again_whole() -> None:
    """Chunk 0 carries the round applied and was written first: when chunk 1's write
    failed, the reload took the round for applied and never re-queued chunk 1's failed
    task; the action failed again naming it, ``retryRound`` saying the round was done."""
    failed = ["failed", 3, 0, "boom", None]
    api = TasksApi(tasks_action(600, taskRetry={"round": 1}))
    api.preload(0, {i: (failed if i == 10 else ["done", 1, 0, "", None]) for i in range(500)})
    api.preload(1, {i: (failed if i == 510 else ["done", 1, 0, "", None]) for i in range(500, 600)})
    api.fail_writes["a-tasks-1"] = 1
    async with serving(api) as (_, http):
        pod = Pod(http)
        status, answer = await pod.lease()
        assert (status, answer["error"]["reason"]) == (503, "UNAVAILABLE")
        assert api.configmaps["a-tasks-0"]["metadata"]["annotations"]["retryRound"] == "0"
        leased: list[Any] = []
        while (found := await pod.lease())[0] == 200:
            leased.append(found[1]["id"])
            await pod.report(found[1]["id"], {"status": "done", "try": found[1]["try"]})
        assert leased == ["10", "510"]
    assert api.configmaps["a-tasks-0"]["metadata"]["annotations"]["retryRound"] == "1"
    assert counts(api) == {"queued": 0, "executing": 0, "done": 600, "failed": 0}


@pytest.mark.asyncio
async def test_tasks_from_the_template_are_counted_and_a_failed_one_fails_the_action() -> None:
    """Found by a review: tasks an ActionTemplate supplies were leased from the resolved
    spec but counted from the action's own, which has none: ``status.tasks`` said 0 of
    0, progress 100, and once the pods exited the action SUCCEEDED with a task failed
    for good."""
    from asyncaction.lifecycle.tasks import outcome
    from asyncaction.lifecycle.views import action_view_from

    action = tasks_action(0, templateRef="regions", taskRetryLimit=0)
    del action["spec"]["tasks"], action["spec"]["template"]  # both from the template
    regions = {
        "metadata": {"name": "regions", "namespace": "ns", "uid": "t-uid", "resourceVersion": "2"},
        "spec": {"template": {"spec": {}}, "tasks": [{"name": "eu"}, {"name": "us"}]},
    }
    api = TasksApi(action, templates=[regions])
    async with serving(api) as (_, http):
        pod = Pod(http)
        status, leased = await pod.lease()
        assert (status, leased["name"]) == (200, "eu")
        await pod.report("0", {"status": "failed", "errorMessage": "boom", "try": 1})
        status, leased = await pod.lease()
        assert (status, leased["name"]) == (200, "us")
        await pod.report("1", {"status": "done", "try": 1})
        assert await pod.lease() == (204, None)
    assert counts(api) == {"queued": 0, "executing": 0, "done": 1, "failed": 1}
    assert api.action["status"]["tasks"]["total"] == 2
    ended = outcome(action_view_from(api.action, has_handler=True))
    assert ended is not None
    assert ended[0].value == "FAILED"
