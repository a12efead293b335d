"""The schedule controller reads its runs from the operator's one cache of the actions.

A second informer for the runs (label selector ``asyncaction.dev/schedule``) made the
API server read every action twice at start: it filters a custom resource's label
selector after reading each object, so at 100,000 actions the operator's sync took
89 s where one LIST takes about 47 s (``bench/bench_scale.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncaction.controllers.manager import Manager
from asyncaction.controllers.schedules import BY_OWNER, run_view_from
from asyncaction.kube import KubeClient, paths
from asyncaction.kube.config import ConnectionInfo
from asyncaction.manifests.runs import build_run
from asyncaction.settings import OperatorSettings

SLOT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
SCHEDULE: dict[str, Any] = {
    "metadata": {"name": "nightly", "namespace": "a", "uid": "s-uid", "generation": 1},
    "spec": {"schedule": "0 * * * *", "actionTemplate": {"spec": {"templateRef": "t"}}},
}


def manager(master_keys_file: Path) -> Manager:
    kube = KubeClient(ConnectionInfo(server="http://127.0.0.1:9"))  # no request is made
    settings = OperatorSettings(namespaces=("a", "b"), master_keys_file=str(master_keys_file))
    return Manager(kube, settings)


def test_the_operator_lists_and_watches_the_actions_once_per_namespace(
    master_keys_file: Path,
) -> None:
    started = [
        *manager(master_keys_file).caches.all(),
        *manager(master_keys_file).schedules.caches(),
    ]
    action_informers = [
        (informer.path, informer.label_selector)
        for cache in started
        for informer in cache.members.values()
        if informer.path.startswith("/apis/asyncaction.dev/") and "/asyncactions" in informer.path
    ]
    assert sorted(action_informers) == [
        (paths.action_path("a"), None),
        (paths.action_path("b"), None),
    ]


def test_a_run_in_the_actions_cache_is_what_its_schedule_sees(master_keys_file: Path) -> None:
    operator = manager(master_keys_file)
    run = build_run(SCHEDULE, "nightly-1764489600", SLOT)
    run["metadata"].update(uid="r-uid", resourceVersion="7", generation=1)
    run["spec"]["abort"] = True
    run["status"] = {"phase": "RUNNING", "progress": 40}
    operator.caches.actions.put(run)  # as the watch (or a write's answer) brings it
    (cached,) = operator.schedules.runs.by_index(BY_OWNER, "s-uid")
    view = run_view_from(cached)
    assert (view.name, view.uid, view.scheduled_at) == ("nightly-1764489600", "r-uid", SLOT)
    assert view.phase is not None
    assert (view.phase.value, view.abort_requested, view.finished_at) == ("RUNNING", True, None)
    other = build_run({**SCHEDULE, "metadata": {**SCHEDULE["metadata"], "uid": "x"}}, "o", SLOT)
    other["metadata"].update(uid="o-uid", resourceVersion="8")
    operator.caches.actions.put(other)
    assert [r["metadata"]["uid"] for r in operator.schedules.runs.by_index(BY_OWNER, "s-uid")] == [
        "r-uid"
    ]
