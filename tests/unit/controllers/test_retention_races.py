"""Retention deletes the action it decided on, as it was decided on (found by a review:
its DELETE named the action only, so a cache one watch event behind deleted what the
user had just changed, or a new action re-created under the same name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from asyncaction.controllers.schedules import ScheduleController
from asyncaction.kube import paths
from asyncaction.lifecycle.schedule import DeleteRun
from asyncaction.runtime import Metrics
from asyncaction.runtime.informer import Informers
from tests.unit.controllers.fakekube import FakeKube
from tests.unit.controllers.test_slots_and_attempts import job_of, run_until_running
from tests.unit.controllers.world import NS, World, action_object


async def finished_with_ttl_work_done(world: World, name: str) -> None:
    world.create_action(action_object(name, ttlSecondsAfterFinished=0, retention="Delete"))
    await run_until_running(world, name)
    job = job_of(world, name)
    job["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    world.changed(world.caches.jobs, job)
    await world.reconcile(name)  # SUCCEEDED
    await world.reconcile(name)  # the TTL work: children removed, marked
    assert world.status(name)["childrenRemovedAt"]
    world.kube.deletes.clear()


@pytest.mark.asyncio
async def test_a_users_edit_not_yet_in_the_cache_stops_the_deletion(
    master_keys_file: Path,
) -> None:
    world = World(master_keys_file)
    await finished_with_ttl_work_done(world, "report")
    stored = world.stored("report")  # the user sets Keep; its watch event is not here yet
    stored["spec"]["retention"] = "Keep"
    stored["metadata"]["generation"] += 1
    world.kube._stamp(stored)
    await world.reconcile("report")  # refused: the API server has a newer version
    assert world.kube.calls[-1] == ("DELETE", paths.action_path(NS, "report"))
    assert paths.action_path(NS, "report") in world.kube.objects
    world.kube.calls.clear()
    world.observe(world.caches.actions, stored)  # the watch brings the edit
    await world.reconcile("report")  # decided again: kept
    assert ("DELETE", paths.action_path(NS, "report")) not in world.kube.calls
    assert paths.action_path(NS, "report") in world.kube.objects


@pytest.mark.asyncio
async def test_an_action_recreated_under_the_same_name_is_not_deleted(
    master_keys_file: Path,
) -> None:
    world = World(master_keys_file)
    await finished_with_ttl_work_done(world, "nightly-import")
    old_uid = world.stored("nightly-import")["metadata"]["uid"]
    del world.kube.objects[paths.action_path(NS, "nightly-import")]  # deleted by the user,
    new = world.kube.seed(paths.action_path(NS), action_object("nightly-import"))  # re-made
    assert new["metadata"]["uid"] != old_uid
    await world.reconcile("nightly-import")  # from the cache that still has the old one
    assert world.kube.calls[-1] == ("DELETE", paths.action_path(NS, "nightly-import"))
    assert world.stored("nightly-import")["metadata"]["uid"] == new["metadata"]["uid"]


@pytest.mark.asyncio
async def test_a_schedules_history_limit_deletes_only_the_run_it_decided_on() -> None:
    kube: Any = FakeKube()
    actions = Informers(kube, paths.action_path, [NS], name="asyncactions")
    controller = ScheduleController(kube, [NS], Metrics(), actions, actions.put)
    schedule = {"metadata": {"name": "nightly", "namespace": NS}}
    run = kube.seed(paths.action_path(NS), action_object("nightly-1"))
    decided_on = run["metadata"]["uid"]
    del kube.objects[paths.action_path(NS, "nightly-1")]  # deleted, and re-made by hand
    remade = kube.seed(paths.action_path(NS), action_object("nightly-1"))
    await controller._apply(schedule, DeleteRun("nightly-1", decided_on))
    assert (
        kube.objects[paths.action_path(NS, "nightly-1")]["metadata"]["uid"]
        == (remade["metadata"]["uid"])
    )
    await controller._apply(schedule, DeleteRun("nightly-1", remade["metadata"]["uid"]))
    assert paths.action_path(NS, "nightly-1") not in kube.objects


@pytest.mark.asyncio
async def test_the_ttl_mark_of_an_action_recreated_meanwhile_is_not_written_on_the_new_one(
    master_keys_file: Path,
) -> None:
    """``childrenRemovedAt`` is written after the TTL work (an archive upload may take a
    while) without the cached version: it landed on an action deleted and re-created
    under the same name meanwhile, whose TTL work then counted as done."""
    world = World(master_keys_file)
    world.create_action(action_object("report", ttlSecondsAfterFinished=0))
    await run_until_running(world, "report")
    job = job_of(world, "report")
    job["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    world.changed(world.caches.jobs, job)
    await world.reconcile("report")  # SUCCEEDED
    executor = world.controller.executor
    remove_children = executor.remove_children

    async def meanwhile_recreated(action: Any) -> None:
        await remove_children(action)
        del world.kube.objects[paths.action_path(NS, "report")]
        world.kube.seed(paths.action_path(NS), action_object("report"))

    executor.remove_children = meanwhile_recreated  # type: ignore[method-assign]
    await world.reconcile("report")  # the TTL work, then its mark
    assert "childrenRemovedAt" not in (world.stored("report").get("status") or {})
