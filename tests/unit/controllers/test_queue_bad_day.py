"""Queues and admission on a bad day, through real reconciles over the in-memory API
(found by a review; each failed on the code before)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from asyncaction.controllers.action_metrics import phase_labels
from asyncaction.controllers.admission import QueueLimits
from asyncaction.controllers.queues import QueueController
from asyncaction.kube import paths
from asyncaction.runtime import Metrics, WorkQueue
from tests.unit.controllers.test_slots_and_attempts import job_of, run_until_running
from tests.unit.controllers.world import NS, World, action_object

CONTAINERS = {"spec": {"containers": [{"name": "main", "image": "busybox", "command": ["true"]}]}}


def finish(world: World, name: str, pod: dict[str, Any]) -> None:
    """The action's Job succeeds and its Pod is gone from the slot's count."""
    job = job_of(world, name)
    job["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    world.changed(world.caches.jobs, job)
    stored = world.kube.objects[paths.pod_path(NS, pod["metadata"]["name"])]
    stored["status"]["phase"] = "Succeeded"
    world.changed(world.caches.pods, stored)


def queue_controller(world: World) -> tuple[QueueController, WorkQueue]:
    work = WorkQueue("queue-status")
    controller = QueueController(
        world.kube,  # type: ignore[arg-type]
        world.caches.queues,
        world.admissions,
        work,
        Metrics(),
        world.controller.wake_granted,
        status_delay=0.0,
    )
    world.controller.on_queue_changed = controller.counts_changed
    return controller, work


def action_queue(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "asyncaction.dev/v1alpha1",
        "kind": "ActionQueue",
        "metadata": {"name": "one", "namespace": NS},
        "spec": spec,
    }


@pytest.mark.asyncio
async def test_an_action_queue_without_max_concurrent_takes_the_operators_default(
    master_keys_file: Path,
) -> None:
    """An ActionQueue made to set only ``retention`` had no limit at all: every waiting
    action started at once, though the CRD says unset is the operator's default."""
    world = World(master_keys_file, settings_changes={"default_max_concurrent": 1})
    queue_controller(world)
    stored = world.kube.seed(paths.queue_path(NS), action_queue(retention="Delete"))
    world.observe(world.caches.queues, stored, "ADDED")
    assert world.admissions.limits_of((NS, "one")) == QueueLimits(1)
    for name in "abc":
        world.create_action(action_object(name, queue="one"))
    for name in "abc":
        await world.reconcile(name)
    assert [world.status(name)["phase"] for name in "abc"] == ["STARTING", "QUEUED", "QUEUED"]


@pytest.mark.asyncio
async def test_a_waiting_action_being_deleted_does_not_take_the_freed_slot(
    master_keys_file: Path,
) -> None:
    """Kept by a finalizer, it stayed in line, took the next slot, and its reconcile,
    which returns at once for an action being deleted, held it: nothing else started."""
    world = World(master_keys_file)
    world.limit("one", 1)
    world.create_action(action_object("running", queue="one"))
    pod = await run_until_running(world, "running")
    doomed = action_object("doomed", queue="one")
    doomed["metadata"]["finalizers"] = ["example.com/cleanup"]
    doomed["metadata"]["creationTimestamp"] = "2026-11-23T10:00:00Z"  # first in line
    world.create_action(doomed)
    world.create_action(action_object("later", queue="one"))
    await world.reconcile("doomed")
    await world.reconcile("later")
    stored = world.stored("doomed")
    stored["metadata"]["deletionTimestamp"] = "2026-11-23T12:05:00Z"  # kubectl delete
    world.changed(world.caches.actions, stored)
    finish(world, "running", pod)
    await world.reconcile("running")
    await world.reconcile("doomed")
    await world.reconcile("later")
    assert world.status("later")["phase"] == "STARTING"
    assert world.admissions.active_count((NS, "one")) == 1


@pytest.mark.asyncio
async def test_suspending_or_lowering_a_queue_takes_back_grants_not_yet_started(
    master_keys_file: Path,
) -> None:
    """A resume grants every free slot at once, and each granted action starts when a
    worker reaches it: a suspend (or a lower limit) meanwhile still started them all."""
    world = World(master_keys_file)
    key = (NS, "big")
    world.admissions.set_limits(key, QueueLimits(None, suspended=True))
    names = [f"w-{n}" for n in range(5)]
    for name in names:
        world.create_action(action_object(name, queue="big"))
        await world.reconcile(name)
    world.admissions.set_limits(key, QueueLimits(None))  # resumed...
    world.controller.wake_granted(key)
    assert world.admissions.active_count(key) == 5  # ...every slot granted at once
    world.admissions.set_limits(key, QueueLimits(2))  # lowered before the workers came
    assert world.admissions.active_count(key) == 2
    for name in names:
        await world.reconcile(name)
    phases = [world.status(name)["phase"] for name in names]
    assert phases == ["STARTING"] * 2 + ["QUEUED"] * 3
    world.admissions.set_limits(key, QueueLimits(5))  # raised: three more granted...
    world.controller.wake_granted(key)
    world.admissions.set_limits(key, QueueLimits(5, suspended=True))  # ...then suspended
    for name in names[2:]:
        await world.reconcile(name)
    assert [world.status(name)["phase"] for name in names[2:]] == ["QUEUED"] * 3
    assert len(world.kube.created(paths.job_path(NS))) == 2


@pytest.mark.asyncio
async def test_a_priority_raised_through_the_template_reorders_the_waiting_line(
    master_keys_file: Path,
) -> None:
    world = World(master_keys_file)
    world.limit("one", 1)
    for name in ("routine", "urgent"):
        template = {
            "apiVersion": "asyncaction.dev/v1alpha1",
            "kind": "ActionTemplate",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"template": CONTAINERS, "priority": 0},
        }
        world.observe(
            world.caches.templates, world.kube.seed(paths.template_path(NS), template), "ADDED"
        )
    world.create_action(action_object("running", queue="one"))
    pod = await run_until_running(world, "running")
    for name, ref, created in (
        ("report", "routine", "2026-11-23T10:00:00Z"),
        ("hotfix", "urgent", "2026-11-23T10:30:00Z"),
    ):
        obj = action_object(name, queue="one", templateRef=ref)
        del obj["spec"]["template"]
        obj["metadata"]["creationTimestamp"] = created
        world.create_action(obj)
        await world.reconcile(name)
    urgent = world.kube.objects[paths.template_path(NS, "urgent")]
    urgent["spec"]["priority"] = 100
    world.changed(world.caches.templates, urgent)
    finish(world, "running", pod)
    await world.reconcile("running")
    await world.reconcile("report")
    await world.reconcile("hotfix")
    assert (world.status("report")["phase"], world.status("hotfix")["phase"]) == (
        "QUEUED",
        "STARTING",
    )


@pytest.mark.asyncio
async def test_a_queues_status_is_written_again_for_a_recreated_queue_or_a_foreign_write(
    master_keys_file: Path,
) -> None:
    world = World(master_keys_file)
    controller, work = queue_controller(world)

    async def drain() -> None:
        """Run the status reconciles queued (a status delay of 0: due at once)."""
        for _ in range(20):
            work._pop_due()
            key = work._next()
            if key is None:
                return
            await controller.reconcile(key)
            work._done(key)

    path = paths.queue_path(NS, "one")
    world.observe(
        world.caches.queues,
        world.kube.seed(paths.queue_path(NS), action_queue(maxConcurrent=2)),
        "ADDED",
    )
    world.create_action(action_object("a", queue="one"))
    await run_until_running(world, "a")
    await drain()
    right = {"phaseCounts": {"RUNNING": 1}, "active": 1}
    assert world.kube.objects[path]["status"] == right
    del world.kube.objects[path]  # deleted and re-created in a watch gap
    fresh = world.kube.seed(paths.queue_path(NS), action_queue(maxConcurrent=2))
    world.observe(world.caches.queues, fresh, "MODIFIED")  # as a relist applies it
    await drain()
    assert world.kube.objects[path]["status"] == right
    stale = world.kube.objects[path]  # an old leader's late write lands
    stale["status"] = {"phaseCounts": {"QUEUED": 7}, "active": 0}
    world.changed(world.caches.queues, stale)
    await drain()
    assert world.kube.objects[path]["status"] == right


@pytest.mark.asyncio
async def test_a_finished_action_counts_in_the_queue_it_ran_in(master_keys_file: Path) -> None:
    world = World(master_keys_file)
    world.limit("one", 1)
    world.limit("other", 5)
    world.create_action(action_object("a", queue="one"))
    pod = await run_until_running(world, "a")
    world.edit("a", queue="other")  # for the next attempt (contract-extensions.md)
    await world.reconcile("a")
    finish(world, "a", pod)
    await world.reconcile("a")
    assert (world.status("a")["phase"], world.status("a")["queue"]) == ("SUCCEEDED", "one")
    cached = world.cached("a")
    assert cached is not None
    assert phase_labels(cached) == (NS, "one", "SUCCEEDED")
    assert world.admissions.phase_counts((NS, "one")) == {"SUCCEEDED": 1}
    assert world.admissions.phase_counts((NS, "other")) == {}


@pytest.mark.asyncio
async def test_the_series_of_a_queue_go_with_its_last_action(master_keys_file: Path) -> None:
    """Found by a review: the series labelled by namespace and queue stayed for every
    name ever seen (a queue per pull request: about 45 series each, for good)."""
    from prometheus_client import generate_latest

    world = World(master_keys_file)

    def series_of(queue: str) -> list[str]:
        text = generate_latest(world.metrics.registry).decode()
        return [line for line in text.splitlines() if f'queue="{queue}"' in line]

    for n in range(3):
        world.create_action(action_object(f"pr-{n}", queue=f"pr-{n}"))
        await world.reconcile(f"pr-{n}")  # STARTING: a transition and a wait observed
    assert all(series_of(f"pr-{n}") for n in range(3))
    for n in range(2):
        stored = world.kube.objects.pop(paths.action_path(NS, f"pr-{n}"))
        world.observe(world.caches.actions, stored, "DELETED")
    assert series_of("pr-0") == series_of("pr-1") == []
    assert series_of("pr-2")  # its action is still there
