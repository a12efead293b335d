"""A warm standby sees the leader's changes in its caches but reports none of them: a
sum over the replicas must count each transition once (ASYNCACTION_WARM_STANDBY)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from asyncaction.controllers.manager import Manager
from asyncaction.kube import KubeClient
from asyncaction.kube.config import ConnectionInfo
from asyncaction.settings import OperatorSettings


def action(name: str, rv: int, phase: str, namespace: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace, "uid": name, "resourceVersion": str(rv)}
    return {
        "metadata": meta,
        "spec": {},
        "status": {
            "phase": phase,
            "queuedAt": "2026-11-30T00:00:00Z",
            "startedAt": "2026-11-30T00:00:01Z",  # an attempt's run time needs its start
            "finishedAt": "2026-11-30T00:00:02Z",
        },
    }


def series(manager: Manager, namespace: str, *families: str) -> list[str]:
    """The samples of ``families`` about ``namespace`` (the registry is the process's:
    each test has a namespace of its own)."""
    text = generate_latest(manager.metrics.registry).decode()
    return sorted(
        line
        for line in text.splitlines()
        if line.startswith(tuple(f"{family}{{" for family in families))
        and f'namespace="{namespace}"' in line
    )


def manager_for(warm: bool, namespace: str, master_keys_file: Path) -> Manager:
    kube = KubeClient(ConnectionInfo(server="http://127.0.0.1:9"))  # no request is made
    settings = OperatorSettings(
        namespaces=(namespace,), master_keys_file=str(master_keys_file), warm_standby=warm
    )
    return Manager(kube, settings)


def test_a_warm_standby_counts_nothing_until_it_leads(master_keys_file: Path) -> None:
    manager = manager_for(True, "warm", master_keys_file)
    cache = manager.caches.actions
    cache.put(action("x", 1, "QUEUED", "warm"))
    cache.put(action("x", 2, "STARTING", "warm"))  # the leader admitted it
    families = (
        "asyncaction_actions",
        "asyncaction_phase_transitions_total",
        "asyncaction_admission_wait_time_seconds_count",
    )
    registry = manager.metrics.registry
    succeeded = {"result": "succeeded", "reason": "Succeeded"}
    attempts_before = registry.get_sample_value("asyncaction_attempts_total", succeeded) or 0.0
    cache.put(action("y", 4, "RUNNING", "warm"))
    cache.put(action("y", 5, "SUCCEEDED", "warm"))  # an attempt ends under the leader
    assert series(manager, "warm", *families, "asyncaction_execution_time_seconds_count") == []
    attempts_after = registry.get_sample_value("asyncaction_attempts_total", succeeded) or 0.0
    assert attempts_after == attempts_before
    assert len(cache) == 2  # it follows all the same
    # It leads (what Manager.run does on taking the Lease): from now on it counts.
    manager.leading = True
    manager.actions.action_metrics.counting = True
    cache.put(action("x", 3, "RUNNING", "warm"))
    assert series(manager, "warm", *families) == [
        'asyncaction_actions{namespace="warm",phase="RUNNING",queue="default"} 1.0',
        'asyncaction_actions{namespace="warm",phase="SUCCEEDED",queue="default"} 1.0',
        'asyncaction_phase_transitions_total{from_phase="STARTING",namespace="warm",'
        'queue="default",to_phase="RUNNING"} 1.0',
    ]
    cache.put(action("x", 6, "SUCCEEDED", "warm"))  # now its own attempt ends: counted
    assert registry.get_sample_value("asyncaction_attempts_total", succeeded) == (
        attempts_before + 1
    )
    ended = series(manager, "warm", "asyncaction_execution_time_seconds_count")
    assert ended == [
        'asyncaction_execution_time_seconds_count{namespace="warm",outcome="SUCCEEDED",'
        'queue="default"} 1.0'
    ]


def test_a_cold_standby_and_a_leader_count_as_before(master_keys_file: Path) -> None:
    manager = manager_for(False, "cold", master_keys_file)
    assert manager.actions.action_metrics.counting
    cache = manager.caches.actions
    cache.put(action("x", 1, "QUEUED", "cold"))
    cache.put(action("x", 2, "STARTING", "cold"))
    families = ("asyncaction_actions", "asyncaction_phase_transitions_total")
    assert series(manager, "cold", *families) == [
        'asyncaction_actions{namespace="cold",phase="STARTING",queue="default"} 1.0',
        'asyncaction_phase_transitions_total{from_phase="QUEUED",namespace="cold",'
        'queue="default",to_phase="STARTING"} 1.0',
    ]
    waits = series(manager, "cold", "asyncaction_admission_wait_time_seconds_count")
    assert waits == [
        'asyncaction_admission_wait_time_seconds_count{namespace="cold",queue="default"} 1.0'
    ]


def depth(manager: Manager) -> list[str]:
    text = generate_latest(manager.metrics.registry).decode()
    return sorted(
        line for line in text.splitlines() if line.startswith("asyncaction_workqueue_depth{")
    )


def test_a_warm_standby_queues_no_work_until_it_leads(master_keys_file: Path) -> None:
    """Its caches name every action the leader changes; its controllers do not run. The
    work queue depth it reported grew to every action it had seen (a dashboard summing
    the replicas showed the standby's 100,000 "ready" keys); now they are held."""
    manager = manager_for(True, "warm-depth", master_keys_file)
    cache = manager.caches.actions
    for i in range(5):
        cache.put(action(f"a{i}", i + 1, "QUEUED", "warm-depth"))
    assert depth(manager) == [
        'asyncaction_workqueue_depth{name="actions"} 0.0',
        'asyncaction_workqueue_depth{name="queue-status"} 0.0',
    ]
    assert manager.action_queue.held == 5


def test_a_cold_standby_or_leader_queues_as_before(master_keys_file: Path) -> None:
    manager = manager_for(False, "cold-depth", master_keys_file)
    manager.caches.actions.put(action("a", 1, "QUEUED", "cold-depth"))
    assert (len(manager.action_queue), manager.action_queue.held) == (1, 0)
