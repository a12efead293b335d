"""A status write's answer that arrives after the object's DELETED event does not bring a
deleted ActionQueue or ActionSchedule back into its cache.

The action, Job and Secret caches take write answers through ``Caches.accept``
(tombstones and a uid check); the queue and schedule controllers put theirs directly.
A queue deleted just after its status write came back: its ``maxConcurrent`` and
``suspend`` applied again to the actions naming it, until a relist or restart. A
deleted schedule came back and was patched every second, each answered 404 (found by
review).
"""

from __future__ import annotations

from typing import Any

import pytest

from asyncaction.controllers.admission import Admissions
from asyncaction.controllers.queues import QueueController
from asyncaction.controllers.schedules import ScheduleController
from asyncaction.kube import paths
from asyncaction.runtime import Informers, Metrics, WorkQueue
from tests.unit.controllers.fakekube import FakeKube

NS = "ns"


def deleted_after_patch(kube: Any, path: str, cache: Informers) -> None:
    """The next PATCH of ``path`` lands; then the object is deleted, and the watch's
    DELETED event is applied before the PATCH's answer returns."""
    real_patch = kube.patch

    async def patch(patched: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        answer: dict[str, Any] = await real_patch(patched, body, **kwargs)
        if patched.startswith(path) and path in kube.objects:
            gone = kube.objects.pop(path)
            cache.members[NS]._apply("DELETED", gone)
        return answer

    kube.patch = patch


@pytest.mark.asyncio
async def test_a_queue_deleted_while_its_status_was_written_stays_deleted() -> None:
    kube: Any = FakeKube()
    queues = Informers(kube, paths.queue_path, [NS], name="actionqueues")
    admissions = Admissions(default_max_concurrent=0)
    admissions.open = True
    controller = QueueController(
        kube, queues, admissions, WorkQueue("q"), Metrics(), lambda k: None
    )
    queue = kube.seed(
        paths.queue_path(NS),
        {
            "metadata": {"name": "gpu", "namespace": NS},
            "spec": {"maxConcurrent": 1, "suspend": True},
        },
    )
    queues.members[NS]._apply("ADDED", dict(queue))
    deleted_after_patch(kube, paths.queue_path(NS, "gpu"), queues)

    await controller.reconcile(f"{NS}/gpu")

    assert ("PATCH", paths.queue_path(NS, "gpu", status=True)) in kube.calls
    assert queues.get(f"{NS}/gpu") is None
    assert admissions.limits_of((NS, "gpu")) == admissions.limits_of((NS, "never-defined"))


@pytest.mark.asyncio
async def test_a_schedule_deleted_while_its_status_was_written_stays_deleted() -> None:
    kube: Any = FakeKube()
    actions = Informers(kube, paths.action_path, [NS], name="asyncactions")
    controller = ScheduleController(kube, [NS], Metrics(), actions, actions.put)
    schedule = kube.seed(
        paths.schedule_path(NS),
        {
            "metadata": {"name": "nightly", "namespace": NS, "generation": 1},
            "spec": {"schedule": "* * * * *", "actionTemplate": {"spec": {"templateRef": "t"}}},
        },
    )
    controller.schedules.members[NS]._apply("ADDED", dict(schedule))
    deleted_after_patch(kube, paths.schedule_path(NS, "nightly"), controller.schedules)

    await controller.reconcile(f"{NS}/nightly")

    assert ("PATCH", paths.schedule_path(NS, "nightly", status=True)) in kube.calls
    assert controller.schedules.get(f"{NS}/nightly") is None
