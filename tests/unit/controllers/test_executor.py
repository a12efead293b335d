"""The effect executor against an in-memory API: each effect and each refusal of a Job."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from asyncaction.api.names import ANNOTATION_KEY_ATTEMPT, LABEL_ACTION_UID
from asyncaction.controllers.executor import Target, job_refusal
from asyncaction.kube import ApiError, paths
from asyncaction.lifecycle import CreateJob, DeleteJob, Emit, EnsureSecret, RemoveChildren
from asyncaction.manifests import pod_template_for
from asyncaction.runtime.result import TerminalError
from tests.unit.controllers.fakekube import status_error
from tests.unit.controllers.world import NS, World, action_object


@pytest.fixture
def world(master_keys_file: Path) -> World:
    return World(master_keys_file)


def target_of(world: World, name: str) -> Target:
    action = world.cached(name)
    assert action is not None
    spec = world.controller.reads.resolved_spec(action)
    return Target(action, spec, pod_template_for(spec))


@pytest.mark.asyncio
async def test_ensure_secret_then_create_job_writes_both_owned_by_the_action(
    world: World,
) -> None:
    stored = world.create_action(action_object("hello"))
    target = target_of(world, "hello")
    executor = world.controller.executor
    await executor.run(EnsureSecret(1), target)
    await executor.run(CreateJob(1, "hello-job-1"), target)
    [secret] = world.kube.created(paths.secret_path(NS))
    [job] = world.kube.created(paths.job_path(NS))
    uid = stored["metadata"]["uid"]
    for child in (secret, job):
        [owner] = child["metadata"]["ownerReferences"]
        assert (owner["uid"], owner["controller"]) == (uid, True)
    assert secret["metadata"]["annotations"][ANNOTATION_KEY_ATTEMPT] == "1"
    assert job["metadata"]["labels"][LABEL_ACTION_UID] == uid
    assert job["metadata"]["name"] == "hello-job-1"
    # both answers are in the caches at once, before any watch event
    assert world.caches.jobs.get(f"{NS}/hello-job-1") is not None
    assert executor.secrets.find(target.action) is not None
    assert world.metrics.total("asyncaction_api_writes_total") == 2


@pytest.mark.asyncio
async def test_a_job_of_this_attempt_that_exists_is_adopted_not_recreated(world: World) -> None:
    world.create_action(action_object("hello"))
    target = target_of(world, "hello")
    await world.controller.executor.run(CreateJob(1, "hello-job-1"), target)
    world.caches.jobs.members[NS].items.clear()  # a restart: the cache knows nothing yet
    await world.controller.executor.run(CreateJob(1, "hello-job-1"), target)
    assert len(world.kube.created(paths.job_path(NS))) == 1
    assert world.caches.jobs.get(f"{NS}/hello-job-1") is not None


@pytest.mark.asyncio
async def test_a_job_of_our_name_owned_by_someone_else_is_a_terminal_refusal(
    world: World,
) -> None:
    world.create_action(action_object("hello"))
    world.kube.seed(paths.job_path(NS), {"metadata": {"name": "hello-job-1", "namespace": NS}})
    with pytest.raises(TerminalError) as caught:
        await world.controller.executor.run(CreateJob(1, "hello-job-1"), target_of(world, "hello"))
    assert (caught.value.reason, caught.value.counts_as_attempt) == ("JobNameTaken", False)


@pytest.mark.asyncio
async def test_delete_job_is_foreground_and_remove_children_deletes_jobs_and_secret(
    world: World,
) -> None:
    world.create_action(action_object("hello"))
    target = target_of(world, "hello")
    executor = world.controller.executor
    await executor.run(CreateJob(1, "hello-job-1"), target)
    await executor.run(DeleteJob("hello-job-1"), target)
    assert world.kube.deletes == [(paths.job_path(NS, "hello-job-1"), "Foreground")]
    await executor.run(CreateJob(1, "hello-job-1"), target)
    await executor.run(RemoveChildren(), target)
    secret_name = executor.secrets.find(target.action)
    assert secret_name is not None
    assert world.kube.deletes[1:] == [
        (paths.job_path(NS, "hello-job-1"), "Background"),
        (paths.secret_path(NS, secret_name["metadata"]["name"]), "Background"),
    ]


@pytest.mark.asyncio
async def test_emit_queues_the_event_and_the_sender_posts_it_refusals_block_nothing(
    world: World,
) -> None:
    world.create_action(action_object("hello"))
    target = target_of(world, "hello")
    executor = world.controller.executor
    world.kube.fail("POST", "/events", status_error(403, "Forbidden", "events are forbidden"))
    await executor.run(Emit("Normal", "Started", "x"), target)  # refused later, never raised
    assert len(world.controller.events) == 1  # queued: the reconcile goes on
    await executor.run(Emit("Warning", "Retrying", "attempt 1 failed"), target)
    assert world.kube.created(paths.event_path(NS)) == []
    sender = asyncio.create_task(world.controller.events.run())
    try:
        await asyncio.wait_for(world.controller.events.drained(), 5)
    finally:
        sender.cancel()
    [event] = world.kube.created(paths.event_path(NS))
    assert (event["type"], event["reason"], event["message"]) == (
        "Warning",
        "Retrying",
        "attempt 1 failed",
    )
    assert event["involvedObject"]["name"] == "hello"
    samples = world.metrics.samples()
    assert samples['asyncaction_events_dropped_total{reason="refused"}'] == 1
    assert samples['asyncaction_api_writes_total{resource="events"}'] == 1


@pytest.mark.parametrize(
    ("status", "reason", "message", "expected_reason", "per_attempt"),
    [
        (422, "Invalid", 'Job.batch "x" is invalid: name', "InvalidSpec", False),
        (413, "RequestEntityTooLarge", "Request entity too large", "RequestEntityTooLarge", False),
        (404, "NotFound", 'namespaces "gone" not found', "NotFound", False),
        (400, "BadRequest", 'admission webhook "deny.example" denied', "BadRequest", True),
        (
            403,
            "Forbidden",
            "unable to create new content in namespace x because it is being terminated",
            "NamespaceTerminating",
            False,
        ),
    ],
)
@pytest.mark.asyncio
async def test_job_refusals_that_no_retry_fixes_are_terminal_with_the_servers_words(
    world: World, status: int, reason: str, message: str, expected_reason: str, per_attempt: bool
) -> None:
    world.create_action(action_object("hello"))
    # the API server's 404 for a create in a namespace that is gone names the namespace
    named = "gone" if status == 404 else ""
    world.kube.fail("POST", "/jobs", status_error(status, reason, message, name=named))
    with pytest.raises(TerminalError) as caught:
        await world.controller.executor.run(CreateJob(1, "hello-job-1"), target_of(world, "hello"))
    assert caught.value.reason == expected_reason
    assert caught.value.counts_as_attempt is per_attempt
    assert f"({status} {reason})" in caught.value.message
    assert message in caught.value.message
    assert world.kube.created(paths.job_path(NS)) == []


@pytest.mark.asyncio
async def test_403_is_retried_a_bounded_number_of_times_then_counts_against_the_attempt(
    world: World,
) -> None:
    world.create_action(action_object("hello"))
    target = target_of(world, "hello")
    executor = world.controller.executor
    now = [100.0]
    executor.clock = lambda: now[0]
    retries = world.controller.settings.job_create_retries
    denied = status_error(403, "Forbidden", 'exceeded quota: "pods"')
    for _ in range(retries):
        world.kube.fail("POST", "/jobs", denied)
        with pytest.raises(ApiError) as transient:
            await executor.run(CreateJob(1, "hello-job-1"), target)
        assert not isinstance(transient.value, TerminalError)
        now[0] += 3.0  # the work queue's backoff, grown
    world.kube.fail("POST", "/jobs", denied)
    with pytest.raises(TerminalError) as caught:
        await executor.run(CreateJob(1, "hello-job-1"), target)
    assert (caught.value.reason, caught.value.counts_as_attempt) == ("Forbidden", True)
    assert f"refused {retries + 1} times in a row over 15 s (403 Forbidden)" in (
        caught.value.message
    )


@pytest.mark.asyncio
async def test_403s_of_an_api_server_that_has_just_started_do_not_end_the_attempt(
    world: World,
) -> None:
    """A just-started API server refuses every user RBAC grants until it has read the
    roles (0.07 to 0.12 s on the test bed): the work queue's retries of those first
    moments came within 1.6 s and, counted alone, failed the attempt."""
    world.create_action(action_object("hello"))
    target = target_of(world, "hello")
    executor = world.controller.executor
    now = [100.0]
    executor.clock = lambda: now[0]
    denied = status_error(403, "Forbidden", 'User "system:serviceaccount:x:y" cannot create')
    for _ in range(3 * world.controller.settings.job_create_retries):
        world.kube.fail("POST", "/jobs", denied)
        with pytest.raises(ApiError) as transient:
            await executor.run(CreateJob(1, "hello-job-1"), target)
        assert not isinstance(transient.value, TerminalError)
        now[0] += 0.05
    await executor.run(CreateJob(1, "hello-job-1"), target)  # the roles are read
    assert [job["metadata"]["name"] for job in world.kube.created(paths.job_path(NS))] == [
        "hello-job-1"
    ]


def test_server_errors_and_throttling_are_left_to_the_work_queue() -> None:
    for status, reason in ((500, "InternalError"), (503, "ServiceUnavailable"), (429, "x")):
        assert job_refusal(ApiError(status, reason, "later"), 1, 5) is None
    quota = ApiError(403, "Forbidden", "quota")
    assert job_refusal(quota, 5, 5, 60.0) is None  # not more than the retries
    assert job_refusal(quota, 50, 5, 9.9) is None  # many, but within a moment
    refused = job_refusal(quota, 6, 5, 10.0)
    assert refused is not None
    assert (refused.reason, refused.counts_as_attempt) == ("Forbidden", True)


def test_an_invalid_pod_template_is_a_terminal_invalid_spec() -> None:
    refusal = job_refusal(ApiError(422, "Invalid", "spec.containers[0].name: Invalid"), 1, 5)
    assert refusal is not None
    assert (refusal.reason, refusal.counts_as_attempt) == ("InvalidSpec", False)
