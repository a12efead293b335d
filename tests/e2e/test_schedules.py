"""ActionSchedule on the test bed: slots fire, Forbid holds, history is pruned, a restart
across missed slots catches up once within the deadline (and not outside it), and two
operators leading at once never create a slot twice.

Every assertion reads what the API server recorded: a watch of the namespace's actions
delivers events in etcd order, so "B was created while A was not finished" is a fact of
the stream, not of sampling.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from kubernetes import watch

from asyncaction.api.names import ACTION_PLURAL, GROUP, VERSION
from tests.conftest import NO_HOOK, OPERATOR_ENV, run_operator
from tests.support.kube import Kube, wait_for
from tests.support.procs import start_process, stop_process

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
TERMINAL = {"SUCCEEDED", "FAILED", "ABORTED", "TIMEOUT"}
SCHEDULED_AT = "asyncaction.dev/scheduled-at"


def container(command: list[str]) -> dict[str, Any]:
    return {"name": "main", "image": "unused-by-the-node-agent", "command": command}


def create_schedule(kube: Kube, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    command = spec.pop("command", ["true"])
    spec.setdefault(
        "actionTemplate",
        {"spec": {"template": {"spec": {"containers": [container(command)]}}}},
    )
    return kube.create_object(namespace, "actionschedules", "ActionSchedule", name, spec)


def get_schedule(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = kube.custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "actionschedules", name
    )
    return result


def patch_schedule(kube: Kube, namespace: str, name: str, spec: dict[str, Any]) -> None:
    kube.custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "actionschedules", name, {"spec": spec}
    )


def events_of(kube: Kube, namespace: str, name: str, reason: str) -> list[Any]:
    events = kube.core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}"
    )
    return [e for e in events.items if e.reason == reason]


@dataclass
class ActionLog:
    """Every action event of a namespace, in the order the API server recorded them."""

    added: Counter[str] = field(default_factory=Counter)
    deleted: set[str] = field(default_factory=set)
    phases: dict[str, str | None] = field(default_factory=dict)
    slots: dict[str, str] = field(default_factory=dict)
    overlaps: list[tuple[str, list[str]]] = field(default_factory=list)

    def active(self) -> list[str]:
        return [n for n, p in self.phases.items() if n not in self.deleted and p not in TERMINAL]

    def record(self, kind: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if kind == "ADDED":
            running = [n for n in self.active() if n != name]
            if running:
                self.overlaps.append((name, running))
            self.added[name] += 1
            self.slots[name] = (obj["metadata"].get("annotations") or {}).get(SCHEDULED_AT, "")
        if kind == "DELETED":
            self.deleted.add(name)
        self.phases[name] = (obj.get("status") or {}).get("phase")


@contextmanager
def watching(kube: Kube, namespace: str) -> Iterator[ActionLog]:
    log = ActionLog()
    stream = watch.Watch()
    started = threading.Event()

    def follow() -> None:
        version = kube.custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, ACTION_PLURAL
        )["metadata"]["resourceVersion"]
        started.set()
        with contextlib.suppress(Exception):  # the stream ends when the test stops it
            for event in stream.stream(
                kube.custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                ACTION_PLURAL,
                resource_version=version,
                timeout_seconds=600,
            ):
                log.record(event["type"], event["object"])

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    started.wait(30)
    try:
        yield log
    finally:
        stream.stop()


def slot_seconds(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


@pytest.mark.usefixtures("operator")
def test_schedule_fires_with_forbid_honoured_and_history_pruned(kube: Kube, namespace: str) -> None:
    with watching(kube, namespace) as log:
        create_schedule(
            kube,
            namespace,
            "every2s",
            schedule="*/2 * * * * *",
            concurrencyPolicy="Forbid",
            successfulHistoryLimit=1,
            failedHistoryLimit=1,
            command=["sh", "-c", "sleep 3"],
        )

        def enough() -> bool:
            finished = sum(1 for p in log.phases.values() if p == "SUCCEEDED")
            return len(log.added) >= 3 and finished >= 3 and len(log.deleted) >= 2

        wait_for(enough, 120, "three runs, two of them pruned", lambda: log)
        patch_schedule(kube, namespace, "every2s", {"suspend": True})
        wait_for(lambda: not log.active(), 60, "the last run to finish", lambda: log)

        def pruned() -> list[dict[str, Any]] | None:
            left = kube.list_actions(namespace)
            return left if len(left) == 1 else None

        [kept] = wait_for(pruned, 30, "history pruned to one", lambda: kube.list_actions(namespace))
    assert log.overlaps == [], "Forbid: a run was created while another was active"
    assert all(count == 1 for count in log.added.values()), log.added
    for name, slot in log.slots.items():
        when = datetime.fromisoformat(slot.replace("Z", "+00:00"))
        assert slot_seconds(name) == int(when.timestamp())
        assert when.second % 2 == 0
    # Forbid skipped slots: runs of 3 s or more on a 2 s schedule cannot take every slot.
    seconds = sorted(slot_seconds(n) for n in log.added)
    assert len(seconds) < (seconds[-1] - seconds[0]) // 2 + 1, seconds
    assert kept["metadata"]["name"] == max(log.added, key=slot_seconds)
    owner = kept["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == (
        "ActionSchedule",
        "every2s",
        True,
    )
    assert kept["metadata"]["labels"]["asyncaction.dev/schedule"] == "every2s"
    status = get_schedule(kube, namespace, "every2s")["status"]
    assert status["lastScheduleTime"] == log.slots[kept["metadata"]["name"]]
    assert status.get("active") is None
    assert status["lastSuccessfulTime"] >= status["lastScheduleTime"]
    assert "nextScheduleTime" not in status  # suspended: the field is removed
    assert [c["reason"] for c in status["conditions"]] == ["Suspended"]


def cron_for(slots: list[datetime]) -> str:
    """A 6-field expression (seconds first) firing at exactly these seconds of one minute."""
    first = slots[0]
    seconds = ",".join(str(s.second) for s in slots)
    return f"{seconds} {first.minute} {first.hour} {first.day} {first.month} *"


def slots_ahead(lead: float, count: int, spacing: int) -> list[datetime]:
    """``count`` slots ``spacing`` s apart, the first at least ``lead`` s from now, all in
    one minute (so one cron expression names them and no other time this year)."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=lead)
    while start.second + spacing * (count - 1) > 59:
        start += timedelta(seconds=1)
    return [start + timedelta(seconds=spacing * i) for i in range(count)]


def test_restart_across_missed_slots_catches_up_once_within_the_deadline(
    kube: Kube, namespace: str, admin_kubeconfig: Path, crds: Any, node_agent: Any
) -> None:
    slots = slots_ahead(25, 3, 2)
    create_schedule(
        kube, namespace, "catchup", schedule=cron_for(slots), startingDeadlineSeconds=3600
    )
    create_schedule(
        kube, namespace, "toolate", schedule=cron_for(slots[:2]), startingDeadlineSeconds=1
    )

    def next_schedule_time(name: str) -> str | None:
        status: dict[str, Any] = get_schedule(kube, namespace, name).get("status") or {}
        stamp: str | None = status.get("nextScheduleTime")
        return stamp

    with run_operator(admin_kubeconfig, namespace, NO_HOOK):
        for name in ("catchup", "toolate"):
            wait_for(partial(next_schedule_time, name), 60, f"the operator to see {name}")
        assert datetime.now(UTC) < slots[0], "the operator took too long to start"
    assert kube.list_actions(namespace) == []
    wait_for(lambda: datetime.now(UTC) > slots[-1] + timedelta(seconds=2), 60, "slots to pass")
    with run_operator(admin_kubeconfig, namespace, NO_HOOK):
        [warning] = wait_for(
            lambda: events_of(kube, namespace, "toolate", "MissedSchedule"), 60, "toolate warned"
        )
        assert "2 slots were missed" in warning.message
        assert "none runs" in warning.message
        [missed] = wait_for(
            lambda: events_of(kube, namespace, "catchup", "MissedSchedule"), 60, "catchup warned"
        )
        assert "3 slots were missed" in missed.message
        assert "(2 skipped)" in missed.message
        name = f"catchup-{int(slots[-1].timestamp())}"
        # The Warning is posted just before the run is created: wait for the run itself.
        wait_for(
            lambda: name in {a["metadata"]["name"] for a in kube.list_actions(namespace)},
            60,
            f"{name} to be created",
        )
        kube.wait_phase(namespace, name, "SUCCEEDED", 60)
        status = get_schedule(kube, namespace, "catchup")["status"]
        assert status["lastScheduleTime"] == slots[-1].strftime("%Y-%m-%dT%H:%M:%SZ")
        # The decision for toolate was taken (its Event exists): it created nothing.
        toolate = get_schedule(kube, namespace, "toolate")["status"]
        assert "lastScheduleTime" not in toolate
    names = sorted(a["metadata"]["name"] for a in kube.list_actions(namespace))
    assert names == [name]


def start_operator(
    kubeconfig: Path, namespace: str, log: Path, lease: str
) -> subprocess.Popen[bytes]:
    env = {
        **OPERATOR_ENV,
        "ASYNCACTION_KUBECONFIG": str(kubeconfig),
        "ASYNCACTION_HOOK_URL": NO_HOOK,
        "ASYNCACTION_LEASE_NAME": lease,
    }
    return start_process(
        [sys.executable, "-m", "asyncaction.main", "--namespace", namespace, "--liveness", ""],
        log,
        env=env,
    )


@pytest.mark.usefixtures("crds", "node_agent")
def test_two_leading_operators_never_create_a_slot_twice(
    kube: Kube, namespace: str, admin_kubeconfig: Path, tmp_path: Path
) -> None:
    """Each replica holds its own Lease, so both run the schedule controller at once:
    only the derived names (and adoption) keep a slot to one run, also while the
    history limit deletes runs that a replica's stale cache may still lack."""
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [
        start_operator(admin_kubeconfig, namespace, log, f"lease-{i}") for i, log in enumerate(logs)
    ]
    try:
        with watching(kube, namespace) as log:
            create_schedule(
                kube,
                namespace,
                "twice",
                schedule="* * * * * *",
                successfulHistoryLimit=1,
                failedHistoryLimit=1,
            )
            wait_for(lambda: len(log.added) >= 8, 120, "eight slots", lambda: log)
            patch_schedule(kube, namespace, "twice", {"suspend": True})
            wait_for(lambda: not log.active(), 60, "the runs to finish", lambda: log)
    finally:
        for proc in procs:
            stop_process(proc)
    texts = [p.read_text() for p in logs]
    assert all("leading as" in text for text in texts), "both replicas ran the controllers"
    assert all(count == 1 for count in log.added.values()), log.added
    slots = list(log.slots.values())
    assert len(slots) == len(set(slots)), "two runs for one slot"
    assert events_of(kube, namespace, "twice", "NameTaken") == []
