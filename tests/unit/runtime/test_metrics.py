"""The operator's metrics: what each change of an action counts, and the exposition."""

from __future__ import annotations

import asyncio

import pytest

from asyncaction.runtime.metrics import Metrics, WorkQueueObserver
from asyncaction.runtime.metrics_server import MetricsAddressError, parse_bind_address
from asyncaction.runtime.workqueue import WorkQueue


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
        queue.add("a")  # already waiting: not an add (client-go counts an item once dirty)
        clock[0] += 2
        key = await queue._get()
        clock[0] += 3
        assert queue.running_seconds() == [3.0]
        queue._done(key)
        queue.add_rate_limited("a")

    asyncio.run(run())
    s = metrics.snapshot()
    assert s['asyncaction_workqueue_adds_total{name="q"}'] == 1  # the retry is not due yet
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
