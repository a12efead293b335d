"""The operator's metrics: what each change of an action counts, and the exposition."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from asyncaction.runtime.metrics import Metrics, WorkQueueObserver, actions_by_phase
from asyncaction.runtime.metrics_server import MetricsAddressError, parse_bind_address
from asyncaction.runtime.workqueue import WorkQueue
from asyncaction.timeutil import format_time, utcnow


def action(phase: str | None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "a",
            "namespace": "ns",
            "uid": "u1",
            "creationTimestamp": format_time(utcnow() - timedelta(seconds=60)),
        },
        "spec": {"queue": "batch"},
        "status": {"phase": phase, "queue": "batch", **status} if phase else {},
    }


def test_the_calls_the_controllers_make_still_count() -> None:
    metrics = Metrics()
    metrics.inc("asyncaction_api_writes_total", {"resource": "jobs"})
    metrics.inc("asyncaction_api_writes_total", {"resource": "secrets"}, 2)
    metrics.inc("asyncaction_reconciles_total")  # now counted by instrument(), with a result
    metrics.set("asyncaction_cached_actions", 3)
    assert metrics.total("asyncaction_api_writes_total") == 3
    snapshot = metrics.snapshot()
    assert snapshot['asyncaction_api_writes_total{resource="secrets"}'] == 2
    assert snapshot["asyncaction_cached_actions"] == 3
    assert b'asyncaction_api_writes_total{resource="jobs"} 1.0\n' in metrics.render()


def test_a_retried_then_successful_action_counts_each_step_once() -> None:
    metrics = Metrics()
    now = utcnow()
    queued_at = format_time(now - timedelta(seconds=30))
    new = action(None)
    queued = action("QUEUED", queuedAt=queued_at, failures=0)
    starting = action("STARTING", queuedAt=queued_at, attempts=1, failures=0)
    running = action("RUNNING", queuedAt=queued_at, attempts=1, startedAt=format_time(now))
    retry = {
        **action("QUEUED", queuedAt=queued_at, attempts=1, failures=1),
    }
    retry["status"]["conditions"] = [{"type": "Ready", "status": "Unknown", "reason": "JobFailed"}]
    retry["status"]["startedAt"] = format_time(now - timedelta(seconds=100))
    again = action("STARTING", queuedAt=queued_at, attempts=2, failures=1)
    done = action(
        "SUCCEEDED",
        attempts=2,
        startedAt=format_time(now - timedelta(seconds=100)),
        finishedAt=format_time(now),
        pausedSeconds=40.0,
    )
    metrics.observe_transition(new, queued)
    # A restart: the new process first sees the action QUEUED (a relist): nothing counted,
    # and its wait is measured from status.queuedAt.
    metrics = Metrics()
    metrics.observe_transition(None, queued)
    for old, new_ in [(queued, starting), (starting, running), (running, retry)]:
        metrics.observe_transition(old, new_)
    metrics.observe_transition(retry, retry)  # no phase change: nothing
    metrics.observe_transition(retry, again)
    metrics.observe_transition(again, done)
    s = metrics.snapshot()
    # This process saw the start: the run is timed by its own clock (sub-second).
    seen = (
        'asyncaction_execution_time_seconds_{}{{namespace="ns",outcome="SUCCEEDED",queue="batch"}}'
    )
    assert s[seen.format("count")] == 1
    assert s[seen.format("sum")] < 5
    # A process that did not see the start falls back on the status' times.
    metrics_after_restart = Metrics()
    metrics_after_restart.observe_transition(again, done)
    s_after = metrics_after_restart.snapshot()
    edge = (
        "asyncaction_phase_transitions_total"
        '{{from_phase="{}",namespace="ns",queue="batch",to_phase="{}"}}'
    )
    assert edge.format("", "QUEUED") not in s
    assert s[edge.format("QUEUED", "STARTING")] == 2
    assert s[edge.format("STARTING", "RUNNING")] == 1
    assert s[edge.format("RUNNING", "QUEUED")] == 1
    assert s[edge.format("STARTING", "SUCCEEDED")] == 1
    assert metrics.total("asyncaction_phase_transitions_total") == 5
    assert s['asyncaction_attempts_total{reason="JobFailed",result="failed"}'] == 1
    assert s['asyncaction_attempts_total{reason="Succeeded",result="succeeded"}'] == 1
    waits = 'asyncaction_admission_wait_time_seconds_{}{{namespace="ns",queue="batch"}}'
    assert s[waits.format("count")] == 2
    # The first wait began at queuedAt (30 s ago), not at creation (60 s ago); the
    # second when this process saw the retry enter QUEUED (just now).
    assert 29 <= s[waits.format("sum")] < 40
    assert s_after[seen.format("sum")] == pytest.approx(60.0)  # 100 s minus 40 s paused
    metrics.observe_transition(done, None)  # deleted: forgotten
    assert not metrics._started_seen


def test_actions_by_phase_counts_the_cache() -> None:
    family = actions_by_phase([action("RUNNING"), action("RUNNING"), action(None)])
    assert {(tuple(sorted(s.labels.items())), s.value) for s in family.samples} == {
        ((("namespace", "ns"), ("phase", "RUNNING"), ("queue", "batch")), 2),
        ((("namespace", "ns"), ("phase", "NEW"), ("queue", "batch")), 1),
    }


def test_reconciles_are_counted_by_result_and_timed() -> None:
    metrics = Metrics()

    async def process(key: str) -> float | None:
        if key == "boom":
            raise RuntimeError(key)
        return 5.0 if key == "later" else None

    timed = metrics.instrument("asyncaction", 4, process)

    async def run() -> None:
        await timed("ok")
        await timed("later")
        with pytest.raises(RuntimeError):
            await timed("boom")

    asyncio.run(run())
    s = metrics.snapshot()
    total = 'asyncaction_reconcile_total{{controller="asyncaction",result="{}"}}'
    assert s[total.format("success")] == 1
    assert s[total.format("requeue_after")] == 1
    assert s[total.format("error")] == 1
    assert s['asyncaction_reconcile_errors_total{controller="asyncaction"}'] == 1
    assert s['asyncaction_reconcile_time_seconds_count{controller="asyncaction"}'] == 3
    assert s['asyncaction_max_concurrent_reconciles{controller="asyncaction"}'] == 4
    assert s['asyncaction_active_workers{controller="asyncaction"}'] == 0


def test_the_work_queue_reports_adds_retries_and_waits() -> None:
    metrics = Metrics()
    clock = [100.0]
    queue = WorkQueue("actions", clock=lambda: clock[0], observer=WorkQueueObserver(metrics, "q"))

    async def run() -> None:
        queue.add("a")
        queue.add("a")  # de-duplicated, still an add (as client-go counts)
        clock[0] += 2
        key = await queue._get()
        clock[0] += 3
        assert queue.running_seconds() == [3.0]
        queue._done(key)
        queue.add_rate_limited("a")

    asyncio.run(run())
    s = metrics.snapshot()
    assert s['asyncaction_workqueue_adds_total{name="q"}'] == 2
    assert s['asyncaction_workqueue_retries_total{name="q"}'] == 1
    assert s['asyncaction_workqueue_queue_duration_seconds_sum{name="q"}'] == 2
    assert s['asyncaction_workqueue_work_duration_seconds_sum{name="q"}'] == 3
    assert queue.running_seconds() == []


@pytest.mark.parametrize(
    ("address", "bind"),
    [
        ("0", None),
        ("", None),
        (":8080", ("0.0.0.0", 8080)),  # noqa: S104 - what ":PORT" means
        ("127.0.0.1:9", ("127.0.0.1", 9)),
    ],
)
def test_bind_addresses_follow_controller_runtime(
    address: str, bind: tuple[str, int] | None
) -> None:
    assert parse_bind_address(address, setting="S") == bind


@pytest.mark.parametrize("address", ["8080", "host:", ":99999", "a:b"])
def test_a_bad_bind_address_names_the_setting(address: str) -> None:
    with pytest.raises(MetricsAddressError, match="ASYNCACTION_METRICS_BIND_ADDRESS"):
        parse_bind_address(address, setting="ASYNCACTION_METRICS_BIND_ADDRESS")
