"""The ``asyncaction_actions`` gauge from counts kept as the cache changes (issue 13):
a scrape walked every cached action, 77 ms at 100,000 on a quiet machine, on the loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily

from asyncaction.controllers.action_metrics import actions_by_phase
from asyncaction.controllers.caches import PhaseCounts
from asyncaction.controllers.manager import Manager
from asyncaction.kube import KubeClient
from asyncaction.kube.config import ConnectionInfo
from asyncaction.runtime.informer import Informer
from asyncaction.settings import OperatorSettings


def action(name: str, rv: int, *, ns: str = "a", phase: str | None, **more: Any) -> dict[str, Any]:
    status = {"phase": phase} if phase else {}
    status.update(more.pop("status", {}))
    return {
        "metadata": {"name": name, "namespace": ns, "uid": name, "resourceVersion": str(rv)},
        "spec": more,
        "status": status,
    }


def samples(family: GaugeMetricFamily) -> dict[tuple[str, ...], float]:
    return {tuple(s.labels.values()): s.value for s in family.samples}


def test_counts_follow_every_change_as_a_full_walk_would_count() -> None:
    cache = Informer(KubeClient(ConnectionInfo(server="http://127.0.0.1:9")), "/actions")
    counts = PhaseCounts()
    cache.add_handler(counts.on_change)

    def agrees() -> dict[tuple[str, ...], float]:
        walked = samples(actions_by_phase(cache.items.values()))
        assert samples(counts.family()) == walked
        return walked

    assert agrees() == {}
    cache.put(action("x", 1, phase=None, queue="gpu"))  # NEW in spec's queue
    cache.put(action("y", 2, phase="QUEUED"))
    cache.put(action("z", 3, ns="b", phase="RUNNING", queue="gpu", status={"queue": "cpu"}))
    assert agrees() == {
        ("a", "gpu", "NEW"): 1,
        ("a", "default", "QUEUED"): 1,
        ("b", "cpu", "RUNNING"): 1,
    }
    cache.put(action("x", 4, phase="QUEUED", queue="gpu"))
    cache.put(action("y", 5, phase="QUEUED", queue="gpu"))  # moved to another queue
    cache.put(action("y", 5, phase="SUCCEEDED"))  # same version again: ignored
    assert agrees() == {("a", "gpu", "QUEUED"): 2, ("b", "cpu", "RUNNING"): 1}
    cache._apply("DELETED", action("z", 6, ns="b", phase="RUNNING"))
    cache.put(action("x", 7, phase="SUCCEEDED", queue="gpu"))
    assert agrees() == {("a", "gpu", "QUEUED"): 1, ("a", "gpu", "SUCCEEDED"): 1}


def test_the_manager_scrape_reports_the_kept_counts(master_keys_file: Path) -> None:
    kube = KubeClient(ConnectionInfo(server="http://127.0.0.1:9"))  # no request is made
    settings = OperatorSettings(namespaces=("a",), master_keys_file=str(master_keys_file))
    manager = Manager(kube, settings)
    for index, phase in enumerate(("QUEUED", "QUEUED", "SUCCEEDED")):
        manager.caches.actions.put(action(f"n{index}", index + 1, phase=phase))
    manager.caches.actions.members["a"]._apply("DELETED", action("n1", 9, phase="QUEUED"))
    text = generate_latest(manager.metrics.registry).decode()
    lines = sorted(line for line in text.splitlines() if line.startswith("asyncaction_actions{"))
    assert lines == [
        'asyncaction_actions{namespace="a",phase="QUEUED",queue="default"} 1.0',
        'asyncaction_actions{namespace="a",phase="SUCCEEDED",queue="default"} 1.0',
    ]
