"""Events people can use: one per transition, including the terminal phase the hook wrote.

The job reports its own success through the real hook (the usual path): the hook writes
SUCCEEDED and posts that transition's Event. The operator, which sees the phase change
and the Job complete afterwards, must not post a second one.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest

from tests.support.kube import Kube, action_manifest, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.s3, pytest.mark.slow]


def sources(kube: Kube, namespace: str, name: str, reason: str) -> list[str]:
    events = kube.core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},reason={reason}"
    ).items
    return [e.source.component for e in events]


def job_complete(kube: Kube, namespace: str, uid: str) -> bool:
    jobs = kube.jobs_of(namespace, uid)
    return bool(jobs) and all((j.status.succeeded or 0) > 0 for j in jobs)


def test_a_hook_reported_success_emits_exactly_one_event(
    kube: Kube, namespace: str, hooked_operator: Any
) -> None:
    from asyncaction.runtime.metrics import process_metrics

    code = "from asyncaction_job import client\nclient.succeed({'ok': True})\n"
    created = kube.create_action(namespace, action_manifest("told", [sys.executable, "-c", code]))
    done = kube.wait_phase(namespace, "told", {"SUCCEEDED", "FAILED"}, timeout=90)
    assert done["status"]["phase"] == "SUCCEEDED"
    assert done["status"]["message"] == "the job reported success"  # the hook wrote it

    # The operator (in this process) saw the hook's write, and the Job completed since:
    # everything that could make it post a second Event has happened.
    def seen_succeeded() -> float:
        figures = process_metrics().snapshot()
        return sum(
            value
            for key, value in figures.items()
            if key.startswith("asyncaction_phase_transitions_total{")
            and f'namespace="{namespace}"' in key
            and 'to_phase="SUCCEEDED"' in key
        )

    wait_for(seen_succeeded, 30, "the operator to see SUCCEEDED")
    wait_for(lambda: job_complete(kube, namespace, created["metadata"]["uid"]), 60, "the Job")
    wait_for(lambda: kube.event_reasons(namespace, "told")["Succeeded"], 30, "the Succeeded Event")
    time.sleep(2)  # a second Event, were there one, would be posted by now
    counted = kube.event_reasons(namespace, "told")
    assert counted["Succeeded"] == 1, counted
    assert sources(kube, namespace, "told", "Succeeded") == ["asyncaction-hook"]
    assert counted["Started"] == 1, counted
    assert "Running" not in counted
    assert sum(counted.values()) <= 3, counted  # Queued/Started/Succeeded at most
