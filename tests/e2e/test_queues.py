"""An ActionQueue bounds how many actions run at once; priority decides who goes first."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from tests.support.kube import Kube, action_manifest, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def action(name: str, priority: int) -> dict[str, Any]:
    return action_manifest(name, ["sleep", "1"], queue="narrow", priority=priority)


@pytest.mark.usefixtures("operator")
def test_max_concurrent_and_priority(kube: Kube, namespace: str) -> None:
    kube.create_object(namespace, "actionqueues", "ActionQueue", "narrow", {"maxConcurrent": 1})
    time.sleep(0.5)  # let the operator see the queue before the actions
    kube.create_action(namespace, action("first", 0))
    kube.wait_phase(namespace, "first", {"STARTING", "RUNNING"})
    for name, priority in (("low", 1), ("high", 9), ("mid", 5)):
        kube.create_action(namespace, action(name, priority))

    most_active = 0

    def all_done() -> bool:
        nonlocal most_active
        phases = Counter(a.get("status", {}).get("phase") for a in kube.list_actions(namespace))
        most_active = max(most_active, phases["STARTING"] + phases["RUNNING"])
        return phases["SUCCEEDED"] == 4

    wait_for(all_done, 90, "the queue to drain", interval=0.1)
    assert most_active == 1
    started = sorted(kube.list_actions(namespace), key=lambda a: a["status"]["startedAt"])
    assert [a["metadata"]["name"] for a in started] == ["first", "high", "mid", "low"]

    def published() -> dict[str, Any] | None:
        queue = kube.custom.get_namespaced_custom_object(
            "asyncaction.dev", "v1alpha1", namespace, "actionqueues", "narrow"
        )
        status = queue.get("status") or {}
        return status if status.get("phaseCounts") == {"SUCCEEDED": 4} else None

    status = wait_for(published, 20, "the queue's status counts")
    assert status["active"] == 0


@pytest.mark.usefixtures("operator")
def test_an_attempt_counts_in_its_admitted_queue_after_spec_queue_is_edited(
    kube: Kube, namespace: str
) -> None:
    """Issue 13: moving a running action to another queue must not free its old slot."""
    for name in ("one", "two"):
        kube.create_object(namespace, "actionqueues", "ActionQueue", name, {"maxConcurrent": 1})
    time.sleep(0.5)  # let the operator see the queues before the actions
    kube.create_action(namespace, action_manifest("long", ["sleep", "8"], queue="one"))
    kube.wait_phase(namespace, "long", "RUNNING")
    kube.patch_action(namespace, "long", {"spec": {"queue": "two"}})
    kube.create_action(namespace, action_manifest("next", ["true"], queue="one"))
    overlap: list[str] = []

    def long_done() -> bool:
        phases = {a["metadata"]["name"]: a.get("status", {}) for a in kube.list_actions(namespace)}
        running = phases["long"].get("phase") in ("STARTING", "RUNNING")
        if running and phases.get("next", {}).get("phase") in ("STARTING", "RUNNING"):
            overlap.append("next started while long still held the slot of queue one")
        phase: str | None = phases["long"].get("phase")
        return phase == "SUCCEEDED"

    wait_for(long_done, 90, "the long action to finish", interval=0.1)
    assert overlap == []
    assert kube.get_action(namespace, "long")["status"]["queue"] == "one"
    assert kube.wait_phase(namespace, "next", {"SUCCEEDED", "FAILED"})["status"]["phase"] == (
        "SUCCEEDED"
    )
