"""ActionTemplates on a bad day, through real reconciles over the in-memory API (found by
a review; each failed on the code before)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from asyncaction.controllers.template_absences import (
    TEMPLATE_FORGET_SECONDS,
    TEMPLATE_GRACE_SECONDS,
)
from asyncaction.kube import paths
from tests.unit.controllers.test_slots_and_attempts import job_of, run_until_running
from tests.unit.controllers.world import NS, World, action_object

POD = {"spec": {"containers": [{"name": "main", "image": "x", "command": ["resize"]}]}}


def template(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "asyncaction.dev/v1alpha1",
        "kind": "ActionTemplate",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def from_template(name: str, ref: str, **spec: Any) -> dict[str, Any]:
    obj = action_object(name, templateRef=ref, **spec)
    del obj["spec"]["template"]
    return obj


def clocked_world(master_keys_file: Path) -> tuple[World, list[float]]:
    """A world whose controller reads the clock from the returned list (``now[0]``)."""
    world = World(master_keys_file)
    now = [100.0]
    world.controller.clock = lambda: now[0]
    return world, now


def ready_of(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def job_creates(world: World) -> list[tuple[str, str]]:
    return [c for c in world.kube.calls if c[0] == "POST" and "/jobs" in c[1]]


@pytest.mark.asyncio
async def test_a_template_briefly_absent_from_the_cache_fails_no_waiting_action(
    master_keys_file: Path,
) -> None:
    """``kubectl replace --force`` of a template (its DELETED event, then ADDED), or an
    action processed before its new template's event: "no handler" is terminal, and every
    waiting action failed for good."""
    world, now = clocked_world(master_keys_file)
    world.kube.seed(paths.template_path(NS), template("fresh", template=POD))  # not cached
    world.create_action(from_template("early", "fresh"))
    await world.reconcile("early")
    assert "phase" not in (world.stored("early").get("status") or {})  # decided later
    world.observe(
        world.caches.templates, world.kube.objects[paths.template_path(NS, "fresh")], "ADDED"
    )
    await world.reconcile("early")
    assert world.status("early")["phase"] == "STARTING"

    world.create_action(from_template("waiting", "gone", queue="q"))
    world.limit("q", 0)
    stored = world.kube.seed(paths.template_path(NS), template("gone", template=POD))
    world.observe(world.caches.templates, stored, "ADDED")
    await world.reconcile("waiting")
    assert world.status("waiting")["phase"] == "QUEUED"
    del world.kube.objects[paths.template_path(NS, "gone")]  # deleted, for good this time
    world.observe(world.caches.templates, stored, "DELETED")
    await world.reconcile("waiting")
    assert world.status("waiting")["phase"] == "QUEUED"  # within the grace
    now[0] += TEMPLATE_GRACE_SECONDS
    await world.reconcile("waiting")
    assert (world.status("waiting")["phase"], world.status("waiting")["error"]["reason"]) == (
        "FAILED",
        "NoHandler",
    )


@pytest.mark.asyncio
async def test_a_finished_action_with_its_own_template_keeps_ignoring_its_template_ref(
    master_keys_file: Path,
) -> None:
    """Its own pod template makes ``templateRef`` ignored (the contract); the summary of
    a finished action drops the pod template, and from then on the referenced
    template's retention and TTL applied: the action and its result were deleted."""
    world = World(master_keys_file)
    stored = world.kube.seed(
        paths.template_path(NS),
        template("cleanup-fast", template=POD, ttlSecondsAfterFinished=0, retention="Delete"),
    )
    world.observe(world.caches.templates, stored, "ADDED")
    world.create_action(action_object("mine", templateRef="cleanup-fast"))
    await run_until_running(world, "mine")
    job = job_of(world, "mine")
    job["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    world.changed(world.caches.jobs, job)
    await world.reconcile("mine")
    assert world.status("mine")["phase"] == "SUCCEEDED"
    for _ in range(3):
        await world.reconcile("mine")
    assert paths.action_path(NS, "mine") in world.kube.objects
    assert paths.job_path(NS, job["metadata"]["name"]) in world.kube.objects
    cached = world.cached("mine")
    assert cached is not None
    resolved = world.controller.reads.resolved_spec(cached)
    assert (resolved.get("ttlSecondsAfterFinished"), resolved.get("retention")) == (None, "Keep")


@pytest.mark.asyncio
async def test_an_action_naming_a_missing_template_says_so_at_once_and_starts_when_it_comes(
    master_keys_file: Path,
) -> None:
    """No status for the whole grace was all a user saw of a typo in ``templateRef``, or
    of a template applied after its actions: the action now waits QUEUED, its Ready
    condition and message naming the template, written once."""
    world, now = clocked_world(master_keys_file)
    world.create_action(from_template("early", "later"))
    assert (await world.reconcile("early")).requeue_after == TEMPLATE_GRACE_SECONDS
    status = world.status("early")
    message = (
        f"ActionTemplate {NS}/later does not exist: the action fails (NoHandler) if it is "
        "still missing 30 s after it was first found missing"
    )
    assert status["phase"] == "QUEUED"
    assert status["message"] == message
    ready = ready_of(status)
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown",
        "TemplateNotFound",
        message,
    )
    assert status.get("error") is None  # nothing failed yet
    assert not job_creates(world)
    queued = world.controller.events.queue
    assert len(world.controller.events) == 1
    event = queued.get_nowait().body
    assert (event["reason"], event["involvedObject"]["name"]) == ("Queued", "early")

    patches = len([c for c in world.kube.calls if c[0] == "PATCH"])
    now[0] += 10
    assert (await world.reconcile("early")).requeue_after == TEMPLATE_GRACE_SECONDS - 10
    assert len([c for c in world.kube.calls if c[0] == "PATCH"]) == patches  # said once

    stored = world.kube.seed(paths.template_path(NS), template("later", template=POD))
    world.observe(world.caches.templates, stored, "ADDED")
    await world.reconcile("early")
    status = world.status("early")
    assert status["phase"] == "STARTING"
    ready = ready_of(status)
    assert ready["reason"] == "Starting"


@pytest.mark.asyncio
async def test_an_action_whose_template_never_comes_fails_after_the_grace(
    master_keys_file: Path,
) -> None:
    world, now = clocked_world(master_keys_file)
    world.create_action(from_template("typo", "no-such-template"))
    await world.reconcile("typo")
    assert world.status("typo")["phase"] == "QUEUED"
    now[0] += TEMPLATE_GRACE_SECONDS
    await world.reconcile("typo")
    status = world.status("typo")
    assert (status["phase"], status["error"]["reason"]) == ("FAILED", "NoHandler")
    assert not job_creates(world)


def status_patches(world: World, name: str) -> int:
    return len([c for c in world.kube.calls if c[0] == "PATCH" and f"/{name}/status" in c[1]])


@pytest.mark.asyncio
async def test_a_template_that_came_gives_a_later_absence_its_own_grace(
    master_keys_file: Path,
) -> None:
    """The time a template was first found missing was kept after it arrived: an hour
    later a ``kubectl replace --force`` failed its waiting actions at once (found by a
    review)."""
    world, now = clocked_world(master_keys_file)
    world.create_action(from_template("early", "t"))
    await world.reconcile("early")
    assert world.status("early")["phase"] == "QUEUED"
    stored = world.kube.seed(paths.template_path(NS), template("t", template=POD))
    world.observe(world.caches.templates, stored, "ADDED")
    await world.reconcile("early")
    assert world.status("early")["phase"] == "STARTING"

    now[0] += 3600
    world.limit("q", 0)
    world.create_action(from_template("waiting", "t", queue="q"))
    await world.reconcile("waiting")
    assert world.status("waiting")["phase"] == "QUEUED"
    del world.kube.objects[paths.template_path(NS, "t")]  # replace --force: DELETED, ...
    world.observe(world.caches.templates, stored, "DELETED")
    assert (await world.reconcile("waiting")).requeue_after == TEMPLATE_GRACE_SECONDS
    assert world.status("waiting")["phase"] == "QUEUED"  # within a grace of its own


@pytest.mark.asyncio
async def test_a_replaced_template_rewrites_no_waiting_action(master_keys_file: Path) -> None:
    """An action waiting for a slot keeps saying so while its template is replaced
    (``kubectl replace --force``): one write per waiting action on the way out and one
    on the way back would be 20,000 writes for 10,000 waiting actions (found by a
    review)."""
    world = World(master_keys_file)
    stored = world.kube.seed(paths.template_path(NS), template("t", template=POD))
    world.observe(world.caches.templates, stored, "ADDED")
    world.limit("q", 0)
    world.create_action(from_template("w", "t", queue="q"))
    await world.reconcile("w")
    ready = ready_of(world.status("w"))
    assert ready["reason"] == "QueueFull"
    before = status_patches(world, "w")
    del world.kube.objects[paths.template_path(NS, "t")]
    world.observe(world.caches.templates, stored, "DELETED")
    await world.reconcile("w")
    stored = world.kube.seed(paths.template_path(NS), template("t", template=POD))
    world.observe(world.caches.templates, stored, "ADDED")
    await world.reconcile("w")
    assert status_patches(world, "w") == before
    ready = ready_of(world.status("w"))
    assert ready["reason"] == "QueueFull"


@pytest.mark.asyncio
async def test_the_same_typo_a_minute_later_gets_a_grace_of_its_own(
    master_keys_file: Path,
) -> None:
    """The time a template was first found missing was kept for good: a second action
    with the same typo, a minute after the first failed, failed at once with no word of
    what it waits for."""
    world, now = clocked_world(master_keys_file)
    world.create_action(from_template("first", "typo"))
    await world.reconcile("first")
    now[0] += TEMPLATE_GRACE_SECONDS
    await world.reconcile("first")
    assert world.status("first")["phase"] == "FAILED"

    now[0] += 60
    world.create_action(from_template("second", "typo"))
    assert (await world.reconcile("second")).requeue_after == TEMPLATE_GRACE_SECONDS
    ready = ready_of(world.status("second"))
    assert (world.status("second")["phase"], ready["reason"]) == ("QUEUED", "TemplateNotFound")
    now[0] += TEMPLATE_GRACE_SECONDS
    await world.reconcile("second")
    assert world.status("second")["phase"] == "FAILED"


@pytest.mark.asyncio
async def test_names_that_never_come_keep_no_entry_once_their_absence_is_over(
    master_keys_file: Path,
) -> None:
    """A first-missing time was kept per template name until that name appeared: each
    name that never comes (a typo in each of many actions) kept an entry for the
    operator's life."""
    world, now = clocked_world(master_keys_file)
    for n in range(20):
        world.create_action(from_template(f"a{n}", f"typo-{n}"))
        await world.reconcile(f"a{n}")
    absences = world.controller.absent_templates
    assert len(absences.first_missing) == 20
    now[0] += TEMPLATE_GRACE_SECONDS
    for n in range(20):
        await world.reconcile(f"a{n}")
        assert world.status(f"a{n}")["phase"] == "FAILED"
    now[0] += TEMPLATE_FORGET_SECONDS + 1
    world.create_action(from_template("later", "typo-later"))
    assert (await world.reconcile("later")).requeue_after == TEMPLATE_GRACE_SECONDS
    assert set(absences.first_missing) == {f"{NS}/typo-later"}
