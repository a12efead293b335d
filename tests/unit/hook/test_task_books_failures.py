"""A task report whose ConfigMap write fails is not kept in memory alone.

``post_task`` changes the in-memory book before it writes the chunk. A write that failed
with an answer other than 409 (a 503 while the API server restarts) left the book
changed and loaded: the job's retry got 409 ``TASK_NOT_LEASED`` ("task 0 is done"),
while the ConfigMap, and a restarted hook, still said executing (found by review). A
failed write now makes the book reload before its next decision.
"""

from __future__ import annotations

import json

import pytest

from tests.support.taskhook import Pod, TasksApi, serving, tasks_action


@pytest.mark.asyncio
async def test_a_task_done_whose_write_failed_is_done_once_the_retry_is_written() -> None:
    fake = TasksApi(tasks_action(2))
    async with serving(fake) as (_, http):
        pod = Pod(http)
        status, leased = await pod.lease()
        assert (status, leased["id"]) == (200, "0")
        done = {"status": "done", "result": {"x": 1}}
        fake.fail_writes["a-tasks-0"] = 1  # the chunk's next write: 503
        first = await pod.report("0", done)
        assert first[0] == 503
        assert await pod.report("0", done) == (200, {"id": "0", "state": "done", "tries": 1})
    durable = json.loads(fake.configmaps["a-tasks-0"]["data"]["tasks"])
    assert durable["0"][0] == "done"
    assert durable["0"][4] == {"x": 1}
