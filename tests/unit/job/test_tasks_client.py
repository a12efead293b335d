"""The Python job client's task loop against the hook's real app on a real port."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asyncaction_job.client import JobClient, Retry
from tests.support.hookserver import KEYS, UID
from tests.support.taskhook import Pod, TasksApi, serving, task_clock, tasks_action


def job_client(http: Any) -> JobClient:
    url = str(http.make_url("")).rstrip("/")
    return JobClient(UID, KEYS.issue("ns", UID, 1), url, retry=Retry(attempts=2, base_delay=0.01))


@pytest.mark.asyncio
async def test_the_loop_sends_its_try_and_ends_at_204() -> None:
    api = TasksApi(tasks_action(3))
    async with serving(api) as (_, http):
        client = job_client(http)

        def work() -> list[str]:
            ran = []
            for task in client.tasks():
                ran.append(task.name)
                task.done({"n": task.parameters.get("n")})
            return ran

        assert await asyncio.to_thread(work) == ["t0", "t1", "t2"]
    assert [api.records()[i][:2] for i in "012"] == [["done", 1]] * 3


@pytest.mark.asyncio
async def test_a_pod_whose_lease_lapsed_goes_on_without_ending_the_others_try() -> None:
    """Found by a review: the paused pod's late report ended the try another pod ran
    (or, refused with 409, raised out of ``client.tasks()`` and crashed the pod)."""
    api = TasksApi(tasks_action(1, taskLeaseSeconds=10))
    with task_clock() as ahead:
        async with serving(api) as (_, http):
            client = job_client(http)
            other = Pod(http)

            def paused_worker() -> list[tuple[str, Any, bool]]:
                seen = []
                for task in client.tasks():
                    ahead[0] += 11_000  # this pod pauses past its lease...
                    status, leased = asyncio.run_coroutine_threadsafe(other.lease(), loop).result()
                    assert (status, leased["try"]) == (200, 2)  # ...and another takes it
                    answer = task.fail("paused too long")
                    seen.append((task.id, answer, task.cancelled))
                    asyncio.run_coroutine_threadsafe(
                        other.report("0", {"status": "done", "try": 2}), loop
                    ).result()
                return seen

            loop = asyncio.get_running_loop()
            assert await asyncio.to_thread(paused_worker) == [("0", None, True)]
    assert api.records()["0"][:2] == ["done", 2]
