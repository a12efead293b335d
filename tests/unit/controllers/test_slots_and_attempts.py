"""Issue 13's slot, refusal, clean-attempt and echo defects, through one real reconcile
over an in-memory API (``World``): each test fails on the controller before the fix."""

from __future__ import annotations

import asyncio
import copy
import itertools
from pathlib import Path
from typing import Any

import pytest

from asyncaction.controllers import actions as actions_module
from asyncaction.kube import ApiError, paths
from tests.unit.controllers.fakekube import status_error
from tests.unit.controllers.world import NS, World, action_object


@pytest.fixture
def world(master_keys_file: Path) -> World:
    return World(master_keys_file)


def job_of(world: World, name: str) -> dict[str, Any]:
    job_name = world.status(name)["jobName"]
    return world.kube.objects[paths.job_path(NS, job_name)]


async def run_until_running(world: World, name: str) -> dict[str, Any]:
    """Admit ``name``, let its Job's Pod run, and reconcile to RUNNING; its Pod."""
    await world.reconcile(name)
    assert world.status(name)["phase"] == "STARTING"
    job = job_of(world, name)
    world.observe(world.caches.jobs, job, "ADDED")
    pod = world.pod_for(job, "Running")
    world.observe(world.caches.pods, pod, "ADDED")
    await world.reconcile(name)
    assert world.status(name)["phase"] == "RUNNING"
    return pod


def uid(world: World, name: str) -> str:
    return str(world.stored(name)["metadata"]["uid"])


# -- refusals end the attempt ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_413_fails_the_action_with_the_servers_reason_and_frees_the_slot(
    world: World,
) -> None:
    world.limit("one", 1)
    world.create_action(action_object("big", queue="one"))
    world.create_action(action_object("next", queue="one"))
    world.kube.fail("POST", "/jobs", status_error(413, "RequestEntityTooLarge", "too large"))
    await world.reconcile("big")
    status = world.status("big")
    assert status["phase"] == "FAILED"
    assert status["error"]["reason"] == "RequestEntityTooLarge"
    assert "(413 RequestEntityTooLarge): too large" in status["error"]["message"]
    assert world.admissions.request(uid(world, "next"))  # the freed slot is the next one's
    await world.reconcile("next")
    assert world.status("next")["phase"] == "STARTING"


@pytest.mark.asyncio
async def test_a_webhook_400_fails_the_attempt_and_counts_against_backoff_limit(
    world: World,
) -> None:
    world.create_action(action_object("denied", backoffLimit=1))
    denial = status_error(400, "BadRequest", 'admission webhook "policy.example" denied')
    world.kube.fail("POST", "/jobs", denial)
    await world.reconcile("denied")
    first = world.status("denied")
    assert (first["phase"], first["failures"], first["attempts"]) == ("QUEUED", 1, 1)
    assert first["nextAttemptAt"]
    assert "policy.example" in first["message"]
    assert world.admissions.active_count((NS, "default")) == 0
    # the retry is due: run it now, refused again, backoffLimit spent
    world.set_status("denied", nextAttemptAt=None)
    world.kube.fail("POST", "/jobs", denial)
    await world.reconcile("denied")
    final = world.status("denied")
    assert (final["phase"], final["failures"], final["attempts"]) == ("FAILED", 2, 2)
    assert final["error"]["reason"] == "BadRequest"
    assert world.kube.created(paths.job_path(NS)) == []


@pytest.mark.asyncio
async def test_a_refused_job_of_an_action_that_waited_in_its_queue_counts_too(
    world: World,
) -> None:
    """The refusal was judged from the view before the STARTING write: for an action that
    had waited (QUEUED), a retry within ``backoffLimit`` is QUEUED again, no transition,
    so nothing was written. The action stayed STARTING, held its slot, counted nothing."""
    world.create_action(action_object("waited", backoffLimit=1))
    world.set_status("waited", phase="QUEUED", attempts=0, failures=0, queue="default")
    denial = status_error(400, "BadRequest", 'admission webhook "policy.example" denied')
    world.kube.fail("POST", "/jobs", denial)
    await world.reconcile("waited")
    status = world.status("waited")
    assert (status["phase"], status["failures"], status["attempts"]) == ("QUEUED", 1, 1)
    assert status["nextAttemptAt"]
    assert "policy.example" in status["message"]
    assert world.admissions.active_count((NS, "default")) == 0


QUOTA = (
    'secrets "x" is forbidden: exceeded quota: objects, requested: count/secrets=1, '
    "used: count/secrets=10, limited: count/secrets=10"
)


@pytest.mark.asyncio
async def test_a_refused_secret_ends_the_attempt_as_a_refused_job_does(world: World) -> None:
    """The attempt's Secret is created before its Job; its refusals were raised as they
    came, retried by the work queue for ever, the action STARTING with its slot held."""
    world.limit("one", 1)
    world.create_action(action_object("quota", queue="one", backoffLimit=0))
    retries = world.controller.executor.settings.job_create_retries
    now = [100.0]
    world.controller.executor.clock = lambda: now[0]
    for _ in range(retries + 1):
        world.kube.fail("POST", "/secrets", status_error(403, "Forbidden", QUOTA))
    for _ in range(retries):
        with pytest.raises(ApiError):
            await world.reconcile("quota")
        assert world.status("quota")["phase"] == "STARTING"
        now[0] += 2.0  # the retries span 10 s: a quota, not a restarting API server
    await world.reconcile("quota")  # the last refusal in a row that retrying may fix
    status = world.status("quota")
    assert status["phase"] == "FAILED"
    assert status["error"]["reason"] == "Forbidden"
    assert "the secret was refused" in status["error"]["message"]
    assert world.admissions.active_count((NS, "one")) == 0
    assert world.kube.created(paths.job_path(NS)) == []

    world.create_action(action_object("invalid", queue="one", backoffLimit=0))
    world.kube.fail("POST", "/secrets", status_error(422, "Invalid", "data: too long"))
    await world.reconcile("invalid")
    invalid = world.status("invalid")
    assert (invalid["phase"], invalid["error"]["reason"]) == ("FAILED", "InvalidSpec")
    assert world.admissions.active_count((NS, "one")) == 0


# -- clean attempts ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_new_attempt_starts_without_the_previous_attempts_reports(world: World) -> None:
    world.create_action(action_object("retried", backoffLimit=2))
    pod = await run_until_running(world, "retried")
    reports = {
        "result": {"answer": 41},
        "statusDetails": {"step": 3},
        "progress": 75,
        "logTail": ["step 3"],
        "lastReportAt": "2026-11-23T12:00:05Z",
    }
    world.set_status("retried", **reports)
    job = job_of(world, "retried")
    job["status"] = {"failed": 1, "conditions": [{"type": "Failed", "status": "True"}]}
    world.changed(world.caches.jobs, job)
    stored_pod = world.kube.objects[paths.pod_path(NS, pod["metadata"]["name"])]
    stored_pod["status"]["phase"] = "Failed"
    world.changed(world.caches.pods, stored_pod)
    await world.reconcile("retried")
    assert world.status("retried")["phase"] == "QUEUED"
    assert world.status("retried")["result"] == {"answer": 41}  # kept until a new attempt
    world.set_status("retried", nextAttemptAt=None)
    await world.reconcile("retried")
    status = world.status("retried")
    assert (status["phase"], status["attempts"]) == ("STARTING", 2)
    assert not set(reports) & set(status), status


# -- slots -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_slot_is_held_until_the_attempts_pods_are_gone(world: World) -> None:
    world.limit("one", 1)
    world.create_action(action_object("first", queue="one"))
    world.create_action(action_object("second", queue="one"))
    pod = await run_until_running(world, "first")
    world.edit("first", abort=True)
    await world.reconcile("first")
    assert world.status("first")["phase"] == "ABORTED"
    terminating = world.kube.objects[paths.pod_path(NS, pod["metadata"]["name"])]
    terminating["metadata"]["deletionTimestamp"] = "2026-11-23T12:01:00Z"
    world.changed(world.caches.pods, terminating)  # the Pod still terminates
    assert world.admissions.active_count((NS, "one")) == 1
    await world.reconcile("second")
    assert world.status("second")["phase"] == "QUEUED"
    world.observe(world.caches.pods, terminating, "DELETED")
    assert world.admissions.request(uid(world, "second"))  # the slot is free: its grant
    await world.reconcile("second")
    assert world.status("second")["phase"] == "STARTING"


@pytest.mark.asyncio
async def test_an_attempt_counts_in_the_queue_it_was_admitted_to_whatever_later_edits_say(
    world: World,
) -> None:
    world.limit("one", 1)
    world.limit("other", 1)
    world.create_action(action_object("running", queue="one"))
    await run_until_running(world, "running")
    assert world.status("running")["queue"] == "one"
    world.edit("running", queue="other")
    await world.reconcile("running")
    assert world.status("running")["queue"] == "one"  # the admitted queue stays recorded
    assert world.admissions.active_count((NS, "one")) == 1
    assert world.admissions.active_count((NS, "other")) == 0
    world.create_action(action_object("waiting", queue="one"))
    await world.reconcile("waiting")
    assert world.status("waiting")["phase"] == "QUEUED"  # "one" is still full


@pytest.mark.asyncio
async def test_after_a_restart_an_ended_attempts_pods_count_in_the_queue_that_admitted_it(
    world: World, master_keys_file: Path
) -> None:
    """An attempt's Pods that outlive it hold its slot in the queue that admitted it. That
    queue was read from memory, which a new leader lacks: after a restart it was the
    queue ``spec.queue`` names now, and a second action started in the first queue while
    the first's Pod still terminated (found by review). ``status.queue`` records it."""
    world.limit("one", 1)
    world.limit("other", 5)
    world.create_action(action_object("first", queue="one"))
    pod = await run_until_running(world, "first")
    job = copy.deepcopy(job_of(world, "first"))
    world.edit("first", queue="other")
    world.edit("first", abort=True)
    await world.reconcile("first")
    assert (world.status("first")["phase"], world.status("first")["queue"]) == ("ABORTED", "one")
    stored_pod = world.kube.objects[paths.pod_path(NS, pod["metadata"]["name"])]
    stored_pod["metadata"]["deletionTimestamp"] = "2026-11-23T12:01:00Z"  # still terminating

    restarted = World(master_keys_file)  # a new leader, from the same API state
    restarted.kube.objects.update(copy.deepcopy(world.kube.objects))
    restarted.limit("one", 1)
    restarted.limit("other", 5)
    restarted.observe(restarted.caches.jobs, job, "ADDED")
    restarted.observe(restarted.caches.pods, stored_pod, "ADDED")
    restarted.observe(restarted.caches.actions, restarted.stored("first"), "ADDED")
    assert restarted.admissions.active_count((NS, "one")) == 1
    assert restarted.admissions.active_count((NS, "other")) == 0
    restarted.create_action(action_object("second", queue="one"))
    await restarted.reconcile("second")
    assert restarted.status("second")["phase"] == "QUEUED"


@pytest.mark.asyncio
async def test_an_action_recreated_under_the_same_name_in_a_watch_gap_frees_the_old_slot(
    world: World,
) -> None:
    world.limit("one", 1)
    world.create_action(action_object("reborn", queue="one"))
    await run_until_running(world, "reborn")
    old_uid = uid(world, "reborn")
    # deleted and created again while the watch was away: the relist shows a new uid
    world.kube.objects.pop(paths.action_path(NS, "reborn"))
    fresh = world.kube.seed(paths.action_path(NS), action_object("reborn", queue="one"))
    world.observe(world.caches.actions, fresh, "ADDED")
    assert world.admissions.queue_of(old_uid) is None
    await world.reconcile("reborn")
    assert world.status("reborn")["phase"] == "STARTING"
    assert world.admissions.active_count((NS, "one")) == 1


@pytest.mark.asyncio
async def test_a_resync_forgets_admission_records_of_actions_the_cache_lost(world: World) -> None:
    world.limit("one", 1)
    world.create_action(action_object("lost", queue="one"))
    await run_until_running(world, "lost")
    world.caches.actions.members[NS].items.clear()  # gone without a DELETED event
    await world.controller.repair()
    assert world.admissions.active_count((NS, "one")) == 0
    assert world.admissions.queue_of(uid(world, "lost")) is None


@pytest.mark.asyncio
async def test_a_resync_repairs_admission_in_slices_and_keeps_what_arrives_meanwhile(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 100,000 actions the repair held the loop 135 ms (``bench/bench_loop.py``): it
    now yields every ``REPAIR_SLICE`` members, and judges each against the cache as it
    is then, so an action that arrives while it yields keeps its place in its queue."""
    monkeypatch.setattr(actions_module, "REPAIR_SLICE", 10)
    world.limit("one", 0)  # admits nothing: every action stays QUEUED in the heap
    lost = [uid(world, a["metadata"]["name"]) for a in make_actions(world, "lost", 30)]
    world.caches.actions.members[NS].items.clear()  # gone without DELETED events
    forgotten: list[int] = []  # how many were forgotten each time another task ran
    repairing = asyncio.create_task(world.controller.repair())
    while not repairing.done():
        forgotten.append(sum(world.admissions.queue_of(u) is None for u in lost))
        if forgotten[-1] == 10:
            make_actions(world, "late", 1)  # arrives while the repair yields
        await asyncio.sleep(0)
    await repairing
    assert all(world.admissions.queue_of(u) is None for u in lost)
    assert world.admissions.queue_of(uid(world, "late-00")) == (NS, "one")
    assert world.admissions.waiting_count((NS, "one")) == 1
    assert {10, 20} <= set(forgotten)  # other tasks ran between slices
    assert max(b - a for a, b in itertools.pairwise([0, *forgotten, 30])) <= 10


def make_actions(world: World, prefix: str, count: int) -> list[dict[str, Any]]:
    return [
        world.create_action(action_object(f"{prefix}-{i:02d}", queue="one")) for i in range(count)
    ]


@pytest.mark.asyncio
async def test_implied_queues_take_the_default_limit_and_free_their_memory(
    master_keys_file: Path,
) -> None:
    world = World(master_keys_file)
    world.admissions = type(world.admissions)(default_max_concurrent=1)
    world.admissions.open = True
    world.controller.admissions = world.admissions
    for name in ("a", "b"):
        world.create_action(action_object(name, queue=f"q-{name}"))
        world.create_action(action_object(f"{name}-2", queue=f"q-{name}"))
        await world.reconcile(name)
        await world.reconcile(f"{name}-2")
        assert world.status(f"{name}-2")["phase"] == "QUEUED"  # the default limit: 1
    assert world.admissions.tracked_queues() == 2
    for name in ("a", "a-2", "b", "b-2"):
        world.delete_action(name)
    assert world.admissions.tracked_queues() == 0


# -- no echo reconciles ------------------------------------------------------------------------


def test_a_report_that_moves_only_progress_details_logs_or_time_enqueues_nothing(
    world: World,
) -> None:
    stored = world.create_action(action_object("chatty"))
    stored["status"] = {"phase": "RUNNING", "attempts": 1, "jobName": "chatty-1"}
    world.kube._stamp(stored)
    world.observe(world.caches.actions, stored)
    while world.queue._next() is not None:  # a worker took it: what follows would be new
        pass
    adds = world.queue.stats.adds
    for step in range(1, 4):
        stored["status"].update(
            progress=step * 25,
            statusDetails={"step": step},
            logTail=[f"line {step}"],
            lastReportAt=f"2026-11-23T12:00:0{step}Z",
            result={"partial": step},
        )
        world.kube._stamp(stored)
        world.observe(world.caches.actions, stored)
    assert world.queue.stats.adds == adds
    stored["status"]["phase"] = "SUCCEEDED"  # a change a decision reads still enqueues
    world.kube._stamp(stored)
    world.observe(world.caches.actions, stored)
    assert world.queue.stats.adds == adds + 1


# -- retention -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_queues_retention_deletes_its_finished_actions_after_their_ttl_work(
    world: World,
) -> None:
    world.kube.seed(
        paths.queue_path(NS),
        {"metadata": {"name": "short", "namespace": NS}, "spec": {"retention": "Delete"}},
    )
    world.observe(world.caches.queues, world.kube.objects[paths.queue_path(NS, "short")], "ADDED")
    world.create_action(action_object("gone", queue="short", ttlSecondsAfterFinished=0))
    world.create_action(action_object("kept", ttlSecondsAfterFinished=0))
    for name in ("gone", "kept"):
        await run_until_running(world, name)
        job = job_of(world, name)
        job["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
        world.changed(world.caches.jobs, job)
        await world.reconcile(name)  # SUCCEEDED
        await world.reconcile(name)  # TTL expired: Job and Secret removed, marked
        assert world.status(name)["childrenRemovedAt"]
        await world.reconcile(name)
    assert paths.action_path(NS, "gone") not in world.kube.objects
    assert (paths.action_path(NS, "gone"), "Background") in world.kube.deletes
    assert paths.action_path(NS, "kept") in world.kube.objects


@pytest.mark.asyncio
async def test_the_operators_default_retention_applies_to_actions_that_set_none(
    master_keys_file: Path,
) -> None:
    """``ASYNCACTION_DEFAULT_RETENTION=Delete``: an action without a retention of its own
    (nor from its template or queue) is deleted after its TTL work; one that says
    ``Keep`` stays."""
    world = World(master_keys_file, settings_changes={"default_retention": "Delete"})
    world.create_action(action_object("gone", ttlSecondsAfterFinished=0))
    world.create_action(action_object("kept", ttlSecondsAfterFinished=0, retention="Keep"))
    for name in ("gone", "kept"):
        await run_until_running(world, name)
        job = job_of(world, name)
        job["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
        world.changed(world.caches.jobs, job)
        await world.reconcile(name)  # SUCCEEDED
        await world.reconcile(name)  # TTL expired: Job and Secret removed, marked
        assert world.status(name)["childrenRemovedAt"]
        await world.reconcile(name)
    assert (paths.action_path(NS, "gone"), "Background") in world.kube.deletes
    assert paths.action_path(NS, "gone") not in world.kube.objects
    assert paths.action_path(NS, "kept") in world.kube.objects


def test_a_default_retention_that_is_not_keep_or_delete_names_the_variable() -> None:
    from asyncaction.settings import OperatorSettings, SettingsError

    with pytest.raises(SettingsError, match="ASYNCACTION_DEFAULT_RETENTION='Forever'"):
        OperatorSettings.from_env({"ASYNCACTION_DEFAULT_RETENTION": "Forever"})


@pytest.mark.asyncio
async def test_a_resumed_queue_wakes_its_waiting_actions_a_batch_per_turn_of_the_loop(
    world: World,
) -> None:
    """2,500 QUEUED in a suspended queue, then resumed: one turn of the loop grants and
    queues 1,000 (FILL_BATCH), the next turns the rest; not all in one turn."""
    from asyncaction.controllers.admission import QueueLimits

    big = (NS, "big")
    world.admissions.set_limits(big, QueueLimits(None, suspended=True))
    for n in range(2500):
        obj = action_object(f"w-{n:04d}", queue="big")
        obj["status"] = {"phase": "QUEUED", "attempts": 0, "queue": "big"}
        world.create_action(obj)
    world.queue = type(world.queue)("actions")  # forget the keys the creation queued
    world.controller.queue = world.queue
    assert world.admissions.waiting_count(big) == 2500
    world.admissions.set_limits(big, QueueLimits(None))
    world.controller.wake_granted(big)
    assert len(world.queue) == actions_module.FILL_BATCH == 1000
    await asyncio.sleep(0)
    assert len(world.queue) == 2000
    for _ in range(2):
        await asyncio.sleep(0)
    assert len(world.queue) == 2500
    assert world.admissions.waiting_count(big) == 0
    await world.reconcile("w-0000")  # the oldest, granted first, is admitted
    assert world.status("w-0000")["phase"] == "STARTING"
