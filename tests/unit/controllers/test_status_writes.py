"""The status writer against an in-memory API: a write that may have landed is read back,
never assumed lost, and an answer that raced with a deletion stays out of the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from asyncaction.kube import ApiError, paths
from tests.unit.controllers.fakekube import status_error
from tests.unit.controllers.world import NS, World, action_object


@pytest.fixture
def world(master_keys_file: Path) -> World:
    return World(master_keys_file)


def _starting(stored: dict[str, Any]) -> dict[str, Any]:
    return {"phase": "STARTING", "attempts": 1, "jobName": "hello-job-1"}


@pytest.mark.asyncio
async def test_a_status_write_that_timed_out_but_landed_counts_as_written(world: World) -> None:
    stored = world.create_action(action_object("hello"))
    world.kube.land_then_fail(
        "PATCH", "/status", status_error(504, "Timeout", "the request timed out")
    )
    action = world.cached("hello")
    assert action is not None
    assert await world.controller.status_writer.write(action, _starting(stored))
    assert world.status("hello")["phase"] == "STARTING"
    cached = world.cached("hello")
    assert cached is not None
    assert cached["status"]["phase"] == "STARTING"


@pytest.mark.asyncio
async def test_a_retried_write_whose_first_try_landed_sees_conflict_and_counts_as_written(
    world: World,
) -> None:
    stored = world.create_action(action_object("hello"))
    action = world.cached("hello")
    assert action is not None
    # the first try landed, its answer was lost; the retry's precondition now fails
    world.kube.land_then_fail("PATCH", "/status", status_error(409, "Conflict", "modified"))
    assert await world.controller.status_writer.write(action, _starting(stored))


@pytest.mark.asyncio
async def test_a_conflict_from_someone_elses_write_is_not_taken_for_ours(world: World) -> None:
    stored = world.create_action(action_object("hello"))
    action = world.cached("hello")
    assert action is not None
    world.edit("hello", suspend=True)  # the cached version is now stale
    assert not await world.controller.status_writer.write(action, _starting(stored))
    assert "phase" not in world.status("hello")


@pytest.mark.asyncio
async def test_a_timed_out_write_that_did_not_land_is_raised_for_a_retry(world: World) -> None:
    stored = world.create_action(action_object("hello"))
    action = world.cached("hello")
    assert action is not None
    world.kube.fail("PATCH", "/status", status_error(504, "Timeout", "timed out"))
    with pytest.raises(ApiError):
        await world.controller.status_writer.write(action, _starting(stored))


@pytest.mark.asyncio
async def test_a_write_answered_after_the_deletion_does_not_bring_the_action_back(
    world: World,
) -> None:
    stored = world.create_action(action_object("hello"))
    action = world.cached("hello")
    assert action is not None
    world.kube.seed(paths.action_path(NS), {**stored})  # still on the server for the write
    answer = await world.kube.patch(
        paths.action_path(NS, "hello", status=True), {"status": {"phase": "QUEUED"}}
    )
    world.observe(world.caches.actions, answer, "DELETED")  # the watch: deleted
    assert world.cached("hello") is None
    assert not world.caches.accept(world.caches.actions, answer, update=True)
    assert not world.caches.accept(world.caches.actions, answer, update=False)
    assert world.cached("hello") is None
    assert world.admissions.queue_of(stored["metadata"]["uid"]) is None
